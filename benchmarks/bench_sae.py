"""Benchmark of the small-area stage: all indicators of one wave for 3,400 districts and 13,000 buurten.

A synthetic city: 13,000 buurten nested in 3,400 districts, 13 register covariates per area (the
names of socialquality.small_areas.COVARIATES), one wave of 100,000 respondents (about 29 per
district, 8 per buurt; 3 % of the buurten without respondents), 15 indicators (12 shares, 3
scores) whose true area values follow the covariates plus district and buurt effects. Timed:
``small_area_wave`` as the pipeline calls it -- direct estimates of every indicator per district
and per buurt from the design, variance smoothing, covariate selection (forward, ML AIC), REML
fit, EBLUP/MSE, synthetic figures for empty areas, the buurt model on the district figures, the
publication rule. Also printed: the coverage of the model intervals against the synthetic truth.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sae.py                # full size (target < 30 s)
    PYTHONPATH=. .venv/bin/python benchmarks/bench_sae.py --districts 340 --buurten 1300 --respondents 10000
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from socialquality.small_areas import COVARIATES, SmallAreaConfig, small_area_wave  # noqa: E402
from socialquality.survey import SurveyDesign  # noqa: E402

TARGET_S = 30.0


@dataclass(frozen=True)
class _Indicator:
    id: str
    unit: str


@dataclass(frozen=True)
class _Catalogue:
    indicators: tuple[_Indicator, ...]
    minimum_respondents: int = 30


def synthetic_city(districts: int, buurten: int, respondents: int, indicators: int, seed: int):
    rng = np.random.default_rng(seed)
    names = list(COVARIATES)
    district_codes = np.array([f"WK{k:06d}" for k in range(districts)])
    parent = np.sort(rng.integers(0, districts, buurten))
    parent[:districts] = np.arange(districts)  # every district has a buurt
    parent = np.sort(parent)
    buurt_codes = np.array([f"BU{k:08d}" for k in range(buurten)])
    x_d = rng.standard_normal((districts, len(names)))
    x_b = x_d[parent] + 0.6 * rng.standard_normal((buurten, len(names)))
    population_b = rng.integers(300, 4000, buurten).astype(float)
    population_d = np.bincount(parent, weights=population_b, minlength=districts)
    covariates = pd.concat([
        pd.DataFrame(x_d, columns=names).assign(area_code=district_codes, level="district"),
        pd.DataFrame(x_b, columns=names).assign(area_code=buurt_codes, level="buurt"),
    ]).melt(id_vars=["level", "area_code"], var_name="covariate", value_name="value")
    population = pd.concat([
        pd.DataFrame({"level": "district", "area_code": district_codes, "parent_code": "GM0000",
                      "population": population_d}),
        pd.DataFrame({"level": "buurt", "area_code": buurt_codes, "parent_code": district_codes[parent],
                      "population": population_b})], ignore_index=True)
    # respondents: buurten drawn in proportion to population, 3 % of buurten get nobody
    empty = rng.random(buurten) < 0.03
    p = population_b * ~empty
    buurt_of = rng.choice(buurten, size=respondents, p=p / p.sum())
    frame = pd.DataFrame({"district_code": district_codes[parent[buurt_of]], "buurt_code": buurt_codes[buurt_of],
                          "w": rng.uniform(0.5, 2.0, respondents)})
    truth_rows = []
    catalogue = []
    for k in range(indicators):
        share = k % 5 != 4
        beta = rng.normal(0, 0.25, len(names)) * (rng.random(len(names)) < 0.3)
        eta_d = x_d @ beta * 0.5 + rng.normal(0, 0.15, districts)
        eta_b = eta_d[parent] + (x_b - x_d[parent]) @ beta * 0.5 + rng.normal(0, 0.1, buurten)
        if share:
            centre = rng.uniform(-1.5, 1.0)
            theta_b = 1 / (1 + np.exp(-(centre + eta_b)))
            y = (rng.random(respondents) < theta_b[buurt_of]).astype(float)
        else:
            theta_b = 6.5 + eta_b
            y = theta_b[buurt_of] + rng.normal(0, 1.5, respondents)
        theta_d = np.bincount(parent, weights=theta_b * population_b, minlength=districts) / population_d
        indicator_id = f"ind{k:02d}"
        frame[f"ind__{indicator_id}"] = y
        catalogue.append(_Indicator(indicator_id, "percent" if share else "score"))
        truth_rows += [pd.DataFrame({"level": "district", "area_code": district_codes, "indicator_id": indicator_id,
                                     "true_value": theta_d}),
                       pd.DataFrame({"level": "buurt", "area_code": buurt_codes, "indicator_id": indicator_id,
                                     "true_value": theta_b})]
    return frame, covariates, population, _Catalogue(tuple(catalogue)), pd.concat(truth_rows, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--districts", type=int, default=3400)
    parser.add_argument("--buurten", type=int, default=13000)
    parser.add_argument("--respondents", type=int, default=100_000)
    parser.add_argument("--indicators", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    frame, covariates, population, catalogue, truth = synthetic_city(args.districts, args.buurten, args.respondents,
                                                                     args.indicators, args.seed)
    design = SurveyDesign(frame, weights="w", strata="district_code")
    started = time.perf_counter()
    result = small_area_wave(design, catalogue, "2030", "GM0000", covariates, population, SmallAreaConfig())
    elapsed = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    e = result.estimates.merge(truth, on=["level", "area_code", "indicator_id"])
    e["covered"] = (e["model_ci_low"] <= e["true_value"]) & (e["true_value"] <= e["model_ci_high"])
    counts = result.estimates.groupby("level")["area_code"].nunique().to_dict()
    print(f"small-area stage: {args.indicators} indicators, {counts.get('district', 0):,} districts and "
          f"{counts.get('buurt', 0):,} buurten with figures, {args.respondents:,} respondents, "
          f"{len(result.estimates):,} figures, {len(result.models)} models")
    print(f"time: {elapsed:.2f} s (target < {TARGET_S:.0f} s); peak memory {peak_gb:.2f} GB")
    print("coverage of model 95% intervals against the synthetic truth: "
          + ", ".join(f"{level} {c:.3f}" for level, c in e.groupby("level")["covered"].mean().items()))
    print(f"RESULT sae_seconds={elapsed:.3f} target={TARGET_S}")
    return 0 if elapsed < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
