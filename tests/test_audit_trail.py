"""The audit trail of a wave with defects (the demo's wave 2022), through the stages on SQLite:
every defect of the generator's manifest is in the quarantine table with its rule, row and column;
received = clean + quarantined; "why is respondent X (not) in the figures?" answers from the
warehouse alone (also as plain SQL); a release survives re-validation and enters the next
estimate; the audit page lists the wave, the file's checksum and the reconciliation.

The module's tests share one warehouse and run in order; the release test changes it, so it
comes after the read-only ones; the audit page follows, and last a corrected file is ingested.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time

import pandas as pd
import pytest
from sqlalchemy import text

from socialquality import stages
from socialquality.audit import WHY_QUERY, explain_respondent, render_audit_page
from socialquality.i18n import fmt_number, use_language
from socialquality.quality.names import rule_name
from socialquality.demo.generator import generate_demo_city
from socialquality.landing import sha256_of
from socialquality.monitor import Monitor
from socialquality.privacy import pseudonymisation_key, pseudonymise
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table, release_quarantined
from tests.support import ROOT, write_config

WAVE = "2022"
SURVEY = "wijkmonitor"
RAW_ID = re.compile(r"R20\d\d-\d{6}")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")
    manifest = generate_demo_city(folder / "demo", seed=7, respondents_per_wave=600, waves=[WAVE], truth=False)
    defects = [dict(d) for d in manifest.defects]
    assert {d["wave"] for d in defects} == {WAVE} and len(defects) >= 8
    path = manifest.out_dir / "landing" / SURVEY / WAVE / defects[0]["file"]
    # One defect more than the manifest: the row with the invalid `rondkomen` code also gets an
    # invalid `gezondheid` code, so one row has two records of one rule (allowed_codes).
    lines = path.read_bytes().decode("cp1252").split("\r\n")
    header = lines[0].split(";")
    double = next(d for d in defects if d["quality_rule_id"] == "allowed_codes")
    fields = lines[double["row"]].split(";")
    fields[header.index("gezondheid")] = "7"
    lines[double["row"]] = ";".join(fields)
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    extra = {**double, "column": "gezondheid", "quality_column": "gezondheid", "value": 7}
    delivered = pd.read_csv(path, sep=";", encoding="cp1252", dtype=str)

    config = write_config(folder, landing=manifest.out_dir / "landing", feedback=manifest.out_dir / "feedback")
    monitor = Monitor.from_config(config)
    stages.load_population(monitor)
    ingested = stages.ingest_wave(monitor, WAVE, "run-ingest")
    validated = stages.validate_wave(monitor, WAVE, "run-validate-1")
    yield {"monitor": monitor, "folder": folder, "path": path, "defects": defects + [extra],
           "manifest_defects": defects, "ids": delivered.iloc[:, 0].tolist(), "rows": len(delivered),
           "ingested": ingested, "validated": validated}
    monitor.engine.dispose()


def delivered_id(city, row: int) -> str:
    return city["ids"][row - 1]


def test_every_defect_of_the_manifest_is_quarantined_with_rule_row_and_column(city):
    m = city["monitor"]
    quarantine = read_table(m.engine, s.quarantine, survey=SURVEY, wave=WAVE)
    blocking = quarantine[quarantine["severity"] == "blocking_row"]
    found = {(r.source_file, r.source_row, r.rule_id, r.column_name) for r in blocking.itertuples()}
    expected = {(d["file"], d["row"], d["quality_rule_id"], d["quality_column"]) for d in city["defects"]}
    for defect in city["manifest_defects"]:
        key = (defect["file"], defect["row"], defect["quality_rule_id"], defect["quality_column"])
        assert key in found, f"manifest defect not quarantined: {defect}"
    assert found == expected  # and nothing else is set aside
    assert len(blocking) == len(expected)  # one record per (row, rule, column)
    # the records carry the failing value
    by_key = blocking.set_index(["source_row", "rule_id", "column_name"])["value"]
    for defect in city["defects"]:
        value = by_key[(defect["row"], defect["quality_rule_id"], defect["quality_column"])]
        if defect["quality_rule_id"] == "unique_respondent":
            assert value.startswith("p_")  # the pseudonym, never the delivered id
        elif defect["quality_rule_id"] == "known_district":
            assert value == defect["value"]
        else:
            assert float(value) == float(defect["value"])
    # the respondent rows: defective rows quarantined, the first copy of the duplicate kept
    people = read_table(m.engine, s.respondents, survey=SURVEY, wave=WAVE).set_index("source_row")["status"]
    defect_rows = {d["row"] for d in city["defects"]}
    assert set(people[people == "quarantined"].index) == defect_rows
    duplicate = next(d for d in city["defects"] if d["quality_rule_id"] == "unique_respondent")
    assert people[duplicate["duplicate_of_row"]] == "clean"


def test_received_equals_clean_plus_quarantined_and_the_file(city):
    m = city["monitor"]
    runs = read_table(m.engine, s.validation_runs, survey=SURVEY, wave=WAVE)
    assert len(runs) == 1
    run = runs.iloc[0]
    quarantined_rows = len({d["row"] for d in city["defects"]})
    assert run["received"] == run["clean"] + run["quarantined"] == city["rows"]
    assert run["quarantined"] == quarantined_rows and not run["blocked"]
    receipt = read_table(m.engine, s.file_receipts, survey=SURVEY, wave=WAVE).iloc[0]
    assert receipt["status"] == "loaded" and receipt["rows"] == city["rows"]
    assert receipt["checksum"] == sha256_of(city["path"]) and int(run["receipt_id"]) == int(receipt["id"])
    assert len(read_table(m.engine, s.respondents, survey=SURVEY, wave=WAVE)) == city["rows"]
    check = next(c for c in city["validated"].checks if c.name == "rows_reconcile")
    assert check.passed and check.metadata == {"received": city["rows"], "clean": city["rows"] - quarantined_rows,
                                               "quarantined": quarantined_rows}
    results = read_table(m.engine, s.check_results)
    assert set(results["validation_run_id"]) == {int(run["id"])}
    assert not results.loc[results["rule_id"] == "speeder", "success"].astype(bool).all()


def test_why_a_defective_respondent_is_not_in_the_figures(city):
    m = city["monitor"]
    for defect in city["defects"]:
        if defect["quality_rule_id"] == "unique_respondent":
            continue
        answer = explain_respondent(m, delivered_id(city, defect["row"]), WAVE)
        line = next(l for l in answer.splitlines() if f"row {defect['row']} " in l)
        assert "NOT in the figures" in line and defect["quality_rule_id"] in line, answer
        assert defect["quality_column"] in line and defect["file"] in line
        assert delivered_id(city, defect["row"]) not in answer.splitlines()[0]  # shows the pseudonym


def test_why_for_a_clean_respondent_and_for_a_duplicate(city):
    m = city["monitor"]
    defect_rows = {d["row"] for d in city["defects"]}
    clean_row = next(r for r in range(1, city["rows"]) if r not in defect_rows)
    answer = explain_respondent(m, delivered_id(city, clean_row), WAVE)
    assert f"row {clean_row} " in answer and "included in the figures" in answer and "NOT" not in answer
    duplicate = next(d for d in city["defects"] if d["quality_rule_id"] == "unique_respondent")
    answer = explain_respondent(m, duplicate["value"], WAVE)
    first, copy = [l for l in answer.splitlines() if " row " in l]
    assert f"row {duplicate['duplicate_of_row']} " in first and "included in the figures" in first
    assert f"row {duplicate['row']} " in copy and "NOT in the figures" in copy and "unique_respondent" in copy
    assert "does not occur" in explain_respondent(m, "R2022-999999", WAVE)


def test_the_why_query_is_plain_sql(city):
    m = city["monitor"]
    speeder = next(d for d in city["defects"] if d["quality_rule_id"] == "speeder")
    key = pseudonymisation_key(demo=m.settings.demo)
    pid = pseudonymise(pd.Series([delivered_id(city, speeder["row"])]), SURVEY, key).iloc[0]
    database = m.settings.warehouse_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:  # no SQLAlchemy, no pandas: the query as an auditor runs it
        cursor = connection.execute(WHY_QUERY, {"survey": SURVEY, "wave": WAVE, "pid": pid})
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    assert len(rows) == 1
    row = rows[0]
    assert (row["source_row"], row["file_name"], row["status"]) == (speeder["row"], speeder["file"], "quarantined")
    assert (row["rule_id"], row["column_name"], float(row["value"])) == ("speeder", "duration_min", speeder["value"])
    assert row["checksum"] == sha256_of(city["path"]) and row["wave_status"] == "usable"
    assert row["released_by"] is None


def test_no_raw_respondent_id_in_the_warehouse_or_the_data_docs(city):
    m = city["monitor"]
    for table in s.metadata.sorted_tables:
        frame = read_table(m.engine, table)
        for column in frame.columns:
            texts = [v for v in frame[column].dropna() if isinstance(v, str)]
            assert not [v for v in texts if RAW_ID.search(v)], (table.name, column)
    pages = [p for p in (city["folder"] / "audit").rglob("*") if p.is_file()]
    assert pages
    for page in pages:
        assert not RAW_ID.search(page.read_text(encoding="utf-8", errors="replace")), page


def test_a_release_survives_revalidation_and_enters_the_next_estimate(city):
    m = city["monitor"]
    stages.weight_wave_stage(m, WAVE, "run-weights-1")
    stages.estimate_wave(m, WAVE, "run-estimate-1")
    before = read_table(m.engine, s.district_indicators, survey=SURVEY, wave=WAVE)
    quarantine = read_table(m.engine, s.quarantine, survey=SURVEY, wave=WAVE)
    speeder = next(d for d in city["defects"] if d["quality_rule_id"] == "speeder")
    double = next(d for d in city["defects"] if d["quality_column"] == "gezondheid")
    speeder_id = int(quarantine.loc[quarantine["source_row"] == speeder["row"], "id"].iloc[0])
    double_id = int(quarantine.loc[(quarantine["source_row"] == double["row"])
                                   & (quarantine["column_name"] == "rondkomen"), "id"].iloc[0])
    release_quarantined(m.engine, speeder_id, "J. de Vries", "duur nagebeld: 14 minuten, de klok stond stil")
    release_quarantined(m.engine, double_id, "A. Bakker", "codes 7 nagevraagd bij het bureau: invoerfout")
    released_rows = {speeder["row"], double["row"]}

    for run in ("run-validate-2", "run-validate-3"):  # twice: the release must not drift or multiply
        report = stages.validate_wave(m, WAVE, run)
        assert report.metadata["received"] == report.metadata["clean"] + report.metadata["quarantined"]
        after = read_table(m.engine, s.quarantine, survey=SURVEY, wave=WAVE)
        assert len(after) == len(quarantine)
        assert not after.duplicated(["source_row", "rule_id", "column_name"]).any()
        released = after[after["released_by"].notna()]
        assert set(released["source_row"]) == released_rows and len(released) == 3  # the row with 2 records
        assert set(released.loc[released["source_row"] == speeder["row"], "released_by"]) == {"J. de Vries"}
        assert set(released.loc[released["source_row"] == double["row"], "released_by"]) == {"A. Bakker"}
        assert released["release_reason"].str.len().gt(10).all() and released["released_at"].notna().all()
        people = read_table(m.engine, s.respondents, survey=SURVEY, wave=WAVE).set_index("source_row")["status"]
        assert set(people[people == "released"].index) == released_rows
        assert (people == "quarantined").sum() == len({d["row"] for d in city["defects"]}) - 2
    assert len(read_table(m.engine, s.validation_runs, survey=SURVEY, wave=WAVE)) == 3
    answer = explain_respondent(m, delivered_id(city, speeder["row"]), WAVE)
    assert "released after review: included" in answer

    stages.weight_wave_stage(m, WAVE, "run-weights-2")
    stages.estimate_wave(m, WAVE, "run-estimate-2")
    after = read_table(m.engine, s.district_indicators, survey=SURVEY, wave=WAVE)
    scored = stages._scored_wave(m, WAVE)
    assert released_rows <= set(scored["source_row"])
    # n goes up by exactly the released rows that answer the indicator, in their district and the city
    new = scored[scored["source_row"].isin(released_rows)]
    merged = before.merge(after, on=["district_code", "indicator_id"], suffixes=("_before", "_after"))
    assert len(merged) == len(before) == len(after)
    for record in merged.itertuples():
        answered = new[f"ind__{record.indicator_id}"].notna()
        if record.district_code != m.settings.municipality:
            answered &= new["district_code"] == record.district_code
        assert record.n_after - record.n_before == answered.sum(), record
    district = new.loc[new["source_row"] == speeder["row"], "district_code"].iloc[0]
    gained = merged[(merged["district_code"] == district) & (merged["n_after"] > merged["n_before"])]
    assert len(gained) > 0
    lineage = read_table(m.engine, s.lineage, survey=SURVEY, wave=WAVE).sort_values("id")
    assert len(lineage) == 2 and set(after["lineage_id"]) == {int(lineage["id"].iloc[-1])}


def _table(html: str, caption: str) -> list[list[str]]:
    """The rows of the table with this caption, as the cells' texts (the page as a reader sees it)."""
    import lxml.html

    doc = lxml.html.fromstring(html)
    [found] = [t for t in doc.iter("table") if t.find("caption") is not None
               and t.find("caption").text_content().strip() == caption]
    return [[" ".join(c.text_content().split()) for c in tr.iter("td", "th")] for tr in found.iter("tr")]


