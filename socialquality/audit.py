"""For auditors: the audit index page and "why is respondent X of wave Y (not) in the figures?"."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from socialquality.i18n import _, fmt_date, fmt_number, language
from socialquality.quality.names import STATUS, districts_text, rows_text, rule_name, status_name
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table

# The one SQL query of docs/audit.md: every fact about one respondent of one wave.
WHY_QUERY = """
SELECT r.wave, r.respondent_pid, r.source_row, f.file_name, f.checksum, r.district_code, r.status,
       q.rule_id, q.column_name, q.value, q.severity, q.message, q.released_by, q.released_at,
       w.status AS wave_status, w.reason AS wave_reason
FROM respondents r
JOIN file_receipts f ON f.id = r.receipt_id
LEFT JOIN quarantine q ON q.survey = r.survey AND q.wave = r.wave AND q.source_row = r.source_row
                       AND q.source_file = f.file_name
LEFT JOIN wave_status w ON w.survey = r.survey AND w.wave = r.wave
WHERE r.survey = :survey AND r.wave = :wave AND r.respondent_pid = :pid
ORDER BY r.source_row, q.rule_id
"""


def explain_rows(rows: pd.DataFrame, delivered_id: str, wave: str) -> str:
    if rows.empty:
        return (f"Respondent {delivered_id} does not occur in wave {wave}: no delivered row carries this id "
                "(check the id and the wave, or the file receipts of the wave).")
    lines = []
    for (source_row, file_name, status), group in rows.groupby(["source_row", "file_name", "status"], sort=True):
        head = f"Wave {wave}, {file_name} row {source_row} (district {group['district_code'].iloc[0]}): "
        wave_status = group["wave_status"].iloc[0]
        if status in ("clean", "released") and wave_status == "blocked":
            lines.append(head + f"{status}, but the whole wave is blocked (NOT in the figures): "
                                f"{group['wave_reason'].iloc[0]}")
        elif status == "clean":
            lines.append(head + "clean: included in the figures (weighted).")
        elif status == "released":
            lines.append(head + "set aside, then released after review: included.")
        elif status == "received":
            lines.append(head + "received but not yet validated: not in the figures until the wave is validated.")
        else:
            rules = group.dropna(subset=["rule_id"])
            reasons = "; ".join(f"{r.rule_id} on {r.column_name or '-'} (value {r.value}): {r.message}"
                                for r in rules.itertuples())
            lines.append(head + f"NOT in the figures, set aside by {reasons or 'a row rule'}.")
    return "\n".join(lines)


def explain_respondent(monitor, delivered_id: str, wave: str) -> str:
    from socialquality.privacy import pseudonymisation_key, pseudonymise

    key = pseudonymisation_key(demo=monitor.settings.demo)
    survey = monitor.codebook.survey
    pid = pseudonymise(pd.Series([delivered_id]), survey, key).iloc[0]
    with monitor.engine.connect() as connection:
        result = connection.execute(text(WHY_QUERY), {"survey": survey, "wave": wave, "pid": pid})
        rows = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return f"(pseudonym {pid})\n" + explain_rows(rows, delivered_id, wave)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)+([^\s/:'\"]+)")


def without_paths(text: str) -> str:
    """An error for the page: an absolute server path is shown as its last part (the file name)."""
    return _ABSOLUTE_PATH.sub(r"\1", str(text))


# readable rule and status names live in socialquality.quality.names (shared with the Data Docs)
STATUS_NL = STATUS  # historical name


def rows_nl(n: int) -> str:
    """"1 rij" / "2 rijen" in the current language (historical name)."""
    return rows_text(n)


def _observed(value) -> dict:
    import ast

    try:
        observed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return {}
    return observed if isinstance(observed, dict) else {}


def _failed_rules(failed: pd.DataFrame) -> str:
    lines = []
    for r in failed.itertuples():
        if r.rule_id == "min_respondents_per_district":
            # observed value: {'districts': 99, 'districts_below_minimum': {code: n, ...}}
            below = _observed(r.observed_value).get("districts_below_minimum")
            what = (_("%(districts)s onder het minimum", districts=districts_text(len(below)))
                    if isinstance(below, dict) else str(r.message or ""))
        else:
            what = rows_text(int(r.rows_affected or 0))
        column = "" if r.column_name is None or isinstance(r.column_name, float) else f" ({html.escape(r.column_name)})"
        lines.append(f"{html.escape(rule_name(r.rule_id))} <code>{html.escape(str(r.rule_id))}</code>{column}: "
                     f"{html.escape(what)}")
    return "<br>".join(lines) or html.escape(_("geen"))


AUDIT_CSS = """
:root{--brand:#1f3a5f;--line:#d0d7de}
body{font-family:"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1b1b1b;margin:0;line-height:1.5}
header{background:var(--brand);color:#fff;padding:20px}header h1{margin:0;font-size:1.6rem}
header a{color:#fff}nav.crumbs a{display:inline-block;min-height:24px;margin-right:14px}main{max-width:1100px;margin:0 auto;padding:0 20px 60px}
h2{color:var(--brand);border-bottom:2px solid var(--brand);padding-bottom:4px;margin-top:2em}
.table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:10px 0 18px;font-size:.92rem}
caption{text-align:left;font-weight:600;color:var(--brand);padding:4px 0}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f4f6f8}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#9b1c13;font-weight:600}.ok{color:#14632f}.note{color:#555;font-size:.9rem}
code{font-size:.85rem;overflow-wrap:anywhere}
@media (max-width:600px){main{padding:0 12px 40px}header{padding:14px 12px}header h1{font-size:1.3rem}
table{font-size:.85rem}}
@media print{header{background:none;color:#000}header a{color:#000}.table-wrap{overflow:visible}}
"""


def pipeline_checks(engine, minimum_respondents: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pipeline's checks per wave, rebuilt from the warehouse (latest validation run per wave):
    rows reconcile, district coverage, weighting stable; and the design-effect distribution per wave.
    Texts in the current language."""
    from socialquality.weighting_check import MAX_DEFF, deff_distribution, weighting_warnings

    runs = read_table(engine, s.validation_runs)
    results = read_table(engine, s.check_results)
    diagnostics = read_table(engine, s.weighting_diagnostics)
    rows = []
    if not runs.empty:
        latest = runs.sort_values("id").groupby("wave").tail(1)
        for run in latest.itertuples():
            ok = run.received == run.clean + run.quarantined
            counts = dict(received=fmt_number(run.received, 0), clean=fmt_number(run.clean, 0),
                          quarantined=fmt_number(run.quarantined, 0))
            rows.append({"wave": run.wave, "check": _("alle rijen verantwoord"), "code": "rows_reconcile",
                         "passed": ok, "severity": "error",
                         "description": _("ontvangen %(received)s = schoon %(clean)s + apart gezet %(quarantined)s",
                                          **counts) if ok else
                         _("ontvangen %(received)s, maar schoon %(clean)s + apart gezet %(quarantined)s", **counts)})
            cov = results[(results["validation_run_id"] == run.id)
                          & (results["rule_id"] == "min_respondents_per_district")]
            if not cov.empty:
                c = cov.iloc[0]
                observed = _observed(c["observed_value"])
                below, total = observed.get("districts_below_minimum"), observed.get("districts")
                if isinstance(below, dict) and below:
                    text = _("%(below)s van %(total)s wijken onder het minimum van %(minimum)s respondenten (hun "
                             "cijfers worden niet getoond): %(codes)s", below=len(below), total=total,
                             minimum=minimum_respondents, codes=", ".join(sorted(below)))
                elif isinstance(below, dict):
                    text = _("alle %(total)s wijken hebben minstens %(minimum)s respondenten", total=total,
                             minimum=minimum_respondents)
                else:
                    text = str(c["message"])
                rows.append({"wave": run.wave, "check": _("genoeg respondenten per wijk"), "code": "district_coverage",
                             "passed": bool(c["success"]), "severity": "warn", "description": text})
    warnings = weighting_warnings(diagnostics, minimum_respondents)
    for wave, g in diagnostics.groupby("wave") if not diagnostics.empty else []:
        bad = warnings[warnings["wave"] == str(wave)]
        if len(bad):
            text = (_("%(bad)s van %(total)s wijken: ", bad=len(bad), total=len(g))
                    + "; ".join(f"{r.district_code} ({r.reason})" for r in bad.head(10).itertuples())
                    + (" …" if len(bad) > 10 else ""))
        else:
            text = _("in alle %(total)s wijken design-effect hoogstens %(max)s, geconvergeerd en effectieve n boven "
                     "het minimum", total=len(g), max=fmt_number(MAX_DEFF, 1))
        rows.append({"wave": str(wave), "check": _("weging stabiel"), "code": "weighting_stable", "passed": bad.empty,
                     "severity": "warn", "description": text})
    checks = pd.DataFrame(rows, columns=["wave", "check", "code", "passed", "severity", "description"])
    return checks, deff_distribution(diagnostics, minimum_respondents)


def _moment(value) -> str:
    """A stored timestamp as "1 december 2026 14:03" in the page language."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    try:
        moment = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    return f"{fmt_date(moment.to_pydatetime(), 'medium')} {moment:%H:%M}"


def render_audit_page(engine, out_dir: Path, title: str, *, report_href: str | None = None,
                      pipeline_checks: pd.DataFrame | None = None, minimum_respondents: int = 30) -> Path:
    """audit/index.html: every validation run with suites, results, reconciliation and set-aside rows,
    the pipeline's own checks per wave, and the weighting per wave (weights, design effects, warnings).

    ``pipeline_checks`` (optional): the pipeline's own checks per wave (columns wave, check,
    passed, severity, description) -- district coverage, weighting stability, rows reconcile.
    Texts are in the current language of :mod:`socialquality.i18n`.
    """
    from socialquality.weighting_check import MAX_DEFF, weight_distribution, weighting_warnings

    out_dir.mkdir(parents=True, exist_ok=True)
    runs = read_table(engine, s.validation_runs).sort_values("id", ascending=False)
    checks = read_table(engine, s.check_results)
    quarantine = read_table(engine, s.quarantine)
    receipts = read_table(engine, s.file_receipts).sort_values("id")
    status = read_table(engine, s.wave_status)
    diagnostics = read_table(engine, s.weighting_diagnostics)
    districts = read_table(engine, s.districts)
    names = dict(zip(districts["district_code"], districts["district_name"])) if not districts.empty else {}
    counter = iter(range(1, 10_000))

    def esc(value) -> str:
        """Escape for HTML; missing values (None, NaN) become empty."""
        return "" if value is None or (isinstance(value, float) and value != value) else html.escape(str(value))

    def num(value, decimals: int = 0) -> str:
        return fmt_number(value, decimals, missing="")

    def ratio(value) -> str:
        """Largest / smallest weight; a weight near zero makes it astronomically large: "> 1.000.000"."""
        return num(value, 1) if value < 1e6 else "> " + num(1e6)

    def table(caption: str, head: list[str], numeric: set[int] = frozenset()) -> str:
        cells = "".join(f"<th scope='col'{' class=num' if i in numeric else ''}>{esc(h)}</th>"
                        for i, h in enumerate(head))
        return (f"<div class='table-wrap' tabindex='0' role='region' aria-label='{esc(caption)} ({next(counter)})'>"
                f"<table><caption>{esc(caption)}</caption><tr>{cells}</tr>")

    def ok_cell(ok: bool, text: str) -> str:
        return f"<td class='{'ok' if ok else 'fail'}'>{esc(text)}</td>"

    links = []
    if report_href:
        links.append(f"<a href='{esc(report_href)}'>" + esc(_("← naar het rapport")) + "</a>")
    if (out_dir / "data_docs" / "index.html").is_file():
        links.append("<a href='data_docs/index.html'>" + esc(_("Data Docs: alle validaties")) + "</a>")
    nav = ("<nav class='crumbs' aria-label='" + esc(_("Navigatie")) + "'>" + "".join(links) + "</nav>") if links else ""
    parts = [f"<!doctype html><html lang='{language()}'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{esc(title)}</title><style>{AUDIT_CSS}</style></head><body>",
             f"<header>{nav}<h1>{esc(title)}</h1></header><main>",
             "<p>" + esc(_("Voor auditors: welke regels draaiden op welk bestand, wat faalde, welke rijen apart zijn "
                           "gezet en waarom, of elke ontvangen rij is verantwoord (ontvangen = schoon + apart gezet), "
                           "en hoe de weging per meting uitpakt. Dezelfde gegevens staan in de warehouse-tabellen"))
             + " <code>validation_runs</code>, <code>check_results</code>, <code>quarantine</code>, "
             "<code>file_receipts</code>, <code>weighting_diagnostics</code> "
             + esc(_("(zie docs/audit.md)")) + ".</p>"]
    parts.append("<h2>" + esc(_("Status per meting")) + "</h2>"
                 + table(_("Status per meting"), [_("Meting"), _("Status"), _("Reden")]))
    for row in status.sort_values("wave").itertuples():
        parts.append(f"<tr><td>{esc(row.wave)}</td>{ok_cell(row.status == 'usable', status_name(row.status))}"
                     f"<td>{esc(without_paths(row.reason or ''))}</td></tr>")
    parts.append("</table></div>")
    deffs = None
    if pipeline_checks is None:
        pipeline_checks, deffs = globals()["pipeline_checks"](engine, minimum_respondents)
    if pipeline_checks is not None and not pipeline_checks.empty:
        parts.append("<h2>" + esc(_("Controles van de pijplijn per meting")) + "</h2><p class='note'>"
                     + esc(_("Naast de regels per rij controleert de pijplijn per meting of alle rijen verantwoord "
                             "zijn, of alle wijken genoeg respondenten hebben en of de weging stabiel is. Dezelfde "
                             "uitkomsten staan als asset checks in Dagster, met de meting erbij.")) + "</p>")
        parts.append(table(_("Controles van de pijplijn"), [_("Meting"), _("Controle"), _("Uitkomst"),
                                                            _("Toelichting")]))
        for row in pipeline_checks.sort_values(["wave", "check"]).itertuples():
            ok = bool(row.passed)
            outcome = _("in orde") if ok else _("waarschuwing") if row.severity == "warn" else _("fout")
            code = getattr(row, "code", "")
            parts.append(f"<tr><td>{esc(row.wave)}</td><td>{esc(row.check)}"
                         + (f" <code>{esc(code)}</code>" if code else "") + f"</td>{ok_cell(ok, outcome)}"
                         f"<td>{esc(row.description)}</td></tr>")
        parts.append("</table></div>")
    if deffs is not None and not deffs.empty:
        parts.append("<h2>" + esc(_("Weging per meting")) + "</h2><p class='note'>"
                     + esc(_("Het design-effect zegt hoeveel de weging de marge vergroot (1 = niet; 2 = de effectieve "
                             "steekproef is gehalveerd). De controle ‘weging stabiel’ waarschuwt bij een design-effect "
                             "boven %(max)s, als de weging niet convergeert, of als de effectieve n onder het "
                             "publicatieminimum zakt. ‘Aangepast’ telt de wijken waar leeftijdsgroepen zijn "
                             "samengevoegd of afkapgrenzen verruimd (een notitie, geen waarschuwing).",
                             max=fmt_number(MAX_DEFF, 1))) + "</p>")
        parts.append(table(_("Verdeling van het design-effect per meting"), [
            _("Meting"), _("Wijken"), _("Minimum"), _("Mediaan"), _("90e percentiel"), _("Maximum"), _("Aangepast"),
            _("Waarschuwingen")], numeric={1, 2, 3, 4, 5, 6, 7}))
        for r in deffs.itertuples():
            parts.append(f"<tr><td>{esc(r.wave)}</td><td class='num'>{num(r.districts)}</td>"
                         f"<td class='num'>{num(r.deff_min, 2)}</td><td class='num'>{num(r.deff_median, 2)}</td>"
                         f"<td class='num'>{num(r.deff_p90, 2)}</td><td class='num'>{num(r.deff_max, 2)}</td>"
                         f"<td class='num'>{num(r.adjusted)}</td>"
                         f"<td class='num {'fail' if r.warnings else 'ok'}'>{num(r.warnings)}</td></tr>")
        parts.append("</table></div>")
        spread = weight_distribution(read_table(engine, s.weights))
        if not spread.empty:
            parts.append("<p class='note'>" + esc(_("De gewichten ten opzichte van het gemiddelde gewicht in de eigen "
                                                   "wijk (1 = een gemiddelde respondent van de wijk). Hoe verder ze "
                                                   "uiteenlopen, hoe groter het design-effect.")) + "</p>")
            parts.append(table(_("Verdeling van de gewichten per meting"), [
                _("Meting"), _("Respondenten"), _("Minimum"), _("10e percentiel"), _("Mediaan"), _("90e percentiel"),
                _("Maximum"), _("Grootste / kleinste")], numeric={1, 2, 3, 4, 5, 6, 7}))
            for r in spread.itertuples():
                parts.append(f"<tr><td>{esc(r.wave)}</td><td class='num'>{num(r.respondents)}</td>"
                             + "".join(f"<td class='num'>{num(v, 2)}</td>"
                                       for v in (r.w_min, r.w_p10, r.w_median, r.w_p90, r.w_max))
                             + f"<td class='num'>{ratio(r.ratio)}</td></tr>")
            parts.append("</table></div>")
        warned = weighting_warnings(diagnostics, minimum_respondents, names)
        parts.append("<h3>" + esc(_("Wijken waar de weging de cijfers onzeker maakt")) + "</h3>")
        if warned.empty:
            parts.append("<p>" + esc(_("In geen enkele meting: de weging vergroot de marges nergens sterk.")) + "</p>")
        else:
            parts.append(table(_("Waarschuwingen bij de weging"), [
                _("Meting"), _("Wijk"), _("Respondenten"), _("Effectieve n"), _("Design-effect"), _("Reden")],
                numeric={2, 3, 4}))
            for r in warned.itertuples():
                parts.append(f"<tr><td>{esc(r.wave)}</td><td>{esc(r.district_name)} <code>{esc(r.district_code)}</code>"
                             f"</td><td class='num'>{num(r.n)}</td><td class='num'>{num(r.n_eff, 1)}</td>"
                             f"<td class='num'>{num(r.deff, 2)}</td><td>{esc(r.reason)}</td></tr>")
            parts.append("</table></div>")
    parts.append("<h2>" + esc(_("Ontvangen bestanden")) + "</h2>" + table(_("Ontvangen bestanden"), [
        _("Meting"), _("Bestand"), _("Controlegetal (sha256)"), _("Ontvangen"), _("Rijen"), _("Status"), _("Melding")],
        numeric={4}))
    for row in receipts.itertuples():
        parts.append(f"<tr><td>{esc(row.survey)} {esc(row.wave)}</td><td>{esc(row.file_name)}</td>"
                     f"<td><code>{esc(row.checksum[:16])}…</code></td><td>{esc(_moment(row.received_at))}</td>"
                     f"<td class='num'>{'' if pd.isna(row.rows) else num(int(row.rows))}</td>"
                     f"<td>{esc(status_name(row.status))}</td><td>{esc(without_paths(row.error or ''))}</td></tr>")
    parts.append("</table></div><h2>" + esc(_("Validaties")) + "</h2>" + table(_("Validaties"), [
        _("Meting"), _("Moment"), _("Run"), _("Regelsets"), _("Ontvangen"), _("Schoon"), _("Apart gezet"),
        _("Klopt"), _("Geblokkeerd"), _("Regels niet gehaald"), _("Data Docs")], numeric={4, 5, 6}))
    for row in runs.itertuples():
        run_checks = checks[checks["validation_run_id"] == row.id]
        failed = run_checks[~run_checks["success"].astype(bool)]
        reconciles = row.received == row.clean + row.quarantined
        suites = json.loads(row.suites or "{}")
        docs = Path(row.data_docs_path) if row.data_docs_path else None
        link = (f"<a href='{esc(str(docs.relative_to(out_dir)) if docs and docs.is_relative_to(out_dir) else str(docs))}'>"
                + esc(_("Data Docs meting %(wave)s", wave=row.wave)) + "</a>") if docs else ""
        reconciled = ok_cell(reconciles, _("ja") if reconciles else _("NEE"))
        blocked = (_("ja: %(reason)s", reason=without_paths(row.blocked_reason or "")) if row.blocked_reason
                   else _("ja")) if row.blocked else _("nee")
        parts.append(
            f"<tr><td>{esc(row.wave)}</td><td>{esc(_moment(row.validated_at))}</td><td><code>{esc(row.run_id[:8])}"
            f"</code></td><td>{'<br>'.join(f'<code>{esc(k)}</code> ({esc(str(v)[:10])})' for k, v in suites.items())}</td>"
            f"<td class='num'>{num(row.received)}</td><td class='num'>{num(row.clean)}</td>"
            f"<td class='num'>{num(row.quarantined)}</td>{reconciled}"
            f"{ok_cell(not row.blocked, blocked)}<td>{_failed_rules(failed)}</td><td>{link}</td></tr>")
    parts.append("</table></div><h2>" + esc(_("Apart gezette rijen per regel (laatste validatie per meting)")) + "</h2>"
                 + table(_("Apart gezette rijen per regel"), [_("Meting"), _("Regel"), _("Kolom"), _("Rijen"),
                                                              _("Vrijgegeven")], numeric={3, 4}))
    if not quarantine.empty:
        summary = quarantine.groupby(["wave", "rule_id", "column_name"], dropna=False).agg(
            rows=("source_row", "nunique"), released=("released_by", "count")).reset_index()
        for row in summary.itertuples():
            parts.append(f"<tr><td>{esc(row.wave)}</td><td>{esc(rule_name(row.rule_id))} <code>{esc(row.rule_id)}</code></td>"
                         f"<td>{esc('' if pd.isna(row.column_name) else row.column_name)}</td>"
                         f"<td class='num'>{num(row.rows)}</td><td class='num'>{num(row.released)}</td></tr>")
    parts.append("</table></div><p>" + esc(_("Per rij (bestand, rijnummer, regel, kolom, waarde): tabel"))
                 + " <code>quarantine</code>; " + esc(_("vrijgeven na beoordeling:"))
                 + " <code>" + esc(_("socialquality release ID --by NAAM --reason TEKST")) + "</code>.</p>"
                 "</main></body></html>")
    page = out_dir / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
