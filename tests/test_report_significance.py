"""One reading: the printed margin of a change agrees with its badge; districts against the city.

Simulated families of district changes with the pipeline's own verdict rule (compare_waves: BH
across the districts of one indicator, wave and comparison) -- the FCR-adjusted interval that the
report prints must exclude zero exactly when the badge is coloured, in every family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from socialquality.indicators import _bh_adjust
from socialquality.report import significance

Z = significance.Z95


def _family(rng: np.random.Generator, m: int, signal: float) -> pd.DataFrame:
    se = rng.uniform(0.01, 0.05, m)
    change = rng.normal(0, 1, m) * se + np.where(rng.random(m) < 0.3, signal, 0.0)
    p = 2 * stats.norm.sf(np.abs(change / se))
    df = pd.DataFrame({"district_code": [f"WK{i:04d}" for i in range(m)], "indicator_id": "x", "wave": "2023",
                       "compared_to": "previous", "reference_wave": "2021", "change": change,
                       "ci_low": change - Z * se, "ci_high": change + Z * se, "p_value": p})
    df["p_adjusted"] = _bh_adjust(df["p_value"]).values
    df["verdict"] = np.where(df["p_adjusted"] < 0.05, np.where(df["change"] > 0, "improved", "worsened"),
                             "no_significant_change")
    return df


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 120), signal=st.sampled_from([0.0, 0.02, 0.06, 0.2]))
def test_adjusted_margin_excludes_zero_iff_badge_coloured(seed, m, signal):
    df = significance.adjusted_change_intervals(_family(np.random.default_rng(seed), m, signal))
    coloured = df["verdict"].isin(["improved", "worsened"])
    excludes_zero = (df["ci_low_adj"] > 0) | (df["ci_high_adj"] < 0)
    assert (coloured == excludes_zero).all(), df.loc[coloured != excludes_zero]
    # the adjusted margin is never narrower than the plain 95% one
    assert ((df["ci_high_adj"] - df["ci_low_adj"]) >= (df["ci_high"] - df["ci_low"]) - 1e-12).all()


def test_plain_interval_contradicts_badge_without_adjustment():
    """The defect this fixes: with many districts, plain 95% margins exclude zero for grey badges."""
    rng = np.random.default_rng(3)
    df = _family(rng, 99, 0.0)
    grey_but_excludes = ((df["ci_low"] > 0) | (df["ci_high"] < 0)) & (df["verdict"] == "no_significant_change")
    assert grey_but_excludes.sum() > 0
    adj = significance.adjusted_change_intervals(df)
    assert not (((adj["ci_low_adj"] > 0) | (adj["ci_high_adj"] < 0)) & (adj["verdict"] == "no_significant_change")).any()


def test_fcr_of_selected_intervals_by_simulation():
    """Benjamini-Yekutieli: among the selected changes, the share of adjusted intervals missing the
    true change (false coverage rate) stays at or below alpha."""
    rng = np.random.default_rng(11)
    misses, selected = 0, 0
    for _ in range(400):
        m = 40
        se = np.full(m, 0.02)
        truth = np.where(rng.random(m) < 0.3, 0.05, 0.0)
        change = truth + rng.normal(0, 1, m) * se
        p = 2 * stats.norm.sf(np.abs(change / se))
        df = pd.DataFrame({"indicator_id": "x", "wave": "w", "compared_to": "previous", "change": change,
                           "ci_low": change - Z * se, "ci_high": change + Z * se, "p_value": p})
        df["p_adjusted"] = _bh_adjust(df["p_value"]).values
        adj = significance.adjusted_change_intervals(df)
        sel = adj["p_adjusted"] < 0.05
        selected += int(sel.sum())
        misses += int((sel & ((adj["ci_low_adj"] > truth) | (adj["ci_high_adj"] < truth))).sum())
    assert selected > 1000
    assert misses / selected <= 0.05 + 0.01, misses / selected


def _city_family(rng, truth):
    k = len(truth)
    pop = rng.integers(2_000, 30_000, k).astype(float)
    share = pop / pop.sum()
    se = rng.uniform(0.02, 0.05, k)
    est = 0.4 + truth + rng.normal(0, 1, k) * se
    city_est = (share * est).sum()
    city_se = np.sqrt((share ** 2 * se ** 2).sum())
    rows = [{"wave": "2023", "district_code": f"D{i}", "indicator_id": "x", "estimate": est[i],
             "ci_low": est[i] - Z * se[i], "ci_high": est[i] + Z * se[i]} for i in range(k)]
    rows.append({"wave": "2023", "district_code": "CITY", "indicator_id": "x", "estimate": city_est,
                 "ci_low": city_est - Z * city_se, "ci_high": city_est + Z * city_se})
    out = significance.versus_city(pd.DataFrame(rows), key="indicator_id", value="estimate", city="CITY",
                                   population={f"D{i}": pop[i] for i in range(k)})
    return dict(zip(out["district_code"], out["vs_city"]))


def test_versus_city_false_positive_rate_and_power():
    """All districts equal to the city: a mark anywhere in the family is rare (under the global null BH
    controls the family-wise rate at alpha, which checks the covariance term too). One district
    clearly above the city: it is marked "higher" nearly always."""
    rng = np.random.default_rng(5)
    reps = 300
    any_mark = sum(any(v != "same" for v in _city_family(rng, np.zeros(30)).values()) for _ in range(reps))
    assert any_mark / reps <= 0.05 + 0.03, any_mark / reps
    truth = np.zeros(30)
    truth[0] = 0.3
    marked = sum(_city_family(rng, truth)["D0"] == "higher" for _ in range(200))
    assert marked / 200 > 0.9, marked / 200


def test_versus_city_missing_figures_give_no_mark():
    df = pd.DataFrame([
        {"wave": "2023", "district_code": "A", "indicator_id": "x", "estimate": np.nan, "ci_low": np.nan,
         "ci_high": np.nan},
        {"wave": "2023", "district_code": "C", "indicator_id": "x", "estimate": 0.5, "ci_low": 0.45, "ci_high": 0.55},
    ])
    out = significance.versus_city(df, key="indicator_id", value="estimate", city="C", population={"A": 10.0})
    assert out["vs_city"].tolist() == [None]


def test_check_metadata_is_flat_and_labelled_with_the_wave():
    from socialquality.check_metadata import description, readable

    out = readable("2023", {"observed": {"districts": 99}, "WK1": "design-effect 2,3 > 2", "ok": True})
    assert out["meting"] == "2023" and out["observed · districts"] == 99 and out["ok"] == "ja"
    assert all(isinstance(v, (str, int, float)) for v in out.values())
    assert description("2023", "3 districts") == "Meting 2023: 3 districts"


def test_weighting_check_warns_only_where_weighting_hurts():
    from socialquality.weighting_check import deff_distribution, unstable_districts

    diag = pd.DataFrame({"wave": "2023", "district_code": ["A", "B", "C", "D"], "n": [100, 100, 40, 20],
                         "deff": [1.3, 2.6, 1.5, 1.0], "n_eff": [77, 38, 26.7, 20], "converged": [True, True, True, True],
                         "warning": ["afkapgrenzen verruimd", None, "cellen samengevoegd", None]})
    bad = unstable_districts(diag, 30)
    # A: only a note (bounds widened) -> no warning; B: deff > 2; C: n >= 30 but n_eff < 30; D: n < 30 (suppressed anyway)
    assert list(bad["district_code"]) == ["B", "C"]
    dist = deff_distribution(diag, 30).iloc[0]
    assert dist["warnings"] == 2 and dist["adjusted"] == 2 and dist["deff_max"] == 2.6
