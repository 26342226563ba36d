"""For auditors: the audit index page and "why is respondent X of wave Y (not) in the figures?"."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
from sqlalchemy import text

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


#: readable Dutch names of the row and dataset rules (expectations/custom, socialquality.quality)
RULE_NAMES = {
    "required_columns": "verplichte kolommen aanwezig",
    "respondent_id_present": "respondentnummer ingevuld",
    "unique_respondent": "respondent niet dubbel",
    "district_present": "wijk ingevuld",
    "known_district": "bekende wijk",
    "allowed_codes": "toegestane antwoordcode",
    "minimum_age": "minimumleeftijd",
    "value_range": "waarde binnen het bereik",
    "speeder": "vragenlijst te snel ingevuld",
    "straightlining": "steeds hetzelfde antwoord in een vragenblok",
    "complete_row": "rij volledig genoeg",
    "min_respondents_per_district": "wijken met te weinig respondenten",
    "max_missing_share": "niet te veel ontbrekende antwoorden",
    "fieldwork_dates": "invuldatum binnen het veldwerk",
    "sample_composition": "samenstelling van de steekproef",
    "duplicate_answer_pattern": "dubbele antwoordpatronen",
    "max_quarantine_share": "niet te veel rijen apart gezet",
    "min_clean_respondents": "genoeg bruikbare respondenten",
}
STATUS_NL = {"usable": "bruikbaar", "blocked": "geblokkeerd", "loaded": "ingelezen", "rejected": "geweigerd",
             "held": "aangehouden voor beoordeling", "superseded": "vervangen door een nieuwere levering",
             "not_used": "niet gebruikt", "received": "ontvangen", "accepted": "geaccepteerd"}


def rule_name(rule_id) -> str:
    rid = "" if rule_id is None or (isinstance(rule_id, float) and rule_id != rule_id) else str(rule_id)
    return RULE_NAMES.get(rid, rid.replace("_", " "))


def rows_nl(n: int) -> str:
    return f"{n} rij" if n == 1 else f"{n} rijen"


def _failed_rules(failed: pd.DataFrame) -> str:
    lines = []
    for r in failed.itertuples():
        if r.rule_id == "min_respondents_per_district":
            try:  # observed value: {'districts': 99, 'districts_below_minimum': {code: n, ...}}
                import ast
                below = ast.literal_eval(str(r.observed_value)).get("districts_below_minimum", {})
                what = f"{len(below)} {'wijk' if len(below) == 1 else 'wijken'} onder het minimum"
            except (ValueError, SyntaxError, AttributeError):
                what = str(r.message or "")
        else:
            what = rows_nl(int(r.rows_affected or 0))
        column = "" if r.column_name is None or (isinstance(r.column_name, float)) else f" ({r.column_name})"
        lines.append(html.escape(f"{rule_name(r.rule_id)}{column}: {what}"))
    return "<br>".join(lines) or "geen"


AUDIT_CSS = """
:root{--brand:#1f3a5f;--line:#d0d7de}
body{font-family:"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1b1b1b;margin:0;line-height:1.5}
header{background:var(--brand);color:#fff;padding:20px}header h1{margin:0;font-size:1.6rem}
header a{color:#fff}main{max-width:1100px;margin:0 auto;padding:0 20px 60px}
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
    rows reconcile, district coverage, weighting stable; and the design-effect distribution per wave."""
    import ast

    from socialquality.weighting_check import MAX_DEFF, deff_distribution, unstable_districts

    runs = read_table(engine, s.validation_runs)
    results = read_table(engine, s.check_results)
    diagnostics = read_table(engine, s.weighting_diagnostics)
    rows = []
    if not runs.empty:
        latest = runs.sort_values("id").groupby("wave").tail(1)
        for run in latest.itertuples():
            ok = run.received == run.clean + run.quarantined
            rows.append({"wave": run.wave, "check": "alle rijen verantwoord", "passed": ok, "severity": "error",
                         "description": f"ontvangen {run.received} = schoon {run.clean} + apart gezet {run.quarantined}"
                         if ok else f"ontvangen {run.received}, maar schoon {run.clean} + apart gezet {run.quarantined}"})
            cov = results[(results["validation_run_id"] == run.id)
                          & (results["rule_id"] == "min_respondents_per_district")]
            if not cov.empty:
                c = cov.iloc[0]
                try:
                    observed = ast.literal_eval(str(c["observed_value"]))
                    below, total = observed.get("districts_below_minimum", {}), observed.get("districts")
                    text = (f"{len(below)} van {total} wijken onder het minimum van {minimum_respondents} respondenten"
                            f" (hun cijfers worden niet getoond): {', '.join(sorted(below))}" if below else
                            f"alle {total} wijken hebben minstens {minimum_respondents} respondenten")
                except (ValueError, SyntaxError, AttributeError):
                    text = str(c["message"])
                rows.append({"wave": run.wave, "check": "genoeg respondenten per wijk", "passed": bool(c["success"]),
                             "severity": "warn", "description": text})
    for wave, g in diagnostics.groupby("wave") if not diagnostics.empty else []:
        bad = unstable_districts(g, minimum_respondents)
        text = (f"{len(bad)} van {len(g)} wijken: " + "; ".join(f"{r.district_code} ({r.reason})"
                                                              for r in bad.head(10).itertuples())
                + (" …" if len(bad) > 10 else "")) if len(bad) else \
            f"in alle {len(g)} wijken design-effect ≤ {MAX_DEFF:g}, geconvergeerd en effectieve n boven het minimum"
        rows.append({"wave": str(wave), "check": "weging stabiel", "passed": bad.empty, "severity": "warn",
                     "description": text})
    checks = pd.DataFrame(rows, columns=["wave", "check", "passed", "severity", "description"])
    return checks, deff_distribution(diagnostics, minimum_respondents)


def render_audit_page(engine, out_dir: Path, title: str, *, report_href: str | None = None,
                      pipeline_checks: pd.DataFrame | None = None) -> Path:
    """audit/index.html: every validation run with suites, results, reconciliation and set-aside rows.

    ``pipeline_checks`` (optional): the pipeline's own checks per wave (columns wave, check,
    passed, severity, description) -- district coverage, weighting stability, rows reconcile.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = read_table(engine, s.validation_runs).sort_values("id", ascending=False)
    checks = read_table(engine, s.check_results)
    quarantine = read_table(engine, s.quarantine)
    receipts = read_table(engine, s.file_receipts).sort_values("id")
    status = read_table(engine, s.wave_status)
    counter = iter(range(1, 10_000))

    def esc(value) -> str:
        """Escape for HTML; missing values (None, NaN) become empty."""
        return "" if value is None or (isinstance(value, float) and value != value) else html.escape(str(value))

    def table(caption: str, head: list[str]) -> str:
        cells = "".join(f"<th scope='col'>{esc(h)}</th>" for h in head)
        return (f"<div class='table-wrap' tabindex='0' role='region' aria-label='{esc(caption)} ({next(counter)})'>"
                f"<table><caption>{esc(caption)}</caption><tr>{cells}</tr>")

    back = f"<p><a href='{esc(report_href)}'>← naar het rapport</a></p>" if report_href else ""
    parts = [f"<!doctype html><html lang='nl'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{esc(title)}</title><style>{AUDIT_CSS}</style></head><body>",
             f"<header>{back}<h1>{esc(title)}</h1></header><main>",
             "<p>Voor auditors: welke regels draaiden op welk bestand, wat faalde, welke rijen apart zijn gezet en "
             "waarom, en of elke ontvangen rij is verantwoord (ontvangen = schoon + apart gezet). Dezelfde gegevens "
             "staan in de warehouse-tabellen <code>validation_runs</code>, <code>check_results</code>, "
             "<code>quarantine</code> en <code>file_receipts</code> (zie docs/audit.md).</p>"]
    parts.append("<h2>Status per meting</h2>" + table("Status per meting", ["Meting", "Status", "Reden"]))
    for row in status.sort_values("wave").itertuples():
        css = "ok" if row.status == "usable" else "fail"
        parts.append(f"<tr><td>{esc(row.wave)}</td><td class='{css}'>{esc(STATUS_NL.get(row.status, row.status))}</td>"
                     f"<td>{esc(row.reason or '')}</td></tr>")
    parts.append("</table></div>")
    deffs = None
    if pipeline_checks is None:
        pipeline_checks, deffs = globals()["pipeline_checks"](engine)
    if deffs is not None and not deffs.empty:
        from socialquality.weighting_check import MAX_DEFF

        def num(v) -> str:
            return "" if v is None or v != v else f"{v:.2f}".replace(".", ",")

        parts.append("<h2>Weging per meting</h2><p class='note'>Het design-effect zegt hoeveel de weging de marge "
                     f"vergroot (1 = niet; 2 = de effectieve steekproef is gehalveerd). De controle 'weging stabiel' "
                     f"waarschuwt bij een design-effect boven {MAX_DEFF:g}, als de weging niet convergeert, of als de "
                     "effectieve n onder het publicatieminimum zakt. 'Aangepast' telt de wijken waar leeftijdsgroepen "
                     "zijn samengevoegd of afkapgrenzen verruimd (een notitie, geen waarschuwing).</p>")
        parts.append(table("Verdeling van het design-effect per meting", [
            "Meting", "Wijken", "Minimum", "Mediaan", "90e percentiel", "Maximum", "Aangepast", "Waarschuwingen"]))
        for r in deffs.itertuples():
            parts.append(f"<tr><td>{esc(r.wave)}</td><td>{r.districts}</td><td>{num(r.deff_min)}</td>"
                         f"<td>{num(r.deff_median)}</td><td>{num(r.deff_p90)}</td><td>{num(r.deff_max)}</td>"
                         f"<td>{r.adjusted}</td><td class='{'fail' if r.warnings else 'ok'}'>{r.warnings}</td></tr>")
        parts.append("</table></div>")
    if pipeline_checks is not None and not pipeline_checks.empty:
        parts.append("<h2>Controles van de pijplijn per meting</h2><p class='note'>Naast de regels per rij controleert de "
                     "pijplijn per meting of alle wijken genoeg respondenten hebben, of de weging stabiel is en of "
                     "alle rijen verantwoord zijn. Dezelfde uitkomsten staan als asset checks in Dagster.</p>")
        parts.append(table("Controles van de pijplijn", ["Meting", "Controle", "Uitkomst", "Toelichting"]))
        for row in pipeline_checks.sort_values(["wave", "check"]).itertuples():
            ok = bool(row.passed)
            parts.append(f"<tr><td>{esc(row.wave)}</td><td>{esc(row.check)}</td>"
                         f"<td class='{'ok' if ok else 'fail'}'>{'in orde' if ok else 'waarschuwing' if row.severity == 'warn' else 'fout'}"
                         f"</td><td>{esc(row.description)}</td></tr>")
        parts.append("</table></div>")
    parts.append("<h2>Ontvangen bestanden</h2>" + table("Ontvangen bestanden", [
        "Meting", "Bestand", "Controlegetal (sha256)", "Ontvangen", "Rijen", "Status", "Melding"]))
    for row in receipts.itertuples():
        parts.append(f"<tr><td>{esc(row.survey)} {esc(row.wave)}</td><td>{esc(row.file_name)}</td>"
                     f"<td><code>{esc(row.checksum[:16])}…</code></td><td>{esc(str(row.received_at)[:19])}</td>"
                     f"<td>{'' if pd.isna(row.rows) else int(row.rows)}</td><td>{esc(STATUS_NL.get(row.status, row.status))}</td>"
                     f"<td>{esc(without_paths(row.error or ''))}</td></tr>")
    parts.append("</table></div><h2>Validaties</h2>" + table("Validaties", [
        "Meting", "Moment", "Run", "Regelsets", "Ontvangen", "Schoon", "Apart gezet", "Klopt", "Geblokkeerd",
        "Regels niet gehaald", "Data Docs"]))
    for row in runs.itertuples():
        run_checks = checks[checks["validation_run_id"] == row.id]
        failed = run_checks[~run_checks["success"].astype(bool)]
        reconciles = row.received == row.clean + row.quarantined
        suites = json.loads(row.suites or "{}")
        docs = Path(row.data_docs_path) if row.data_docs_path else None
        link = (f"<a href='{esc(str(docs.relative_to(out_dir)) if docs and docs.is_relative_to(out_dir) else str(docs))}'>"
                f"Data Docs meting {esc(row.wave)}</a>") if docs else ""
        parts.append(
            f"<tr><td>{esc(row.wave)}</td><td>{esc(str(row.validated_at)[:19])}</td><td><code>{esc(row.run_id[:8])}"
            f"</code></td><td>{'<br>'.join(esc(f'{k} ({str(v)[:10]})') for k, v in suites.items())}</td>"
            f"<td>{row.received}</td><td>{row.clean}</td><td>{row.quarantined}</td>"
            f"<td class='{'ok' if reconciles else 'fail'}'>{'ja' if reconciles else 'NEE'}</td>"
            f"<td class='{'fail' if row.blocked else 'ok'}'>{'ja: ' + esc(row.blocked_reason or '') if row.blocked else 'nee'}</td>"
            f"<td>{_failed_rules(failed)}</td>"
            f"<td>{link}</td></tr>")
    parts.append("</table></div><h2>Apart gezette rijen per regel (laatste validatie per meting)</h2>"
                 + table("Apart gezette rijen per regel", ["Meting", "Regel", "Kolom", "Rijen", "Vrijgegeven"]))
    if not quarantine.empty:
        summary = quarantine.groupby(["wave", "rule_id", "column_name"], dropna=False).agg(
            rows=("source_row", "nunique"), released=("released_by", "count")).reset_index()
        for row in summary.itertuples():
            parts.append(f"<tr><td>{esc(row.wave)}</td><td>{esc(rule_name(row.rule_id))} <code>{esc(row.rule_id)}</code></td>"
                         f"<td>{esc('' if pd.isna(row.column_name) else row.column_name)}</td><td>{row.rows}</td>"
                         f"<td>{row.released}</td></tr>")
    parts.append("</table></div><p>Per rij (bestand, rijnummer, regel, kolom, waarde): tabel <code>quarantine</code>; "
                 "vrijgeven na beoordeling: <code>socialquality release ID --by NAAM --reason TEKST</code>.</p>"
                 "</main></body></html>")
    page = out_dir / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
