"""The ingest stage (`stages.ingest_wave`) on delivered files, good and bad, on a SQLite warehouse.

Rules checked here (docs/architecture.md, "Rules the flow keeps"; docs/codebook.md):
- a file that cannot be used raises InputFileError naming the file (and the row / column where it
  applies), gets a receipt with status `rejected` and the error, and writes nothing else: no
  respondents or answers of its wave, and an earlier loaded wave is untouched;
- value labels of a .sav that disagree with the codebook do not stop the file: the differences
  are recorded, by column and code, in the receipt's `label_mismatches`;
- identical content is nothing to do (`unchanged`), whatever the name or modification time of the
  copy; a corrected file (other checksum, newer) replaces the wave's rows, and both versions stay
  on record (`superseded`, `loaded`);
- direct identifiers are never stored, free text is redacted, raw respondent ids never reach the
  warehouse.

One warehouse serves the module (population loaded once, wave 2020 loaded as the "earlier
wave"); every test drops its files in a landing folder of its own and uses its own wave.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from socialquality import stages
from socialquality.codebook import load_codebook
from socialquality.demo.generator import CODEBOOK_PATH, simulate_wave, write_wave_file
from socialquality.errors import InputFileError
from socialquality.landing import sha256_of
from socialquality.monitor import Monitor
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table
from socialquality.warehouse.microdata import answer_file, read_answers
from tests.support import write_config

SEED = 11
SIZE = 250  # respondents per wave: small, the stage does not care
SURVEY = "wijkmonitor"
BAD_WAVE = "2021"      # never loaded: every rejected file is dropped for this wave
EARLIER_WAVE = "2020"  # loaded by the module fixture (a .sav with an e-mail column)
RAW_ID = re.compile(r"R20\d\d-\d{6}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PII_TEXTS = {
    1: "Mail mij op jan.jansen@example.nl als u vragen heeft.",
    2: "Bel me gerust: 06-12345678 of 020 123 4567.",
    3: "Neem contact op via p.de.vries@voorbeeld.example of 0612345678, dank!",
}


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK_PATH)


@pytest.fixture(scope="module")
def frames(codebook) -> dict[str, pd.DataFrame]:
    """Delivered-shape frames (agency column names and coding) of the waves the tests use."""
    return {wave: simulate_wave(wave, seed=SEED, respondents_per_wave=SIZE, codebook=codebook)
            for wave in ("2017", "2018", "2019", "2020", "2021", "2023")}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, codebook, frames):
    """The shared warehouse: population loaded, wave 2020 loaded from a .sav (with the demo's
    `email` column and free text holding an e-mail address and phone numbers)."""
    folder = tmp_path_factory.mktemp("ingest_base")
    url = f"sqlite:///{folder / 'warehouse.sqlite'}"
    frame = frames[EARLIER_WAVE].copy()
    assert "email" in frame.columns and frame["email"].str.contains("@").any()
    for row, comment in PII_TEXTS.items():
        frame.loc[row - 1, "opmerking"] = comment
    landing = folder / "landing"
    write_wave_file(frame, landing / SURVEY / EARLIER_WAVE / "wijkmonitor_2020_levering.sav", "sav", codebook,
                    EARLIER_WAVE)
    (folder / "feedback").mkdir()
    monitor = Monitor.from_config(write_config(folder, landing=landing, feedback=folder / "feedback",
                                               database_url=url))
    stages.load_population(monitor)
    result = stages.ingest_wave(monitor, EARLIER_WAVE, "run-fixture")
    assert result["status"] == "loaded" and result["rows"] == len(frame)
    monitor.engine.dispose()
    return {"url": url, "earlier_frame": frame, "earlier_result": result}


def monitor_for(tmp_path: Path, warehouse) -> tuple[Monitor, Path]:
    """A Monitor on the shared warehouse whose landing folder is this test's own."""
    landing = tmp_path / "landing"
    (landing / SURVEY).mkdir(parents=True)
    (tmp_path / "feedback").mkdir()
    config = write_config(tmp_path, landing=landing, feedback=tmp_path / "feedback", database_url=warehouse["url"])
    return Monitor.from_config(config), landing / SURVEY


@pytest.fixture
def monitor(tmp_path, warehouse):
    m, landing = monitor_for(tmp_path, warehouse)
    yield m, landing
    m.engine.dispose()


