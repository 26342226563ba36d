"""The warehouse on SQLite and PostgreSQL: migrations, atomic replaces, reads and releases."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, inspect, insert, select, text

from socialquality.warehouse import alembic_config, current_revision, make_engine, upgrade
from socialquality.warehouse import schema as s
from socialquality.warehouse import store

SURVEY = "wijkmonitor"


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of its own (for the migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/warehouse/warehouse.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def bare_engine(url: str):
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_warehouse(postgres_module_url: str):
    """One upgraded PostgreSQL warehouse for the module; `engine` empties it after every test."""
    engine = make_engine(postgres_module_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    """An upgraded, empty warehouse."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/warehouse.sqlite")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("postgres_warehouse")
    yield engine
    with engine.begin() as connection:
        for table in reversed(s.metadata.sorted_tables):
            connection.execute(delete(table))


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def add_receipt(connection, wave: str = "2019", file_name: str = "wijkmonitor_2019.csv",
                survey: str = SURVEY) -> int:
    now = dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc)
    result = connection.execute(insert(s.file_receipts).values(
        survey=survey, wave=wave, file_name=file_name, checksum=f"{file_name}-{wave}".ljust(64, "0")[:64],
        format="csv", size_bytes=1234, received_at=now, recorded_at=now, rows=3, status="loaded"))
    return int(result.inserted_primary_key[0])


def add_respondents(connection, receipt_id: int, rows: list[tuple[str, int, str]], wave: str = "2019",
                    survey: str = SURVEY) -> None:
    store.insert_frame(connection, s.respondents, pd.DataFrame([{
        "survey": survey, "wave": wave, "respondent_pid": pid, "source_row": row, "receipt_id": receipt_id,
        "district_code": "WK036300", "sex": "v", "age": 40.0 + row, "age_group": "25-44", "duration_min": 12.0,
        "status": status} for pid, row, status in rows]))


def add_answers(connection, answers: list[tuple[str, int, str, float | None]], wave: str = "2019",
                survey: str = SURVEY) -> None:
    store.insert_frame(connection, s.answers, pd.DataFrame(
        [{"survey": survey, "wave": wave, "respondent_pid": pid, "source_row": row, "item_id": item,
          "value": value} for pid, row, item, value in answers]))


# ----------------------------------------------------------------------------- migrations
def test_upgrade_creates_every_table_at_head(bare_engine) -> None:
    assert current_revision(bare_engine) is None
    upgrade(bare_engine)
    tables = set(inspect(bare_engine).get_table_names())
    assert set(s.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert current_revision(bare_engine) == head_revision()
    # the migrations build exactly the model: no column, type or index differs
    with bare_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, s.metadata) == []


def test_upgrading_twice_is_a_no_op(engine) -> None:
    tables = set(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == tables
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_existing_warehouse_keeps_its_rows_through_an_upgrade(bare_engine, url: str) -> None:
    engine = bare_engine
    upgrade(engine)
    with engine.begin() as connection:
        store.insert_frame(connection, s.districts, pd.DataFrame(
            [{"district_code": "WK036300", "municipality": "GM0363", "population": 4295, "year": 2019}]))
        receipt = add_receipt(connection)
        add_respondents(connection, receipt, [("p1", 1, "clean")])
    engine.dispose()
    later = make_engine(url)  # a later run: new process, same warehouse
    try:
        upgrade(later)
        assert current_revision(later) == head_revision()
        districts = store.read_table(later, s.districts)
        assert districts.to_dict("records") == [
            {"district_code": "WK036300", "municipality": "GM0363", "district_name": None,
             "population": 4295, "year": 2019}]
        assert count(later, s.respondents) == 1
    finally:
        later.dispose()


def test_make_engine_creates_the_sqlite_folder_and_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/new/folder/wh.sqlite")
    try:
        upgrade(engine)
        assert (tmp_path / "new" / "folder" / "wh.sqlite").is_file()
        with pytest.raises(Exception, match="(?i)foreign key"):
            with engine.begin() as connection:
                add_respondents(connection, receipt_id=999, rows=[("p1", 1, "clean")])
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- writes
def districts_frame(codes: list[str], municipality: str = "GM0363", population: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"district_code": codes, "municipality": municipality, "population": population,
                         "year": 2019})


