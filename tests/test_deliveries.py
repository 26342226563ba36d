"""Nothing lost, nothing silently changed at ingest (issue 9, findings 1, 2, 9, 10).

Each case drops files in a landing folder of its own (fixtures of test_ingest_stage: one SQLite
warehouse with the population loaded) and checks the receipts, the stored rows and, where the
quality stage is involved, the quarantine records. Every case also checks the reconciliation
received = clean + quarantined + rejected (rows of a rejected or held file count as rejected).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from socialquality import stages
from socialquality.demo.generator import write_wave_file
from socialquality.errors import InputFileError
from socialquality.landing import sha256_of
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table
from tests.test_ingest_stage import (  # noqa: F401 - fixtures
    SURVEY, codebook, frames, monitor_for, receipts, set_mtime, warehouse,
)


@pytest.fixture
def monitor(tmp_path, warehouse):
    """A Monitor on a private copy of the shared warehouse (population and wave 2020 loaded)."""
    source = warehouse["url"][len("sqlite:///"):]
    copy = tmp_path / "warehouse.sqlite"
    shutil.copyfile(source, copy)
    m, landing = monitor_for(tmp_path, {"url": f"sqlite:///{copy}"})
    yield m, landing
    m.engine.dispose()


def _csv(frame, path, codebook) -> str:
    write_wave_file(frame, path, "csv-nl", codebook)
    return path.read_text(encoding="utf-8")


def reconcile(m, wave: str, delivered_rows: int, rejected_rows: int = 0) -> dict[str, int]:
    """received = clean + quarantined + rejected for one wave: every delivered row is a stored
    respondent that validation judged clean or quarantined, or a row of a file that was rejected
    (or held) as a whole and stored nothing."""
    people = read_table(m.engine, s.respondents, survey=SURVEY, wave=wave)
    counts = people["status"].value_counts().to_dict() if not people.empty else {}
    assert counts.get("received", 0) == 0, "rows left unvalidated"
    clean = counts.get("clean", 0) + counts.get("released", 0)
    quarantined = counts.get("quarantined", 0)
    assert len(people) == clean + quarantined
    assert delivered_rows == clean + quarantined + rejected_rows, (delivered_rows, clean, quarantined, rejected_rows)
    return {"received": delivered_rows, "clean": clean, "quarantined": quarantined, "rejected": rejected_rows}


# ----------------------------------------------------------------------------- partial deliveries
def test_a_cut_off_copy_is_rejected_and_the_complete_file_stays_loaded(monitor, codebook, frames):
    m, landing = monitor
    wave = "2017"
    whole = landing / wave / "levering.csv"
    text = _csv(frames[wave], whole, codebook)
    set_mtime(whole, -600)
    assert stages.ingest_wave(m, wave, "run-1")["status"] == "loaded"
    cut = landing / wave / "levering_kopie.csv"
    cut.write_text(text[: len(text) // 2], encoding="utf-8")  # a half-finished copy: ends mid-row
    with pytest.raises(InputFileError, match="looks cut off"):
        stages.ingest_wave(m, wave, "run-2")
    on_record = receipts(m, wave)
    assert on_record.set_index("file_name")["status"].to_dict() == {"levering.csv": "loaded",
                                                                   "levering_kopie.csv": "rejected"}
    assert len(read_table(m.engine, s.respondents, survey=SURVEY, wave=wave)) == len(frames[wave])
    stages.validate_wave(m, wave, "run-2")
    reconcile(m, wave, len(frames[wave]))  # the loaded file; the cut copy: rejected, nothing stored


def test_a_copy_cut_at_a_line_end_is_held_for_review(monitor, codebook, frames):
    m, landing = monitor
    wave = "2018"
    whole = landing / wave / "levering.csv"
    text = _csv(frames[wave], whole, codebook)
    set_mtime(whole, -600)
    stages.ingest_wave(m, wave, "run-1")
    lines = text.splitlines(keepends=True)
    half = landing / wave / "levering_v2.csv"
    half.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    with pytest.raises(InputFileError, match="held for review"):
        stages.ingest_wave(m, wave, "run-2")
    on_record = receipts(m, wave).set_index("file_name")
    assert on_record.loc["levering_v2.csv", "status"] == "held"
    assert on_record.loc["levering.csv", "status"] == "loaded"  # the complete file stays published
    # a person accepts it: the next run loads it, and the history shows every step
    stages.accept_held_delivery(m, wave, "J. de Vries", "agency confirmed half the sample")
    stages.validate_wave(m, wave, "run-2")
    reconcile(m, wave, len(frames[wave]))  # while held: the complete file is what counts
    assert stages.ingest_wave(m, wave, "run-3")["status"] == "loaded"
    stages.validate_wave(m, wave, "run-3")
    reconcile(m, wave, len(lines) // 2 - 1)  # the accepted half (minus its header)
    events = read_table(m.engine, s.receipt_events, survey=SURVEY, wave=wave).sort_values("id")
    assert events["event"].tolist() == ["loaded", "held", "accepted", "superseded", "loaded"]


def test_a_footer_and_a_short_row_are_quarantined_with_their_row(monitor, codebook, frames):
    m, landing = monitor
    wave = "2019"
    path = landing / wave / "levering.csv"
    text = _csv(frames[wave], path, codebook)
    lines = text.splitlines()
    lines[5] = ";".join(lines[5].split(";")[:9])  # a row an editor shortened
    path.write_text("\n".join(lines) + "\nTotaal;200\n", encoding="utf-8")
    result = stages.ingest_wave(m, wave, "run-1")
    assert result["rows"] == len(frames[wave]) + 1
    stages.validate_wave(m, wave, "run-1")
    quarantine = read_table(m.engine, s.quarantine, survey=SURVEY, wave=wave)
    complete = quarantine[quarantine["rule_id"] == "complete_row"]
    assert sorted(complete["source_row"]) == [5, len(frames[wave]) + 1]
    assert complete["value"].str.contains("van").all()
    people = read_table(m.engine, s.respondents, survey=SURVEY, wave=wave).set_index("source_row")
    assert people.loc[len(frames[wave]) + 1, "status"] == "quarantined"
    reconcile(m, wave, len(frames[wave]) + 1)


def test_a_multi_part_delivery_is_loaded_whole(monitor, codebook, frames):
    m, landing = monitor
    wave = "2020"
    frame = frames[wave]
    half = len(frame) // 2
    write_wave_file(frame.iloc[:half], landing / wave / "levering_deel1.csv", "csv-nl", codebook)
    write_wave_file(frame.iloc[half:], landing / wave / "levering_deel2.csv", "csv-nl", codebook)
    result = stages.ingest_wave(m, wave, "run-parts")
    assert result["status"] == "loaded" and result["parts"] == 2 and result["rows"] == len(frame)
    on_record = receipts(m, wave)
    assert on_record["status"].tolist().count("loaded") == 2  # (the fixture's .sav of 2020: superseded)
    stages.validate_wave(m, wave, "run-parts")
    runs = read_table(m.engine, s.validation_runs, survey=SURVEY, wave=wave).sort_values("id")
    last = runs.iloc[-1]
    assert last["received"] == len(frame) == last["clean"] + last["quarantined"]
    people = read_table(m.engine, s.respondents, survey=SURVEY, wave=wave)
    assert people.groupby("receipt_id").size().sort_index().tolist() == [half, len(frame) - half]
    assert (people["status"] != "received").all()
    reconcile(m, wave, len(frame))


def test_a_multi_part_delivery_with_a_missing_part_is_an_explicit_error(monitor, codebook, frames):
    m, landing = monitor
    wave = "2021"
    frame = frames[wave]
    write_wave_file(frame.iloc[:100], landing / wave / "levering_deel1van3.csv", "csv-nl", codebook)
    write_wave_file(frame.iloc[100:200], landing / wave / "levering_deel3van3.csv", "csv-nl", codebook)
    with pytest.raises(InputFileError, match=r"part\(s\) 2 of 3 missing"):
        stages.ingest_wave(m, wave, "run-gap")
    assert set(receipts(m, wave)["status"]) == {"rejected"}
    assert read_table(m.engine, s.respondents, survey=SURVEY, wave=wave).empty
    reconcile(m, wave, 200, rejected_rows=200)


def test_a_manifest_declares_the_rows_and_every_other_file_gets_a_receipt(monitor, codebook, frames):
    m, landing = monitor
    wave = "2023"
    frame = frames[wave]
    old = landing / wave / "oud.csv"
    write_wave_file(frame, old, "csv-nl", codebook)
    set_mtime(old, -600)
    write_wave_file(frame.iloc[:150], landing / wave / "a.csv", "csv-nl", codebook)
    write_wave_file(frame.iloc[150:], landing / wave / "b.csv", "csv-nl", codebook)
    (landing / wave / "manifest.yaml").write_text(
        f"files:\n  - {{name: a.csv, rows: 150}}\n  - {{name: b.csv, rows: {len(frame) - 151}}}\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="manifest declares"):
        stages.ingest_wave(m, wave, "run-manifest-wrong")
    (landing / wave / "manifest.yaml").write_text(
        f"files:\n  - {{name: a.csv, rows: 150}}\n  - {{name: b.csv, rows: {len(frame) - 150}}}\n", encoding="utf-8")
    result = stages.ingest_wave(m, wave, "run-manifest")
    assert result["rows"] == len(frame)
    status = receipts(m, wave).set_index("file_name")["status"].to_dict()
    assert status == {"oud.csv": "not_used", "a.csv": "loaded", "b.csv": "loaded"}
    stages.validate_wave(m, wave, "run-manifest")
    reconcile(m, wave, len(frame))


# ----------------------------------------------------------------------------- symlinks
def test_symlinked_files_and_wave_folders_are_refused_unread(monitor, codebook, frames, tmp_path):
    m, landing = monitor
    wave = "2017"
    target = tmp_path / "secret.csv"
    target.write_text("resp_id;wijk\nX;Y\n", encoding="utf-8")
    (landing / wave).mkdir()
    (landing / wave / "levering.csv").symlink_to(target)
    with pytest.raises(InputFileError, match="symbolic link"):
        stages.ingest_wave(m, wave, "run-link")
    receipt = receipts(m, wave).iloc[0]
    assert receipt["status"] == "rejected" and receipt["checksum"] != sha256_of(target)
    outside = tmp_path / "elders"
    outside.mkdir()
    write_wave_file(frames["2018"], outside / "levering.csv", "csv-nl", codebook)
    (landing / "2018").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputFileError, match="wave folder is a symbolic link"):
        stages.ingest_wave(m, "2018", "run-folder-link")
    on_record = receipts(m, "2018")
    assert on_record["status"].tolist() == ["rejected"] and sha256_of(outside / "levering.csv") not in set(on_record["checksum"])


# ----------------------------------------------------------------------------- bad values
def test_bad_values_are_quarantined_with_row_column_and_value(monitor, codebook, frames):
    m, landing = monitor
    wave = "2021"
    frame = frames[wave].copy()
    frame["rondkomen"] = frame["rondkomen"].astype(object)
    frame.loc[2, "rondkomen"] = "abc"
    frame["ladder_nu"] = frame["ladder_nu"].astype(float)
    frame.loc[3, "ladder_nu"] = 7.5
    frame["Geslacht"] = frame["Geslacht"].astype(object)
    frame.loc[4, "Geslacht"] = 3
    frame.loc[5, "Geslacht"] = "x"
    write_wave_file(frame, landing / wave / "levering.csv", "csv-nl", codebook)
    stages.ingest_wave(m, wave, "run-values")
    stages.validate_wave(m, wave, "run-values")
    quarantine = read_table(m.engine, s.quarantine, survey=SURVEY, wave=wave)
    found = {(r.rule_id, r.column_name, r.source_row, r.value) for r in quarantine.itertuples()}
    assert ("parseable_value", "rondkomen", 3, "abc") in found
    assert ("whole_number", "ladder_nu", 4, "7.5") in found or ("whole_number", "ladder_nu", 4, "7,5") in found
    assert ("allowed_codes", "sex", 5, "3") in found
    assert ("allowed_codes", "sex", 6, "x") in found
    people = read_table(m.engine, s.respondents, survey=SURVEY, wave=wave).set_index("source_row")
    assert (people.loc[[3, 4, 5, 6], "status"] == "quarantined").all()
    reconcile(m, wave, len(frame))


# ----------------------------------------------------------------------------- smaller ones
def test_sep_line_is_read(monitor, codebook, frames):
    m, landing = monitor
    wave = "2019"
    path = landing / wave / "levering.csv"
    text = _csv(frames[wave], path, codebook)
    path.write_text("sep=;\n" + text, encoding="utf-8")
    result = stages.ingest_wave(m, wave, "run-sep")
    assert result["rows"] == len(frames[wave])
    assert sorted(read_table(m.engine, s.respondents, survey=SURVEY, wave=wave)["source_row"])[:2] == [1, 2]


def test_a_redelivered_earlier_file_keeps_the_load_history(monitor, codebook, frames):
    m, landing = monitor
    wave = "2020"
    first = landing / wave / "v1.csv"
    write_wave_file(frames[wave], first, "csv-nl", codebook)
    set_mtime(first, -900)
    stages.ingest_wave(m, wave, "run-a")
    second = landing / wave / "v2.csv"
    write_wave_file(frames[wave].drop(index=[0]), second, "csv-nl", codebook)
    set_mtime(second, -600)
    stages.ingest_wave(m, wave, "run-b")
    again = landing / wave / "v1_opnieuw.csv"
    shutil.copyfile(first, again)  # the earlier file delivered again, newest now
    stages.ingest_wave(m, wave, "run-c")
    events = read_table(m.engine, s.receipt_events, survey=SURVEY, wave=wave).sort_values("id")
    v1 = int(receipts(m, wave).set_index("checksum").loc[sha256_of(first), "id"])
    history = events[events["receipt_id"] == v1][["event", "run_id"]].values.tolist()
    assert history == [["loaded", "run-a"], ["superseded", "run-b"], ["loaded", "run-c"]]


# ----------------------------------------------------------------------------- feedback
def test_a_bad_feedback_file_is_rejected_and_reporting_goes_on(monitor):
    m, _ = monitor
    codebook = m.feedback_codebook
    assert codebook is not None
    wave = codebook.wave_ids[0]
    folder = m.settings.path("feedback") / codebook.survey / wave
    folder.mkdir(parents=True)
    (folder / "terugkoppeling.csv").write_text("dit;is\ngeen;terugkoppeling\n", encoding="utf-8")
    result = stages.ingest_feedback(m, "run-feedback")  # no exception: the city job goes on
    assert result["rejected_files"] == 1
    receipt = read_table(m.engine, s.file_receipts, survey=codebook.survey).iloc[0]
    assert receipt["status"] == "rejected" and str(folder) not in receipt["error"]
    page = Path(stages.render_audit_index(m, "run-feedback")["page"]).read_text(encoding="utf-8")
    assert "terugkoppeling.csv" in page and "geweigerd" in page
