"""Two municipalities in one Dagster installation, through the production path (issue 12).

The instance is the one in deploy/dagster.yaml: storage in PostgreSQL (dagster-postgres) and the
QueuedRunCoordinator with one run per municipality at a time. A real `dagster-daemon` process
evaluates both municipalities' landing sensors (one code location each, pipelines/region.py),
queues the two wave runs, dequeues and launches them; they run at the same time, each into its
own PostgreSQL warehouse, and each ends with published figures of its own municipality only.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from socialquality.codebook import load_codebook
from socialquality.demo.generator import CODEBOOK_PATH, simulate_wave, write_wave_file
from socialquality.warehouse import make_engine
from socialquality.warehouse import schema as s
from pipelines.cli import _error_of
from tests.conftest import _fresh_database
from tests.support import ROOT, write_config

WAVE = "2019"
CODES = ("GM_A", "GM_B")
TIMEOUT = 600


DELIVERED: dict[str, int] = {}


def _municipality(tmp: Path, code: str, url: str, seed: int) -> Path:
    folder = tmp / code
    landing = folder / "landing"
    codebook = load_codebook(CODEBOOK_PATH)
    frame = simulate_wave(WAVE, seed=seed, respondents_per_wave=400, codebook=codebook)
    write_wave_file(frame, landing / codebook.survey / WAVE / f"levering_{code}.csv", "csv-nl", codebook)
    DELIVERED[code] = len(frame)
    (folder / "feedback").mkdir(parents=True)
    return write_config(folder, landing=landing, feedback=folder / "feedback", database_url=url)


def test_two_municipalities_run_concurrently_through_the_queue(postgres_server, tmp_path: Path) -> None:
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    with _fresh_database(postgres_server) as instance_url, _fresh_database(postgres_server) as url_a, \
            _fresh_database(postgres_server) as url_b:
        configs = {CODES[0]: _municipality(tmp_path, CODES[0], url_a, 5),
                   CODES[1]: _municipality(tmp_path, CODES[1], url_b, 6)}
        region = tmp_path / "region.yaml"
        region.write_text(yaml.safe_dump({"municipalities": {c: str(p) for c, p in configs.items()}}))
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": instance_url,
               "SOCIALQUALITY_REGION": str(region)}
        from pipelines.region import workspace

        ws = tmp_path / "workspace.yaml"
        ws.write_text(workspace(str(region), working_directory=str(ROOT)))
        dagster = str(Path(sys.executable).parent / "dagster")
        for code in CODES:  # population figures first: queued before the daemon starts (FIFO)
            subprocess.run([dagster, "job", "launch", "-j", "reference_job", "-w", str(ws), "-l", code],
                           env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
        for code in CODES:  # the operator starts each municipality's landing sensor
            subprocess.run([dagster, "sensor", "start", "landing_sensor", "-w", str(ws), "-l", code],
                           env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ws)],
                                  env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        old_home = os.environ.get("DAGSTER_HOME")
        old_url = os.environ.get("DAGSTER_PG_URL")
        os.environ.update(DAGSTER_HOME=str(home), DAGSTER_PG_URL=instance_url)
        try:
            instance = DagsterInstance.get()
            deadline = time.monotonic() + TIMEOUT
            runs = []
            while time.monotonic() < deadline:
                runs = instance.get_runs(RunsFilter(job_name="wave_job"))
                if len(runs) == 2 and all(r.is_finished for r in runs):
                    break
                if daemon.poll() is not None:
                    break
                time.sleep(3)
            assert len(runs) == 2 and all(r.is_finished for r in runs), \
                (tmp_path / "daemon.log").read_text()[-4000:]
            assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}, [
                _error_of(e.dagster_event) for r in runs
                for e in instance.all_logs(r.run_id, of_type=DagsterEventType.STEP_FAILURE)]
            # one run per municipality, started by its sensor, through the queue
            assert sorted(r.tags["socialquality/municipality"] for r in runs) == sorted(CODES)
            assert all(r.tags.get("dagster/sensor_name") == "landing_sensor" for r in runs)
            for r in runs:
                assert instance.all_logs(r.run_id, of_type=DagsterEventType.RUN_ENQUEUED)
                assert instance.all_logs(r.run_id, of_type=DagsterEventType.RUN_STARTING)
            records = instance.get_run_records(RunsFilter(job_name="wave_job"))
            starts = [rec.start_time for rec in records]
            ends = [rec.end_time for rec in records]
            assert max(starts) < min(ends), "the two municipalities' runs did not overlap"
            # within a municipality the queue ran one run at a time: reference data, then the wave
            for code in CODES:
                tag = {"socialquality/municipality": code}
                ref = instance.get_run_records(RunsFilter(job_name="reference_job", tags=tag))
                wave = instance.get_run_records(RunsFilter(job_name="wave_job", tags=tag))
                assert ref[0].dagster_run.status == DagsterRunStatus.SUCCESS
                assert ref[0].end_time <= wave[0].start_time
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
            log.close()
            for key, value in (("DAGSTER_HOME", old_home), ("DAGSTER_PG_URL", old_url)):
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        # each warehouse holds its own municipality's wave only, published
        for url, seed_rows in ((url_a, DELIVERED[CODES[0]]), (url_b, DELIVERED[CODES[1]])):
            engine = make_engine(url)
            try:
                with engine.connect() as connection:
                    people = connection.execute(select(func.count()).select_from(s.respondents)).scalar_one()
                    status = connection.execute(select(s.wave_status.c.status)).scalars().all()
                    figures = connection.execute(select(func.count()).select_from(s.district_indicators)).scalar_one()
                assert people == seed_rows and status == ["usable"] and figures > 0
            finally:
                engine.dispose()


def test_resource_setup_uses_the_current_run_api_without_deprecation_warnings() -> None:
    """pipelines/resources.py reads `context.run`; the deprecated `dagster_run` warns on every run."""
    import warnings

    from dagster import build_init_resource_context

    from pipelines.resources import MonitorResource, default_config_path

    resource = MonitorResource(config_path=default_config_path())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resource.setup_for_execution(build_init_resource_context())  # no run: a sensor evaluation
    assert resource._lock is None
