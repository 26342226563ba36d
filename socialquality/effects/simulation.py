"""A generator of district panels with known intervention effects, for the simulation study.

Used by ``benchmarks/sim_effects.py`` (the full grid in docs/methods_effects.md) and by the quick
version in ``tests/test_effects_simulation.py``. It was written independently of the demo city:

* an individual outcome with standard deviation 1 (effects are in individual SD);
* district levels ``a_i ~ N(0, level_sd^2)``, city-wide wave shocks ``b_t ~ N(0, year_sd^2)``,
  a stationary AR(1) district drift ``u_it = rho u_i,t-1 + N(0, drift_sd^2)`` and district-by-wave
  noise ``N(0, noise_sd^2)`` (the part of district change that is not sampling);
* unequal district sample sizes: a district's size drawn once from U(n_min, n_max), each wave
  within +-15% of it; the sampling error of a district-wave estimate is N(0, deff / n) and the
  published standard error is *estimated* (sample variance on n - 1 df times the design effect);
* optionally a target group (``target_share``): the indicator is measured on the respondents in
  the target group only (binomial count); district-waves with fewer than ``min_n`` of them are
  suppressed (missing), as publication rules do;
* treated districts drawn at random; ``design="common"``: all start at wave ``n_waves // 2``;
  ``"staggered"``: the treated are split over three starting waves as evenly as possible
  (1, 2 or 3 treated districts give cohorts of one district).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulatedCity", "simulate_city"]


@dataclass
class SimulatedCity:
    panel: pd.DataFrame  # unit, time, estimate, se, n
    starts: dict  # treated unit -> first post time
    comparison: list
    true_att: float  # average over the sites of their mean effect over the observed post waves


def simulate_city(
    rng: np.random.Generator,
    n_treated: int,
    design: str = "common",
    effect: float = 0.0,
    *,
    n_districts: int = 40,
    n_waves: int = 8,
    level_sd: float = 0.3,
    year_sd: float = 0.1,
    drift_sd: float = 0.05,
    rho: float = 0.5,
    noise_sd: float = 0.03,
    n_min: int = 60,
    n_max: int = 250,
    deff: float = 1.2,
    target_share: float | None = None,
    min_n: int = 30,
    first_year: int = 2015,
) -> SimulatedCity:
    if design not in ("common", "staggered"):
        raise ValueError("design must be 'common' or 'staggered'")
    if not 1 <= n_treated < n_districts:
        raise ValueError("need 1 <= n_treated < n_districts")
    D, T = n_districts, n_waves
    years = np.arange(first_year, first_year + T, dtype=float)
    level = rng.normal(0, level_sd, D)
    shock = rng.normal(0, year_sd, T)
    drift = np.empty((D, T))
    drift[:, 0] = rng.normal(0, drift_sd / np.sqrt(1 - rho**2), D)
    for t in range(1, T):
        drift[:, t] = rho * drift[:, t - 1] + rng.normal(0, drift_sd, D)
    truth = level[:, None] + shock[None, :] + drift + rng.normal(0, noise_sd, (D, T))
    base_n = rng.uniform(n_min, n_max, D)
    n = np.maximum(2, np.round(base_n[:, None] * rng.uniform(0.85, 1.15, (D, T)))).astype(int)
    if target_share is not None:
        n = rng.binomial(n, target_share)
    treated = rng.choice(D, size=n_treated, replace=False)
    if design == "common":
        cohort_waves = [T // 2]
    else:
        cohort_waves = [T // 2 - 1, T // 2, T // 2 + 1]
    start_idx = {int(u): cohort_waves[k % len(cohort_waves)] for k, u in enumerate(treated)}
    post = np.zeros((D, T), dtype=bool)
    for u, g in start_idx.items():
        post[u, g:] = True
    truth = truth + effect * post
    nn = np.maximum(n, 2)
    estimate = truth + rng.normal(0, 1, (D, T)) * np.sqrt(deff / nn)
    s2 = rng.chisquare(nn - 1) / (nn - 1)  # sample variance of the unit-variance outcome
    se = np.sqrt(deff * s2 / nn)
    keep = n >= min_n
    names = np.array([f"W{i:02d}" for i in range(D)])
    uu, tt = np.meshgrid(np.arange(D), np.arange(T), indexing="ij")
    panel = pd.DataFrame({"unit": names[uu[keep]], "time": years[tt[keep]], "estimate": estimate[keep],
                          "se": se[keep], "n": n[keep]})
    starts = {names[u]: float(years[g]) for u, g in start_idx.items()}
    # the estimand: mean over the sites with data before and after of the effect in their observed post waves
    site_effects = []
    for u, g in start_idx.items():
        if keep[u, :g].any() and keep[u, g:].any():
            site_effects.append(effect)
    true_att = float(np.mean(site_effects)) if site_effects else float("nan")
    comparison = [names[i] for i in range(D) if i not in start_idx]
    return SimulatedCity(panel, starts, comparison, true_att)