def test_replace_rows_replaces_only_the_matching_rows(engine) -> None:
    with engine.begin() as connection:
        store.insert_frame(connection, s.districts, districts_frame(["WK036300", "WK036301"]))
        store.insert_frame(connection, s.districts, districts_frame(["WK034401"], municipality="GM0344"))
    with engine.begin() as connection:
        written = store.replace_rows(connection, s.districts, districts_frame(["WK036302"], population=7),
                                     municipality="GM0363")
    assert written == 1
    rows = store.read_table(engine, s.districts).sort_values("district_code")
    assert rows["district_code"].tolist() == ["WK034401", "WK036302"]
    assert rows.set_index("district_code").loc["WK036302", "population"] == 7


def test_replace_rows_is_atomic_when_the_run_fails_after_the_delete(engine) -> None:
    with engine.begin() as connection:
        store.insert_frame(connection, s.districts, districts_frame(["WK036300", "WK036301"]))

    class StageFailed(RuntimeError):
        pass

    with pytest.raises(StageFailed):
        with engine.begin() as connection:
            store.delete_where(connection, s.districts, municipality="GM0363")
            assert store.read_table(connection, s.districts).empty  # deleted inside the transaction
            raise StageFailed("weighting failed halfway")
    assert sorted(store.read_table(engine, s.districts)["district_code"]) == ["WK036300", "WK036301"]

    with pytest.raises(StageFailed):
        with engine.begin() as connection:
            store.replace_rows(connection, s.districts, districts_frame(["WK036399"]), municipality="GM0363")
            assert store.read_table(connection, s.districts)["district_code"].tolist() == ["WK036399"]
            raise StageFailed("report failed")
    assert sorted(store.read_table(engine, s.districts)["district_code"]) == ["WK036300", "WK036301"]


def test_replace_rows_is_atomic_when_the_insert_itself_fails(engine) -> None:
    with engine.begin() as connection:
        store.insert_frame(connection, s.districts, districts_frame(["WK036300"]))
    bad = pd.DataFrame({"district_code": ["WK036301", "WK036302"], "municipality": ["GM0363", None]})
    with pytest.raises(Exception):  # NOT NULL on municipality
        with engine.begin() as connection:
            store.replace_rows(connection, s.districts, bad)
    assert store.read_table(engine, s.districts)["district_code"].tolist() == ["WK036300"]


def test_insert_frame_cleans_nan_none_and_numpy_types(engine) -> None:
    frame = pd.DataFrame({
        "survey": [SURVEY] * 4,
        "wave": ["2019"] * 4,
        "district_code": ["WK036300", "WK036301", "WK036302", "WK036303"],
        "n": np.array([10, 20, 30, 40], dtype=np.int64),
        "deff": np.array([1.5, np.nan, 2.0, np.nan], dtype=np.float64),
        "n_eff": pd.array([6.5, None, 15.0, pd.NA], dtype="Float64"),
        "converged": np.array([True, False, True, True], dtype=np.bool_),
        "iterations": pd.array([3, pd.NA, 5, None], dtype="Int64"),
        "trimmed": [np.int32(0), np.int16(1), None, 2],
        "collapsed": ["65+", None, np.nan, pd.NA],
        "warning": [None, "geen convergentie", None, None],
        "not_a_column": ["dropped"] * 4,  # columns the table does not have are left out
    })
    with engine.begin() as connection:
        assert store.insert_frame(connection, s.weighting_diagnostics, frame) == 4
        assert store.insert_frame(connection, s.weighting_diagnostics, frame.iloc[0:0]) == 0
    got = store.read_table(engine, s.weighting_diagnostics).sort_values("district_code").reset_index(drop=True)
    assert got["n"].tolist() == [10, 20, 30, 40]
    assert got["deff"].iloc[0] == 1.5 and got["deff"].iloc[2] == 2.0
    assert pd.isna(got["deff"].iloc[1]) and pd.isna(got["deff"].iloc[3])
    assert got["n_eff"].iloc[0] == 6.5 and pd.isna(got["n_eff"].iloc[1]) and pd.isna(got["n_eff"].iloc[3])
    assert [bool(v) for v in got["converged"]] == [True, False, True, True]
    assert got["iterations"].iloc[0] == 3 and pd.isna(got["iterations"].iloc[1])
    assert got["trimmed"].iloc[1] == 1 and pd.isna(got["trimmed"].iloc[2])
    assert got["collapsed"].iloc[0] == "65+"
    assert got["collapsed"].iloc[1:].isna().all()
    assert got["warning"].iloc[1] == "geen convergentie"
    assert "not_a_column" not in got.columns


