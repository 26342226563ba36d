"""A research department adds a different questionnaire with files only (docs/codebook.md):
a codebook, an indicator catalogue and a configuration, no Python change."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import yaml

from socialquality import stages
from socialquality.monitor import Monitor
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table
from tests.support import write_config

CODEBOOK = """
survey: buurtpeiling
title: Buurtpeiling (andere vragenlijst)
version: 1
municipality: GM0363
minimum_age: 18
respondent_id: {column: ID}
district: {column: Wijk}
sex: {column: Sekse, codes: {1: m, 2: v}}
age: {column: Lft, min: 18, max: 100}
waves:
  - {id: "2024-voorjaar", fieldwork: {start: 2024-03-01, end: 2024-04-30}}
answer_scales:
  tevreden5: {codes: {1: zeer ontevreden, 2: ontevreden, 3: neutraal, 4: tevreden, 5: zeer tevreden}, missing: {9: weet niet}}
  ladder: {range: [0, 10], missing: {99: weet niet}}
items:
  - {id: tevreden_buurt, text: "Hoe tevreden bent u met uw buurt?", scale: tevreden5}
  - {id: leven_nu, text: "Ladder nu", scale: ladder}
  - {id: leven_later, text: "Ladder over vijf jaar", scale: ladder}
scales:
  - {id: cantril, method: cantril, items: {now: leven_nu, future: leven_later}}
"""

CATALOGUE = """
version: 1
survey: buurtpeiling
base_wave: "2024-voorjaar"
minimum_respondents: 20
indicators:
  - {id: tevreden, label: "Tevreden met de buurt", unit: percent, source: tevreden_buurt, statistic: share,
     values: [4, 5], direction: higher_is_better, condition: social_cohesion}
  - {id: bloeiend, label: "Bloeiend", unit: percent, source: cantril_thriving, statistic: share, values: [1],
     direction: higher_is_better, condition: socio_economic_security}
"""


def files_only_installation(tmp_path, n: int = 300, seed: int = 5) -> tuple:
    """A codebook, catalogue, empty register, one delivered CSV and a configuration in tmp_path."""
    (tmp_path / "surveys" / "codebooks").mkdir(parents=True)
    (tmp_path / "surveys" / "codebooks" / "buurtpeiling.yaml").write_text(textwrap.dedent(CODEBOOK))
    (tmp_path / "surveys" / "indicators.yaml").write_text(textwrap.dedent(CATALOGUE))
    (tmp_path / "surveys" / "interventions.yaml").write_text("version: 1\ninterventions: []\n")
    (tmp_path / "expectations").mkdir()
    landing = tmp_path / "landing" / "buurtpeiling" / "2024-voorjaar"
    landing.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    districts = ["WK036300", "WK036301", "WK036302"]
    pd.DataFrame({
        "ID": [f"B{i:05d}" for i in range(n)], "Wijk": rng.choice(districts, n), "Sekse": rng.choice([1, 2], n),
        "Lft": rng.integers(18, 90, n), "Tevreden_Buurt": rng.choice([1, 2, 3, 4, 5, 9], n),
        "leven_nu": rng.integers(0, 11, n), "leven_later": rng.integers(0, 11, n),
    }).to_csv(landing / "levering.csv", sep=";", index=False)
    config = write_config(tmp_path, landing=tmp_path / "landing", feedback=tmp_path / "feedback",
                          survey="buurtpeiling", feedback_survey=None)
    data = yaml.safe_load(config.read_text())
    data["paths"].update(codebooks=str(tmp_path / "surveys" / "codebooks"),
                         indicators=str(tmp_path / "surveys" / "indicators.yaml"),
                         interventions=str(tmp_path / "surveys" / "interventions.yaml"),
                         expectations=str(tmp_path / "expectations"))
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config, districts


def test_a_new_questionnaire_runs_with_files_only(tmp_path):
    n = 300
    config, districts = files_only_installation(tmp_path, n)
    monitor = Monitor.from_config(config)
    stages.load_population(monitor)
    stages.load_interventions(monitor)
    wave = "2024-voorjaar"
    assert stages.ingest_wave(monitor, wave, "t")["rows"] == n
    report = stages.validate_wave(monitor, wave, "t")
    assert report.metadata["suite_regenerated"]  # generated from the new codebook on first use
    assert (tmp_path / "expectations" / "generated" / "buurtpeiling.json").is_file()
    assert report.metadata["received"] == report.metadata["clean"] + report.metadata["quarantined"]
    stages.weight_wave_stage(monitor, wave, "t")
    stages.estimate_wave(monitor, wave, "t")
    indicators = read_table(monitor.engine, s.district_indicators, survey="buurtpeiling")
    assert set(indicators["indicator_id"]) == {"tevreden", "bloeiend"}
    assert set(indicators["district_code"]) == set(districts) | {"GM0363"}
    city = indicators[indicators["district_code"] == "GM0363"].set_index("indicator_id")
    assert 0.25 < city.loc["tevreden", "estimate"] < 0.6  # 2 of 5 valid codes, weighted
