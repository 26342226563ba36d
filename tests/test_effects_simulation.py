"""The pipeline's effect inference, checked by simulation and on small exact cases.

Quick version of benchmarks/sim_effects.py (the full grid is in docs/methods_effects.md): it
draws cities from socialquality.effects.simulation and calls analyse_intervention -- the function
stages.intervention_effects calls -- so it fails when coverage, the false-positive rate or the
power of the method the pipeline actually chooses drifts. Fixed seeds; about 20 s.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from socialquality.effects import (
    analyse_intervention,
    minimum_detectable_effect,
    panel_did,
    refused_methods,
    verdict_code,
    verdict_nl,
)
from socialquality.effects.known_variance import _wave_effect_map
from socialquality.effects.simulation import simulate_city
from socialquality.effects.verdict import interval_decimals


def _run(design: str, treated: int, effect: float, reps: int, seed: int, **kw) -> dict:
    rng = np.random.default_rng(seed)
    cover = reject = 0
    methods = set()
    for _ in range(reps):
        city = simulate_city(rng, treated, design, effect, **kw)
        a = analyse_intervention(city.panel, city.starts, city.comparison)
        methods.add(a.method)
        cover += a.headline.ci_low <= city.true_att <= a.headline.ci_high
        reject += verdict_code(a) != "no_significant_change"
    return {"coverage": cover / reps, "reject": reject / reps, "methods": methods}


# Monte Carlo SE with 300 replications: 1.3 points on a 95% coverage or a 5% rejection rate.
# The bands below are 95% +- 4 and 5% + 4 points: a correct method fails them with p < 0.005,
# the methods this replaced (33% and 9-27% false positives) fail them for sure.
@pytest.mark.parametrize("design,treated", [("common", 1), ("common", 2), ("staggered", 3), ("staggered", 5)])
def test_placebo_coverage_and_false_positives(design, treated):
    out = _run(design, treated, 0.0, 300, seed=treated * 100 + len(design))
    assert out["methods"] == {"did" if design == "common" else "staggered_did"} or treated == 1
    assert 0.91 <= out["coverage"] <= 0.99, out
    assert out["reject"] <= 0.09, out


def test_power_for_two_districts_of_about_120_respondents():
    """The issue's target: 0.35 individual SD, 2 treated districts of about 120 respondents: >= 80%."""
    out = _run("common", 2, 0.35, 150, seed=7, n_min=105, n_max=135)
    assert out["reject"] >= 0.9, out
    assert out["coverage"] >= 0.9, out


def test_target_group_with_suppressed_waves_keeps_sites_and_coverage():
    out = _run("staggered", 5, 0.35, 150, seed=11, target_share=0.35)
    assert out["coverage"] >= 0.9, out
    assert out["reject"] >= 0.8, out


# ---------------------------------------------------------------------------
# exact properties of panel_did
# ---------------------------------------------------------------------------