def test_clean_turns_values_into_builtins() -> None:
    assert store._clean(np.float32(np.nan)) is None
    assert store._clean(float("nan")) is None
    assert store._clean(pd.NA) is None and store._clean(pd.NaT) is None and store._clean(None) is None
    assert type(store._clean(np.int64(7))) is int
    assert type(store._clean(np.float64(0.5))) is float
    assert store._clean(np.bool_(True)) is True
    stamp = store._clean(pd.Timestamp("2024-05-01 12:00", tz="UTC"))
    assert isinstance(stamp, dt.datetime) and stamp.tzinfo is not None
    assert store._clean("tekst") == "tekst"


def test_insert_frame_writes_in_batches(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "BATCH", 3)
    frame = districts_frame([f"WK0363{i:02d}" for i in range(10)])
    with engine.begin() as connection:
        assert store.insert_frame(connection, s.districts, frame) == 10
    assert sorted(store.read_table(engine, s.districts)["district_code"]) == sorted(frame["district_code"])


def test_read_table_matches_values_and_lists(engine) -> None:
    with engine.begin() as connection:
        store.insert_frame(connection, s.districts, districts_frame(["WK036300", "WK036301", "WK036302"]))
    assert store.read_table(engine, s.districts, district_code="WK036301")["district_code"].tolist() == ["WK036301"]
    picked = store.read_table(engine, s.districts, district_code=["WK036300", "WK036302"])
    assert sorted(picked["district_code"]) == ["WK036300", "WK036302"]
    assert store.read_table(engine, s.districts, municipality="GM0344").empty


