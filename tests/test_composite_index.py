"""composite_index (vectorised, issue 12): the index and its delta-method interval per condition,
district and wave, checked against the formula written out with a covariance matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialquality.catalogue import load_catalogue
from socialquality.indicators import composite_index

ROOT = Path(__file__).resolve().parents[1]


def figures(seed: int = 7):
    catalogue = load_catalogue(ROOT / "surveys" / "indicators.yaml")
    rng = np.random.default_rng(seed)
    waves = ["2019", "2021"]
    districts = ["WK01", "WK02", "WK03", "WK04", "GM9999"]
    rows, covs = [], []
    for wave in waves:
        for district in districts:
            for indicator in catalogue.indicators:
                rows.append((wave, district, indicator.id, rng.uniform(0.2, 0.8), rng.uniform(0.01, 0.05), False))
            members: dict[str, list[str]] = {}
            for indicator in catalogue.indicators:
                if indicator.in_index:
                    members.setdefault(indicator.condition, []).append(indicator.id)
            for ids in members.values():
                for i, a in enumerate(ids):
                    for b in ids[i + 1:]:
                        covs.append((wave, district, a, b, rng.uniform(-1e-4, 3e-4)))
    indicators = pd.DataFrame(rows, columns=["wave", "district_code", "indicator_id", "estimate", "se", "suppressed"])
    covariances = pd.DataFrame(covs, columns=["wave", "district_code", "indicator_a", "indicator_b", "cov"])
    return catalogue, indicators, covariances, waves


def reference(catalogue, indicators, covariances, wave, district, condition) -> tuple[float, float]:
    """I = sum_k w_k I_k / sum w; Var = c' Sigma c with c_k = w_k / sum(w) * 10 s_k / sd_k."""
    members = [i for i in catalogue.indicators if i.in_index and i.condition == condition]
    waves = sorted(indicators["wave"].unique())
    base = indicators[indicators["wave"] == (catalogue.base_wave if catalogue.base_wave in waves else waves[0])]
    values, coefs, ses, ids, weights = [], [], [], [], []
    for indicator in members:
        rows = base[base["indicator_id"] == indicator.id]
        city = rows.loc[rows["district_code"] == "GM9999", "estimate"].iloc[0]
        spread = rows.loc[rows["district_code"] != "GM9999", "estimate"].std()
        sign = 1.0 if indicator.higher_is_better else -1.0
        row = indicators[(indicators["wave"] == wave) & (indicators["district_code"] == district)
                         & (indicators["indicator_id"] == indicator.id)].iloc[0]
        values.append(100 + 10 * sign * (row["estimate"] - city) / spread)
        coefs.append(10 * sign / spread)
        ses.append(row["se"])
        ids.append(indicator.id)
        weights.append(indicator.index_weight)
    w = np.array(weights) / np.sum(weights)
    sigma = np.diag(np.array(ses) ** 2)
    for a in range(len(ids)):
        for b in range(len(ids)):
            if a != b:
                hit = covariances[(covariances["wave"] == wave) & (covariances["district_code"] == district)
                                  & (((covariances["indicator_a"] == ids[a]) & (covariances["indicator_b"] == ids[b]))
                                     | ((covariances["indicator_a"] == ids[b]) & (covariances["indicator_b"] == ids[a])))]
                sigma[a, b] = hit["cov"].iloc[0]
    c = w * np.array(coefs)
    return float(w @ np.array(values)), float(np.sqrt(c @ sigma @ c))


def test_index_and_interval_follow_the_delta_method_with_covariances():
    catalogue, indicators, covariances, waves = figures()
    index, decomposition = composite_index(indicators, catalogue, "GM9999", waves, covariances)
    assert len(index) == len(waves) * 5 * len(catalogue.conditions)
    for row in index.sample(8, random_state=1).itertuples():
        value, se = reference(catalogue, indicators, covariances, row.wave, row.district_code, row.condition)
        assert row.index == pytest.approx(value, rel=1e-12)
        assert (row.ci_high - row.ci_low) / (2 * 1.959964) == pytest.approx(se, rel=1e-9)
    # without covariances the errors are taken as independent: another (here wider) interval
    alone, _ = composite_index(indicators, catalogue, "GM9999", waves, None)
    merged = index.merge(alone, on=["wave", "district_code", "condition"], suffixes=("", "_alone"))
    assert np.allclose(merged["index"], merged["index_alone"])
    assert not np.allclose(merged["ci_high"] - merged["ci_low"], merged["ci_high_alone"] - merged["ci_low_alone"])
    # the contributions to the change since the previous wave add up to the change of the index
    later = index[index["wave"] == waves[1]].set_index(["district_code", "condition"])["index"]
    earlier = index[index["wave"] == waves[0]].set_index(["district_code", "condition"])["index"]
    summed = decomposition[decomposition["wave"] == waves[1]].groupby(["district_code", "condition"])["contribution"].sum()
    assert summed.to_numpy() == pytest.approx((later - earlier).loc[summed.index].to_numpy(), abs=1e-9)


def test_an_indicator_without_se_gives_no_interval_and_too_few_indicators_no_index():
    catalogue, indicators, covariances, waves = figures()
    condition = next(c for c in catalogue.conditions if sum(
        1 for i in catalogue.indicators if i.in_index and i.condition == c) >= 2)
    first = next(i.id for i in catalogue.indicators if i.in_index and i.condition == condition)
    hit = (indicators["district_code"] == "WK02") & (indicators["wave"] == waves[1]) & (indicators["indicator_id"] == first)
    indicators.loc[hit, "se"] = np.nan
    members = [i.id for i in catalogue.indicators if i.in_index and i.condition == condition]
    gone = (indicators["district_code"] == "WK03") & indicators["indicator_id"].isin(members)
    indicators.loc[gone, "suppressed"] = True
    index, _ = composite_index(indicators, catalogue, "GM9999", waves, covariances)
    row = index[(index["district_code"] == "WK02") & (index["wave"] == waves[1]) & (index["condition"] == condition)]
    assert len(row) == 1 and np.isfinite(row["index"].iloc[0]) and row["ci_low"].isna().all()
    assert index[(index["district_code"] == "WK03") & (index["condition"] == condition)].empty
