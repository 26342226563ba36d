"""When does weighting really hurt? The threshold of the ``weighting_stable`` check.

The weighting diagnostics note every adjustment the raking made (age groups collapsed, trimming
bounds widened). In the demo city such a note is present in 96 of 99 districts in every wave, so a
check that warns on any note carries no signal. The check warns for a district only when the
weighting hurts precision or threatens bias in a way a reader of the figures would care about:

* the raking did not converge (the weights do not reproduce the population: bias), or
* the design effect of the weights exceeds :data:`MAX_DEFF` = 2.0 -- the weights halve the
  effective sample size, so the margins are at least 41% wider than those of an unweighted sample
  of the same size (Kish's rule of thumb for a weighting that needs a closer look), or
* the effective sample size falls below the publication minimum while the number of respondents is
  above it -- the weighting alone makes the district's figures much less certain than the
  suppression rule assumes.

The audit page shows the distribution of the design effects per wave next to this check.
"""

from __future__ import annotations

import pandas as pd

MAX_DEFF = 2.0


def unstable_districts(diagnostics: pd.DataFrame, minimum_respondents: int = 30) -> pd.DataFrame:
    """The districts whose weighting deserves a warning, with a ``reason`` column (Dutch)."""
    if diagnostics is None or diagnostics.empty:
        return pd.DataFrame(columns=["district_code", "reason"])
    d = diagnostics.copy()
    deff = pd.to_numeric(d["deff"], errors="coerce")
    n = pd.to_numeric(d["n"], errors="coerce")
    n_eff = pd.to_numeric(d["n_eff"], errors="coerce")
    converged = d["converged"].astype(bool) if "converged" in d else pd.Series(True, index=d.index)
    reasons = []
    for i in d.index:
        r = []
        if not converged[i]:
            r.append("weging niet geconvergeerd")
        if deff[i] > MAX_DEFF:
            r.append(f"design-effect {deff[i]:.2f} > {MAX_DEFF:g}".replace(".", ","))
        if n[i] >= minimum_respondents and n_eff[i] < minimum_respondents:
            r.append(f"effectieve n {n_eff[i]:.1f} onder het minimum {minimum_respondents}".replace(".", ","))
        reasons.append("; ".join(r))
    d["reason"] = reasons
    return d.loc[d["reason"] != "", ["district_code", "reason"]].reset_index(drop=True)


def deff_distribution(diagnostics: pd.DataFrame, minimum_respondents: int = 30) -> pd.DataFrame:
    """Per wave: districts, design effect (min, median, 90th percentile, max), warnings."""
    cols = ["wave", "districts", "deff_min", "deff_median", "deff_p90", "deff_max", "adjusted", "warnings"]
    if diagnostics is None or diagnostics.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for wave, g in diagnostics.groupby("wave"):
        deff = pd.to_numeric(g["deff"], errors="coerce")
        rows.append({"wave": str(wave), "districts": len(g), "deff_min": deff.min(), "deff_median": deff.median(),
                     "deff_p90": deff.quantile(0.9), "deff_max": deff.max(),
                     "adjusted": int(g["warning"].notna().sum()) if "warning" in g else 0,
                     "warnings": len(unstable_districts(g, minimum_respondents))})
    return pd.DataFrame(rows, columns=cols)