# ----------------------------------------------------------------------------- reads
def test_wave_responses_pivots_answers_back_into_columns(engine) -> None:
    with engine.begin() as connection:
        receipt = add_receipt(connection, file_name="levering_2019_v2.csv")
        add_respondents(connection, receipt, [
            ("pA", 3, "clean"),
            ("pB", 1, "clean"),
            ("pC", 2, "quarantined"),
            ("pD", 4, "released"),
            ("pB", 5, "clean"),  # the same respondent delivered twice: both rows stay on record
            ("pE", 6, "clean"),  # answered nothing
        ])
        add_answers(connection, [
            ("pA", 3, "rondkomen", 2.0), ("pA", 3, "veilig", None),
            ("pB", 1, "rondkomen", 4.0), ("pB", 1, "veilig", 3.0),
            ("pC", 2, "rondkomen", 1.0), ("pC", 2, "veilig", 1.0),
            ("pD", 4, "rondkomen", 3.0),
            ("pB", 5, "rondkomen", 1.0), ("pB", 5, "veilig", 2.0),
            ("pA", 3, "gehoord", None), ("pB", 1, "gehoord", None),  # nobody answered this item
        ])
        # another wave and another survey must not leak in
        other = add_receipt(connection, wave="2020", file_name="levering_2020.csv")
        add_respondents(connection, other, [("pA", 3, "clean")], wave="2020")
        add_answers(connection, [("pA", 3, "rondkomen", 9.0)], wave="2020")
        add_answers(connection, [("pA", 3, "rondkomen", 8.0)], survey="deelnemersfeedback")

    frame = store.wave_responses(engine, SURVEY, "2019")
    assert frame["source_row"].tolist() == [1, 3, 4, 5, 6]  # clean and released, by source row
    assert frame["respondent_pid"].tolist() == ["pB", "pA", "pD", "pB", "pE"]
    assert set(frame["status"]) == {"clean", "released"}
    by_row = frame.set_index("source_row")
    assert by_row.loc[1, "rondkomen"] == 4.0 and by_row.loc[1, "veilig"] == 3.0
    assert by_row.loc[3, "rondkomen"] == 2.0 and pd.isna(by_row.loc[3, "veilig"])
    assert by_row.loc[4, "rondkomen"] == 3.0 and pd.isna(by_row.loc[4, "veilig"])
    assert by_row.loc[5, "rondkomen"] == 1.0 and by_row.loc[5, "veilig"] == 2.0
    assert pd.isna(by_row.loc[6, "rondkomen"]) and pd.isna(by_row.loc[6, "veilig"])
    assert "gehoord" in frame.columns and frame["gehoord"].isna().all()  # an all-missing item stays a column
    assert set(frame["source_file"]) == {"levering_2019_v2.csv"}
    assert (frame["district_code"] == "WK036300").all() and by_row.loc[3, "age"] == 43.0

    everyone = store.wave_responses(engine, SURVEY, "2019", statuses=())
    assert everyone["source_row"].tolist() == [1, 2, 3, 4, 5, 6]
    assert everyone.set_index("source_row").loc[2, "veilig"] == 1.0

    with_items = store.wave_responses(engine, SURVEY, "2019", items=["rondkomen", "coh_contact"])
    assert "coh_contact" in with_items.columns and with_items["coh_contact"].isna().all()
    assert with_items.set_index("source_row").loc[1, "rondkomen"] == 4.0

    assert store.wave_responses(engine, SURVEY, "2021").empty


def test_wave_responses_memory_grows_with_the_respondents_not_their_square(engine) -> None:
    n = 800
    with engine.begin() as connection:
        receipt = add_receipt(connection)
        add_respondents(connection, receipt, [(f"p{i:05d}", i, "clean") for i in range(1, n + 1)])
        add_answers(connection, [(f"p{i:05d}", i, item, float(i % 4 + 1))
                                 for i in range(1, n + 1) for item in ("rondkomen", "veilig")])
    tracemalloc.start()
    try:
        frame = store.wave_responses(engine, SURVEY, "2019")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frame) == n
    assert frame["rondkomen"].tolist() == [float(i % 4 + 1) for i in range(1, n + 1)]
    # ~1 MB; a respondent_pid x source_row grid (n * n = 640,000 rows) took ~50 MB
    assert peak < 20_000_000, f"peak {peak / 1e6:.0f} MB"


# ----------------------------------------------------------------------------- releases
def add_quarantine(connection, source_row: int, rule_id: str, wave: str = "2019",
                   source_file: str = "wijkmonitor_2019.csv") -> int:
    result = connection.execute(insert(s.quarantine).values(
        survey=SURVEY, wave=wave, source_file=source_file, source_row=source_row, respondent_pid=f"p{source_row}",
        rule_id=rule_id, column_name="leeftijd", value="7", severity="blocking_row", message="te jong"))
    return int(result.inserted_primary_key[0])


@pytest.fixture
def quarantined(engine) -> dict[str, int]:
    with engine.begin() as connection:
        receipt = add_receipt(connection)
        add_respondents(connection, receipt, [("p1", 1, "clean"), ("p2", 2, "quarantined"),
                                              ("p3", 3, "quarantined")])
        other = add_receipt(connection, wave="2020", file_name="wijkmonitor_2020.csv")
        add_respondents(connection, other, [("p2", 2, "quarantined")], wave="2020")
        ids = {
            "age": add_quarantine(connection, 2, "age_range"),
            "duration": add_quarantine(connection, 2, "speeder"),
            "row3": add_quarantine(connection, 3, "age_range"),
            "other_wave": add_quarantine(connection, 2, "age_range", wave="2020",
                                         source_file="wijkmonitor_2020.csv"),
        }
    return ids


