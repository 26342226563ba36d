"""Data Docs for auditors: one HTML page per quality run, plus an index of all runs.

Layout under ``out_dir``::

    index.html                         all runs, newest first (rebuilt on every call)
    runs/<UTC timestamp>[-label]/
        index.html                     the run: verdict, reconciliation, suites, every check,
                                       failing rows by source_file/source_row
        summary.json                   the same counts, machine-readable (the index reads these)
        gx/<suite>.html                GX's own Data Docs rendering of each GX validation result

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

from socialquality.quality.model import BLOCKING_ROW, QualityOutcome, jsonable

SAMPLE_ROWS = 20
_MASKED_RULES = {"unique_respondent"}  # value = respondent id: not shown

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1b1b;max-width:1400px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #d0d0d0;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}tr.failed td{background:#fff1f0}tr.error td{background:#ffe3e3}
tr.not_applicable td{color:#595959}.ok{background:#e6f4ea;border:1px solid #8bc34a;padding:.7rem}
.blocked{background:#fdecea;border:1px solid #e53935;padding:.7rem}.muted{color:#595959;font-size:.8rem}
code{font-size:.8rem;overflow-wrap:anywhere}td.nw{white-space:nowrap}.status{font-weight:600}
.table-wrap{max-width:100%;overflow-x:auto}td{overflow-wrap:anywhere}a{color:#0b4f9c}
@media (max-width:600px){body{margin:1rem}}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _compact(value: Any, limit: int = 240) -> str:
    if value is None or value == {} or value == []:
        return ""
    text = json.dumps(_rounded(jsonable(value)), ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _page(title: str, body: str) -> str:
    # every table scrolls inside its own (keyboard-reachable) box, so the page reflows at 390 px
    n = iter(range(1, 10_000))
    body = re.sub(r"<table", lambda _: f"<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" "
                  f"aria-label=\"tabel {next(n)}\"><table", body)
    body = body.replace("</table>", "</table></div>")
    return (f"<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


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


def _checks_table(outcome: QualityOutcome, statuses: tuple[str, ...] | None = None) -> str:
    rows = []
    for i, c in enumerate(outcome.checks, 1):
        if statuses is not None and c.status not in statuses:
            continue
        description = " / ".join(d for d in (c.description_nl, c.description_en) if d)
        rows.append(
            f"<tr class=\"{c.status}\"><td>{i}</td><td class=\"status\">{_e(c.status)}</td>"
            f"<td class=\"nw\"><code>{_e(c.rule_id)}</code></td><td>{_e(c.column)}</td><td>{_e(c.kind)}</td>"
            f"<td>{_e(c.severity)}</td><td><code>{_e(c.expectation_type)}</code><div class=\"muted\">{_e(c.suite)}</div></td>"
            f"<td><code>{_e(_compact(c.observed_value))}</code></td><td><code>{_e(_compact(c.threshold))}</code></td>"
            f"<td>{_e(c.unexpected_count if c.unexpected_count is not None else '')}</td><td>{c.rows_affected}</td>"
            f"<td>{_e(c.message)}<div class=\"muted\">{_e(description)}</div></td></tr>"
        )
    return ("<table><tr><th>#</th><th>status</th><th>rule_id</th><th>kolom / column</th><th>kind</th>"
            "<th>severity</th><th>expectation / rule</th><th>observed</th><th>threshold</th>"
            "<th>unexpected</th><th>rows affected</th><th>message / beschrijving</th></tr>"
            + "".join(rows) + "</table>")


def _samples(outcome: QualityOutcome) -> str:
    q = outcome.quarantine
    if q.empty:
        return "<p>Geen rijen in quarantaine of gemarkeerd / no rows quarantined or flagged.</p>"
    parts = []
    for (rule_id, column, severity), group in q.groupby(["rule_id", "column", "severity"], sort=True):
        sample = group.head(SAMPLE_ROWS)
        rows = "".join(
            f"<tr><td>{_e(r.source_file)}</td><td>{_e(r.source_row)}</td>"
            f"<td>{'(pseudoniem)' if rule_id in _MASKED_RULES else _e(r.value)}</td></tr>"
            for r in sample.itertuples()
        )
        what = "quarantined" if severity == BLOCKING_ROW else "flagged"
        parts.append(
            f"<h3><code>{_e(rule_id)}</code> {_e(column)} — {len(group)} rows {what} ({_e(severity)})</h3>"
            f"<p class=\"muted\">{_e(group['message'].iloc[0])}; first {len(sample)} shown, all in the warehouse "
            "table <code>quarantine</code>.</p>"
            f"<table><tr><th>source_file</th><th>source_row</th><th>value</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _gx_pages(outcome: QualityOutcome, run_dir: Path) -> list[tuple[str, str]]:
    """GX's own rendering of each validation result; failures here never fail the docs build."""
    from socialquality.quality.gx_adapter import render_validation_html

    links = []
    for result in outcome.gx_result_objects:
        name = _slug(result.suite_name) or "suite"
        path = run_dir / "gx" / f"{name}.html"
        path.parent.mkdir(exist_ok=True)
        try:
            path.write_text(render_validation_html(result), encoding="utf-8")
        except Exception as exc:  # noqa: BLE001 - GX renderer quirks must not lose the audit page
            path.write_text(_page(result.suite_name, f"<p>GX could not render this result: {_e(exc)}</p>"),
                            encoding="utf-8")
        links.append((result.suite_name, f"gx/{path.name}"))
    return links