def test_the_audit_page_lists_the_wave_the_file_and_the_reconciliation(city):
    m = city["monitor"]
    page = render_audit_page(m.engine, city["folder"] / "audit", "Auditoverzicht wijkmonitor")
    assert page == city["folder"] / "audit" / "index.html"
    html = page.read_text(encoding="utf-8")
    checksum = sha256_of(city["path"])
    assert [WAVE, "bruikbaar", ""] in _table(html, "Status per meting")
    assert city["path"].name in html and checksum[:16] in html
    received = city["rows"]
    quarantined = len({d["row"] for d in city["defects"]})
    runs = _table(html, "Validaties")
    assert runs[0][:9] == ["Meting", "Moment", "Run", "Regelsets", "Ontvangen", "Schoon", "Apart gezet", "Klopt",
                           "Geblokkeerd"]
    lines = [r for r in runs[1:] if r[4:8] == [fmt_number(received, 0), fmt_number(received - quarantined, 0),
                                               str(quarantined), "ja"]]
    assert len(lines) == 3  # one line per validation run
    # every rule that set rows aside: readable name with the code beside it
    for rule in {d["quality_rule_id"] for d in city["defects"]}:
        assert f"<code>{rule}</code>" in html
        assert f"{rule_name(rule)} <code>{rule}</code>" in html
    # 21 rows of districts below the minimum are not "21 rijen": the rule counts districts
    failed = " ".join(r[9] for r in lines)
    assert "rijen onder" not in failed and not re.search(r"\b1 rijen\b", html)
    assert not RAW_ID.search(html)