def statuses(engine) -> dict[tuple[str, int], str]:
    people = store.read_table(engine, s.respondents)
    return {(r.wave, r.source_row): r.status for r in people.itertuples()}


def test_release_records_who_when_why_and_releases_the_respondent(engine, quarantined) -> None:
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    store.release_quarantined(engine, quarantined["age"], "J. de Vries", "leeftijd nagebeld: 71, typefout")
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)

    records = store.read_table(engine, s.quarantine).set_index("id")
    for key in ("age", "duration"):  # every record of that row is released with it
        record = records.loc[quarantined[key]]
        assert record["released_by"] == "J. de Vries"
        assert record["release_reason"] == "leeftijd nagebeld: 71, typefout"
        released_at = pd.Timestamp(record["released_at"])
        released_at = released_at.tz_localize("UTC") if released_at.tzinfo is None else released_at
        assert pd.Timestamp(before) <= released_at <= pd.Timestamp(after)
    for key in ("row3", "other_wave"):
        assert pd.isna(records.loc[quarantined[key], "released_by"])
        assert pd.isna(records.loc[quarantined[key], "released_at"])
    assert statuses(engine) == {("2019", 1): "clean", ("2019", 2): "released", ("2019", 3): "quarantined",
                                ("2020", 2): "quarantined"}


@pytest.mark.parametrize("who, why", [("", "nagebeld"), ("J. de Vries", ""), ("   ", "nagebeld"),
                                      ("J. de Vries", " \n"), (None, "nagebeld")])
def test_release_refuses_an_empty_name_or_reason(engine, quarantined, who, why) -> None:
    with pytest.raises(ValueError, match="name of the person and a reason"):
        store.release_quarantined(engine, quarantined["age"], who, why)
    assert store.read_table(engine, s.quarantine)["released_by"].isna().all()
    assert statuses(engine)[("2019", 2)] == "quarantined"


def test_release_of_an_unknown_record(engine, quarantined) -> None:
    with pytest.raises(ValueError, match="no quarantine record with id 9999"):
        store.release_quarantined(engine, 9999, "J. de Vries", "nagebeld")


# ----------------------------------------------------------------------------- wave status
def test_usable_waves_and_set_wave_status(engine) -> None:
    assert store.usable_waves(engine, SURVEY) == []
    with engine.begin() as connection:
        store.set_wave_status(connection, SURVEY, "2020", "usable", None, "run-1")
        store.set_wave_status(connection, SURVEY, "2019", "blocked", "te weinig respondenten", "run-1")
        store.set_wave_status(connection, SURVEY, "2018", "usable", None, "run-1")
        store.set_wave_status(connection, "deelnemersfeedback", "2021", "usable", None, "run-1")
    assert store.usable_waves(engine, SURVEY) == ["2018", "2020"]
    assert store.usable_waves(engine, "deelnemersfeedback") == ["2021"]

    with engine.begin() as connection:  # a later run unblocks 2019 and blocks 2018: one row per wave
        store.set_wave_status(connection, SURVEY, "2019", "usable", None, "run-2")
        store.set_wave_status(connection, SURVEY, "2018", "blocked", "kolom ontbreekt", "run-2")
    assert store.usable_waves(engine, SURVEY) == ["2019", "2020"]
    rows = store.read_table(engine, s.wave_status, survey=SURVEY).set_index("wave")
    assert len(rows) == 3
    assert rows.loc["2018", "status"] == "blocked" and rows.loc["2018", "reason"] == "kolom ontbreekt"
    assert rows.loc["2018", "run_id"] == "run-2" and rows.loc["2020", "run_id"] == "run-1"
    assert pd.isna(rows.loc["2019", "reason"])
    assert rows["updated_at"].notna().all()


