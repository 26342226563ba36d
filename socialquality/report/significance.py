"""Intervals and marks that agree with the colour of the badge (one reading of every figure).

The verdicts on changes are decided with Benjamini-Hochberg (BH) adjusted p-values across the
districts of one indicator, wave and comparison (``socialquality.indicators.compare_waves``). A
plain 95% interval next to a grey badge can exclude zero, which contradicts the reading guide
("valt een verschil binnen de marge, dan is het grijs"). We therefore print the *FCR-adjusted*
interval of Benjamini & Yekutieli (2005, JASA 100:71-81): with m comparisons in the family and R of
them selected by BH at level alpha, every interval is built at level 1 - R*alpha/m (1 - alpha/m
when R = 0). For BH these intervals exclude zero exactly for the selected comparisons (p <= R*alpha/m
<=> selected), so the badge is coloured if and only if the printed margin excludes zero, and the
selected intervals keep a false coverage rate of at most alpha.

Districts against the city: the difference district - city has variance
se_d^2 + se_c^2 - 2*s_d*se_d^2, where s_d is the district's share of the city population (the city
figure is the population-weighted mean of independent district samples, so Cov(d, c) = s_d*se_d^2).
The p-values are BH-adjusted across the districts of one indicator (or index) and wave, the same
rule as the changes, and the mark says "hoger/lager dan de stad" only when the adjusted p < alpha.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

Z95 = 1.959963984540054


def bh_adjust(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values; NaN kept."""
    valid = p.dropna()
    out = pd.Series(np.nan, index=p.index, dtype=float)
    if valid.empty:
        return out
    order = np.argsort(valid.to_numpy(), kind="mergesort")
    ranked = valid.to_numpy()[order] * len(valid) / (np.arange(len(valid)) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out.loc[valid.index[order]] = adjusted
    return out


def fcr_level(m: int, r: int, alpha: float = 0.05) -> float:
    """Coverage of the FCR-adjusted interval for a family of m comparisons with r selected."""
    if m <= 0:
        return 1 - alpha
    return 1 - max(r, 1) * alpha / m


def adjusted_change_intervals(changes: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Add ``ci_low_adj``, ``ci_high_adj`` and ``level_adj`` (coverage, 0-1) to a changes frame.

    The standard error is recovered from the printed 95% interval; the family is (indicator_id,
    wave, compared_to) as in compare_waves. Rows without a p-value get no adjusted interval.
    """
    df = changes.copy()
    for col in ("ci_low_adj", "ci_high_adj", "level_adj"):
        df[col] = np.nan
    if df.empty:
        return df
    se = (df["ci_high"] - df["ci_low"]) / (2 * Z95)
    for _, idx in df.groupby(["indicator_id", "wave", "compared_to"], dropna=False).groups.items():
        part = df.loc[idx]
        has_p = part["p_value"].notna()
        m = int(has_p.sum())
        if m == 0:
            continue
        r = int((part["p_adjusted"] < alpha).sum())
        level = fcr_level(m, r, alpha)
        z = float(stats.norm.isf((1 - level) / 2))
        ok = idx[has_p.to_numpy()]
        df.loc[ok, "ci_low_adj"] = df.loc[ok, "change"] - z * se.loc[ok]
        df.loc[ok, "ci_high_adj"] = df.loc[ok, "change"] + z * se.loc[ok]
        df.loc[ok, "level_adj"] = level
    return df


def versus_city(frame: pd.DataFrame, *, key: str, value: str, city: str, population: dict[str, float],
                alpha: float = 0.05) -> pd.DataFrame:
    """Test every district against the city within each (key, wave) family.

    ``frame`` holds wave, district_code, ``key`` (indicator_id or condition), ``value`` (estimate or
    index), ci_low, ci_high (95%). Returns wave, district_code, key, diff, p_value, p_adjusted and
    ``vs_city``: "higher", "lower" or "same" (not significant) -- NaN where either figure is missing.
    """
    cols = ["wave", "district_code", key, "diff", "p_value", "p_adjusted", "vs_city"]
    if frame is None or frame.empty:
        return pd.DataFrame(columns=cols)
    df = frame[["wave", "district_code", key, value, "ci_low", "ci_high"]].copy()
    df["se"] = (df["ci_high"] - df["ci_low"]) / (2 * Z95)
    city_rows = df[df["district_code"] == city].set_index(["wave", key])
    dist = df[df["district_code"] != city].copy()
    if dist.empty or city_rows.empty:
        return pd.DataFrame(columns=cols)
    total = sum(v for v in population.values() if v == v and v > 0)
    share = dist["district_code"].map(lambda d: (population.get(d) or 0) / total if total else 0.0).fillna(0.0)
    joined = dist.join(city_rows[[value, "se"]].rename(columns={value: "city_value", "se": "city_se"}),
                       on=["wave", key])
    dist["diff"] = joined[value] - joined["city_value"]
    var = joined["se"] ** 2 + joined["city_se"] ** 2 - 2 * share * joined["se"] ** 2
    sd = np.sqrt(var.clip(lower=0))
    z = dist["diff"] / sd.replace(0, np.nan)
    dist["p_value"] = 2 * stats.norm.sf(np.abs(z))
    dist["p_adjusted"] = np.nan
    for _, idx in dist.groupby(["wave", key]).groups.items():
        dist.loc[idx, "p_adjusted"] = bh_adjust(dist.loc[idx, "p_value"]).to_numpy()
    sig = dist["p_adjusted"] < alpha
    dist["vs_city"] = np.where(dist["p_adjusted"].isna(), None,
                               np.where(~sig, "same", np.where(dist["diff"] > 0, "higher", "lower")))
    return dist[cols].reset_index(drop=True)