def test_the_audit_page_in_english_has_no_dutch(city):
    m = city["monitor"]
    with use_language("en"):
        page = render_audit_page(m.engine, city["folder"] / "audit_en", "Audit overview")
    html = page.read_text(encoding="utf-8")
    assert "<html lang='en'>" in html
    assert [WAVE, "usable", ""] in _table(html, "Status per wave")
    head = _table(html, "Validations")[0]
    assert head[:4] == ["Wave", "Time", "Run", "Rule sets"]
    text = " ".join(lxml_text(html).split())
    for dutch in ("meting", "wijken", "rijen", "bruikbaar", " ja ", " nee ", "apart gezet", "Regel", "ontvangen"):
        assert dutch not in text, dutch
    assert "Set-aside rows per rule" in text


def lxml_text(html: str) -> str:
    import lxml.html

    doc = lxml.html.fromstring(html)
    for code in doc.iter("code", "style"):  # codes (rule ids, table names) are the same in every language
        code.drop_tree()
    return doc.text_content()


def test_the_sql_of_the_audit_doc_is_the_code_s_and_runs_as_plain_sql(city):
    """docs/audit.md section 8: its why-query is WHY_QUERY, and its queries answer on this warehouse."""
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    section = doc[doc.index("## 8. Warehouse tables"):doc.index("## 9.")]
    why, lineage, runs, now = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    assert " ".join(why.split()) == " ".join(WHY_QUERY.split())
    m = city["monitor"]
    speeder = next(d for d in city["defects"] if d["quality_rule_id"] == "speeder")
    key = pseudonymisation_key(demo=m.settings.demo)
    params = {"survey": SURVEY, "wave": WAVE, "district": m.settings.municipality, "indicator": "eenzaam",
              "pid": pseudonymise(pd.Series([delivered_id(city, speeder["row"])]), SURVEY, key).iloc[0]}
    with sqlite3.connect(m.settings.warehouse_url.removeprefix("sqlite:///")) as connection:
        def run(sql):
            cursor = connection.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

        assert [(r["status"], r["released_by"]) for r in run(why)] == [("released", "J. de Vries")]
        [figure] = run(lineage)
        assert figure["n"] > 0 and sha256_of(city["path"]) in figure["files"]
        assert figure["codebook_checksum"] == m.codebook.checksum and figure["run_id"] == "run-estimate-2"
        history = run(runs)
        assert len(history) == 3 and {r["reconciles"] for r in history} == {"yes"}
        [current] = run(now)
        quarantined = len({d["row"] for d in city["defects"]})
        assert (current["received"], current["clean"], current["quarantined"], current["released"]) == (
            city["rows"], city["rows"] - quarantined, quarantined - 2, 2)


