"""Check a sampling plan's promises by simulation with the demo generator (demo city only).

Each replicate draws the planned wave (`socialquality.demo.fieldwork.PlannedWaveSimulator`:
invitations -> respondents with the generator's response propensities -> answers) and runs the
pipeline's own weighting (raking) and estimation (survey SEs). Then:

* margins: per district and margin indicator, the promised SE against the SE the pipeline
  reports (mean over replicates) and against the spread of the estimates over replicates;
* power: per intervention x indicator, the new wave's sampling errors are taken from the
  replicates (estimate minus the replicate mean, times sqrt(R/(R-1))); the parts of the contrast
  that the new wave does not change (the pre-start waves' sampling error and the districts'
  non-sampling variation, as the planner estimated them) are drawn from their normal model; the
  effect delta is added to the treated districts and the contrast is tested with the SEs the
  pipeline reported for that replicate. Rejection rate = simulated power.

The Monte Carlo error of a simulated power is the spread of the per-replicate rejection rates
over replicates / sqrt(R). What is checked is the sampling part of the promise (allocation,
response rates, design effects, variances); the non-sampling variance is the planner's model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from socialquality.planner import Plan, PlanInputs


def simulate_plan(plan: Plan, inputs: PlanInputs, catalogue: Any, margins: pd.DataFrame, replicates: int,
                  *, seed: int = 2026, draws: int = 400) -> dict[str, Any]:
    from socialquality.demo.fieldwork import PlannedWaveSimulator, planned_wave_estimates

    year = int(inputs.new_time)
    simulator = PlannedWaveSimulator(year, seed)
    invitations = plan.allocation[["district_code", "age_group", "invitations"]]
    estimates = []
    for r in range(replicates):
        est = planned_wave_estimates(simulator, invitations, r, catalogue, margins)
        estimates.append(est.assign(replicate=r))
    sims = pd.concat(estimates, ignore_index=True)
    sims = sims[sims["district_code"] != "CITY"]

    # margins
    promised = plan.margins.set_index(["district_code", "indicator_id"])["se"]
    grouped = sims.groupby(["district_code", "indicator_id"])
    summary = pd.DataFrame({"reported_se": grouped["se"].mean(), "empirical_sd": grouped["estimate"].std(ddof=1)})
    summary = summary.join(promised.rename("promised_se"), how="inner").dropna()
    summary["reported_ratio"] = summary["reported_se"] / summary["promised_se"]
    summary["empirical_ratio"] = summary["empirical_sd"] / summary["promised_se"]
    z = stats.norm.ppf(1 - plan.settings.alpha / 2)
    district_margin = (summary["reported_se"] * 100 * z).groupby(level="district_code").max()
    promised_margin = plan.districts.set_index("district_code")["margin_pp"]
    target = plan.settings.margin_pp
    met = plan.districts[plan.districts["meets_margin"]]["district_code"]
    margin_result = {
        "replicates": replicates,
        "pairs": int(len(summary)),
        "median_reported_over_promised": float(summary["reported_ratio"].median()),
        # the spread over replicates: sqrt(mean(empirical variance / promised variance)) (the median of
        # SD ratios is biased low for few replicates); its relative MC error ~ 1/sqrt(2 pairs)
        "empirical_over_promised": float(math.sqrt((summary["empirical_ratio"] ** 2).mean())),
        "median_empirical_over_promised": float(summary["empirical_ratio"].median()),
        "mc_error_empirical_ratio": float(1 / math.sqrt(2 * (replicates - 1) * max(len(summary), 1))),
        "p90_reported_over_promised": float(summary["reported_ratio"].quantile(0.9)),
        "districts_promised_within_target": int(len(met)),
        "of_those_simulated_within_target": int((district_margin.reindex(met) <= target * 1.0).sum())
        if target else None,
        "of_those_simulated_within_target_plus_5pct": int((district_margin.reindex(met) <= target * 1.05).sum())
        if target else None,
        "median_promised_margin_pp": float(promised_margin.median()),
        "median_simulated_margin_pp": float(district_margin.median()),
    }

    # power
    rng = np.random.default_rng([seed, 80])
    power_rows = []
    for effect in plan.effects.to_dict("records"):
        design = next(d for d in inputs.effects if d.intervention_id == effect["intervention_id"]
                      and d.indicator_id == effect["indicator_id"])
        if not np.isfinite(effect.get("power", np.nan)):
            continue
        scale = 100.0 if design.percent else 1.0
        part = sims[sims["indicator_id"] == design.indicator_id]
        wide = part.pivot_table(index="replicate", columns="district_code", values="estimate") * scale
        ses = part.pivot_table(index="replicate", columns="district_code", values="se") * scale
        sites = [d for d in design.sites if d in wide.columns]
        comparison = [d for d in design.comparison if d in wide.columns]
        if not sites or len(comparison) < 2:
            continue
        errors = (wide - wide.mean()) * math.sqrt(replicates / (replicates - 1))
        sampling = errors[sites].mean(axis=1) - errors[comparison].mean(axis=1)
        T, C = len(sites), len(comparison)
        reported_new = (ses[sites] ** 2).sum(axis=1) / T ** 2 + (ses[comparison] ** 2).sum(axis=1) / C ** 2
        fixed = effect["var_fixed"]
        z_crit = stats.norm.ppf(1 - plan.settings.alpha / 2)
        per_rep = []
        for r in range(replicates):
            other = rng.normal(0.0, math.sqrt(fixed), draws)
            contrast = effect["delta"] + sampling.iloc[r] + other
            zstat = contrast / math.sqrt(reported_new.iloc[r] + fixed)
            per_rep.append(float(np.mean(np.abs(zstat) > z_crit)))
        per_rep = np.array(per_rep)
        power_rows.append({
            "intervention_id": effect["intervention_id"], "indicator_id": effect["indicator_id"],
            "promised_power": effect["power"], "simulated_power": float(per_rep.mean()),
            "mc_error": float(per_rep.std(ddof=1) / math.sqrt(replicates)) if replicates > 1 else math.nan,
            "promised_sd_new": math.sqrt(effect["var_new_treated"] + effect["var_new_comparison"]),
            "simulated_sd_new": float(sampling.std(ddof=1)),
            "reported_sd_new": float(np.sqrt(reported_new.mean())),
        })
    return {"margins": margin_result, "margin_pairs": summary.reset_index(), "power": pd.DataFrame(power_rows)}
