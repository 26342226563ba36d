"""Data Docs for auditors: one HTML page per quality run, plus an index of all runs.

Layout under ``out_dir``::

    index.html                         all runs, newest first (rebuilt on every call)
    runs/<UTC timestamp>[-label]/
        index.html                     the run: verdict, reconciliation, suites, every check,
                                       failing rows by source_file/source_row
        summary.json                   the same counts, machine-readable (the index reads these)
        gx/<suite>.html                each Great Expectations validation result of the run:
                                       every expectation with its parameters and outcome

Every page is self-contained: one inline stylesheet, no scripts, no request to a CDN or any other
server, relative links only (Home, the run, the suites) -- the pages work from a file or an
intranet share with the network off. The per-suite pages are rendered here from the GX validation
result (``ExpectationSuiteValidationResult.to_json_dict()``) rather than by GX's own Data Docs
renderer, whose pages load Bootstrap, jQuery and Font Awesome from CDNs and are English only.
Texts are in the current language of :mod:`socialquality.i18n` (the quality stage sets it from
the configuration); rules are shown by a readable name with their code beside it.

Microdata stays out: a page shows rule, column, source_file, source_row and the failing value
only (respondent ids are masked), never whole rows. Earlier runs are never overwritten.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path
from typing import Any

from socialquality.i18n import _, fmt_number, fmt_percent, language, ngettext
from socialquality.quality.model import BLOCKING_ROW, QualityOutcome, jsonable
from socialquality.quality.names import (
    check_status, expectation_name, parameter_name, rows_text, rule_name, severity_name,
)

SAMPLE_ROWS = 20
_MASKED_RULES = {"unique_respondent"}  # value = respondent id: not shown

_CSS = """
:root{--brand:#1f3a5f;--line:#d0d7de}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;line-height:1.5}
header{background:var(--brand);color:#fff;padding:16px 20px}header h1{margin:0;font-size:1.45rem}
header a{color:#fff}nav.crumbs{font-size:.95rem;margin-bottom:4px}
nav.crumbs a{display:inline-block;min-height:24px;padding:2px 0;margin-right:12px}
main{max-width:1200px;margin:0 auto;padding:0 20px 48px}
h2{font-size:1.15rem;margin-top:2rem;color:var(--brand);border-bottom:2px solid var(--brand);padding-bottom:3px}
h3{font-size:1rem}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0}
caption{text-align:left;font-weight:600;color:var(--brand);padding:4px 0}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}tr.failed td,tr.error td{background:#fff1f0}tr.not_applicable td{color:#555}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{background:#e6f4ea;border:1px solid #2e7d32;padding:.7rem}
.blocked{background:#fdecea;border:1px solid #b71c1c;padding:.7rem}.muted{color:#555;font-size:.85rem}
.bad{color:#9b1c13;font-weight:600}.good{color:#14632f;font-weight:600}
code{font-size:.82rem;overflow-wrap:anywhere;color:#333}td{overflow-wrap:break-word}
ul.plain{padding-left:1.1rem}ul.plain li{margin:2px 0}
a{color:#0b4f9c}td a,li a{display:inline-block;min-height:24px}
.table-wrap{max-width:100%;overflow-x:auto}
@media (max-width:600px){main{padding:0 12px 32px}header{padding:12px}header h1{font-size:1.2rem}
table{font-size:.8rem}.table-wrap table{min-width:34rem}}
@media print{header{background:none;color:#000}header a{color:#000}.table-wrap{overflow:visible}}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, decimals: int | None = None) -> str:
    """A number in the page's locale: whole numbers without decimals, others with up to 4 digits."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if decimals is None:
        decimals = 0 if float(value).is_integer() else (3 if abs(value) < 1 else 2)
    return fmt_number(value, decimals, missing="")


def _readable(value: Any, limit: int = 8) -> str:
    """A value for a table cell, as text a reader can read (no JSON): "kolom: leeftijd; minimum: 16"."""
    value = jsonable(value)
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, bool):
        return _("ja") if value else _("nee")
    if isinstance(value, (int, float)):
        return _num(value)
    if isinstance(value, list):
        shown = [_readable(v, limit) for v in value[:limit]]
        more = len(value) - limit
        return ", ".join(shown) + (" " + _("(en nog %(n)s)", n=_num(more)) if more > 0 else "")
    if isinstance(value, dict):
        items = list(value.items())
        shown = "; ".join(f"{parameter_name(str(k))}: {_readable(v, limit)}" for k, v in items[:limit])
        return shown + (" …" if len(items) > limit else "")
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _page(title: str, body: str, crumbs: list[tuple[str, str]] | None = None) -> str:
    """One self-contained page: inline CSS, no script, no external request.

    ``crumbs``: (href, text) links shown above the title (Home, the run)."""
    # every table scrolls inside its own (keyboard-reachable) box, so the page reflows at 390 px
    n = iter(range(1, 10_000))
    label = _("tabel")
    body = re.sub(r"<table", lambda _m: f"<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" "
                  f"aria-label=\"{_e(label)} {next(n)}\"><table", body)
    body = body.replace("</table>", "</table></div>")
    nav = ""
    if crumbs:
        nav = ("<nav class=\"crumbs\" aria-label=\"" + _e(_("Navigatie")) + "\">"
               + "".join(f"<a href=\"{_e(href)}\">{_e(text)}</a>" for href, text in crumbs) + "</nav>")
    return (f"<!DOCTYPE html>\n<html lang=\"{language()}\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n<header>{nav}<h1>{_e(title)}</h1></header>\n<main>\n{body}\n"
            "</main></body></html>\n")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40]


def _new_run_dir(out_dir: Path, label: str) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    base = stamp + (f"-{_slug(label)}" if _slug(label) else "")
    runs = out_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    candidate, n = runs / base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = runs / f"{base}-{n}"


def _description(item: Any) -> str:
    """The rule's description in the page language (the suites carry Dutch and English)."""
    nl, en = getattr(item, "description_nl", None), getattr(item, "description_en", None)
    if isinstance(item, dict):
        nl, en = item.get("description_nl"), item.get("description_en")
    return (en or nl or "") if language() == "en" else (nl or en or "")


def _rule_cell(rule_id: Any, detail: str = "") -> str:
    return (f"{_e(rule_name(rule_id))}<div><code>{_e(rule_id)}</code></div>"
            + (f"<div class=\"muted\"><code>{_e(detail)}</code></div>" if detail else ""))


def _status_cell(status: str) -> str:
    css = {"passed": "good", "failed": "bad", "error": "bad"}.get(status, "")
    return f"<td class=\"{css}\">{_e(check_status(status))}</td>"


def _checks_table(outcome: QualityOutcome, statuses: tuple[str, ...] | None = None) -> str:
    rows = []
    for i, c in enumerate(outcome.checks, 1):
        if statuses is not None and c.status not in statuses:
            continue
        observed = _readable(c.observed_value)
        norm = _readable(c.threshold)
        rows.append(
            f"<tr class=\"{_e(c.status)}\"><td class=\"num\">{i}</td>"
            f"<td>{_rule_cell(c.rule_id, c.expectation_type)}</td><td>{_e(c.column or '')}</td>"
            f"{_status_cell(c.status)}<td>{_e(severity_name(c.severity))}</td>"
            f"<td>{_e(observed)}" + ("<div class=\"muted\">" + _e(_("norm")) + f": {_e(norm)}</div>" if norm else "")
            + f"</td><td class=\"num\">{_e(_num(c.rows_affected))}</td>"
            f"<td>{_e(_description(c))}" + (f"<div class=\"muted\">{_e(c.error)}</div>" if c.error else "")
            + "</td></tr>"
        )
    head = [("#", "num"), (_("Regel"), ""), (_("Kolom"), ""), (_("Uitkomst"), ""), (_("Bij falen"), ""),
            (_("Gevonden"), ""), (_("Rijen geraakt"), "num"), (_("Beschrijving"), "")]
    return ("<table><tr>" + "".join(f"<th scope=\"col\" class=\"{c}\">{_e(h)}</th>" for h, c in head) + "</tr>"
            + "".join(rows) + "</table>")


def _samples(outcome: QualityOutcome) -> str:
    q = outcome.quarantine
    if q.empty:
        return "<p>" + _e(_("Geen rijen apart gezet of gemarkeerd.")) + "</p>"
    parts = []
    masked = _e(_("(pseudoniem)"))
    head = ("<table><tr><th scope=\"col\">" + _e(_("Bestand")) + "</th><th scope=\"col\" class=\"num\">" + _e(_("Rij"))
            + "</th><th scope=\"col\">" + _e(_("Waarde")) + "</th></tr>")
    for (rule_id, column, severity), group in q.groupby(["rule_id", "column", "severity"], sort=True):
        sample = group.head(SAMPLE_ROWS)
        rows = "".join(
            f"<tr><td>{_e(r.source_file)}</td><td class=\"num\">{_e(r.source_row)}</td>"
            f"<td>{masked if rule_id in _MASKED_RULES else _e(r.value)}</td></tr>"
            for r in sample.itertuples()
        )
        if severity == BLOCKING_ROW:
            what = ngettext("%(count)s rij apart gezet", "%(count)s rijen apart gezet", len(group),
                            count=_num(len(group)))
        else:
            what = ngettext("%(count)s rij gemarkeerd", "%(count)s rijen gemarkeerd", len(group),
                            count=_num(len(group)))
        shown = _("De eerste %(n)s staan hier; alle rijen staan in de warehouse-tabel", n=_num(len(sample)))
        parts.append(
            f"<h3>{_e(rule_name(rule_id))} <code>{_e(rule_id)}</code> {_e(column or '')}: {_e(what)}</h3>"
            f"<p class=\"muted\">{_e(shown)} <code>quarantine</code>.</p>{head}{rows}</table>"
        )
    return "".join(parts)


def _unexpected(result: dict[str, Any], redacted: bool) -> str:
    data = result.get("result") or {}
    parts = []
    if "observed_value" in data:
        parts.append(_("gevonden: %(value)s", value=_readable(data["observed_value"])))
    if data.get("unexpected_count") is not None:
        total = data.get("element_count")
        share = data.get("unexpected_percent")
        text = rows_text(int(data["unexpected_count"])) + " " + _("afwijkend")
        if total:
            text += " " + _("van %(total)s", total=_num(total))
        if share is not None:
            text += f" ({fmt_percent(float(share) / 100.0)})"
        parts.append(text)
        values = data.get("partial_unexpected_list") or []
        if values and not redacted:
            parts.append(_("bijvoorbeeld: %(values)s", values=_readable(values[:SAMPLE_ROWS], limit=10)))
    return "; ".join(parts)


def suite_page(result: dict[str, Any], title: str, *, home: str, run: str) -> str:
    """The page of one GX validation result (a suite on one frame): every expectation, readable."""
    stats = result.get("statistics") or {}
    meta = (result.get("meta") or {}).get("socialquality") or {}
    rows = []
    for i, item in enumerate(result.get("results") or [], 1):
        config = item.get("expectation_config") or {}
        cmeta = config.get("meta") or {}
        kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k not in ("batch_id", "column")}
        status = "passed" if item.get("success") else "failed"
        if (item.get("exception_info") or {}).get("raised_exception"):
            status = "error"
        redacted = bool(cmeta.get("redact_values"))
        rows.append(
            f"<tr class=\"{status}\"><td class=\"num\">{i}</td>"
            f"<td>{_rule_cell(cmeta.get('rule_id', ''))}</td><td>{_e((config.get('kwargs') or {}).get('column', ''))}</td>"
            f"<td>{_e(expectation_name(config.get('type')))}<div><code>{_e(config.get('type'))}</code></div></td>"
            f"<td>{_e(_readable(kwargs))}</td>{_status_cell(status)}<td>{_e(_unexpected(item, redacted))}</td>"
            f"<td>{_e(_description(cmeta))}</td></tr>")
    head = [("#", "num"), (_("Regel"), ""), (_("Kolom"), ""), (_("Verwachting (Great Expectations)"), ""),
            (_("Instellingen"), ""), (_("Uitkomst"), ""), (_("Gevonden"), ""), (_("Beschrijving"), "")]
    evaluated, successful = stats.get("evaluated_expectations"), stats.get("successful_expectations")
    summary = _("%(ok)s van %(n)s verwachtingen gehaald.", ok=_num(successful or 0), n=_num(evaluated or 0))
    frame = meta.get("validated_frame")
    frame_text = {"delivered": _("de geleverde rijen"), "clean": _("de schone rijen")}.get(frame, frame or "")
    rule_set = _("Regelset")
    tested = _("getoetst op %(frame)s", frame=frame_text) if frame_text else ""
    verdict = (_("Alle verwachtingen gehaald.") if result.get("success")
               else _("Niet alle verwachtingen gehaald; zie de regels met uitkomst mislukt."))
    version = _("Great Expectations-versie %(version)s; afwijkende waarden van respondentnummers worden niet getoond.",
                version=(result.get("meta") or {}).get("great_expectations_version", ""))
    heading = _("Verwachtingen")
    body = (f"<p>{_e(rule_set)} <code>{_e(result.get('suite_name'))}</code>"
            + (f", {_e(tested)}" if tested else "")
            + (f" ({_e(rows_text(meta['rows']))})" if meta.get("rows") is not None else "")
            + f". {_e(summary)}</p>"
            f"<div class=\"{'ok' if result.get('success') else 'blocked'}\">{_e(verdict)}</div>"
            f"<h2>{_e(heading)}</h2><table><tr>"
            + "".join(f"<th scope=\"col\" class=\"{c}\">{_e(h)}</th>" for h, c in head) + "</tr>"
            + "".join(rows) + "</table>"
            f"<p class=\"muted\">{_e(version)}</p>")
    return _page(title, body, [(home, _("Alle runs")), (run, _("Deze run"))])


def _gx_pages(outcome: QualityOutcome, run_dir: Path, title: str) -> list[tuple[str, str]]:
    """One page per GX validation result; a failure here never fails the docs build."""
    links = []
    for result in outcome.gx_results:
        name = _slug(result.get("suite_name") or "") or "suite"
        path = run_dir / "gx" / f"{name}.html"
        path.parent.mkdir(exist_ok=True)
        page_title = _("%(title)s: regelset %(suite)s", title=title, suite=result.get("suite_name"))
        try:
            path.write_text(suite_page(result, page_title, home="../../../index.html", run="../index.html"),
                            encoding="utf-8")
        except Exception as exc:  # noqa: BLE001 - one odd result must not lose the audit page
            path.write_text(_page(page_title, "<p>" + _e(_("Deze uitkomst kon niet worden weergegeven: %(error)s",
                                                          error=exc)) + "</p>",
                                  [("../../../index.html", _("Alle runs")), ("../index.html", _("Deze run"))]),
                            encoding="utf-8")
        links.append((str(result.get("suite_name")), f"gx/{path.name}"))
    return links


def _suite_stats(outcome: QualityOutcome) -> list[dict[str, Any]]:
    return [{"suite": r.get("suite_name"), "frame": ((r.get("meta") or {}).get("socialquality") or {}).get("validated_frame"),
             "evaluated": (r.get("statistics") or {}).get("evaluated_expectations"),
             "successful": (r.get("statistics") or {}).get("successful_expectations")}
            for r in outcome.gx_results]


def _when(value: Any) -> str:
    """An ISO timestamp as "1 december 2026 14:03 UTC" in the page language."""
    from socialquality.i18n import fmt_date

    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return f"{fmt_date(moment)} {moment:%H:%M} UTC" if moment.tzinfo else f"{fmt_date(moment)} {moment:%H:%M}"


def build_data_docs(outcome: QualityOutcome, out_dir: Path, title: str, *, audit_href: str | None = None) -> Path:
    """Write a new timestamped run page under ``out_dir/runs/`` and rebuild ``out_dir/index.html``.

    ``audit_href``: the audit page relative to ``out_dir`` (the index links up to it). Returns the
    path of the new run page.
    """
    out_dir = Path(out_dir)
    run_dir = _new_run_dir(out_dir, outcome.run_label or f"{outcome.survey}-{outcome.wave}")
    rec = outcome.reconciliation
    summary = outcome.summary()
    gx_links = _gx_pages(outcome, run_dir, title)
    summary.update({"title": title, "page": f"runs/{run_dir.name}/index.html", "gx_suites": _suite_stats(outcome),
                    "gx_pages": [{"suite": name, "page": href} for name, href in gx_links],
                    "docs_written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})

    if outcome.ok:
        verdict = ("<div class=\"ok\"><b>" + _e(_("Geen blokkerende fouten")) + "</b>: "
                   + _e(_("de cijfers van deze meting mogen worden berekend.")) + "</div>")
    else:
        items = "".join(f"<li>{_e(rule_name(c.rule_id))} <code>{_e(c.check_id)}</code>: {_e(_description(c))}</li>"
                        for c in outcome.blocking_failures)
        verdict = ("<div class=\"blocked\"><b>" + _e(_("Geblokkeerd")) + "</b>: "
                   + _e(_("de cijfers van deze meting worden niet berekend.")) + f"<ul>{items}</ul></div>")
    num_th = "<th scope=\"col\" class=\"num\">{}</th>"
    files = "".join(f"<tr><td>{_e(f['source_file'])}</td><td class=\"num\">{_num(f['received'])}</td>"
                    f"<td class=\"num\">{_num(f['clean'])}</td><td class=\"num\">{_num(f['quarantined'])}</td></tr>"
                    for f in rec.by_file)
    suites = "".join(f"<tr><td><code>{_e(name)}</code></td><td><code>{_e(sha)}</code></td></tr>"
                     for name, sha in outcome.suite_checksums.items())
    pages = dict((name, href) for name, href in gx_links)
    frames = {"delivered": _("geleverde rijen"), "clean": _("schone rijen")}
    stats = "".join(
        f"<tr><td>" + (f"<a href=\"{_e(pages[s['suite']])}\">{_e(s['suite'])}</a>" if s["suite"] in pages
                       else _e(s["suite"]))
        + f"</td><td>{_e(frames.get(s['frame'], s['frame'] or ''))}</td>"
        f"<td class=\"num\">{_e(_num(s['successful'] or 0))} / {_e(_num(s['evaluated'] or 0))}</td></tr>"
        for s in summary["gx_suites"])
    counts = summary["checks"]
    n_failed = counts["failed"] + counts["error"]
    intro = _("Enquête %(survey)s, meting %(wave)s, run %(label)s.", survey=outcome.survey, wave=outcome.wave,
              label=outcome.run_label)
    detail = _("Gestart %(start)s, klaar %(end)s; Great Expectations %(gx)s; codeboek versie %(version)s, "
               "sha256", start=_when(outcome.started_at), end=_when(outcome.finished_at), gx=outcome.gx_version,
               version=outcome.codebook_version)
    totals = _("%(total)s controles: %(passed)s geslaagd, %(failed)s mislukt, %(na)s niet van toepassing, "
               "%(errors)s met een fout bij uitvoeren", total=_num(counts["total"]), passed=_num(counts["passed"]),
               failed=_num(counts["failed"]), na=_num(counts["not_applicable"]), errors=_num(counts["error"]))
    L = {  # the page's texts, translated and escaped
        'h_received': _e(_("Ontvangen")),
        'h_clean': _e(_("Schoon")),
        'h_quarantined': _e(_("Apart gezet")),
        'h_met': _e(_("Verwachtingen gehaald")),
        'none': _e(_("Geen.")),
        'reconciliation': _e(_("Aansluiting")),
        'file': _e(_("Bestand")),
        'rules_used': _e(_("Gebruikte regels")),
        'rules_file': _e(_("Regelbestand")),
        'checksum': _e(_("Controlegetal (sha256)")),
        'gx_validation': _e(_("Validatie in Great Expectations")),
        'validated_on': _e(_("Getoetst op")),
        'failed_checks': _e(_("Mislukte controles")),
        'rows_by_rule': _e(_("Rijen per regel")),
        'rows_note': _e(_("Alleen bestand, rijnummer en de afwijkende waarde; nooit volledige antwoorden.")),
        'all_checks': _e(_("Alle controles")),
        "recon": _e(_("Ontvangen %(received)s = schoon %(clean)s + apart gezet %(quarantined)s",
                      received=_num(rec.received), clean=_num(rec.clean), quarantined=_num(rec.quarantined))),
    }
    body = f"""
<p>{_e(intro)}<br><span class="muted">{_e(detail)} <code>{_e(outcome.codebook_checksum)}</code></span></p>
{verdict}
<h2>{L['reconciliation']}</h2>
<p>{L['recon']}</p>
<table><tr><th scope="col">{L['file']}</th>{num_th.format(L['h_received'])}{num_th.format(L['h_clean'])}{num_th.format(L['h_quarantined'])}</tr>{files}</table>
<h2>{L['rules_used']}</h2>
<table><tr><th scope="col">{L['rules_file']}</th><th scope="col">{L['checksum']}</th></tr>{suites}</table>
<table><tr><th scope="col">{L['gx_validation']}</th><th scope="col">{L['validated_on']}</th>{num_th.format(L['h_met'])}</tr>{stats}</table>
<h2>{L['failed_checks']} ({_num(n_failed)})</h2>
{_checks_table(outcome, ("failed", "error")) if n_failed else "<p>" + L['none'] + "</p>"}
<h2>{L['rows_by_rule']}</h2>
<p class="muted">{L['rows_note']}</p>
{_samples(outcome)}
<h2>{L['all_checks']}</h2>
<p>{_e(totals)}.</p>
{_checks_table(outcome)}
"""
    page = run_dir / "index.html"
    page.write_text(_page(_("%(title)s — run %(run)s", title=title, run=run_dir.name), body,
                          [("../../index.html", _("Alle runs"))]), encoding="utf-8")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _write_index(out_dir, audit_href)
    return page


def _write_index(out_dir: Path, audit_href: str | None = None) -> Path:
    entries = []
    for summary_path in (out_dir / "runs").glob("*/summary.json"):
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        entries.append((summary_path.parent.name, summary))
    entries.sort(key=lambda e: e[0], reverse=True)  # directory names start with the UTC timestamp
    rows = []
    for name, s in entries:
        rec, checks = s.get("reconciliation", {}), s.get("checks", {})
        pages = {p["suite"]: p["page"] for p in s.get("gx_pages", [])}
        gx = "<br>".join(
            (f"<a href=\"runs/{_e(name)}/{_e(pages[g['suite']])}\">{_e(g['suite'])}</a>" if g["suite"] in pages
             else _e(g["suite"])) + f": {_e(_num(g['successful'] or 0))}/{_e(_num(g['evaluated'] or 0))}"
            for g in s.get("gx_suites", []))
        counts = _("%(passed)s geslaagd, %(failed)s mislukt, %(na)s n.v.t., %(errors)s fout",
                   passed=_num(checks.get("passed", 0)), failed=_num(checks.get("failed", 0)),
                   na=_num(checks.get("not_applicable", 0)), errors=_num(checks.get("error", 0)))
        verdict = _("in orde") if s.get("ok") else _("geblokkeerd")
        rows.append(
            f"<tr class=\"{'passed' if s.get('ok') else 'failed'}\"><td><a href=\"runs/{_e(name)}/index.html\">"
            f"{_e(_when(s.get('started_at')) or name)}</a><div class=\"muted\">{_e(s.get('run_label'))}</div></td>"
            f"<td>{_e(s.get('title'))}</td><td>{_e(s.get('wave'))}</td><td>{gx}</td><td>{_e(counts)}</td>"
            f"<td class=\"{'good' if s.get('ok') else 'bad'}\">{_e(verdict)}</td>"
            f"<td class=\"num\">{_num(rec.get('received'))}</td><td class=\"num\">{_num(rec.get('clean'))}</td>"
            f"<td class=\"num\">{_num(rec.get('quarantined'))}</td></tr>"
        )
    head = [(_("Run"), ""), (_("Titel"), ""), (_("Meting"), ""), (_("Regelsets (verwachtingen gehaald)"), ""),
            (_("Controles"), ""), (_("Oordeel"), ""), (_("Ontvangen"), "num"), (_("Schoon"), "num"),
            (_("Apart gezet"), "num")]
    body = ("<p class=\"muted\">" + _e(_("Nieuwste eerst. Elke run toont welke regels draaiden, met welke uitkomst, "
                                         "en de afwijkende rijen per bestand en rijnummer.")) + "</p>"
            "<table><tr>" + "".join(f"<th scope=\"col\" class=\"{c}\">{_e(h)}</th>" for h, c in head) + "</tr>"
            + "".join(rows) + "</table>")
    index = out_dir / "index.html"
    tmp = index.with_suffix(".html.tmp")
    # up to the audit page (the auditors' home) when the docs sit in its folder, as the pipeline writes them
    up = [(audit_href, _("Auditoverzicht"))] if audit_href else None
    tmp.write_text(_page(_("Datakwaliteit: alle runs"), body, up), encoding="utf-8")
    tmp.replace(index)
    return index
