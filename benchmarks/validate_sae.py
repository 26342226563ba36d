"""Validation of the small-area (Fay-Herriot) figures on the demo city, where the truth is known.

Generates the demo city (socialquality.demo) with a given sample size, runs the pipeline's own
steps on every wave (normalise, set aside what the quality stage would, score, rake, then
socialquality.small_areas.small_area_wave with the CBS covariates) and compares the figures with
the true population values (truth/district_truth.csv, truth/buurt_truth.csv):

* mean squared error against the truth of the model figure (EBLUP) and of the direct estimate,
  for districts with fewer than 50 respondents (and for all areas, by size band);
* coverage of the model figure's 95% interval (eblup +- 1.96 sqrt(mse)) and of the direct
  estimate's 95% interval;
* the same for buurten.

    PYTHONPATH=. .venv/bin/python benchmarks/validate_sae.py                 # 3,000 a wave, 7 waves
    PYTHONPATH=. .venv/bin/python benchmarks/validate_sae.py --respondents 9000 --waves 2019 2023

Numbers are printed as a Markdown table (docs/methods_sae.md quotes them). A smaller sample than
the demo's 9,000 a wave makes many districts small (< 50 respondents), which is the case the model
is for. Runs in about a minute for 7 waves at 3,000 respondents.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socialquality.catalogue import load_catalogue  # noqa: E402
from socialquality.codebook import load_codebook  # noqa: E402
from socialquality.demo.generator import CBS_PATH, CODEBOOK_PATH, INDICATORS_PATH, generate_demo_city  # noqa: E402
from socialquality.demo.replay import clean_scored_wave  # noqa: E402
from socialquality.population import district_population, population_margins, read_kwb  # noqa: E402
from socialquality.privacy import pseudonymisation_key  # noqa: E402
from socialquality.scales import scale_columns  # noqa: E402
from socialquality.small_areas import SmallAreaConfig, small_area_reference, small_area_wave  # noqa: E402
from socialquality.weighting import weight_wave  # noqa: E402

MUNICIPALITY = "GM0363"
ALL_WAVES = ["2017", "2018", "2019", "2020", "2021", "2022", "2023"]


def run(respondents: int, waves: list[str], seed: int, config: SmallAreaConfig, out: Path) -> pd.DataFrame:
    manifest = generate_demo_city(out, seed=seed, respondents_per_wave=respondents, waves=waves)
    codebook = load_codebook(CODEBOOK_PATH)
    derived = {c for spec in codebook.scales for c in scale_columns(spec)}
    # no suppression here: the validation compares every direct estimate with the truth
    catalogue = dataclasses.replace(load_catalogue(INDICATORS_PATH, codebook, derived), minimum_respondents=1)
    kwb = read_kwb(CBS_PATH)
    districts = district_population(kwb, MUNICIPALITY)
    margins = population_margins(districts, 2019)
    buurten, covariates = small_area_reference(kwb, MUNICIPALITY, 2019, config)
    population = pd.concat([
        districts.rename(columns={"district_code": "area_code"}).assign(parent_code=MUNICIPALITY, level="district"),
        buurten.rename(columns={"buurt_code": "area_code", "district_code": "parent_code"}).assign(level="buurt")],
        ignore_index=True)[["level", "area_code", "parent_code", "population"]]
    key = pseudonymisation_key({}, demo=True)
    pieces = []
    for entry in manifest.survey_files:
        wave = entry["wave"]
        scored = clean_scored_wave(entry["path"], codebook, catalogue, wave, set(districts["district_code"]), key)
        design = weight_wave(scored, margins, min_cell=5).design  # as config/demo.yaml
        result = small_area_wave(design, catalogue, wave, MUNICIPALITY, covariates, population, config)
        pieces.append(result.estimates)
    estimates = pd.concat(pieces, ignore_index=True)
    truth_d = pd.read_csv(manifest.truth_dir / "district_truth.csv", dtype={"wave": str})
    truth_b = pd.read_csv(manifest.truth_dir / "buurt_truth.csv", dtype={"wave": str})
    truth = pd.concat([truth_d.rename(columns={"district_code": "area_code"}).assign(level="district"),
                       truth_b.drop(columns="district_code").rename(columns={"buurt_code": "area_code"})
                       .assign(level="buurt")], ignore_index=True)[["level", "area_code", "wave", "indicator_id",
                                                                    "true_value"]]
    table = estimates.merge(truth, on=["level", "area_code", "wave", "indicator_id"], how="inner")
    return table


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """MSE and coverage per level and size band (direct figures without suppression)."""
    t = table.copy()
    t["direct_raw"] = t["direct"]  # unsuppressed (minimum_respondents=1 in run())
    t["err_model"] = t["eblup"] - t["true_value"]
    t["err_direct"] = t["direct_raw"] - t["true_value"]
    t["cover_model"] = (t["model_ci_low"] <= t["true_value"]) & (t["true_value"] <= t["model_ci_high"])
    half = 1.959964 * t["direct_se"]  # the design-based (Wald) interval of the direct estimate
    t["cover_direct"] = (t["direct_raw"] - half <= t["true_value"]) & (t["true_value"] <= t["direct_raw"] + half)
    t["band"] = pd.cut(t["n"], [-1, 0, 9, 29, 49, 99, 10**9],
                       labels=["0 (synthetic)", "1-9", "10-29", "30-49", "50-99", "100+"])
    rows = []
    for (level, band), g in t.groupby(["level", "band"], observed=True):
        sampled = g[g["n"] > 0]
        rows.append({
            "level": level, "respondents": band, "figures": len(g),
            "mse_model": float((g["err_model"] ** 2).mean()),
            "mse_direct": float((sampled["err_direct"] ** 2).mean()) if len(sampled) else np.nan,
            "coverage_model": float(g["cover_model"].mean()),
            "coverage_direct": float(sampled["cover_direct"].mean()) if len(sampled) else np.nan,
        })
    for level, g in t.groupby("level"):
        small = g[(g["n"] > 0) & (g["n"] < 50)]
        rows.append({"level": level, "respondents": "1-49 (all)", "figures": len(small),
                     "mse_model": float((small["err_model"] ** 2).mean()),
                     "mse_direct": float((small["err_direct"] ** 2).mean()),
                     "coverage_model": float(small["cover_model"].mean()),
                     "coverage_direct": float(small["cover_direct"].mean())})
        rows.append({"level": level, "respondents": "all", "figures": len(g),
                     "mse_model": float((g["err_model"] ** 2).mean()), "mse_direct": np.nan,
                     "coverage_model": float(g["cover_model"].mean()), "coverage_direct": np.nan})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", type=int, default=3000, help="respondents per wave (default 3000)")
    parser.add_argument("--waves", nargs="+", default=ALL_WAVES)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--benchmark", default="none", choices=["none", "ratio", "difference"])
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = SmallAreaConfig(benchmark=args.benchmark)
    with tempfile.TemporaryDirectory(prefix="sae_validation_") as tmp:
        table = run(args.respondents, args.waves, args.seed, config, Path(tmp))
    summary = summarise(table)
    print(f"Fay-Herriot validation on the demo city: {args.respondents} respondents a wave, waves "
          f"{' '.join(args.waves)}, seed {args.seed}, benchmark {args.benchmark}; "
          f"{len(table)} area x wave x indicator figures with a truth; {time.perf_counter() - started:.0f} s")
    print("MSE in squared proportion units (cohesie: squared score points) x 10^4; coverage of 95% intervals.")
    shown = summary.copy()
    shown["mse_model"] = (shown["mse_model"] * 1e4).round(2)
    shown["mse_direct"] = (shown["mse_direct"] * 1e4).round(2)
    shown["coverage_model"] = shown["coverage_model"].round(3)
    shown["coverage_direct"] = shown["coverage_direct"].round(3)
    print(shown.to_markdown(index=False) if hasattr(shown, "to_markdown") else shown.to_string(index=False))
    by_indicator = table.assign(covered=(table["model_ci_low"] <= table["true_value"])
                                & (table["true_value"] <= table["model_ci_high"]))
    cover = by_indicator.groupby(["level", "indicator_id"])["covered"].mean().unstack(0).round(3)
    print("\nCoverage of the model intervals by indicator:")
    print(cover.to_string())
    small = summary[summary["respondents"] == "1-49 (all)"].set_index("level")
    ok = bool((small["mse_model"] < small["mse_direct"]).all())
    overall = summary[summary["respondents"] == "all"].set_index("level")["coverage_model"]
    print(f"\nmodel MSE below direct MSE for areas with < 50 respondents: {ok}; "
          f"coverage of model intervals: " + ", ".join(f"{k} {v:.3f}" for k, v in overall.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
