"""Trends across waves at national scale: changes between waves and the composite index (issue 12).

The same figures as ``socialquality.indicators.compare_waves`` and ``composite_index`` (their
docstrings give the methods; ``tests/test_trends_scale.py`` checks that both give identical
results), computed on whole columns instead of one pandas selection per indicator and comparison
and one Python call per district, wave and condition. At 3,400 districts x 10 waves x 40
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


def composite_index(indicators: pd.DataFrame, catalogue: Catalogue, municipality: str, waves: list[str],
                    covariances: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index per condition, district and wave, and its decomposition (see
    ``socialquality.indicators.composite_index``: 100 = the city in the base wave, delta-method SE
    with the sampling covariances between a district's indicators)."""
    base = catalogue.base_wave if catalogue.base_wave in waves else waves[0]
    usable = indicators[~indicators["suppressed"].astype(bool) & indicators["wave"].isin(waves)]
    in_index = [i for i in catalogue.indicators if i.in_index]
    parts = []
    for indicator in in_index:
        rows = usable[usable["indicator_id"] == indicator.id]
        base_rows = rows[rows["wave"] == base]
        city = base_rows.loc[base_rows["district_code"] == municipality, "estimate"]
        spread = base_rows.loc[base_rows["district_code"] != municipality, "estimate"].std()
        if city.empty or not np.isfinite(spread) or spread == 0:
            continue
        sign = 1.0 if indicator.higher_is_better else -1.0
        part = rows[["wave", "district_code", "estimate", "se"]].copy()
        part["indicator_id"] = indicator.id
        part["condition"] = indicator.condition
        part["weight"] = indicator.index_weight
        part["scaled"] = 100 + 10 * sign * (part["estimate"] - float(city.iloc[0])) / spread
        part["scaled_se"] = 10 * part["se"] / spread
        part["per_unit"] = 10 * sign / spread
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=INDEX_COLUMNS), pd.DataFrame(columns=DECOMPOSITION_COLUMNS)
    scaled = pd.concat(parts, ignore_index=True)
    keys = ["wave", "district_code", "condition"]
    needed = {c: max(1, int(np.ceil(sum(1 for i in in_index if i.condition == c) / 2))) for c in catalogue.conditions}

    scaled["w"] = scaled["weight"] / scaled.groupby(keys)["weight"].transform("sum")
    scaled["wx"] = scaled["w"] * scaled["scaled"]
    scaled["wse2"] = (scaled["w"] * scaled["scaled_se"]) ** 2
    scaled["coef"] = scaled["w"] * scaled["per_unit"]  # index points per unit, weighted
    grouped = scaled.groupby(keys, sort=True)
    index = pd.DataFrame({"index": grouped["wx"].sum(), "variance": grouped["wse2"].sum(),
                          "n_indicators": grouped.size()})
    if covariances is not None and not covariances.empty:
        cov = covariances[["wave", "district_code", "indicator_a", "indicator_b", "cov"]]
        cov = cov[cov["indicator_a"] != cov["indicator_b"]].copy()
        # one value per unordered pair: the last row naming the pair wins (as a lookup filled in order)
        swap = cov["indicator_a"] > cov["indicator_b"]
        cov.loc[swap, ["indicator_a", "indicator_b"]] = cov.loc[swap, ["indicator_b", "indicator_a"]].to_numpy()
        cov = cov.drop_duplicates(["wave", "district_code", "indicator_a", "indicator_b"], keep="last")
        cov = cov[np.isfinite(cov["cov"].astype(float))]
        members = scaled[keys + ["indicator_id", "coef"]]
        pairs = (cov.merge(members.rename(columns={"indicator_id": "indicator_a", "coef": "coef_a"}),
                           on=["wave", "district_code", "indicator_a"])
                 .merge(members.rename(columns={"indicator_id": "indicator_b", "coef": "coef_b"}),
                        on=["wave", "district_code", "indicator_b", "condition"]))
        if not pairs.empty:
            pairs["term"] = 2 * pairs["coef_a"] * pairs["coef_b"] * pairs["cov"].astype(float)
            extra = pairs.groupby(keys)["term"].sum()
            index["variance"] = index["variance"].add(extra, fill_value=0.0).loc[index.index]
    index = index.reset_index()
    index["se"] = np.sqrt(index["variance"].clip(lower=0.0))
    index = index[index["n_indicators"] >= index["condition"].map(needed)].copy()
    index["ci_low"] = index["index"] - Z * index["se"]
    index["ci_high"] = index["index"] + Z * index["se"]
    index["n_indicators"] = index["n_indicators"].astype(int)

    # decomposition: contribution of each indicator to the change since the previous wave
    scaled = scaled.sort_values("wave")
    order = {w: i for i, w in enumerate(waves)}
    scaled["position"] = scaled["wave"].map(order)
    previous = scaled[["district_code", "indicator_id", "position", "scaled"]].copy()
    previous["position"] = previous["position"] + 1
    joined = scaled.merge(previous, on=["district_code", "indicator_id", "position"], suffixes=("", "_prev"))
    joined["contribution"] = joined["w"] * (joined["scaled"] - joined["scaled_prev"])
    return index[INDEX_COLUMNS].reset_index(drop=True), joined[DECOMPOSITION_COLUMNS].reset_index(drop=True)