def row_counts(m: Monitor) -> dict[tuple[str, str], int]:
    """{(table, wave): rows} of the tables ingestion writes."""
    counts = {}
    with m.engine.connect() as connection:
        for table in (s.respondents, s.text_answers):
            query = select(table.c.wave, func.count()).group_by(table.c.wave)
            counts.update({(table.name, wave): n for wave, n in connection.execute(query)})
        # answers: respondent rows x items in the wave's answers file (read through its pointer)
        for wave in connection.execute(select(s.answer_files.c.wave)).scalars():
            answers = read_answers(connection, SURVEY, wave)
            counts[("answers", wave)] = int(answers.shape[0] * (answers.shape[1] - 2))
    return counts


def receipts(m: Monitor, wave: str) -> pd.DataFrame:
    return read_table(m.engine, s.file_receipts, survey=SURVEY, wave=wave).sort_values("id").reset_index(drop=True)


def set_mtime(path: Path, seconds_from_now: float) -> None:
    moment = time.time() + seconds_from_now
    os.utime(path, (moment, moment))


# ----------------------------------------------------------------------------- bad inputs
def _truncated_xlsx(frame, folder, codebook):
    whole = write_wave_file(frame, folder / "whole.xlsx.tmp", "xlsx", codebook)
    path = folder / "wijkmonitor_2021_levering.xlsx"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return path


def _empty_file(frame, folder, codebook):
    path = folder / "wijkmonitor_2021_levering.csv"
    path.write_bytes(b"")
    return path


def _pipe_delimited(frame, folder, codebook):
    path = folder / "wijkmonitor_2021_levering.csv"
    frame.to_csv(path, sep="|", index=False, encoding="utf-8")
    return path


def _header_and_rows_differ(frame, folder, codebook):
    """The header separated by ';', the data rows by ','."""
    path = folder / "wijkmonitor_2021_levering.csv"
    header = ";".join(frame.columns)
    body = frame.to_csv(sep=",", index=False, header=False, lineterminator="\n")
    path.write_text(header + "\n" + body, encoding="utf-8")
    return path


def _utf16(frame, folder, codebook):
    path = folder / "wijkmonitor_2021_levering.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False, encoding="utf-16")
    return path


def _duplicate_headers(frame, folder, codebook):
    path = folder / "wijkmonitor_2021_levering.csv"
    columns = list(frame.columns)
    columns[columns.index("veilig")] = "rondkomen"
    frame.set_axis(columns, axis=1).to_csv(path, sep=";", decimal=",", index=False, encoding="utf-8")
    return path


def _missing_required(frame, folder, codebook):
    path = folder / "wijkmonitor_2021_levering.csv"
    frame.drop(columns=["gezondheid"]).to_csv(path, sep=";", decimal=",", index=False, encoding="utf-8")
    return path


def _unsupported_extension(frame, folder, codebook):
    path = folder / "wijkmonitor_2021_levering.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)  # an old binary Excel file
    return path


