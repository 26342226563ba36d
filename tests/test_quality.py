"""Tests of the data-quality module (socialquality.quality).

The main fixture is a hand-built normalised frame (docs/data-contracts.md section 1) of the
Wijkmonitor, wave 2023: 200 valid respondents in four districts plus ONE row per defect kind.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialquality.codebook import age_group_of, load_codebook
from socialquality.errors import CodebookError, ConfigError
from socialquality.quality import (
    BLOCKING_DATASET,
    BLOCKING_ROW,
    QUARANTINE_COLUMNS,
    build_data_docs,
    generate_suite,
    load_custom_rules,
    validate_wave,
    write_generated_suite,
)
from socialquality.quality import rules as R
from socialquality.quality.gx_adapter import quiet_context, suite_from_dict

ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS = ROOT / "expectations"
CODEBOOK = load_codebook(ROOT / "surveys" / "codebooks" / "wijkmonitor.yaml")
DISTRICTS = {"WK036301", "WK036302", "WK036303", "WK036304"}
FILE = "wijkmonitor_2023.csv"
N_VALID = 200


def respondent(i: int, wave: str = "2023") -> dict:
    """A valid normalised row; answers vary with i so that no two rows (< 660) share a pattern."""
    age = float(20 + (i * 7) % 70)
    row = {
        "respondent_pid": f"p{i:04d}",
        "wave": wave,
        "district_code": sorted(DISTRICTS)[i % 4],
        "sex": "mv"[i % 2],
        "age": age,
        "age_group": age_group_of(age),
        "duration_min": 15.0 + i % 10,
        "source_file": FILE,
        "source_row": i + 1,
    }
    for j, item in enumerate(CODEBOOK.items_asked(wave)):
        if item.type == "text":
            row[item.id] = ""
        elif item.scale.value_range is not None:
            row[item.id] = float((i + j) % 11)
        else:
            codes = sorted(item.scale.codes)
            row[item.id] = float(codes[(i + j) % len(codes)])
    return row


# One defect per kind, each on its own extra row: rule_id -> (column, source_row, defect).
DEFECTS = {
    "allowed_codes": ("rondkomen", N_VALID + 1, {"rondkomen": 7.0}),
    "unique_respondent": ("respondent_pid", N_VALID + 2, {"respondent_pid": "p0005"}),
    "known_district": ("district_code", N_VALID + 3, {"district_code": "WK999999"}),
    "straightlining": ("cohesie_grid", N_VALID + 4,
                       {i: 2.0 for i in ("coh_kennen", "coh_prettig", "coh_gezellig", "coh_thuis", "coh_contact")}),
    "speeder": ("duration_min", N_VALID + 5, {"duration_min": 2.0}),
    "minimum_age": ("age", N_VALID + 6, {"age": 14.0, "age_group": "15-24"}),
}


def wave_frame(n_valid: int = N_VALID, defects: bool = True, wave: str = "2023") -> pd.DataFrame:
    rows = [respondent(i, wave) for i in range(n_valid)]
    if defects:
        for _rule, (_column, source_row, change) in DEFECTS.items():
            row = respondent(source_row - 1, wave)
            row.update(change)
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["source_row"] = frame["source_row"].astype("int64")
    return frame


@pytest.fixture(scope="module")
def outcome():
    return validate_wave(wave_frame(), CODEBOOK, known_districts=DISTRICTS, expectations_dir=EXPECTATIONS,
                         run_label="test")


@pytest.fixture()
def exp_dir(tmp_path: Path) -> Path:
    write_generated_suite(CODEBOOK, tmp_path)
    (tmp_path / "custom").mkdir()
    shutil.copy(EXPECTATIONS / "custom" / "wijkmonitor.json", tmp_path / "custom" / "wijkmonitor.json")
    return tmp_path


def check(outcome, check_id: str):
    found = [c for c in outcome.checks if c.check_id == check_id]
    assert len(found) == 1, [c.check_id for c in outcome.checks]
    return found[0]


# --- suites as files ---------------------------------------------------------------------------

def test_generated_suite_round_trips_through_gx():
    document = json.loads((EXPECTATIONS / "generated" / "wijkmonitor.json").read_text(encoding="utf-8"))
    suite = suite_from_dict(document)
    assert suite.to_json_dict() == document
    stored = quiet_context().suites.add(suite_from_dict(document))  # GX assigns ids when it stores
    assert len(stored.expectations) == len(document["expectations"])
    types = {type(e).__name__ for e in stored.expectations}
    assert {"ExpectColumnValuesToBeInSet", "ExpectColumnValuesToBeBetween", "ExpectColumnValuesToBeUnique",
            "ExpectColumnToExist", "ExpectColumnValuesToNotBeNull"} <= types
    for expectation in document["expectations"]:
        meta = expectation["meta"]
        assert meta["rule_id"] and meta["severity"] in (BLOCKING_ROW, BLOCKING_DATASET, "warning")
        assert meta["description_nl"] and meta["description_en"] and meta["kind"] in ("row", "dataset")
    districts = [e for e in document["expectations"] if e["meta"]["rule_id"] == "known_district"]
    assert districts[0]["kwargs"]["value_set"] == {"$PARAMETER": "known_districts"}


def test_committed_generated_suites_match_their_codebooks():
    for name in ("wijkmonitor", "deelnemersfeedback"):
        codebook = load_codebook(ROOT / "surveys" / "codebooks" / f"{name}.yaml")
        committed = json.loads((EXPECTATIONS / "generated" / f"{name}.json").read_text(encoding="utf-8"))
        assert generate_suite(codebook) == committed, f"regenerate: python -m socialquality.quality {codebook.path}"


def test_suite_covers_the_codebook():
    suite = generate_suite(CODEBOOK)
    by_rule = {}
    for e in suite["expectations"]:
        by_rule.setdefault(e["meta"]["rule_id"], []).append(e)
    coded = {e["kwargs"]["column"]: e["kwargs"]["value_set"] for e in by_rule["allowed_codes"]}
    assert coded["rondkomen"] == [1, 2, 3, 4] and coded["sex"] == ["m", "v"]
    assert {e["kwargs"]["column"] for e in by_rule["value_range"]} == {"ladder_nu", "ladder_5jaar", "age"}
    assert by_rule["minimum_age"][0]["kwargs"] == {"column": "age", "min_value": 16.0}
    assert by_rule["speeder"][0]["kwargs"] == {"column": "duration_min", "min_value": 4.0}
    assert "opmerking" not in {e["kwargs"]["column"] for e in suite["expectations"]}  # free text, not required
    grids = {r["column"]: r for r in suite["meta"]["socialquality"]["row_rules"]}
    assert grids["cohesie_grid"]["enabled"] and grids["cohesie_grid"]["reversed_items"] == ["coh_kennen"]


def test_regeneration_never_touches_custom_rules(exp_dir: Path):
    custom = exp_dir / "custom" / "wijkmonitor.json"
    before = (custom.read_bytes(), custom.stat().st_mtime_ns)
    generated = exp_dir / "generated" / "wijkmonitor.json"
    first = generated.read_bytes()
    assert write_generated_suite(CODEBOOK, exp_dir) == generated
    assert generated.read_bytes() == first  # deterministic: same codebook, same bytes
    assert (custom.read_bytes(), custom.stat().st_mtime_ns) == before
    assert sorted(p.name for p in exp_dir.rglob("*") if p.is_file()) == ["wijkmonitor.json", "wijkmonitor.json"]


def test_stale_or_missing_suite_is_refused(tmp_path: Path, exp_dir: Path):
    with pytest.raises(ConfigError, match="not found"):
        validate_wave(wave_frame(5, False), CODEBOOK, known_districts=DISTRICTS, expectations_dir=tmp_path / "none")
    path = exp_dir / "generated" / "wijkmonitor.json"
    suite = json.loads(path.read_text())
    suite["meta"]["socialquality"]["codebook_checksum"] = "0" * 64
    path.write_text(json.dumps(suite))
    with pytest.raises(ConfigError, match="regenerate"):
        validate_wave(wave_frame(5, False), CODEBOOK, known_districts=DISTRICTS, expectations_dir=exp_dir)


def test_custom_rules_file_is_validated(exp_dir: Path):
    rules = load_custom_rules("wijkmonitor", EXPECTATIONS)
    assert rules.get("max_quarantine_share").params["max_share"] == 0.10
    assert rules.get("min_clean_respondents").severity == BLOCKING_DATASET
    path = exp_dir / "custom" / "wijkmonitor.json"
    document = json.loads(path.read_text())
    document["rules"].append({"rule_id": "no_such_rule"})
    path.write_text(json.dumps(document))
    with pytest.raises(CodebookError, match="unknown rule_id"):
        load_custom_rules("wijkmonitor", exp_dir)
    document["rules"].pop()
    document["rules"][0]["severity"] = "blocking_row"  # a dataset rule cannot quarantine rows
    path.write_text(json.dumps(document))
    with pytest.raises(CodebookError, match="severity"):
        load_custom_rules("wijkmonitor", exp_dir)


def test_custom_extras_and_disabled_rules(exp_dir: Path):
    path = exp_dir / "custom" / "wijkmonitor.json"
    document = json.loads(path.read_text())
    for rule in document["rules"]:
        if rule["rule_id"] == "duplicate_answer_pattern":
            rule["enabled"] = False
    document["gx_expectations"] = [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "ladder_nu", "max_value": 9},
         "meta": {"rule_id": "ladder_top", "kind": "row", "severity": "warning"}},
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "ladder_nu", "min_value": 6},
         "meta": {"rule_id": "ladder_mean", "kind": "dataset", "severity": "warning"}},
    ]
    path.write_text(json.dumps(document))
    frame = wave_frame(120, defects=False)
    result = validate_wave(frame, CODEBOOK, known_districts=DISTRICTS, expectations_dir=exp_dir)
    top = check(result, "ladder_top:ladder_nu")
    expected_rows = [i + 1 for i in range(120) if respondent(i)["ladder_nu"] == 10.0]
    assert not top.success and top.rows_affected == len(expected_rows)
    flagged = result.quarantine[result.quarantine["rule_id"] == "ladder_top"]
    assert list(flagged["source_row"]) == expected_rows and set(flagged["severity"]) == {"warning"}
    mean = check(result, "ladder_mean:ladder_nu")
    assert not mean.success and mean.kind == "dataset" and mean.observed_value == pytest.approx(frame["ladder_nu"].mean())
    assert mean.suite == "wijkmonitor.custom"
    assert check(result, "duplicate_answer_pattern").status == "not_applicable"
    assert result.ok and result.reconciliation.quarantined == 0
    assert [r["suite_name"] for r in result.gx_results] == [
        "wijkmonitor.generated", "wijkmonitor.custom", "wijkmonitor.custom.clean_rows"]


# --- the runner on the hand-built wave -------------------------------------------------------

@pytest.mark.parametrize("rule_id", list(DEFECTS))
def test_each_defect_is_caught_by_its_rule(outcome, rule_id):
    column, source_row, _ = DEFECTS[rule_id]
    records = outcome.quarantine[outcome.quarantine["rule_id"] == rule_id]
    assert list(records["source_row"]) == [source_row]
    assert list(records["column"]) == [column]
    assert list(records["severity"]) == [BLOCKING_ROW]
    result = check(outcome, f"{rule_id}:{column}")
    assert not result.success and result.rows_affected == 1 and result.kind == "row"


def test_failing_values_and_duplicate_keeps_first(outcome):
    q = outcome.quarantine.set_index("rule_id")
    assert q.loc["allowed_codes", "value"] == "7"
    assert q.loc["known_district", "value"] == "WK999999"
    assert q.loc["speeder", "value"] == "2"
    assert q.loc["minimum_age", "value"] == "14"
    assert q.loc["straightlining", "value"] == "2"
    assert "row 6" in q.loc["unique_respondent", "message"]  # the first copy (source_row 6) is kept
    assert check(outcome, "unique_respondent:respondent_pid").unexpected_count == 2  # GX sees both copies
    assert "p0005" in set(outcome.clean["respondent_pid"])


def test_reconciliation_and_contract_shapes(outcome):
    rec = outcome.reconciliation
    assert (rec.received, rec.clean, rec.quarantined) == (N_VALID + 6, N_VALID, 6)
    assert rec.received == rec.clean + rec.quarantined
    assert rec.by_file == [{"source_file": FILE, "received": 206, "clean": 200, "quarantined": 6}]
    assert tuple(outcome.quarantine.columns) == QUARANTINE_COLUMNS
    assert len(outcome.quarantine) == 6  # exactly one record per injected defect, nothing else
    assert list(outcome.clean.columns) == list(wave_frame().columns)
    assert set(outcome.clean["source_row"]).isdisjoint(outcome.quarantine["source_row"])
    assert outcome.ok and outcome.blocking_failures == []
    assert outcome.wave == "2023"


def test_check_results_cover_every_rule(outcome):
    statuses = {c.check_id: c.status for c in outcome.checks}
    assert len(statuses) == len(outcome.checks)  # check ids are unique
    assert statuses["required_columns:rondkomen"] == "passed"
    assert statuses["fieldwork_dates:interview_date"] == "not_applicable"  # no interview_date column
    assert statuses["sample_composition"] == "not_applicable"  # no population shares given
    assert statuses["min_respondents_per_district:district_code"] == "passed"
    assert statuses["max_quarantine_share"] == "passed"
    assert statuses["min_clean_respondents"] == "passed"
    assert statuses["max_missing_share:rondkomen"] == "passed"
    json.dumps([c.to_dict() for c in outcome.checks])  # ready for Dagster metadata / a warehouse table
    json.dumps(outcome.gx_results)
    assert [r["suite_name"] for r in outcome.gx_results] == [
        "wijkmonitor.generated", "wijkmonitor.custom.clean_rows"]
    assert set(outcome.suite_checksums) == {"generated/wijkmonitor.json", "custom/wijkmonitor.json"}
    unique = [r for r in outcome.gx_results[0]["results"]
              if r["expectation_config"]["meta"]["rule_id"] == "unique_respondent"][0]
    assert "p0005" not in json.dumps(unique)  # respondent ids are redacted in stored GX results


def test_many_bad_rows_block_the_wave(exp_dir: Path):
    frame = wave_frame(defects=False)
    frame.loc[frame.index[:25], "age"] = 12.0  # 12.5% underage: looks like a broken file
    result = validate_wave(frame, CODEBOOK, known_districts=DISTRICTS, expectations_dir=exp_dir)
    assert result.reconciliation.quarantined == 25 and result.reconciliation.clean == 175
    assert [c.rule_id for c in result.blocking_failures] == ["max_quarantine_share"]
    assert not result.ok
    assert result.blocking_failures[0].observed_value["share"] == pytest.approx(0.125)


def test_small_wave_blocks_and_warns_on_districts(exp_dir: Path):
    result = validate_wave(wave_frame(60, defects=False), CODEBOOK, known_districts=DISTRICTS | {"WK036305"},
                           expectations_dir=exp_dir)
    assert [c.rule_id for c in result.blocking_failures] == ["min_clean_respondents"]
    districts = check(result, "min_respondents_per_district:district_code")
    assert districts.severity == "warning" and not districts.success
    assert districts.observed_value["districts_below_minimum"] == {
        "WK036301": 15, "WK036302": 15, "WK036303": 15, "WK036304": 15, "WK036305": 0}


def test_items_not_asked_in_the_wave_are_not_applicable(exp_dir: Path):
    frame = wave_frame(120, defects=False, wave="2017")
    assert "coh_contact" not in frame.columns  # introduced in 2019
    result = validate_wave(frame, CODEBOOK, known_districts=DISTRICTS, expectations_dir=exp_dir)
    assert check(result, "required_columns:coh_contact").status == "not_applicable"
    assert check(result, "allowed_codes:coh_contact").status == "not_applicable"
    assert result.ok and result.reconciliation.quarantined == 0


def test_missing_required_column_is_a_blocking_dataset_failure(exp_dir: Path):
    frame = wave_frame(120, defects=False).drop(columns=["rondkomen"])
    result = validate_wave(frame, CODEBOOK, known_districts=DISTRICTS, expectations_dir=exp_dir)
    assert [c.check_id for c in result.blocking_failures] == ["required_columns:rondkomen"]
    assert check(result, "allowed_codes:rondkomen").status == "not_applicable"


def test_fieldwork_dates_and_sample_composition(exp_dir: Path):
    frame = wave_frame(120, defects=False)
    frame["interview_date"] = pd.Timestamp("2023-04-01")
    frame.loc[3, "interview_date"] = pd.Timestamp("2023-05-20")  # within the 14 grace days
    frame.loc[4, "interview_date"] = pd.Timestamp("2023-07-01")  # outside
    population = pd.DataFrame({"dimension": ["sex", "sex", "age_group", "age_group", "age_group", "age_group"],
                               "category": ["m", "v", "15-24", "25-44", "45-64", "65+"],
                               "share": [0.5, 0.5, 0.05, 0.10, 0.15, 0.70]})
    result = validate_wave(frame, CODEBOOK, known_districts=DISTRICTS, expectations_dir=exp_dir,
                           population_shares=population)
    dates = check(result, "fieldwork_dates:interview_date")
    assert not dates.success and dates.severity == "warning" and dates.rows_affected == 1
    flagged = result.quarantine[result.quarantine["rule_id"] == "fieldwork_dates"]
    assert list(flagged["source_row"]) == [5] and list(flagged["severity"]) == ["warning"]
    assert result.reconciliation.quarantined == 0  # a warning flags, it does not quarantine
    composition = check(result, "sample_composition")
    assert not composition.success and composition.severity == "warning" and "65+" in composition.message
    assert result.ok


def test_contract_violations_raise(exp_dir: Path):
    frame = wave_frame(10, defects=False)
    with pytest.raises(ValueError, match="one wave"):
        validate_wave(frame.assign(wave=["2022"] * 5 + ["2023"] * 5), CODEBOOK, known_districts=DISTRICTS,
                      expectations_dir=exp_dir)
    with pytest.raises(ValueError, match="source_row"):
        validate_wave(frame.assign(source_row=1), CODEBOOK, known_districts=DISTRICTS, expectations_dir=exp_dir)


# --- Data Docs -----------------------------------------------------------------------------

def test_data_docs_keep_history_and_index_lists_runs(outcome, tmp_path: Path):
    first = build_data_docs(outcome, tmp_path, "Wijkmonitor 2023")
    second = build_data_docs(outcome, tmp_path, "Wijkmonitor 2023 (rerun)")
    assert first != second and first.is_file() and second.is_file()
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    assert len(re.findall(r'href="runs/[^/"]+/index.html"', index)) == 2
    assert index.index(runs[1].name) < index.index(runs[0].name)  # newest first
    page = second.read_text(encoding="utf-8")
    assert "straightlining" in page and "known_district" in page and ">203<" in page  # source_row of a defect
    assert "p0005" not in page and "p0005" not in index  # respondent ids stay out
    assert list((second.parent / "gx").glob("*.html"))


# --- pandas rules --------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=5, max_size=5), min_size=1, max_size=30))
def test_straightlining_matches_a_plain_definition(rows):
    frame = pd.DataFrame([[np.nan if v is None else float(v) for v in r] for r in rows],
                         columns=[f"g{i}" for i in range(5)])
    hits = R.straightlining(frame, list(frame.columns), 4)
    expected = [i for i, r in enumerate(rows)
                if len([v for v in r if v is not None]) >= 4 and len({v for v in r if v is not None}) == 1]
    assert list(hits.positions) == expected


def test_later_duplicates_and_text_values():
    hits = R.later_duplicates(pd.Series(["a", "b", "a", None, None, "b", "a"]))
    assert list(hits.positions) == [2, 5, 6] and list(hits.partner) == [0, 1, 0]
    assert list(R.as_text(pd.Series([7.0, 3.5, np.nan, -1.0]))) == ["7", "3.5", "", "-1"]
