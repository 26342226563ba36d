"""Trends across waves at national scale: changes between waves (issue 12); the composite index is
``socialquality.indicators.composite_index`` (already column-wise).

The same figures as ``socialquality.indicators.compare_waves`` (its docstring gives the method;
``tests/test_trends_scale.py`` checks identical results), computed on whole columns instead of one
pandas selection per indicator and comparison. At 3,400 districts x 10 waves x 40
indicators (1.4 million district figures) the loops cost minutes; these are joins and grouped sums,
linear in the number of figures. ``stages.compute_trends`` uses these.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from socialquality.catalogue import Catalogue
from socialquality.codebook import Codebook

Z = 1.959964
CHANGE_COLUMNS = ["district_code", "indicator_id", "wave", "compared_to", "reference_wave", "change", "se", "ci_low",
                  "ci_high", "p_value", "p_adjusted", "verdict", "method_break"]
INDEX_COLUMNS = ["wave", "district_code", "condition", "index", "ci_low", "ci_high", "n_indicators"]
DECOMPOSITION_COLUMNS = ["wave", "district_code", "condition", "indicator_id", "contribution"]


def grouped_bh(p: pd.Series, groups: list[pd.Series]) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values within each group (NaN kept, not counted)."""
    frame = pd.DataFrame({f"g{i}": g.to_numpy() for i, g in enumerate(groups)}, index=p.index)
    frame["p"] = p.to_numpy(dtype=float)
    keys = [c for c in frame.columns if c != "p"]
    valid = frame[frame["p"].notna()].copy()
    out = pd.Series(np.nan, index=p.index, dtype=float)
    if valid.empty:
        return out
    valid = valid.sort_values(keys + ["p"], kind="mergesort")
    grouped = valid.groupby(keys, sort=False)["p"]
    rank = grouped.cumcount() + 1
    m = grouped.transform("size")
    valid["ranked"] = valid["p"] * m / rank
    # running minimum from the largest p down, within each group
    reverse = valid.iloc[::-1]
    adjusted = reverse.groupby(keys, sort=False)["ranked"].cummin().clip(upper=1.0)
    out.loc[adjusted.index] = adjusted.to_numpy()
    return out


def compare_waves(indicators: pd.DataFrame, catalogue: Catalogue, codebook: Codebook, waves: list[str],
                  alpha: float = 0.05) -> pd.DataFrame:
    """Change of every district indicator since the previous and since the base wave (see
    ``socialquality.indicators.compare_waves``)."""
    from socialquality.indicators import indicator_items

    base = catalogue.base_wave if catalogue.base_wave in waves else waves[0]
    pairs = []
    for position, wave in enumerate(waves):
        if position > 0:
            pairs.append((wave, "previous", waves[position - 1], position, 0))
        if waves.index(base) < position:
            pairs.append((wave, "base", base, position, 1))
    order = {indicator.id: i for i, indicator in enumerate(catalogue.indicators)}
    table = indicators[~indicators["suppressed"].astype(bool) & indicators["indicator_id"].isin(order)]
    table = table[["indicator_id", "district_code", "wave", "estimate", "se"]]
    if not pairs or table.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    pairs = pd.DataFrame(pairs, columns=["wave", "compared_to", "reference_wave", "position", "kind"])
    now = table.merge(pairs, on="wave")
    then = table.rename(columns={"wave": "reference_wave", "estimate": "estimate_then", "se": "se_then"})
    df = now.merge(then, on=["indicator_id", "district_code", "reference_wave"])
    if df.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    breaks = {}
    for indicator in catalogue.indicators:
        items = indicator_items(indicator, codebook)
        for row in pairs.itertuples():
            breaks[(indicator.id, row.reference_wave, row.wave)] = (
                bool(codebook.breaks_between(row.reference_wave, row.wave, items)) if items else False)
    df["method_break"] = [breaks[k] for k in zip(df["indicator_id"], df["reference_wave"], df["wave"])]
    df["change"] = df["estimate"] - df["estimate_then"]
    df["se"] = np.sqrt(df["se"] ** 2 + df["se_then"] ** 2)
    z = df["change"] / df["se"].replace(0, np.nan)
    df["p_value"] = 2 * stats.norm.sf(np.abs(z))
    zero = df["se"] == 0
    df.loc[zero, "p_value"] = np.where(df.loc[zero, "change"] == 0, 1.0, 0.0)
    df["ci_low"] = df["change"] - Z * df["se"]
    df["ci_high"] = df["change"] + Z * df["se"]
    df["p_adjusted"] = grouped_bh(df["p_value"], [df["indicator_id"], df["wave"], df["compared_to"]])
    sign = df["indicator_id"].map({i.id: 1 if i.higher_is_better else -1 for i in catalogue.indicators})
    significant = df["p_adjusted"] < alpha
    df["verdict"] = np.where(df["method_break"], "not_comparable",
                             np.where(~significant, "no_significant_change",
                                      np.where(sign * df["change"] > 0, "improved", "worsened")))
    df["order"] = df["indicator_id"].map(order)
    df = df.sort_values(["position", "kind", "order"], kind="mergesort")
    return df[CHANGE_COLUMNS].reset_index(drop=True)