# (writer, what the message says, the row, the column it names)
BAD_INPUTS = {
    "truncated_xlsx": (_truncated_xlsx, r"truncated or damaged", None, None),
    "empty_file": (_empty_file, r"empty file", None, None),
    "wrong_delimiter": (_pipe_delimited, r"wrong delimiter.*'\|'", None, None),
    "delimiter_differs_in_rows": (_header_and_rows_differ, r"wrong delimiter.*header row is separated by ';' "
                                                           r"but the data rows by ','", 1, None),
    "utf16": (_utf16, r"UTF-16", None, None),
    "duplicate_headers": (_duplicate_headers, r"duplicate column header: 'rondkomen'", None, "rondkomen"),
    "missing_required_column": (_missing_required, r"missing required columns for wave 2021: 'gezondheid'",
                                None, "gezondheid"),
    "unsupported_extension": (_unsupported_extension, r"unsupported file type '\.xls'", None, None),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_bad_file_is_rejected_with_a_receipt_and_writes_nothing(case, monitor, codebook, frames):
    m, landing = monitor
    writer, message, row, column = BAD_INPUTS[case]
    folder = landing / BAD_WAVE
    folder.mkdir()
    frame = frames[BAD_WAVE].copy()
    path = writer(frame, folder, codebook)
    before = row_counts(m)
    assert before[("respondents", EARLIER_WAVE)] == len(frames[EARLIER_WAVE]) > 0
    assert before[("answers", EARLIER_WAVE)] > 0 and before[("text_answers", EARLIER_WAVE)] > 0
    receipts_before = read_table(m.engine, s.file_receipts)

    with pytest.raises(InputFileError, match=message) as raised:
        stages.ingest_wave(m, BAD_WAVE, f"run-{case}")

    error = raised.value
    assert str(path) in str(error) and error.path == str(path)  # the message names the file
    assert error.row == row and error.column == column
    if row is not None:
        assert f"row {row}" in str(error)
    if column is not None:
        assert f"column {column!r}" in str(error)
    # a receipt with the error, and nothing else written
    after = read_table(m.engine, s.file_receipts)
    new = after[~after["id"].isin(receipts_before["id"])]
    assert len(new) == 1
    receipt = new.iloc[0]
    assert (receipt["wave"], receipt["file_name"], receipt["status"]) == (BAD_WAVE, path.name, "rejected")
    assert receipt["checksum"] == sha256_of(path) and receipt["size_bytes"] == path.stat().st_size
    # the receipt (and so the audit page) names the file, never the absolute server path
    assert receipt["error"] == str(error).replace(str(path), path.name) and pd.isna(receipt["rows"])
    assert str(path.parent) not in receipt["error"]
    assert row_counts(m) == before  # the earlier wave untouched, nothing for the rejected one
    assert not any(wave == BAD_WAVE for _, wave in row_counts(m))
    # the earlier wave's receipt is still the loaded one
    earlier = receipts(m, EARLIER_WAVE)
    assert earlier["status"].tolist() == ["loaded"]


def test_a_bad_corrected_file_keeps_the_loaded_version(monitor, codebook, frames):
    """A failed re-delivery leaves the wave's earlier rows and receipt as they were."""
    m, landing = monitor
    wave = "2023"
    good = write_wave_file(frames[wave], landing / wave / "wijkmonitor_2023_levering.csv", "csv", codebook)
    set_mtime(good, -3600)
    assert stages.ingest_wave(m, wave, "run-good")["status"] == "loaded"
    people = read_table(m.engine, s.respondents, wave=wave).sort_values("source_row").reset_index(drop=True)
    before = row_counts(m)

    broken = landing / wave / "wijkmonitor_2023_levering_v2.csv"
    broken.write_bytes(good.read_bytes()[:200].replace(b";", b"|"))
    with pytest.raises(InputFileError, match="wrong delimiter"):
        stages.ingest_wave(m, wave, "run-broken")

    assert row_counts(m) == before
    pd.testing.assert_frame_equal(
        read_table(m.engine, s.respondents, wave=wave).sort_values("source_row").reset_index(drop=True), people)
    on_record = receipts(m, wave)
    assert on_record[["file_name", "status"]].values.tolist() == [[good.name, "loaded"], [broken.name, "rejected"]]


# ----------------------------------------------------------------------------- value labels
def test_sav_value_labels_that_disagree_are_recorded_with_the_receipt(monitor, codebook, frames):
    """Decision: differing value labels do not stop the file (the codes, not the labels, are
    delivered data); every difference is recorded in the receipt, naming file, column and code."""
    import pyreadstat

    m, landing = monitor
    wave = "2017"
    folder = landing / wave
    clean = write_wave_file(frames[wave], folder / "tmp.sav.part", "sav", codebook, wave)
    data, meta = pyreadstat.read_sav(str(clean))
    clean.unlink()
    labels = dict(meta.variable_value_labels)
    assert labels["rondkomen"][1.0] == "met grote moeite"
    labels["rondkomen"] = {**labels["rondkomen"], 1.0: "heel gemakkelijk", 6.0: "weet ik veel"}
    path = folder / "wijkmonitor_2017_levering.sav"
    pyreadstat.write_sav(data, str(path), column_labels=meta.column_labels, variable_value_labels=labels)

    result = stages.ingest_wave(m, wave, "run-labels")

    assert result["status"] == "loaded" and result["label_mismatches"] == 2
    receipt = receipts(m, wave).iloc[-1]
    assert receipt["status"] == "loaded" and receipt["file_name"] == path.name
    mismatches = sorted(json.loads(receipt["label_mismatches"]), key=lambda r: r["code"])
    assert mismatches == [
        {"file": path.name, "column": "rondkomen", "item": "rondkomen", "code": 1, "file_label": "heel gemakkelijk",
         "codebook_label": "met grote moeite", "problem": "label_differs"},
        {"file": path.name, "column": "rondkomen", "item": "rondkomen", "code": 6, "file_label": "weet ik veel",
         "codebook_label": None, "problem": "unknown_code"},
    ]
    assert row_counts(m)[("respondents", wave)] == len(frames[wave])


# ----------------------------------------------------------------------------- same file, corrected file
def test_the_same_file_dropped_twice_is_nothing_to_do(monitor, codebook, frames):
    """Identical content = nothing to do, whether the copy is older or newer than the loaded file."""
    m, landing = monitor
    wave = "2018"
    original = write_wave_file(frames[wave], landing / wave / "wijkmonitor_2018_levering.xlsx", "xlsx", codebook)
    set_mtime(original, -600)
    first = stages.ingest_wave(m, wave, "run-1")
    assert first["status"] == "loaded"
    before, on_record = row_counts(m), receipts(m, wave)

    older_copy = landing / wave / "kopie_oud.xlsx"
    shutil.copyfile(original, older_copy)
    set_mtime(older_copy, -1200)
    again = stages.ingest_wave(m, wave, "run-2")
    assert again["status"] == "unchanged" and again["file"] == original.name
    assert again["checksum"] == first["checksum"] and again["rows"] == first["rows"]

    newer_copy = landing / wave / "kopie_nieuw.xlsx"
    shutil.copyfile(original, newer_copy)
    set_mtime(newer_copy, +60)
    third = stages.ingest_wave(m, wave, "run-3")
    assert third["status"] == "unchanged" and third["file"] == newer_copy.name
    assert "same checksum" in third["log"][-1]

    assert row_counts(m) == before
    pd.testing.assert_frame_equal(receipts(m, wave), on_record)  # no new receipt, nothing rewritten


def test_a_corrected_file_replaces_the_rows_and_both_versions_stay_on_record(monitor, codebook, frames):
    m, landing = monitor
    wave = "2019"
    first = write_wave_file(frames[wave], landing / wave / "wijkmonitor_2019_levering.csv", "csv-nl", codebook)
    set_mtime(first, -600)
    loaded = stages.ingest_wave(m, wave, "run-first")
    assert loaded["status"] == "loaded" and loaded["rows"] == len(frames[wave])

    corrected_frame = frames[wave].drop(index=[4, 5]).reset_index(drop=True)  # two rows withdrawn ...
    corrected_frame.loc[0, "rondkomen"] = 4 if corrected_frame.loc[0, "rondkomen"] != 4 else 3  # ... one fixed
    corrected = write_wave_file(corrected_frame, landing / wave / "wijkmonitor_2019_levering_gecorrigeerd.csv",
                                "csv-nl", codebook)
    set_mtime(corrected, +60)
    result = stages.ingest_wave(m, wave, "run-corrected")

    assert result["status"] == "loaded" and result["file"] == corrected.name
    assert result["rows"] == len(frames[wave]) - 2 and result["versions_on_record"] == 2
    on_record = receipts(m, wave)
    assert on_record[["file_name", "checksum", "status"]].values.tolist() == [
        [first.name, sha256_of(first), "superseded"], [corrected.name, sha256_of(corrected), "loaded"]]
    new_id = int(on_record.loc[1, "id"])
    people = read_table(m.engine, s.respondents, wave=wave)
    assert len(people) == len(corrected_frame) and (people["receipt_id"] == new_id).all()
    assert (people["status"] == "received").all()
    assert sorted(people["source_row"]) == list(range(1, len(corrected_frame) + 1))
    with m.engine.connect() as connection:
        pointer = answer_file(connection, m.codebook.survey, wave)
        answers = read_answers(connection, m.codebook.survey, wave)
    assert pointer["receipt_id"] == new_id and pointer["rows"] == len(corrected_frame)
    assert answers.groupby(["respondent_pid", "source_row"]).ngroups == len(corrected_frame)
    fixed = answers.loc[answers["source_row"] == 1, "rondkomen"]
    assert fixed.tolist() == [float(corrected_frame.loc[0, "rondkomen"])]
    # the superseded delivery's answers file stays until the wave's next load (never deleted
    # while a committed pointer could refer to it); the pointer names the new one
    assert Path(pointer["path"]).name == f"receipt-{new_id}.parquet"
    # a second run on the same folder: nothing to do
    assert stages.ingest_wave(m, wave, "run-again")["status"] == "unchanged"


# ----------------------------------------------------------------------------- privacy
def _all_text_values(m: Monitor) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text cell of every warehouse table and answers file."""
    found = []
    frames = [(table.name, read_table(m.engine, table)) for table in s.metadata.sorted_tables]
    frames += [("answers", pd.read_parquet(path)) for path in read_table(m.engine, s.answer_files)["path"]]
    for name, frame in frames:
        for column in frame.columns:
            for value in frame[column].dropna().unique():
                if isinstance(value, str):
                    found.append((name, column, value))
    return found


def test_direct_identifiers_are_dropped_and_free_text_redacted(monitor, warehouse):
    m, _ = monitor
    assert warehouse["earlier_result"]["dropped_identifier_columns"] == "email"
    receipt = receipts(m, EARLIER_WAVE).iloc[0]
    assert json.loads(receipt["dropped_columns"]) == ["email"]
    # no table has such a column, no stored value holds an e-mail address
    for table in s.metadata.sorted_tables:
        assert not {"email", "e_mail", "telefoon"} & {c.name.lower() for c in table.columns}, table.name
    leaks = [(t, c, v) for t, c, v in _all_text_values(m) if EMAIL.search(v)]
    assert leaks == []
    # the free text is stored, redacted
    texts = read_table(m.engine, s.text_answers, wave=EARLIER_WAVE).set_index("source_row")["text"]
    assert texts[1] == "Mail mij op [e-mail verwijderd] als u vragen heeft."
    assert texts[2] == "Bel me gerust: [telefoonnummer verwijderd] of [telefoonnummer verwijderd]."
    assert "[e-mail verwijderd]" in texts[3] and "0612345678" not in texts[3]
    assert not texts.str.contains(r"\d{6,}|06-\d").any()
    frame = warehouse["earlier_frame"]
    delivered_comments = frame["opmerking"].replace("", pd.NA).dropna()
    assert len(texts) == len(delivered_comments)  # the other comments are kept


def test_raw_respondent_ids_are_nowhere_in_the_warehouse(monitor, frames):
    m, _ = monitor
    values = _all_text_values(m)
    assert {t for t, _, _ in values} >= {"respondents", "answers", "file_receipts"}
    assert [(t, c, v) for t, c, v in values if RAW_ID.search(v)] == []
    delivered = {str(i) for f in frames.values() for i in f.iloc[:, 0]}
    assert all(RAW_ID.fullmatch(i) for i in delivered)
    stored_pids = set(read_table(m.engine, s.respondents)["respondent_pid"])
    assert stored_pids and not stored_pids & delivered
    assert all(re.fullmatch(r"p_[0-9a-f]{20}", pid) for pid in stored_pids)


def test_row_without_respondent_id_is_stored_then_set_aside(monitor, frames, codebook):
    """One blank id must not fail the file: the row is kept on record and quarantined by
    `respondent_id_present`; an over-long district code is stored (cut) and set aside too."""
    m, landing = monitor
    frame = frames["2023"].copy()
    frame["resp_id"] = frame["resp_id"].astype(object)
    frame.loc[4, "resp_id"] = None
    frame.loc[6, "wijkcode"] = "Kerkstraat 12 achterom, Amsterdam"
    write_wave_file(frame, landing / "2023" / "wijkmonitor_2023_levering.csv", "csv", codebook, "2023")
    result = stages.ingest_wave(m, "2023", "run-blank-id")
    assert result["status"] == "loaded" and result["rows"] == len(frame)
    status = read_table(m.engine, s.wave_status, survey=SURVEY, wave="2023")
    assert status["status"].iloc[0] == "received"  # not publishable before validation
    stages.validate_wave(m, "2023", "run-blank-id")
    quarantine = read_table(m.engine, s.quarantine, survey=SURVEY, wave="2023")
    rules = quarantine.groupby("source_row")["rule_id"].apply(set)
    assert "respondent_id_present" in rules[5]
    assert "known_district" in rules[7]
    runs = read_table(m.engine, s.validation_runs, survey=SURVEY, wave="2023")
    assert int(runs["received"].iloc[-1]) == len(frame)
