"""The landing sensor: a new wave folder becomes a partition, a new or corrected file starts a run
of its wave, and the same file dropped twice does nothing (pipelines/sensors.py)."""

from __future__ import annotations

import json
import shutil

import pytest
from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
)

from pipelines.partitions import wave_partitions
from pipelines.resources import MonitorResource
from pipelines.sensors import landing_sensor
from socialquality.codebook import load_codebook
from socialquality.demo.generator import CODEBOOK_PATH, simulate_wave, write_wave_file
from socialquality.landing import sha256_of
from tests.support import write_config

SURVEY = "wijkmonitor"


@pytest.fixture
def setup(tmp_path):
    codebook = load_codebook(CODEBOOK_PATH)
    landing = tmp_path / "landing"
    frames = {wave: simulate_wave(wave, seed=3, respondents_per_wave=120, codebook=codebook)
              for wave in ("2019", "2020", "2021")}
    paths = {wave: write_wave_file(frames[wave], landing / SURVEY / wave / f"wijkmonitor_{wave}_levering.csv",
                                   "csv-nl", codebook)
             for wave in ("2019", "2020")}
    (tmp_path / "feedback").mkdir()
    config = write_config(tmp_path, landing=landing, feedback=tmp_path / "feedback")
    with DagsterInstance.ephemeral() as instance:
        yield {"instance": instance, "config": str(config), "paths": paths, "frames": frames, "codebook": codebook,
               "landing": landing / SURVEY}


def evaluate(setup, cursor):
    # a context manager: the monitor resource has a set-up and tear-down (the run lock, taken by runs only)
    with build_sensor_context(instance=setup["instance"], cursor=cursor,
                              resources={"monitor": MonitorResource(config_path=setup["config"])}) as context:
        return landing_sensor(context)


def test_landing_sensor(setup):
    instance, paths = setup["instance"], setup["paths"]

    # 1. first look: two wave folders -> both become partitions, one run each
    first = evaluate(setup, None)
    assert isinstance(first, SensorResult)
    assert first.dynamic_partitions_requests == [
        AddDynamicPartitionsRequest(partitions_def_name=wave_partitions.name, partition_keys=["2019", "2020"])]
    assert sorted(r.partition_key for r in first.run_requests) == ["2019", "2020"]
    run_keys = {r.partition_key: r.run_key for r in first.run_requests}
    assert run_keys["2019"] == f"2019:{sha256_of(paths['2019'])}"
    cursor = first.cursor
    assert json.loads(cursor) == {wave: [sha256_of(path)] for wave, path in paths.items()}
    # what the daemon does with the request
    instance.add_dynamic_partitions(wave_partitions.name, ["2019", "2020"])

    # 2. nothing changed
    again = evaluate(setup, cursor)
    assert isinstance(again, SkipReason) and "no new or changed" in again.skip_message

    # 3. the same file dropped twice (a copy under another name): nothing to do
    shutil.copyfile(paths["2019"], paths["2019"].with_name("wijkmonitor_2019_levering (kopie).csv"))
    copy = evaluate(setup, cursor)
    assert isinstance(copy, SkipReason), copy

    # 4. a corrected file for 2020: one run, for that wave only, no new partition
    corrected = setup["frames"]["2020"].drop(index=[0])
    corrected_path = write_wave_file(corrected, setup["landing"] / "2020" / "wijkmonitor_2020_levering_v2.csv",
                                     "csv-nl", setup["codebook"])
    changed = evaluate(setup, cursor)
    assert isinstance(changed, SensorResult)
    assert [r.partition_key for r in changed.run_requests] == ["2020"]
    assert changed.run_requests[0].run_key not in run_keys.values()
    assert sha256_of(corrected_path) in changed.run_requests[0].run_key
    assert changed.dynamic_partitions_requests == []
    cursor = changed.cursor
    assert sorted(json.loads(cursor)["2020"]) == sorted([sha256_of(paths["2020"]), sha256_of(corrected_path)])
    assert isinstance(evaluate(setup, cursor), SkipReason)

    # 5. a new wave folder: a new partition and its run; folders that are no wave are ignored
    write_wave_file(setup["frames"]["2021"], setup["landing"] / "2021" / "levering.csv", "csv-nl", setup["codebook"])
    (setup["landing"] / "oud").mkdir()
    (setup["landing"] / "oud" / "x.csv").write_text("a;b\n1;2\n", encoding="utf-8")
    new_wave = evaluate(setup, cursor)
    assert [r.partition_key for r in new_wave.run_requests] == ["2021"]
    assert new_wave.dynamic_partitions_requests == [
        AddDynamicPartitionsRequest(partitions_def_name=wave_partitions.name, partition_keys=["2021"])]