def _panel(seed: int = 0, n_units: int = 12, years=range(2015, 2023), effect: float = 0.0,
           treated: dict | None = None, se: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = treated or {"w0": 2020.0}
    rows = []
    for u in range(n_units):
        a = rng.normal(0, 3)
        for t in years:
            name = f"w{u}"
            y = a + 0.3 * (t - 2015) + rng.normal(0, se) + effect * (name in treated and t >= treated[name])
            rows.append({"unit": name, "time": float(t), "estimate": y, "se": se, "n": 100})
    return pd.DataFrame(rows)


def test_noiseless_effect_is_recovered_common_and_staggered():
    starts = {"w0": 2019.0, "w1": 2020.0, "w2": 2021.0}
    d = _panel(effect=2.0, treated=starts, se=1e-9)
    d["se"] = 0.1
    r = panel_did(d, starts)
    assert r.estimable and r.design == "staggered" and abs(r.att - 2.0) < 1e-9
    assert set(r.cohorts) == {2019.0, 2020.0, 2021.0}
    es = r.event_study.set_index("event_time")
    assert np.allclose(es.loc[es.index >= 0, "estimate"], 2.0)
    assert np.allclose(es.loc[es.index < 0, "estimate"], 0.0, atol=1e-9)


def test_a_cohort_of_one_district_keeps_its_own_variance():
    """The defect of att_gt with one district per cohort: its own variance never entered. Here a
    site's variance contains its own sampling variance: a noisier site widens the interval."""
    starts = {"w0": 2019.0, "w1": 2021.0}
    d = _panel(seed=3, treated=starts)
    base = panel_did(d, starts)
    noisy = d.copy()
    noisy.loc[noisy["unit"] == "w0", "se"] = 3.0
    wide = panel_did(noisy, starts)
    assert wide.var_sampling > base.var_sampling * 4
    assert wide.se > base.se
    assert (base.site_effects["se"] > 0).all()


def test_unbalanced_panel_keeps_sites_and_names_the_ones_left_out():
    starts = {"w0": 2020.0, "w1": 2020.0, "w2": 2020.0}
    d = _panel(seed=4, treated=starts)
    # w0 misses one wave (suppressed), w1 has nothing before the start, a comparison misses two waves
    d = d[~((d["unit"] == "w0") & (d["time"] == 2017.0))]
    d = d[~((d["unit"] == "w1") & (d["time"] < 2020.0))]
    d = d[~((d["unit"] == "w7") & d["time"].isin([2016.0, 2021.0]))]
    r = panel_did(d, starts)
    assert r.estimable and r.treated_units == ["w0", "w2"]
    assert r.left_out == {"w1": "no estimate before the start"}
    assert r.left_out_nl == {"w1": "geen cijfer vóór de start"}
    assert "w7" in r.comparison_units  # an unbalanced comparison district still counts
    a = analyse_intervention(d, starts)
    text = verdict_nl(a, "de score", unit="punt", names={"w1": "Noord"})
    assert "Niet meegeteld: 1 van de 3 wijken (Noord: geen cijfer vóór de start)." in text


def test_comparison_wave_effects_equal_two_way_fixed_effects_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    obs = rng.random((25, 7)) > 0.25
    jj, tt = np.nonzero(obs)
    X = np.zeros((len(jj), 25 + 7))
    X[np.arange(len(jj)), jj] = 1
    X[np.arange(len(jj)), 25 + tt] = 1
    y = rng.normal(size=len(jj)) + tt * 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dummies are collinear (a constant): OLS takes the min-norm solution
        b = sm.OLS(y, X).fit().params[25:]
    B, per_wave = _wave_effect_map(obs)
    lam = np.array([0.5, 0.5, -1, 0, 0.25, -0.25, 0.0])
    assert abs(lam @ b - lam @ B @ y) < 1e-10
    assert list(per_wave) == list(obs.sum(axis=0))


def test_too_few_comparisons_falls_back_to_the_own_series_and_says_so():
    d = _panel(n_units=4, effect=3.0)
    a = analyse_intervention(d, {"w0": 2020.0})
    assert a.method == "its" and "no comparison possible" in a.choice
    text = verdict_nl(a, "de score", unit="punt", event="de sluiting")
    assert "Er waren geen bruikbare vergelijkingswijken: het oordeel rust alleen op het verloop in de wijk zelf" in text
    assert "Met 1 wijk en ongeveer 100 respondenten per wijk per meting" in text
    two = analyse_intervention(d, {"w0": 2020.0, "w1": 2020.0})
    assert two.method == "none" and verdict_code(two) == "not_estimable"
    assert verdict_nl(two, "x").startswith("Geen vergelijking met andere wijken mogelijk: er zijn 2 vergelijkingswijken")


def test_without_standard_errors_the_variance_comes_from_the_comparison_districts():
    covered, runs = 0, 60
    for seed in range(runs):
        d = _panel(seed=seed, effect=1.0, se=0.5).drop(columns="se")
        r = panel_did(d, {"w0": 2020.0})
        assert r.estimable and not r.used_survey_se and r.var_sampling == 0
        covered += r.ci_low <= 1.0 <= r.ci_high
    assert covered >= 0.88 * runs


def test_refused_methods_name_the_reason():
    few = refused_methods(2)
    assert "cluster" in few and "wild" in few and "10 treated" in few["cluster"] and "5 treated" in few["wild"]
    assert "cluster" not in refused_methods(12) and "wild" not in refused_methods(6)


def test_minimum_detectable_effect_and_interval_digits():
    assert math.isclose(minimum_detectable_effect(1.0, 1e9), 1.959964 + 0.841621, rel_tol=1e-5)
    assert minimum_detectable_effect(1.0, 10) > minimum_detectable_effect(1.0, 100)
    assert interval_decimals(-0.8, -0.034, 1) == 2  # "-0,80 tot -0,03", never "-0,8 tot 0,0"
    assert interval_decimals(-0.8, 0.034, 1) == 1  # not significant: 0,0 is an honest bound
    assert interval_decimals(-0.8, -0.0004, 1) == 4


def test_significant_interval_never_shows_zero_in_the_verdict():
    starts = {"w0": 2020.0}
    d = _panel(seed=1, effect=-0.8, se=0.2)
    a = analyse_intervention(d, starts)
    h = a.headline
    # shift the estimate so that the upper bound sits just below 0
    shift = -h.ci_high - 0.03
    d.loc[(d["unit"] == "w0") & (d["time"] >= 2020), "estimate"] += shift
    a = analyse_intervention(d, starts)
    assert -0.05 < a.headline.ci_high < 0
    text = verdict_nl(a, "de score", unit="punt")
    # a decrease is said with absolute values: "af met 0,42 punt (95%-interval: 0,03 tot 0,81)"
    assert re.search(r"af met \d,\d\d punt vergeleken met 11 andere wijken \(95%-interval: 0,0[1-5] tot 0,\d\d\)",
                     text), text
    assert "tot 0,0)" not in text and "0,0 tot" not in text


def test_pretrend_rejection_changes_the_wording():
    starts = {"w0": 2020.0, "w1": 2020.0}
    d = _panel(seed=2, treated=starts, se=0.2)
    for u in starts:
        m = d["unit"] == u
        d.loc[m, "estimate"] += 1.2 * (d.loc[m, "time"] - 2020)  # diverging before (and after) the start
    a = analyse_intervention(d, starts)
    assert a.did.pretrend.estimable and a.did.pretrend.rejects()
    text = verdict_nl(a, "de score", unit="punt")
    assert "Let op: vóór de start liepen deze wijken al anders dan de vergelijkingswijken (toets op gelijke " \
           "trends: p" in text
    assert "Dit is waarschijnlijk geen toeval" not in text
