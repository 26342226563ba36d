"""The estimation stage reads the weighting stage's scored, weighted rows back (issue 12): in its own
process (Dagster's multiprocess executor) it does not read the wave from the warehouse, score and rake
it again, and its figures are those of a stage that does."""

from __future__ import annotations

import numpy as np
import pandas as pd

from socialquality import stages
from socialquality.monitor import Monitor
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table
from tests.test_new_questionnaire import files_only_installation

WAVE = "2024-voorjaar"


def _indicators(monitor: Monitor) -> pd.DataFrame:
    table = read_table(monitor.engine, s.district_indicators, survey="buurtpeiling", wave=WAVE)
    return table.sort_values(["indicator_id", "district_code"]).reset_index(drop=True)


def test_estimation_in_a_new_process_reads_the_weighted_rows_back(tmp_path, monkeypatch):
    config, _ = files_only_installation(tmp_path, n=400, seed=11)
    monitor = Monitor.from_config(config)
    stages.load_population(monitor)
    stages.ingest_wave(monitor, WAVE, "t")
    stages.validate_wave(monitor, WAVE, "t")
    weighting = stages.weight_wave_stage(monitor, WAVE, "t")
    # the metadata names the districts whose bounds were widened, as their diagnostics do
    diagnostics = read_table(monitor.engine, s.weighting_diagnostics, survey="buurtpeiling", wave=WAVE)
    noted = sorted(diagnostics.loc[diagnostics["collapsed"].fillna("").str.contains("afkapgrenzen verruimd"),
                                   "district_code"])
    assert weighting.metadata["districts_with_widened_bounds"] == len(noted)
    listed = weighting.metadata["widened_bounds"]
    assert sorted(part.split(":")[0] for part in listed.split("; ")) == noted if noted else listed == "-"
    files = list((monitor.microdata_dir() / "buurtpeiling" / WAVE).glob("weighted-*.parquet"))
    assert len(files) == 1

    stages._WEIGHTED_CACHE.clear()  # as in a new process
    read_back = []
    original = stages._scored_wave
    monkeypatch.setattr(stages, "_scored_wave", lambda m, w: read_back.append(w) or original(m, w))
    report = stages.estimate_wave(monitor, WAVE, "t")
    assert report["weights"] == "read back from the weighting stage"
    assert read_back == []  # the wave was not read from the warehouse again
    reused = _indicators(monitor)

    # without the file the stage reads, scores and rakes the wave itself: the same figures
    files[0].unlink()
    stages._WEIGHTED_CACHE.clear()
    report = stages.estimate_wave(monitor, WAVE, "t")
    assert report["weights"] == "raked in this stage" and read_back == [WAVE]
    again = _indicators(monitor)
    for column in ("estimate", "se", "ci_low", "ci_high", "n", "n_eff"):
        assert np.allclose(reused[column].to_numpy(dtype=float), again[column].to_numpy(dtype=float),
                           rtol=1e-9, equal_nan=True), column


def test_a_changed_population_table_is_not_served_from_the_file(tmp_path):
    config, _ = files_only_installation(tmp_path, n=300, seed=12)
    monitor = Monitor.from_config(config)
    stages.load_population(monitor)
    stages.ingest_wave(monitor, WAVE, "t")
    stages.validate_wave(monitor, WAVE, "t")
    stages.weight_wave_stage(monitor, WAVE, "t")
    with monitor.engine.begin() as connection:
        connection.execute(s.population_margins.update().values(count=s.population_margins.c["count"] * 2))
    stages._WEIGHTED_CACHE.clear()
    assert stages.estimate_wave(monitor, WAVE, "t")["weights"] == "raked in this stage"
