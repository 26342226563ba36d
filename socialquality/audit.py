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


def _failed_rules(failed: pd.DataFrame) -> str:
    lines = [f"{r.rule_id} {r.column_name or ''}: {int(r.rows_affected or 0)} rijen" for r in failed.itertuples()]
    return "<br>".join(html.escape(line) for line in lines) or "-"


def render_audit_page(engine, out_dir: Path, title: str) -> Path:
    """audit/index.html: every validation run with suites, results, reconciliation and set-aside rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = read_table(engine, s.validation_runs).sort_values("id", ascending=False)
    checks = read_table(engine, s.check_results)
    quarantine = read_table(engine, s.quarantine)
    receipts = read_table(engine, s.file_receipts).sort_values("id")
    status = read_table(engine, s.wave_status)
    def esc(value) -> str:
        """Escape for HTML; missing values (None, NaN) become empty."""
        return "" if value is None or (isinstance(value, float) and value != value) else html.escape(str(value))

    parts = [f"<!doctype html><html lang='nl'><head><meta charset='utf-8'><title>{esc(title)}</title>",
             "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
             "th{background:#f3f3f3}.fail{color:#b00020;font-weight:600}.ok{color:#1b5e20}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             "<p>Voor auditors: welke regels draaiden op welk bestand, wat faalde, welke rijen apart zijn gezet en "
             "waarom, en of elke ontvangen rij is verantwoord (ontvangen = schoon + apart gezet). Dezelfde gegevens "
             "staan in de warehouse-tabellen <code>validation_runs</code>, <code>check_results</code>, "
             "<code>quarantine</code> en <code>file_receipts</code> (zie docs/audit.md).</p>"]
    parts.append("<h2>Status per golf</h2><table><tr><th>Golf</th><th>Status</th><th>Reden</th></tr>")
    for row in status.sort_values("wave").itertuples():
        css = "ok" if row.status == "usable" else "fail"
        parts.append(f"<tr><td>{esc(row.wave)}</td><td class='{css}'>{esc(row.status)}</td>"
                     f"<td>{esc(row.reason or '')}</td></tr>")
    parts.append("</table><h2>Ontvangen bestanden</h2><table><tr><th>Golf</th><th>Bestand</th><th>Checksum "
                 "(sha256)</th><th>Ontvangen</th><th>Rijen</th><th>Status</th><th>Melding</th></tr>")
    for row in receipts.itertuples():
        parts.append(f"<tr><td>{esc(row.survey)} {esc(row.wave)}</td><td>{esc(row.file_name)}</td>"
                     f"<td><code>{esc(row.checksum[:16])}…</code></td><td>{esc(str(row.received_at)[:19])}</td>"
                     f"<td>{'' if pd.isna(row.rows) else int(row.rows)}</td><td>{esc(row.status)}</td>"
                     f"<td>{esc(without_paths(row.error or ''))}</td></tr>")
    parts.append("</table><h2>Validaties</h2><table><tr><th>Golf</th><th>Moment</th><th>Run</th><th>Suites</th>"
                 "<th>Ontvangen</th><th>Schoon</th><th>Apart gezet</th><th>Klopt</th><th>Geblokkeerd</th>"
                 "<th>Regels gefaald</th><th>Data Docs</th></tr>")
    for row in runs.itertuples():
        run_checks = checks[checks["validation_run_id"] == row.id]
        failed = run_checks[~run_checks["success"].astype(bool)]
        reconciles = row.received == row.clean + row.quarantined
        suites = json.loads(row.suites or "{}")
        docs = Path(row.data_docs_path) if row.data_docs_path else None
        link = (f"<a href='{esc(str(docs.relative_to(out_dir)) if docs and docs.is_relative_to(out_dir) else str(docs))}'>"
                "bekijk</a>") if docs else ""
        parts.append(
            f"<tr><td>{esc(row.wave)}</td><td>{esc(str(row.validated_at)[:19])}</td><td><code>{esc(row.run_id[:8])}"
            f"</code></td><td>{'<br>'.join(esc(f'{k} ({str(v)[:10]})') for k, v in suites.items())}</td>"
            f"<td>{row.received}</td><td>{row.clean}</td><td>{row.quarantined}</td>"
            f"<td class='{'ok' if reconciles else 'fail'}'>{'ja' if reconciles else 'NEE'}</td>"
            f"<td class='{'fail' if row.blocked else 'ok'}'>{'ja: ' + esc(row.blocked_reason or '') if row.blocked else 'nee'}</td>"
            f"<td>{_failed_rules(failed)}</td>"
            f"<td>{link}</td></tr>")
    parts.append("</table><h2>Apart gezette rijen per regel (laatste validatie per golf)</h2><table><tr><th>Golf</th>"
                 "<th>Regel</th><th>Kolom</th><th>Rijen</th><th>Vrijgegeven</th></tr>")
    if not quarantine.empty:
        summary = quarantine.groupby(["wave", "rule_id", "column_name"], dropna=False).agg(
            rows=("source_row", "nunique"), released=("released_by", "count")).reset_index()
        for row in summary.itertuples():
            parts.append(f"<tr><td>{esc(row.wave)}</td><td>{esc(row.rule_id)}</td>"
                         f"<td>{esc('' if pd.isna(row.column_name) else row.column_name)}</td><td>{row.rows}</td>"
                         f"<td>{row.released}</td></tr>")
    parts.append("</table><p>Per rij (bestand, rijnummer, regel, kolom, waarde): tabel <code>quarantine</code>; "
                 "vrijgeven na beoordeling: <code>socialquality release ID --by NAAM --reason TEKST</code>.</p>"
                 "</body></html>")
    page = out_dir / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