def test_after_a_corrected_file_why_does_not_mix_in_the_old_files_records(city):
    """A corrected delivery (the speeder's duration fixed, other name) is ingested but not yet
    validated: its rows are `received`, and the old file's quarantine records at the same row
    numbers are not theirs."""
    m = city["monitor"]
    speeder = next(d for d in city["defects"] if d["quality_rule_id"] == "speeder")
    lines = city["path"].read_bytes().decode("cp1252").split("\r\n")
    header = lines[0].split(";")
    fields = lines[speeder["row"]].split(";")
    assert fields[header.index("duur_min")] == "1,5"
    fields[header.index("duur_min")] = "14,5"
    lines[speeder["row"]] = ";".join(fields)
    corrected = city["path"].with_name("wijkmonitor_2022_levering_gecorrigeerd.csv")
    corrected.write_bytes("\r\n".join(lines).encode("cp1252"))
    later = time.time() + 60
    os.utime(corrected, (later, later))
    assert stages.ingest_wave(m, WAVE, "run-ingest-2")["file"] == corrected.name

    answer = explain_respondent(m, delivered_id(city, speeder["row"]), WAVE)
    assert corrected.name in answer and "not yet validated" in answer
    assert "speeder" not in answer and "set aside" not in answer
    key = pseudonymisation_key(demo=m.settings.demo)
    pid = pseudonymise(pd.Series([delivered_id(city, speeder["row"])]), SURVEY, key).iloc[0]
    with m.engine.connect() as connection:
        rows = connection.execute(text(WHY_QUERY), {"survey": SURVEY, "wave": WAVE, "pid": pid}).mappings().all()
    assert len(rows) == 1 and rows[0]["rule_id"] is None and rows[0]["status"] == "received"