def _suite_stats(outcome: QualityOutcome) -> list[dict[str, Any]]:
    return [{"suite": r.get("suite_name"), "frame": ((r.get("meta") or {}).get("socialquality") or {}).get("validated_frame"),
             "evaluated": (r.get("statistics") or {}).get("evaluated_expectations"),
             "successful": (r.get("statistics") or {}).get("successful_expectations")}
            for r in outcome.gx_results]


def build_data_docs(outcome: QualityOutcome, out_dir: Path, title: str) -> Path:
    """Write a new timestamped run page under ``out_dir/runs/`` and rebuild ``out_dir/index.html``.

    Returns the path of the new run page.
    """
    out_dir = Path(out_dir)
    run_dir = _new_run_dir(out_dir, outcome.run_label or f"{outcome.survey}-{outcome.wave}")
    rec = outcome.reconciliation
    summary = outcome.summary()
    summary.update({"title": title, "page": f"runs/{run_dir.name}/index.html", "gx_suites": _suite_stats(outcome),
                    "docs_written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    gx_links = _gx_pages(outcome, run_dir)

    if outcome.ok:
        verdict = ("<div class=\"ok\"><b>Geen blokkerende fouten / no blocking failures</b>: de cijfers van deze "
                   "meting mogen worden berekend / the wave's indicators may be computed.</div>")
    else:
        items = "".join(f"<li><code>{_e(c.check_id)}</code>: {_e(c.message)}</li>" for c in outcome.blocking_failures)
        verdict = ("<div class=\"blocked\"><b>GEBLOKKEERD / BLOCKED</b>: de cijfers van deze meting worden niet "
                   f"berekend / the wave's indicators must not be computed.<ul>{items}</ul></div>")
    files = "".join(f"<tr><td>{_e(f['source_file'])}</td><td>{f['received']}</td><td>{f['clean']}</td>"
                    f"<td>{f['quarantined']}</td></tr>" for f in rec.by_file)
    suites = "".join(f"<tr><td><code>{_e(name)}</code></td><td><code>{_e(sha)}</code></td></tr>"
                     for name, sha in outcome.suite_checksums.items())
    stats = "".join(f"<tr><td><code>{_e(s['suite'])}</code></td><td>{_e(s['frame'])}</td><td>{_e(s['successful'])}"
                    f" / {_e(s['evaluated'])}</td></tr>" for s in summary["gx_suites"])
    links = "".join(f"<li><a href=\"{_e(href)}\">{_e(name)}</a></li>" for name, href in gx_links)
    counts = summary["checks"]
    body = f"""
<p class="muted"><a href="../../index.html">&larr; alle runs / all runs</a></p>
<h1>{_e(title)}</h1>
<p>Survey <b>{_e(outcome.survey)}</b>, meting / wave <b>{_e(outcome.wave)}</b>, run label <b>{_e(outcome.run_label)}</b><br>
<span class="muted">started {_e(outcome.started_at)}, finished {_e(outcome.finished_at)}; Great Expectations {_e(outcome.gx_version)};
codebook v{_e(outcome.codebook_version)} sha256 <code>{_e(outcome.codebook_checksum)}</code></span></p>
{verdict}
<h2>Aansluiting / reconciliation</h2>
<p>Ontvangen / received <b>{rec.received}</b> = schoon / clean <b>{rec.clean}</b> + quarantaine / quarantined <b>{rec.quarantined}</b></p>
<table><tr><th>source_file</th><th>received</th><th>clean</th><th>quarantined</th></tr>{files}</table>
<h2>Gebruikte regels / suites used</h2>
<table><tr><th>file</th><th>sha256</th></tr>{suites}</table>
<table><tr><th>GX validation</th><th>rows validated</th><th>successful / evaluated expectations</th></tr>{stats}</table>
<p>GX Data Docs pages:</p><ul>{links}</ul>
<h2>Mislukte controles / failed checks ({counts['failed'] + counts['error']})</h2>
{_checks_table(outcome, ("failed", "error")) if counts['failed'] + counts['error'] else "<p>Geen / none.</p>"}
<h2>Rijen per regel / failing rows by rule</h2>
<p class="muted">Alleen bron en regelnummer en de afwijkende waarde; geen volledige antwoorden /
only source file, row number and the failing value; never whole rows.</p>
{_samples(outcome)}
<h2>Alle controles / all checks ({counts['total']}: {counts['passed']} passed, {counts['failed']} failed,
{counts['not_applicable']} not applicable, {counts['error']} errors)</h2>
{_checks_table(outcome)}
"""
    page = run_dir / "index.html"
    page.write_text(_page(f"{title} — {run_dir.name}", body), encoding="utf-8")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _write_index(out_dir)
    return page


def _write_index(out_dir: Path) -> Path:
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
        suites = "<br>".join(
            f"<code>{_e(k)}</code> <span class=\"muted\">{_e(str(v)[:12])}</span>"
            for k, v in (s.get("suite_checksums") or {}).items())
        gx = "<br>".join(f"{_e(g['suite'])}: {_e(g['successful'])}/{_e(g['evaluated'])}" for g in s.get("gx_suites", []))
        verdict = "ok" if s.get("ok") else "BLOCKED"
        rows.append(
            f"<tr class=\"{'passed' if s.get('ok') else 'failed'}\"><td><a href=\"runs/{_e(name)}/index.html\">{_e(name)}</a></td>"
            f"<td>{_e(s.get('title'))}<div class=\"muted\">{_e(s.get('run_label'))}</div></td>"
            f"<td>{_e(s.get('survey'))} {_e(s.get('wave'))}</td><td>{suites}</td><td>{gx}</td>"
            f"<td>{checks.get('passed', 0)} passed / {checks.get('failed', 0)} failed / "
            f"{checks.get('not_applicable', 0)} n.a. / {checks.get('error', 0)} errors</td>"
            f"<td class=\"status\">{verdict}</td><td>{rec.get('received')}</td><td>{rec.get('clean')}</td>"
            f"<td>{rec.get('quarantined')}</td></tr>"
        )
    body = ("<h1>Datakwaliteit: alle runs / data quality: all runs</h1>"
            "<p class=\"muted\">Nieuwste eerst / newest first. Each run page lists every rule that ran, its result, "
            "and the failing rows by source_file and source_row.</p>"
            "<table><tr><th>run (UTC)</th><th>title</th><th>survey / wave</th><th>suites (sha256)</th>"
            "<th>GX expectations successful</th><th>checks</th><th>verdict</th><th>received</th><th>clean</th>"
            "<th>quarantined</th></tr>" + "".join(rows) + "</table>")
    index = out_dir / "index.html"
    tmp = index.with_suffix(".html.tmp")
    tmp.write_text(_page("Datakwaliteit — alle runs", body), encoding="utf-8")
    tmp.replace(index)
    return index
