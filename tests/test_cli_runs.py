"""`socialquality run` as an operator sees it (issue 9, findings 7 and 8): one bad participant-
feedback file does not stop reporting and is on the audit page; a second run at the same time
stops with one line; a report that was not rebuilt is not announced as current."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socialquality.demo.generator import generate_demo_city
from tests.support import write_config

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _cli(config: Path, *args: str, wait: bool = True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALQUALITY_")}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "pipelines.cli", "run", "--config", str(config), *args]
    if not wait:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_city")
    manifest = generate_demo_city(folder / "data", seed=5, respondents_per_wave=600, waves=["2022", "2023"],
                                  truth=False)
    return manifest


def test_a_bad_feedback_file_and_a_concurrent_run(city, tmp_path):
    feedback = city.out_dir / "feedback"
    year = sorted(p for p in next(feedback.iterdir()).iterdir() if p.is_dir())[-1]
    bad = year / "zz_kapot.csv"  # newest file of that year: unreadable
    bad.write_text("geen;terugkoppeling\n1;2\n", encoding="utf-8")
    os.utime(bad, (time.time() + 60, time.time() + 60))
    config = write_config(tmp_path, landing=city.out_dir / "landing", feedback=feedback)

    first = _cli(config, wait=False)
    try:
        line = first.stdout.readline()  # the first run is under way (it holds the lock)
        assert line, first.stderr.read()
        second = _cli(config)
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stderr.strip().splitlines() == [second.stderr.strip()]
        assert "another run is writing to this installation's warehouse" in second.stderr
        out, err = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
    out = line + out
    assert first.returncode == 0, out + err
    assert "trends, effects and reports: ok" in out
    assert "trend report: " in out and "NOT rebuilt" not in out
    page = (tmp_path / "audit" / "index.html").read_text(encoding="utf-8")
    assert "zz_kapot.csv" in page and "geweigerd" in page  # status in Dutch on the audit page
    assert str(year) not in page  # no absolute server path


def test_the_cli_does_not_announce_a_report_that_was_not_rebuilt(city, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("", encoding="utf-8")
    config = write_config(tmp_path, landing=city.out_dir / "landing", feedback=city.out_dir / "feedback")
    text = config.read_text(encoding="utf-8").replace(str(tmp_path / "reports"), str(blocker / "reports"))
    config.write_text(text, encoding="utf-8")
    result = _cli(config)
    assert result.returncode == 1
    assert "trend report NOT rebuilt in this run" in result.stdout
    assert "\ntrend report: " not in result.stdout and "] trend report: " not in result.stdout
    assert "audit page: " in result.stdout