# ----------------------------------------------------------------------------- answers files (issue 12)
def test_answers_file_round_trip_replacement_and_integrity(engine, tmp_path: Path) -> None:
    from socialquality.warehouse.microdata import MicrodataError, answer_file, read_answers, write_answers

    root = tmp_path / "microdata"
    wide = pd.DataFrame({"respondent_pid": ["pA", "pB", "pC"], "source_row": [3, 1, 2],
                         "rondkomen": [2.0, 4.0, None], "veilig": [None, 3.0, 1.0]})
    with engine.begin() as connection:
        receipt = add_receipt(connection, file_name="levering_2019_v1.csv")
        add_respondents(connection, receipt, [("pA", 3, "clean"), ("pB", 1, "clean"), ("pC", 2, "quarantined")])
        write_answers(connection, root, SURVEY, "2019", receipt, wide, ["rondkomen", "veilig"])
    frame = store.wave_responses(engine, SURVEY, "2019", items=["rondkomen", "veilig", "gehoord"])
    assert frame["source_row"].tolist() == [1, 3]
    assert frame["rondkomen"].tolist() == [4.0, 2.0]
    assert frame["veilig"].isna().tolist() == [False, True] and frame["gehoord"].isna().all()
    with engine.connect() as connection:
        first = answer_file(connection, SURVEY, "2019")
        assert read_answers(connection, SURVEY, "2019", items=["veilig"]).columns.tolist() == \
            ["respondent_pid", "source_row", "veilig"]

    # a load that fails after writing its file leaves the old pointer, and the old file readable
    corrected = wide.assign(rondkomen=[5.0, 5.0, 5.0])
    with pytest.raises(RuntimeError, match="boom"):
        with engine.begin() as connection:
            second = add_receipt(connection, file_name="levering_2019_v2.csv")
            write_answers(connection, root, SURVEY, "2019", second, corrected, ["rondkomen", "veilig"])
            raise RuntimeError("boom")
    with engine.connect() as connection:
        assert answer_file(connection, SURVEY, "2019") == first
    assert store.wave_responses(engine, SURVEY, "2019")["rondkomen"].tolist() == [4.0, 2.0]

    # a committed replacement switches the pointer; the orphan of the failed load is removed
    with engine.begin() as connection:
        third = add_receipt(connection, file_name="levering_2019_v3.csv")
        write_answers(connection, root, SURVEY, "2019", third, corrected, ["rondkomen", "veilig"])
    assert store.wave_responses(engine, SURVEY, "2019")["rondkomen"].tolist() == [5.0, 5.0]
    files = sorted(p.name for p in (root / SURVEY / "2019").iterdir())
    assert files == [f"receipt-{receipt}.parquet", f"receipt-{third}.parquet"]  # previous kept one load

    # a changed or missing file is an error, never silently other answers
    with engine.connect() as connection:
        path = Path(answer_file(connection, SURVEY, "2019")["path"])
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(MicrodataError, match="changed after loading"):
        store.wave_responses(engine, SURVEY, "2019")
    path.unlink()
    with pytest.raises(MicrodataError, match="missing"):
        store.wave_responses(engine, SURVEY, "2019")


def test_bulk_insert_round_trips_nulls_and_types(engine) -> None:
    """Large frames go through COPY on PostgreSQL (executemany on SQLite): same values back."""
    n = store.COPY_MIN_ROWS + 5
    with engine.begin() as connection:
        receipt = add_receipt(connection)
        frame = pd.DataFrame({
            "survey": SURVEY, "wave": "2019", "respondent_pid": [f"p{i}" for i in range(n)],
            "source_row": np.arange(n), "receipt_id": receipt,
            "district_code": [None if i % 7 == 0 else f'WK03,63"{i % 3}' for i in range(n)],
            "sex": [None if i % 5 == 0 else "v" for i in range(n)],
            "age": [np.nan if i % 4 == 0 else 20.5 + i % 60 for i in range(n)],
            "age_group": "25-44", "duration_min": 12.0, "status": "clean"})
        assert store.insert_frame(connection, s.respondents, frame) == n
    back = store.read_table(engine, s.respondents).sort_values("source_row").reset_index(drop=True)
    assert back["district_code"].tolist() == frame["district_code"].tolist()
    assert back["sex"].tolist() == frame["sex"].tolist()
    assert np.allclose(back["age"].astype(float), frame["age"], equal_nan=True)
    assert back["source_row"].astype(int).tolist() == list(range(n))
