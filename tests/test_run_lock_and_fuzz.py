"""One writer per installation, abandoned runs, atomic report swap, and fuzzing the readers
(issue 9, findings 8 and 10, and the fuzz test of "What to build")."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialquality.errors import SocialQualityError
from socialquality.warehouse import make_engine, upgrade

ROOT = Path(__file__).resolve().parent.parent


def test_a_second_writer_is_refused_with_one_clear_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    upgrade(make_engine(url))
    holder = textwrap.dedent(f"""
        import sys, time
        from socialquality.runlock import installation_lock
        from socialquality.warehouse import make_engine
        engine = make_engine({url!r})
        with installation_lock(engine, {url!r}, __import__('pathlib').Path({str(tmp_path)!r}), "first run"):
            print("locked", flush=True)
            time.sleep(30)
    """)
    first = subprocess.Popen([sys.executable, "-c", holder], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "locked"
        second = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import pathlib
            from socialquality.runlock import installation_lock, RunLockBusy
            from socialquality.warehouse import make_engine
            try:
                with installation_lock(make_engine({url!r}), {url!r}, pathlib.Path({str(tmp_path)!r}), "second"):
                    print("ALSO LOCKED")
            except RunLockBusy as error:
                print(error)
        """)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert "ALSO LOCKED" not in second.stdout
        assert "another run is writing" in second.stdout and "first run" in second.stdout
        assert len(second.stdout.strip().splitlines()) == 1
    finally:
        first.kill()  # kill -9 style: the lock goes with the process
        first.wait()
    from socialquality.runlock import installation_lock

    with installation_lock(make_engine(url), url, tmp_path, "third"):  # free again
        pass


@pytest.mark.postgres
def test_the_lock_on_postgresql(postgres_url):
    from socialquality.runlock import RunLockBusy, installation_lock

    engine = make_engine(postgres_url)
    upgrade(engine)
    code = textwrap.dedent(f"""
        import pathlib
        from socialquality.runlock import installation_lock, RunLockBusy
        from socialquality.warehouse import make_engine
        try:
            with installation_lock(make_engine({postgres_url!r}), {postgres_url!r}, pathlib.Path('.'), "other"):
                print("ALSO LOCKED")
        except RunLockBusy as error:
            print(error)
    """)
    with installation_lock(engine, postgres_url, Path("."), "holder"):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert "another run is writing" in out.stdout
    assert issubclass(RunLockBusy, SocialQualityError)


def test_abandoned_dagster_runs_are_marked_failed(tmp_path, monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus, job, op

    from pipelines.cli import mark_abandoned_runs

    @op
    def nothing():
        return 1

    @job
    def tiny():
        nothing()

    instance = DagsterInstance.ephemeral()
    run = instance.create_run_for_job(tiny, status=DagsterRunStatus.STARTED)  # as a kill -9 leaves it
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
    assert mark_abandoned_runs(instance) == [run.run_id]
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE


def test_report_folder_is_swapped_whole(tmp_path):
    from socialquality.stages import swap_folder

    final = tmp_path / "reports"
    final.mkdir()
    (final / "index.html").write_text("old", encoding="utf-8")
    (final / "oud.png").write_text("x", encoding="utf-8")
    new = tmp_path / ".reports.new-abc"
    new.mkdir()
    (new / "index.html").write_text("new", encoding="utf-8")
    swap_folder(new, final)
    assert (final / "index.html").read_text(encoding="utf-8") == "new"
    assert not (final / "oud.png").exists() and not new.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_malformed_url_errors_carry_no_password_fragment():
    from socialquality.config import check_database

    for url in ("postgresql://sq:s3c@retpw@localhost:1/db", "postgresql://sq:hunter2secret@host:54x2/db",
                "postgress://sq:hunter2secret@host/db"):
        with pytest.raises(SocialQualityError) as raised:
            check_database(url)
        message = str(raised.value)
        assert "retpw" not in message and "hunter2" not in message and "s3c" not in message, message


# ----------------------------------------------------------------------------- fuzz
_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@_FUZZ
@given(st.binary(max_size=2000), st.sampled_from([".csv", ".xlsx", ".sav", ".dta", ".parquet", ".tsv"]))
def test_readers_never_crash_on_arbitrary_bytes(tmp_path_factory, data, suffix):
    from socialquality.errors import InputFileError
    from socialquality.readers import read_survey_file

    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(data)
    try:
        read_survey_file(path, string_columns=["resp_id", "wijkcode"])
    except InputFileError:
        pass


_CELL = st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
                  st.integers(-10, 200).map(str), st.sampled_from(["", "NA", ".", "1,5", "7.5", "sep=;", '"', "Totaal"]))


@_FUZZ
@given(st.lists(st.lists(_CELL, min_size=0, max_size=6), min_size=1, max_size=12), st.sampled_from([";", ",", "\t"]),
       st.booleans(), st.booleans())
def test_csv_reader_never_crashes_on_csv_like_text(tmp_path_factory, rows, sep, sep_line, newline_at_end):
    from socialquality.errors import InputFileError
    from socialquality.readers import read_survey_file

    text = ("sep=" + sep + "\n" if sep_line else "") + sep.join(["resp_id", "wijkcode", "a", "b"]) + "\n"
    text += "\n".join(sep.join(r) for r in rows) + ("\n" if newline_at_end else "")
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_text(text, encoding="utf-8")
    try:
        raw = read_survey_file(path, string_columns=["resp_id", "wijkcode"])
        assert raw.n_rows == len(raw.frame) == len(raw.row_numbers)
    except InputFileError:
        pass


@_FUZZ
@given(st.text(max_size=1500))
def test_codebook_loader_never_crashes_on_arbitrary_yaml(tmp_path_factory, text):
    from socialquality.codebook import load_codebook
    from socialquality.errors import SocialQualityError as Known

    path = tmp_path_factory.mktemp("fuzz") / "x.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_codebook(path)
    except Known:
        pass


@_FUZZ
@given(st.data())
def test_codebook_loader_never_crashes_on_mutated_demo_codebooks(tmp_path_factory, data):
    from socialquality.codebook import load_codebook
    from socialquality.errors import SocialQualityError as Known

    source = (ROOT / "surveys" / "codebooks" / "wijkmonitor.yaml").read_text(encoding="utf-8")
    lines = source.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "dup", "garble", "indent"]))
        if action == "drop":
            lines.pop(i)
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "garble":
            lines[i] = lines[i].replace(":", data.draw(st.sampled_from(["", "::", ": [", ": {"])), 1)
        else:
            lines[i] = "  " + lines[i]
        if not lines:
            lines = [""]
    path = tmp_path_factory.mktemp("fuzz") / "wijkmonitor.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        load_codebook(path)
    except Known:
        pass
