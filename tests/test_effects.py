"""Tests for socialquality.effects (intervention-effect estimation).

Reference numbers: tests/reference_data/README.md (R package ``did`` on
``mpdta``).  Simulations use fixed seeds and few bootstrap draws.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialquality.effects import (
    AggregateResult,
    AttGtResult,
    DidResult,
    ItsResult,
    att_gt,
    did_event_study,
    interrupted_time_series,
    pretrend_test,
    verdict_code,
    verdict_nl,
)

REF = Path(__file__).parent / "reference_data"


# ---------------------------------------------------------------------------
# mpdta: Callaway & Sant'Anna (2021), R package did
# ---------------------------------------------------------------------------

PUBLISHED_ATT_GT = {
    (2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373, (2004, 2007): -0.1008,
    (2006, 2004): 0.0065, (2006, 2005): -0.0028, (2006, 2006): -0.0046, (2006, 2007): -0.0412,
    (2007, 2004): 0.0305, (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261,
}  # fmt: skip


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(REF / "mpdta.csv")


@pytest.fixture(scope="module")
def cs(mpdta) -> AttGtResult:
    return att_gt(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                  est_method="reg", bootstrap_reps=999, seed=20210101)  # fmt: skip


def test_mpdta_att_gt_matches_published(cs):
    tab = cs.table.set_index(["group", "time"])
    assert len(tab) == 12
    for key, val in PUBLISHED_ATT_GT.items():
        assert abs(tab.loc[key, "att"] - val) < 5e-5, key
    assert set(tab["n_control"]) == {309}
    assert tab.loc[(2004, 2004), "n_treated"] == 20
    # post flags: t >= g
    for (g, t), row in tab.iterrows():
        assert bool(row["post"]) == (t >= g)
    assert list(cs.table.columns[:9]) == [
        "group", "time", "att", "se", "ci_low", "ci_high", "post", "n_treated", "n_control"
    ]  # fmt: skip


def test_mpdta_se_bootstrap_close_to_analytic(cs):
    tab = cs.table
    ratio = tab["se"] / tab["se_analytic"]
    assert ratio.between(0.8, 1.25).all()
    # did's published (analytic-scale) SE of ATT(2004,2004) is about 0.0233
    assert abs(tab.loc[0, "se_analytic"] - 0.0233) < 5e-4
    ci = cs.conf_int(0.05)
    assert np.allclose(ci["lower"].to_numpy(), tab["ci_low"].to_numpy())
    band = cs.conf_int(0.05, uniform=True)
    assert (band["lower"].to_numpy() < ci["lower"].to_numpy()).all()


def test_mpdta_dynamic_aggregation(cs):
    agg = cs.aggregate("dynamic")
    assert isinstance(agg, AggregateResult)
    tab = agg.table.set_index("event_time")
    for e, val in {0: -0.0199, 1: -0.0510, 2: -0.1373, 3: -0.1008}.items():
        assert abs(tab.loc[e, "att"] - val) < 5e-5, e
    assert sorted(tab.index) == [-3, -2, -1, 0, 1, 2, 3]
    assert abs(agg.overall_att - (-0.0772)) < 5e-5
    assert abs(agg.overall_se / 0.0219 - 1) < 0.25


def test_mpdta_group_weighted_overall(cs):
    # README: "simple group-weighted overall ATT -0.031 (SE about 0.0126)".  In did
    # that number is the overall of aggte(type = "group") (average of the group
    # ATTs, weighted by group size); aggte(type = "simple") averages all post
    # ATT(g,t) with group-size weights and prints -0.04 for mpdta.
    grp = cs.aggregate("group")
    assert abs(grp.overall_att - (-0.031)) < 5e-4
    assert abs(grp.overall_se / 0.0126 - 1) < 0.25
    simple = cs.aggregate("simple")
    assert abs(simple.overall_att - (-0.0400)) < 1e-4
    assert abs(simple.overall_se / 0.0118 - 1) < 0.25
    assert simple.table.empty


def test_mpdta_calendar_aggregation_consistent(cs):
    cal = cs.aggregate("calendar")
    tab = cal.table.set_index("time")
    # 2004: only group 2004 is treated
    assert abs(tab.loc[2004, "att"] - (-0.0105)) < 5e-5
    assert math.isclose(cal.overall_att, tab["att"].mean())


def test_mpdta_twfe_does_not_reproduce(mpdta, cs):
    import statsmodels.formula.api as smf

    d = mpdta.copy()
    d["treated_post"] = ((d["first.treat"] > 0) & (d["year"] >= d["first.treat"])).astype(float)
    twfe = smf.ols("lemp ~ treated_post + C(countyreal) + C(year)", data=d).fit().params["treated_post"]
    assert abs(twfe - (-0.0365)) < 5e-4  # the static TWFE coefficient on mpdta
    simple = cs.aggregate("simple").overall_att
    group = cs.aggregate("group").overall_att
    dynamic = cs.aggregate("dynamic").overall_att
    assert abs(twfe - group) > 0.005
    assert abs(twfe - simple) > 0.003
    assert abs(twfe - dynamic) > 0.03


def test_mpdta_pretrend_test(cs):
    pt = pretrend_test(cs)
    assert pt.estimable and pt.df == 5 and pt.n_restrictions == 5
    # did's summary prints "P-value for pre-test of parallel trends assumption: 0.16812"
    assert abs(pt.pvalue - 0.16812) < 5e-4
    ptb = pretrend_test(cs, cov="bootstrap")
    assert 0.05 < ptb.pvalue < 0.4
    assert "p-value" in pt.summary()


def test_mpdta_universal_base_period(mpdta, cs):
    u = att_gt(mpdta, "lemp", "year", "countyreal", "first.treat", base_period="universal",
               bootstrap_reps=0)  # fmt: skip
    tu = u.table.set_index(["group", "time"])
    tv = cs.table.set_index(["group", "time"])
    # reference cells g-1 are 0 and flagged
    for g in (2006, 2007):
        assert tu.loc[(g, g - 1), "att"] == 0 and tu.loc[(g, g - 1), "reference"]
    # post cells identical; pre cells are long differences of the short ones
    for (g, t) in PUBLISHED_ATT_GT:
        if t >= g:
            assert math.isclose(tu.loc[(g, t), "att"], tv.loc[(g, t), "att"], abs_tol=1e-12)
    long = tu.loc[(2007, 2004), "att"]
    assert math.isclose(long, -(tv.loc[(2007, 2005), "att"] + tv.loc[(2007, 2006), "att"]), abs_tol=1e-12)
    assert len(tu) == 15  # all 5 years for 3 groups
    dyn = u.aggregate("dynamic")
    assert dyn.table.set_index("event_time").loc[-1, "att"] == 0
    assert abs(dyn.overall_att - (-0.0772)) < 5e-5


def test_mpdta_not_yet_treated(mpdta, cs):
    r = att_gt(mpdta, "lemp", "year", "countyreal", "first.treat", control_group="notyettreated",
               bootstrap_reps=0)  # fmt: skip
    tab = r.table.set_index(["group", "time"])
    ref = cs.table.set_index(["group", "time"])
    # in 2007 nobody is "not yet treated": same comparison units as never-treated
    assert math.isclose(tab.loc[(2004, 2007), "att"], ref.loc[(2004, 2007), "att"])
    assert tab.loc[(2004, 2007), "n_control"] == 309
    # in 2005 group 2004 is compared with never-treated plus groups 2006 and 2007
    assert tab.loc[(2004, 2005), "n_control"] == 309 + 40 + 131


def test_mpdta_mammen_weights_and_summary(mpdta):
    r = att_gt(mpdta, "lemp", "year", "countyreal", "first.treat", bootstrap_reps=199, seed=3,
               bootstrap_weights="mammen")  # fmt: skip
    assert (r.table["se"] / r.table["se_analytic"]).between(0.75, 1.3).all()
    text = r.summary()
    assert "2004" in text and "Pre-trend" in text
    assert "overall ATT" in r.aggregate("dynamic").summary()


def test_att_gt_bootstrap_reproducible(mpdta):
    a = att_gt(mpdta, "lemp", "year", "countyreal", "first.treat", bootstrap_reps=99, seed=7)
    b = att_gt(mpdta, "lemp", "year", "countyreal", "first.treat", bootstrap_reps=99, seed=7)
    assert np.array_equal(a.table["se"].to_numpy(), b.table["se"].to_numpy())
    assert a.aggregate("group").overall_se == b.aggregate("group").overall_se


def test_att_gt_input_validation(mpdta):
    with pytest.raises(ValueError):
        att_gt(mpdta, "lemp", "year", "countyreal", "first.treat", est_method="dr")
    no_never = mpdta[mpdta["first.treat"] > 0]
    with pytest.raises(ValueError, match="never-treated"):
        att_gt(no_never, "lemp", "year", "countyreal", "first.treat", bootstrap_reps=0)
    # not-yet-treated without never-treated: the last cohort becomes the comparison
    r = att_gt(no_never, "lemp", "year", "countyreal", "first.treat", control_group="notyettreated",
               bootstrap_reps=0)  # fmt: skip
    assert set(r.groups) == {2004, 2006}
    assert r.periods.max() == 2006
    # unbalanced: drop a row -> unit dropped with a warning
    with pytest.warns(UserWarning, match="balanced"):
        r2 = att_gt(mpdta.iloc[1:], "lemp", "year", "countyreal", "first.treat", bootstrap_reps=0)
    assert r2.n_units == 499


# ---------------------------------------------------------------------------
# simulations: staggered DiD
# ---------------------------------------------------------------------------


def _staggered_panel(seed: int, n: int = 240, noise: float = 1.0) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    years = np.arange(2015, 2021)
    cohorts = rng.choice([0, 2017, 2019], size=n, p=[0.4, 0.3, 0.3])
    alpha = rng.normal(0, 2, n)
    lam = rng.normal(0, 1, len(years)).cumsum()
    truth = {}
    rows = []
    for i in range(n):
        for j, t in enumerate(years):
            g = cohorts[i]
            eff = 0.0
            if g and t >= g:
                eff = 1.0 + 0.5 * (t - g) + (0.3 if g == 2017 else -0.2)
                truth[(g, t)] = eff
            y = alpha[i] + lam[j] + eff + noise * rng.normal()
            rows.append((i, t, g, y))
    return pd.DataFrame(rows, columns=["id", "year", "g", "y"]), truth


@pytest.mark.parametrize("control_group", ["nevertreated", "notyettreated"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
def test_staggered_recovers_effects_without_noise(control_group, base_period):
    d, truth = _staggered_panel(1, noise=0.0)
    r = att_gt(d, "y", "year", "id", "g", control_group=control_group, base_period=base_period,
               bootstrap_reps=0)  # fmt: skip
    for _, row in r.table.iterrows():
        expected = truth.get((row["group"], row["time"]), 0.0)
        assert abs(row["att"] - expected) < 1e-9
    dyn = r.aggregate("dynamic").table.set_index("event_time")
    for e in range(4):
        cells = [(g, g + e) for g in (2017, 2019) if (g, g + e) in truth]
        vals = [truth[c] for c in cells]
        if len(set(vals)) == 1:
            assert abs(dyn.loc[e, "att"] - vals[0]) < 1e-9
    grp = r.aggregate("group").table.set_index("group")
    assert abs(grp.loc[2019, "att"] - np.mean([truth[(2019, t)] for t in (2019, 2020)])) < 1e-9


def test_staggered_ci_coverage():
    covered_cell, covered_agg, runs = 0, 0, 50
    for seed in range(runs):
        d, truth = _staggered_panel(100 + seed, n=160)
        r = att_gt(d, "y", "year", "id", "g", bootstrap_reps=0)
        row = r.table.set_index(["group", "time"]).loc[(2017, 2019)]
        covered_cell += row["ci_low"] <= truth[(2017, 2019)] <= row["ci_high"]
        grp = r.aggregate("group")
        # target: group ATTs weighted by the cohort sizes in the sample
        sizes = d.groupby("g")["id"].nunique()
        theta = {g: np.mean([truth[(g, t)] for t in range(g, 2021)]) for g in (2017, 2019)}
        true_grp = sum(sizes[g] * theta[g] for g in theta) / sum(sizes[g] for g in theta)
        lo, hi = grp.conf_int().loc["overall"]
        covered_agg += lo <= true_grp <= hi
    assert covered_cell >= 0.84 * runs
    assert covered_agg >= 0.84 * runs


def test_staggered_bootstrap_ci_coverage_small():
    covered, runs = 0, 20
    for seed in range(runs):
        d, truth = _staggered_panel(500 + seed, n=120)
        r = att_gt(d, "y", "year", "id", "g", bootstrap_reps=199, seed=seed)
        row = r.table.set_index(["group", "time"]).loc[(2019, 2020)]
        covered += row["ci_low"] <= truth[(2019, 2020)] <= row["ci_high"]
    assert covered >= 16


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    unit_shift=st.lists(st.floats(-50, 50), min_size=60, max_size=60),
    time_shift=st.lists(st.floats(-50, 50), min_size=6, max_size=6),
)
def test_staggered_invariant_to_unit_and_time_effects(unit_shift, time_shift):
    d, _ = _staggered_panel(7, n=60)
    base = att_gt(d, "y", "year", "id", "g", bootstrap_reps=0).table["att"].to_numpy()
    d2 = d.copy()
    d2["y"] = d2["y"] + np.asarray(unit_shift)[d2["id"]] + np.asarray(time_shift)[d2["year"] - 2015]
    shifted = att_gt(d2, "y", "year", "id", "g", bootstrap_reps=0).table["att"].to_numpy()
    assert np.allclose(base, shifted, atol=1e-7)


# ---------------------------------------------------------------------------
# interrupted time series
# ---------------------------------------------------------------------------


def _its_series(level=-4.0, slope=-0.5, noise=0.0, seed=0, se=None, n_pre=6, n_post=4):
    rng = np.random.default_rng(seed)
    t = np.arange(2010, 2010 + n_pre + n_post, dtype=float)
    t0 = 2010 + n_pre
    post = t >= t0
    y = 30 + 0.4 * (t - t0) + level * post + slope * (t - t0) * post + noise * rng.normal(size=len(t))
    d = pd.DataFrame({"time": t, "estimate": y})
    if se is not None:
        d["se"] = se
    return d, t0


def test_its_recovers_exactly_without_noise():
    for se in (None, 0.8):
        d, t0 = _its_series(se=se)
        r = interrupted_time_series(d, t0)
        assert r.estimable and r.weighted == (se is not None)
        assert abs(r.level_change - (-4.0)) < 1e-9
        assert abs(r.slope_change - (-0.5)) < 1e-9
        assert abs(r.params["trend"] - 0.4) < 1e-9
        assert r.df_resid == 10 - 4
        est, _, lo, hi = r.effect_at(t0 + 3)
        assert abs(est - (-5.5)) < 1e-9 and lo <= est <= hi
        ci = r.conf_int()
        assert list(ci.columns) == ["lower", "upper"]
        assert "level_change" in r.summary()


def test_its_wls_uses_survey_variance():
    d, t0 = _its_series(noise=0.0, se=[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 2.0, 2.0, 2.0, 2.0])
    r = interrupted_time_series(d, t0)
    # perfect fit: residual scale floored at the known sampling variance
    assert r.scale == 1.0
    assert r.level_change_se > 0.5
    # statsmodels WLS agrees on coefficients and (with scale 1) covariance
    import statsmodels.api as sm

    t = d["time"] - t0
    post = (d["time"] >= t0).astype(float)
    X = np.column_stack([np.ones(len(d)), t, post, t * post])
    m = sm.WLS(d["estimate"], X, weights=1 / d["se"] ** 2).fit(cov_type="fixed scale")
    assert np.allclose(m.params, r.params.to_numpy())
    assert np.allclose(m.bse, r.bse.to_numpy())


def test_its_ols_matches_statsmodels():
    import statsmodels.api as sm

    d, t0 = _its_series(noise=1.0, seed=4)
    r = interrupted_time_series(d, t0)
    t = d["time"] - t0
    post = (d["time"] >= t0).astype(float)
    X = np.column_stack([np.ones(len(d)), t, post, t * post])
    m = sm.OLS(d["estimate"], X).fit()
    assert np.allclose(m.params, r.params.to_numpy())
    assert np.allclose(m.bse, r.bse.to_numpy())
    assert np.allclose(m.conf_int().to_numpy(), r.conf_int().to_numpy())


def test_its_ci_coverage():
    covered, runs = 0, 50
    for seed in range(runs):
        d, t0 = _its_series(noise=1.0, seed=seed, se=1.0)
        r = interrupted_time_series(d, t0)
        lo, hi = r.conf_int().loc["level_change"]
        covered += lo <= -4.0 <= hi
    assert covered >= 0.88 * runs


def test_its_not_estimable():
    d, t0 = _its_series(n_pre=2, n_post=4)
    r = interrupted_time_series(d, t0)
    assert not r.estimable and "2 waves before" in r.reason
    assert math.isnan(r.level_change) and r.conf_int().empty
    assert verdict_nl(r, "het aandeel eenzame ouderen") == (
        "Te weinig metingen voor een uitspraak: er zijn 2 metingen vóór de start; minimaal 3 nodig."
    )
    assert verdict_code(r) == "not_estimable"
    d2, t02 = _its_series(n_pre=5, n_post=1)
    r2 = interrupted_time_series(d2, t02)
    assert not r2.estimable and "vanaf de start" in r2.reason_nl
    # missing waves do not count
    d3, t03 = _its_series(n_pre=3, n_post=3)
    d3.loc[0, "estimate"] = np.nan
    assert not interrupted_time_series(d3, t03).estimable
    with pytest.raises(ValueError):
        interrupted_time_series(d, t0, min_post=1)
    # 2 + 2 waves: WLS with known survey SEs is possible, OLS has no residual df
    d4, t04 = _its_series(n_pre=2, n_post=2, se=1.0)
    r4 = interrupted_time_series(d4, t04, min_pre=2)
    assert r4.estimable and r4.df_resid == 0 and r4.distribution == "normal"
    r5 = interrupted_time_series(d4.drop(columns="se"), t04, min_pre=2)
    assert not r5.estimable and "degrees of freedom" in r5.reason


# ---------------------------------------------------------------------------
# difference-in-differences with an event study
# ---------------------------------------------------------------------------


def _did_panel(seed=0, n_units=12, treated=("w0", "w1", "w2"), effect=-4.0, noise=1.0, pre_trend=0.0,
               se=None, years=range(2015, 2023), start=2020):  # fmt: skip
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_units):
        name = f"w{u}"
        a = rng.normal(50, 5)
        for t in years:
            tr = name in treated
            y = a + 0.5 * (t - 2015) + rng.normal(0, 0.0 if noise == 0 else 0.3)
            y += effect * (tr and t >= start) + pre_trend * tr * (t - start)
            y += noise * rng.normal() if noise else 0.0
            rows.append({"unit": name, "time": t, "estimate": y, "se": se})
    d = pd.DataFrame(rows)
    if se is None:
        d = d.drop(columns="se")
    return d


def test_did_recovers_exactly_without_noise():
    d = _did_panel(noise=0.0)
    r = did_event_study(d, ["w0", "w1", "w2"], 2020)
    assert r.estimable and isinstance(r, DidResult)
    assert abs(r.att - (-4.0)) < 1e-9
    es = r.event_study.set_index("time")
    assert np.allclose(es.loc[[2020, 2021, 2022], "estimate"], -4.0)
    assert np.allclose(es.loc[[2015, 2016, 2017, 2018], "estimate"], 0.0)
    assert 2019 not in es.index and r.reference_time == 2019
    assert list(es["event_time"]) == [-5, -4, -3, -2, 0, 1, 2]


def test_did_matches_twfe_event_study_regression():
    import statsmodels.formula.api as smf

    d = _did_panel(seed=3)
    r = did_event_study(d, ["w0", "w1", "w2"], 2020)
    d = d.copy()
    d["tr"] = d["unit"].isin(["w0", "w1", "w2"]).astype(float)
    terms = []
    for t in sorted(d["time"].unique()):
        if t == 2019:
            continue
        d[f"ev{t}"] = d["tr"] * (d["time"] == t)
        terms.append(f"ev{t}")
    m = smf.ols("estimate ~ " + " + ".join(terms) + " + C(unit) + C(time)", data=d).fit()
    es = r.event_study.set_index("time")
    for t in es.index:
        assert abs(m.params[f"ev{int(t)}"] - es.loc[t, "estimate"]) < 1e-8
    assert abs(np.mean([m.params[f"ev{t}"] for t in (2020, 2021, 2022)]) - r.att) < 1e-8


@pytest.mark.parametrize("treated", [("w0",), ("w0", "w1", "w2")])
@pytest.mark.parametrize("with_se", [False, True])
def test_did_pooled_ci_coverage(treated, with_se):
    covered, runs = 0, 50
    for seed in range(runs):
        d = _did_panel(seed=seed, treated=treated, se=1.0 if with_se else None)
        r = did_event_study(d, list(treated), 2020)
        covered += r.ci_low <= -4.0 <= r.ci_high
        assert r.used_survey_se == with_se
    assert covered >= 0.86 * runs


def test_did_wild_and_cluster():
    covered_w, covered_c, runs = 0, 0, 15
    treated = [f"w{i}" for i in range(10)]
    for seed in range(runs):
        d = _did_panel(seed=seed, n_units=24, treated=treated)
        rw = did_event_study(d, treated, 2020, se_method="wild", bootstrap_reps=199, seed=seed)
        rc = did_event_study(d, treated, 2020, se_method="cluster")
        assert math.isclose(rw.att, rc.att)
        assert rc.df == 23
        covered_w += rw.ci_low <= -4.0 <= rw.ci_high
        covered_c += rc.ci_low <= -4.0 <= rc.ci_high
        assert 0 <= rw.pvalue <= 1
        ci = rw.conf_int(0.05)
        assert math.isclose(ci.loc["att", "lower"], rw.ci_low)
    assert covered_w >= 12 and covered_c >= 11
    # few treated units: cluster-robust (< 10) and wild bootstrap (< 5) inference are refused, with the reason
    d = _did_panel(seed=1, treated=("w0",))
    r = did_event_study(d, ["w0"], 2020, se_method="wild")
    assert not r.estimable and "pooled" in r.reason
    d = _did_panel(seed=1, n_units=14, treated=("w0", "w1", "w2", "w3"))
    for method, needed in (("cluster", 10), ("wild", 5)):
        r = did_event_study(d, ["w0", "w1", "w2", "w3"], 2020, se_method=method)
        assert not r.estimable and f"needs >= {needed} treated" in r.reason
        assert verdict_nl(r, "x") == ("Geen uitspraak mogelijk met deze methode: die vraagt minimaal "
                                      f"{needed} wijken met de interventie (er zijn er 4).")


def test_did_pretrend_detected_and_warned():
    d = _did_panel(seed=2, effect=0.0, pre_trend=1.5, noise=0.5)
    r = did_event_study(d, ["w0", "w1", "w2"], 2020)
    assert r.pretrend.rejects(0.05)
    assert pretrend_test(r) is r.pretrend
    text = verdict_nl(r, "het aandeel eenzame ouderen", higher_is_better=False)
    assert text.count("Let op: vóór de start liep deze wijken al anders dan de vergelijkingswijken") == 0
    assert text.count("Let op: vóór de start liepen deze wijken al anders dan de vergelijkingswijken") == 1
    assert "Dit is waarschijnlijk geen toeval" not in text  # a rejected pre-trend changes the wording
    assert "niet zeker een gevolg van de start van het programma" in text
    ok = did_event_study(_did_panel(seed=2, noise=0.5), ["w0", "w1", "w2"], 2020)
    assert not ok.pretrend.rejects(0.01)


def test_did_not_estimable_and_options():
    d = _did_panel(years=range(2019, 2023))  # one pre wave
    r = did_event_study(d, ["w0"], 2020)
    assert not r.estimable
    assert verdict_nl(r, "x") == "Te weinig metingen voor een uitspraak: er is 1 meting vóór de start; minimaal 2 nodig."
    d = _did_panel()
    r = did_event_study(d[d["unit"].isin(["w0", "w1"])], ["w0", "w1"], 2020)
    assert not r.estimable and "vergelijkingswijken" in r.reason_nl
    assert r.conf_int().empty and "Not estimable" in r.summary()
    # explicit comparison units and reference period
    r2 = did_event_study(d, ["w0"], 2020, comparison_units=["w5", "w6", "w7"], reference_time=2017)
    assert r2.n_comparison == 3 and r2.reference_time == 2017
    assert 2017 not in set(r2.event_study["time"])
    with pytest.raises(ValueError):
        did_event_study(d, ["w0"], 2020, reference_time=2021)
    with pytest.raises(ValueError):
        did_event_study(d, ["w0"], 2020, comparison_units=["w0", "w1"])
    # a unit with a missing wave is dropped and reported
    d3 = d.drop(index=d.index[(d["unit"] == "w5") & (d["time"] == 2016)])
    with pytest.warns(UserWarning, match="missing"):
        r3 = did_event_study(d3, ["w0"], 2020)
    assert r3.dropped_units == ["w5"] and r3.n_comparison == 10
    assert "ATT" in r3.summary()


def test_did_survey_se_of_treated_unit_widens_interval():
    d = _did_panel(seed=5, treated=("w0",), se=0.5)
    narrow = did_event_study(d, ["w0"], 2020)
    d.loc[d["unit"] == "w0", "se"] = 3.0
    wide = did_event_study(d, ["w0"], 2020)
    assert wide.se > narrow.se


# ---------------------------------------------------------------------------
# verdicts
# ---------------------------------------------------------------------------


def test_verdict_texts_and_codes():
    # significant decrease of a "bad" indicator -> improved
    d, t0 = _its_series(level=-4.2, slope=0.0, noise=0.3, seed=1)
    r = interrupted_time_series(d, t0)
    text = verdict_nl(r, "het aandeel eenzame ouderen", higher_is_better=False)
    assert text.startswith("In de wijk nam het aandeel eenzame ouderen na de start van het programma af met 4,")
    assert "procentpunt" in text and "95%-interval: " in text and "Dit is waarschijnlijk geen toeval." in text
    assert text.endswith("Met 1 wijk waren effecten vanaf ongeveer " + f"{r.level_change_se * (2.447 + 0.906):.1f}"
                         .replace(".", ",") + " procentpunt aan te tonen.")
    lo, hi = r.conf_int().loc["level_change"]
    assert f"{-hi:.1f}".replace(".", ",") + " tot " + f"{-lo:.1f}".replace(".", ",") in text
    assert verdict_code(r, higher_is_better=False) == "improved"
    assert verdict_code(r, higher_is_better=True) == "worsened"
    # no effect -> interval includes zero
    d0, t00 = _its_series(level=0.0, slope=0.0, noise=1.0, seed=2)
    r0 = interrupted_time_series(d0, t00)
    assert verdict_code(r0) == "no_significant_change"
    t = verdict_nl(r0, "het aandeel eenzame ouderen")
    assert t.startswith("Er is geen effect van de start van het programma op het aandeel eenzame ouderen aangetoond: "
                        "de geschatte verandering is ")
    assert "dat interval omvat nul." in t and "was een effect kleiner dan " in t
    assert t.endswith("niet aan te tonen; dat er geen effect was, volgt hier dus niet uit.")
    # DiD: increase of a good indicator, several treated districts
    dd = _did_panel(seed=1, effect=3.0, noise=0.5)
    rd = did_event_study(dd, ["w0", "w1", "w2"], 2020)
    assert verdict_code(rd) == "improved"
    assert verdict_nl(rd, "de sociale cohesie", unit="punt").startswith(
        "In de 3 wijken nam de sociale cohesie na de start van het programma toe met 3,2 punt vergeleken met 9 andere "
        "wijken (95%-interval: "
    )


def test_verdict_staggered(cs):
    assert verdict_code(cs, higher_is_better=True) == "worsened"
    text = verdict_nl(cs.aggregate("group"), "de werkgelegenheid", decimals=3, unit="log-punt")
    assert "af met 0,031 log-punt" in text
    assert verdict_code(cs.aggregate("group"), higher_is_better=False) == "improved"
    with pytest.raises(TypeError):
        verdict_code(object())


def test_module_does_not_import_dagster():
    code = "import sys, socialquality.effects; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1], env={"PYTHONPATH": str(Path(__file__).parents[1])})  # fmt: skip
    assert out.stdout.strip() == "False"
    src = "".join(p.read_text() for p in (Path(__file__).parents[1] / "socialquality" / "effects").glob("*.py"))
    assert "import dagster" not in src and "from dagster" not in src


def test_results_pickle_and_conf_int_roundtrip(cs):
    # dagster's IO managers pickle asset outputs: results must survive it
    import pickle

    its = interrupted_time_series(*_its_series(noise=0.5, seed=3))
    did = did_event_study(_did_panel(seed=1), ["w0", "w1", "w2"], 2020)
    five = ["w0", "w1", "w2", "w3", "w4"]
    wild = did_event_study(_did_panel(seed=1, treated=five), five, 2020, se_method="wild",
                           bootstrap_reps=99, seed=1)  # fmt: skip
    for obj in (cs, cs.aggregate("dynamic"), its, did, wild, pretrend_test(cs)):
        back = pickle.loads(pickle.dumps(obj))
        assert back.summary() == obj.summary()
    for obj in (did, wild):
        back = pickle.loads(pickle.dumps(obj))
        pd.testing.assert_frame_equal(back.conf_int(0.1), obj.conf_int(0.1))
        assert (obj.conf_int(0.1)["upper"] - obj.conf_int(0.1)["lower"] < obj.conf_int(0.05)["upper"] - obj.conf_int(0.05)["lower"]).all()


def test_att_gt_warns_on_small_groups_like_r_did():
    rng = np.random.default_rng(5)
    rows = [{"unit": u, "time": y, "y": rng.normal(), "g": {0: 2020, 1: 2021}.get(u, 0)}
            for u in range(20) for y in range(2017, 2023)]
    with pytest.warns(UserWarning, match=r"small groups in your dataset. Check groups: 2020,2021"):
        result = att_gt(pd.DataFrame(rows), "y", "time", "unit", "g", bootstrap_reps=0)
    # the documented defect the warning is about: a one-district group has no variance of its own
    psi = result.influence[:, (result.table["group"] == 2020).to_numpy()]
    assert np.all(psi[0] == 0)


def test_few_treated_units_are_said_and_pretrend_not_trusted():
    """With 2-3 treated districts per start group the pre-trend covariance is singular: no test,
    and the verdict says the judgement rests on few districts."""
    rng = np.random.default_rng(3)
    rows = []
    for unit in range(30):
        start = {0: 2020, 1: 2020, 2: 2021, 3: 2021, 4: 2022}.get(unit, 0)
        for year in range(2016, 2024):
            effect = 5.0 if start and year >= start else 0.0
            rows.append({"unit": unit, "time": year, "y": rng.normal(0, 1) + effect, "g": start})
    with pytest.warns(UserWarning, match="small groups"):
        result = att_gt(pd.DataFrame(rows), "y", "time", "unit", "g", bootstrap_reps=99, seed=1)
    test = pretrend_test(result)
    assert not test.estimable and "too few treated units" in test.reason
    text = verdict_nl(result, "de score", unit="punt", event="de sluiting")
    assert "na de sluiting" in text and "rust op 5 wijken" in text
