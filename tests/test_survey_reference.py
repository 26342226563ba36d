"""socialquality.survey against published R `survey` results (tests/reference_data/README.md).

Tolerance: estimates to the printed digits, standard errors within 1e-3 relative.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import socialquality.survey as survey_mod
from socialquality.survey import CalibrationReport, SurveyDesign

REF = Path(__file__).parent / "reference_data"
RAKE_MARGINS = {
    "stype": {"E": 4421, "H": 755, "M": 1018},
    "sch.wide": {"No": 1072, "Yes": 5122},
}
Z975 = 1.959963984540054


@pytest.fixture(scope="module")
def apistrat() -> pd.DataFrame:
    return pd.read_csv(REF / "apistrat.csv")


@pytest.fixture(scope="module")
def apiclus1() -> pd.DataFrame:
    return pd.read_csv(REF / "apiclus1.csv")


@pytest.fixture(scope="module")
def apiclus2() -> pd.DataFrame:
    return pd.read_csv(REF / "apiclus2.csv")


@pytest.fixture(scope="module")
def dstrat(apistrat) -> SurveyDesign:
    # svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc)
    return SurveyDesign(apistrat, weights="pw", strata="stype", fpc="fpc")


@pytest.fixture(scope="module")
def dclus1(apiclus1) -> SurveyDesign:
    # svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
    return SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc")


@pytest.fixture(scope="module")
def rclus1(dclus1) -> SurveyDesign:
    return dclus1.rake(RAKE_MARGINS)


def assert_published(estimate: float, se: float, printed_estimate: str, printed_se: str) -> None:
    """Estimate equal to the printed digits; SE within 1e-3 relative."""
    decimals = len(printed_estimate.split(".")[1]) if "." in printed_estimate else 0
    assert abs(estimate - float(printed_estimate)) <= 0.5 * 10 ** (-decimals) + 1e-12, (
        f"estimate {estimate!r} does not print as {printed_estimate}")
    assert se == pytest.approx(float(printed_se), rel=1e-3), f"SE {se!r} vs {printed_se}"


def single(df: pd.DataFrame) -> tuple[float, float]:
    assert len(df) == 1
    return float(df["estimate"].iloc[0]), float(df["se"].iloc[0])


# ---------------------------------------------------------------- the published table
def test_svymean_api00_dstrat(dstrat):
    assert_published(*single(dstrat.mean("api00")), "662.29", "9.4089")


def test_svytotal_enroll_dstrat(dstrat):
    assert_published(*single(dstrat.total("enroll")), "3687178", "114642")


def test_svymean_api00_dclus1(dclus1):
    assert_published(*single(dclus1.mean("api00")), "644.17", "23.542")


def test_svytotal_enroll_dclus1(dclus1):
    assert_published(*single(dclus1.total("enroll")), "3404940", "932235")


@pytest.mark.parametrize(
    "variable, published",
    [
        ("ell", {"E": ("29.69444", "1.411617"), "H": ("15.0", "5.347065"),
                 "M": ("22.68", "2.952862")}),
        ("meals", {"E": ("53.09028", "7.070399"), "H": ("37.57143", "5.912262"),
                   "M": ("43.08", "6.017110")}),
    ],
)
def test_svyby_stype_dclus1(dclus1, variable, published):
    res = dclus1.mean(variable, by="stype")
    assert list(res["stype"]) == ["E", "H", "M"]
    assert list(res.columns) == ["stype", "estimate", "se", "ci_low", "ci_high", "n", "deff",
                                 "n_eff"]
    for _, row in res.iterrows():
        est, se = published[row["stype"]]
        assert_published(row["estimate"], row["se"], est, se)


def test_raked_mean_api00(rclus1):
    assert_published(*single(rclus1.mean("api00")), "641.23", "23.704")


def test_raked_total_enroll(rclus1):
    assert_published(*single(rclus1.total("enroll")), "3647280", "400603")


def test_raked_weights_treated_as_fixed_give_23_806(apiclus1, rclus1):
    """Diagnostic from the README: ignoring the calibration gives 23.806, not 23.704."""
    fixed = SurveyDesign(apiclus1.assign(raked_w=rclus1.weights.to_numpy()),
                         weights="raked_w", psu="dnum", fpc="fpc")
    est, se = single(fixed.mean("api00"))
    assert_published(est, se, "641.23", "23.806")
    assert se > single(rclus1.mean("api00"))[1]


# ---------------------------------------------------------------- raking details
def test_rake_report_and_margins(apiclus1, rclus1):
    rep = rclus1.calibration
    assert isinstance(rep, CalibrationReport)
    assert rep.converged and rep.iterations >= 1 and rep.n_trimmed == 0
    assert rep.max_rel_error <= 1e-6
    w = rclus1.weights
    for var, spec in RAKE_MARGINS.items():
        sums = w.groupby(apiclus1[var]).sum()
        for level, total in spec.items():
            assert sums[level] == pytest.approx(total, rel=1e-6)
    assert "raking on stype, sch.wide" in rclus1.summary()


def test_rake_returns_new_design(dclus1, rclus1):
    assert dclus1.calibration is None
    assert np.allclose(dclus1.weights, 6194 / 183)
    assert not np.allclose(rclus1.weights, dclus1.weights)


def test_raked_margin_shares_have_zero_se(rclus1):
    """Shares of a raked margin are fixed by the calibration: zero variance."""
    counts = rclus1.proportion("stype")
    pop = np.array([4421, 755, 1018]) / 6194
    assert np.allclose(counts["estimate"], pop, rtol=1e-6)
    assert np.all(counts["se"] < 1e-6)


@pytest.mark.parametrize("design_name", ["dclus1", "dstrat"])
def test_expanded_path_equals_dense_path(request, design_name, monkeypatch):
    design = request.getfixturevalue(design_name)
    r = design.rake(RAKE_MARGINS)
    dense = r.mean("ell", by="cname")
    monkeypatch.setattr(survey_mod, "_DENSE_LIMIT", 0)
    r2 = design.rake(RAKE_MARGINS)
    expanded = r2.mean("ell", by="cname")
    assert np.allclose(expanded["se"], dense["se"], rtol=1e-7, atol=1e-9)
    tot_d = r.total("enroll", by=["stype", "sch.wide"])
    tot_e = r2.total("enroll", by=["stype", "sch.wide"])
    assert np.allclose(tot_e["se"], tot_d["se"], rtol=1e-7, atol=1e-6)


def test_rake_with_bounds(dclus1, apiclus1):
    with pytest.warns(RuntimeWarning):
        tight = dclus1.rake(RAKE_MARGINS, bounds=(0.95, 1.05), max_iter=50)
    assert not tight.calibration.converged  # g needs about 0.88-1.98: infeasible
    ok = dclus1.rake(RAKE_MARGINS, bounds=(0.5, 1.8), max_iter=500)
    rep = ok.calibration
    assert rep.converged and rep.n_trimmed > 0
    g = ok.weights / dclus1.weights
    assert g.min() >= 0.5 - 1e-12 and g.max() <= 1.8 + 1e-12
    sums = ok.weights.groupby(apiclus1["stype"]).sum()
    assert sums["E"] == pytest.approx(4421, rel=1e-6)
    assert math.isfinite(single(ok.mean("api00"))[1])


def test_rake_errors(dclus1):
    with pytest.raises(ValueError, match="no population total"):
        dclus1.rake({"stype": {"E": 4421, "H": 755}})
    with pytest.raises(ValueError, match="no sample"):
        dclus1.rake({"stype": {"E": 4421, "H": 755, "M": 1000, "X": 18}})
    with pytest.raises(ValueError, match="different grand totals"):
        dclus1.rake({"stype": {"E": 4421, "H": 755, "M": 1018},
                     "sch.wide": {"No": 1072, "Yes": 5000}})
    with pytest.raises(ValueError, match="not in data"):
        dclus1.rake({"nope": {"a": 1}})
    with pytest.raises(ValueError, match="missing"):
        dclus1.rake({"acs.k3": {20: 100}})
    with pytest.raises(ValueError, match="bounds"):
        dclus1.rake(RAKE_MARGINS, bounds=(1.2, 2.0))
    with pytest.raises(ValueError, match="population total of 0"):
        dclus1.rake({"stype": {"E": 4421, "H": 0, "M": 1773}})
    # a level with total 0 and no sample is ignored
    r = dclus1.rake({"stype": {"E": 4421, "H": 755, "M": 1018, "X": 0}})
    assert r.calibration.converged


def test_rake_level_with_zero_total_and_zero_weights():
    df = pd.DataFrame({"w": [1.0, 2.0, 1.0, 3.0, 0.0], "a": ["x", "y", "x", "y", "z"],
                       "b": ["p", "p", "q", "q", "q"], "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    d = SurveyDesign(df, "w")
    for bounds in (None, (0.2, 5.0)):
        r = d.rake({"a": {"x": 4.0, "y": 6.0, "z": 0.0}, "b": {"p": 5.0, "q": 5.0}},
                   bounds=bounds)
        assert r.calibration.converged
        assert r.weights.iloc[4] == 0.0
        assert np.isfinite(r.mean("y")["se"].iloc[0])


# ---------------------------------------------------------------- missing values (na.rm)
def _build(name: str, data: pd.DataFrame) -> SurveyDesign:
    if name == "dstrat":
        return SurveyDesign(data, "pw", strata="stype", fpc="fpc")
    d = SurveyDesign(data, "pw", psu="dnum", fpc="fpc")
    return d.rake(RAKE_MARGINS) if name == "rclus1" else d


@pytest.mark.parametrize("design_name, data_name", [("dclus1", "apiclus1"),
                                                    ("rclus1", "apiclus1"),
                                                    ("dstrat", "apistrat")])
def test_na_rm_is_a_domain_estimate(request, design_name, data_name):
    data = request.getfixturevalue(data_name)
    col = "acs.k3"
    assert data[col].isna().any()
    design = _build(design_name, data)
    flagged = _build(design_name, data.assign(has_k3=data[col].notna()))
    by_flag = flagged.mean(col, by="has_k3").set_index("has_k3")
    overall = design.mean(col)
    # with NAs == domain mean over the non-missing rows, and the same (domain) SE
    assert overall["estimate"].iloc[0] == pytest.approx(by_flag.loc[True, "estimate"], rel=1e-12)
    assert overall["se"].iloc[0] == pytest.approx(by_flag.loc[True, "se"], rel=1e-10)
    assert overall["n"].iloc[0] == data[col].notna().sum()
    # the domain of missing rows has no non-missing values
    assert by_flag.loc[False, "n"] == 0 and np.isnan(by_flag.loc[False, "estimate"])
    # totals: NAs count as zero
    tot = design.total(col)
    w = design.weights.to_numpy()
    assert tot["estimate"].iloc[0] == pytest.approx(np.nansum(w * data[col].to_numpy()))


def test_na_rows_stay_in_the_design(dclus1, apiclus1):
    """Dropping the NA rows changes PSU counts per stratum; na.rm must not."""
    kept = apiclus1[apiclus1["acs.k3"].notna()]
    n_psu_kept = kept["dnum"].nunique()
    with_na = dclus1.mean("acs.k3")
    # scores of the missing rows are zero, but their PSUs still count (n_h = 15)
    assert dclus1.n_psu == 15
    if n_psu_kept < 15:
        subset = SurveyDesign(kept, "pw", psu="dnum", fpc="fpc").mean("acs.k3")
        assert subset["se"].iloc[0] != pytest.approx(with_na["se"].iloc[0], rel=1e-6)


# ---------------------------------------------------------------- output conventions
def test_ci_is_normal(dclus1):
    res = dclus1.mean("api00")
    est, se = single(res)
    assert res["ci_low"].iloc[0] == pytest.approx(est - Z975 * se, rel=1e-12)
    assert res["ci_high"].iloc[0] == pytest.approx(est + Z975 * se, rel=1e-12)
    r90 = dclus1.mean("api00", level=0.9)
    assert r90["ci_high"].iloc[0] - est == pytest.approx(1.6448536269514722 * se)


def test_kish_deff(dstrat, dclus1, apistrat):
    res = dstrat.mean("api00")
    w = apistrat["pw"].to_numpy()
    deff = len(w) * np.sum(w**2) / np.sum(w) ** 2
    assert res["deff"].iloc[0] == pytest.approx(deff)
    assert res["n_eff"].iloc[0] == pytest.approx(len(w) / deff)
    r = dclus1.mean("api00")
    assert r["deff"].iloc[0] == pytest.approx(1.0) and r["n_eff"].iloc[0] == pytest.approx(183)
    by = dstrat.mean("api00", by="stype")
    assert np.allclose(by["deff"], 1.0)  # equal weights within each stratum


def test_proportion_categorical_and_binary(dclus1, apiclus1):
    p = dclus1.proportion("stype")
    assert list(p.columns) == ["category", "estimate", "se", "ci_low", "ci_high", "n", "deff",
                               "n_eff"]
    assert list(p["category"]) == ["E", "H", "M"]
    assert p["estimate"].sum() == pytest.approx(1.0)
    ind = SurveyDesign(apiclus1.assign(is_e=(apiclus1["stype"] == "E").astype(int)),
                       "pw", psu="dnum", fpc="fpc")
    pe = ind.proportion("is_e")
    assert "category" not in pe.columns
    assert pe["estimate"].iloc[0] == pytest.approx(p["estimate"].iloc[0])
    assert pe["se"].iloc[0] == pytest.approx(p["se"].iloc[0])
    both = ind.proportion("is_e", categorical=True)
    assert list(both["category"]) == [0, 1]
    by = dclus1.proportion("sch.wide", by="stype")
    assert list(by.columns[:2]) == ["stype", "category"]
    assert np.allclose(by.groupby("stype")["estimate"].sum(), 1.0)
    with pytest.raises(ValueError, match="not 0/1"):
        dclus1.proportion("stype", categorical=False)


def test_by_several_columns_and_missing_by(dclus1, apiclus1):
    res = dclus1.mean("api00", by=["stype", "sch.wide"])
    assert list(res.columns[:2]) == ["stype", "sch.wide"]
    assert len(res) == apiclus1.groupby(["stype", "sch.wide"]).ngroups
    direct = apiclus1.groupby(["stype", "sch.wide"]).api00.mean()  # equal weights
    assert np.allclose(res["estimate"].to_numpy(), direct.to_numpy())
    # rows with a missing by value belong to no domain but stay in the design
    dd = SurveyDesign(apiclus1.assign(g=apiclus1["acs.46"].notna().map({True: "a", False: None})),
                      "pw", psu="dnum", fpc="fpc")
    got = dd.mean("api00", by="g")
    assert list(got["g"]) == ["a"]


def test_two_stage_uses_first_stage(apiclus2):
    d2 = SurveyDesign(apiclus2, "pw", psu="dnum", fpc="fpc1")
    est, se = single(d2.mean("api00"))
    w = apiclus2["pw"].to_numpy()
    assert est == pytest.approx(np.sum(w * apiclus2["api00"]) / w.sum())
    assert 0 < se < 100
    assert "PSUs:                  40" in d2.summary()


# ---------------------------------------------------------------- lonely PSUs and fpc
def _toy() -> pd.DataFrame:
    return pd.DataFrame({
        "h": ["a", "a", "a", "b", "b", "c"],
        "psu": [1, 2, 3, 4, 5, 6],
        "w": [2.0, 2.0, 4.0, 1.0, 3.0, 5.0],
        "y": [1.0, 3.0, 2.0, 5.0, 7.0, 4.0],
        "N": [10, 10, 10, 4, 4, 3],
    })


def _hand_variance_total(df: pd.DataFrame, lonely: str, fpc: bool) -> float:
    v = 0.0
    for _, g in df.groupby("h"):
        t = (g.w * g.y).to_numpy()
        n = len(t)
        f = (g.N.iloc[0] - n) / g.N.iloc[0] if fpc else 1.0
        if n > 1:
            v += f * n / (n - 1) * np.sum((t - t.mean()) ** 2)
        elif lonely == "adjust":
            v += f * t[0] ** 2
    return v


@pytest.mark.parametrize("lonely", ["adjust", "remove", "certainty"])
@pytest.mark.parametrize("fpc", [True, False])
def test_lonely_psu_options(lonely, fpc):
    df = _toy()
    d = SurveyDesign(df, "w", strata="h", psu="psu", fpc="N" if fpc else None, lonely_psu=lonely)
    se = d.total("y")["se"].iloc[0]
    expected = _hand_variance_total(df, "adjust" if lonely == "adjust" else "remove", fpc)
    assert se == pytest.approx(math.sqrt(expected), rel=1e-12)


def test_lonely_psu_fail():
    with pytest.raises(ValueError, match="single PSU"):
        SurveyDesign(_toy(), "w", strata="h", psu="psu", lonely_psu="fail")
    with pytest.raises(ValueError, match="lonely_psu"):
        SurveyDesign(_toy(), "w", strata="h", lonely_psu="whatever")


def test_fpc_as_sampling_fraction_equals_population_size(apistrat):
    frac = apistrat.assign(f=apistrat.groupby("stype")["pw"].transform("size") / apistrat["fpc"])
    a = SurveyDesign(frac, "pw", strata="stype", fpc="f").mean("api00")
    b = SurveyDesign(apistrat, "pw", strata="stype", fpc="fpc").mean("api00")
    assert a["se"].iloc[0] == pytest.approx(b["se"].iloc[0], rel=1e-12)
    no_fpc = SurveyDesign(apistrat, "pw", strata="stype").mean("api00")
    assert no_fpc["se"].iloc[0] > b["se"].iloc[0]


def test_census_stratum_has_no_variance():
    df = _toy().assign(N=[3, 3, 3, 2, 2, 1])
    d = SurveyDesign(df, "w", strata="h", psu="psu", fpc="N")
    assert d.total("y")["se"].iloc[0] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- validation
def test_design_validation(apistrat, apiclus1):
    with pytest.raises(ValueError, match="not in data"):
        SurveyDesign(apistrat, "weight")
    with pytest.raises(ValueError, match="negative"):
        SurveyDesign(apistrat.assign(pw=-apistrat.pw), "pw")
    with pytest.raises(ValueError, match="missing"):
        SurveyDesign(apistrat.assign(pw=apistrat.pw.where(apistrat.index > 0)), "pw")
    with pytest.raises(ValueError, match="smaller than the number of sampled"):
        SurveyDesign(apistrat.assign(fpc=50), "pw", strata="stype", fpc="fpc")
    with pytest.raises(ValueError, match="varies within"):
        SurveyDesign(apistrat.assign(fpc=apistrat.fpc + np.arange(200)), "pw", strata="stype",
                     fpc="fpc")
    with pytest.raises(ValueError, match="not nested"):
        SurveyDesign(apiclus1, "pw", strata="stype", psu="dnum")
    nested = SurveyDesign(apiclus1, "pw", strata="stype", psu="dnum", nest=True)
    assert nested.n_psu > 15
    with pytest.raises(ValueError, match="no rows"):
        SurveyDesign(apistrat.iloc[:0], "pw")
    with pytest.raises(TypeError):
        SurveyDesign(apistrat.to_numpy(), "pw")
    d = SurveyDesign(apistrat, "pw", strata="stype", fpc="fpc")
    with pytest.raises(ValueError, match="not numeric"):
        d.mean("sch.wide")
    with pytest.raises(ValueError, match="not in data"):
        d.mean("nope")
    with pytest.raises(ValueError, match="by column"):
        d.mean("api00", by="nope")


def test_summary_and_repr(dstrat):
    text = dstrat.summary()
    for piece in ("rows (n):              200", "strata:                3", "sum of weights",
                  "Kish deff", "fpc:"):
        assert piece in text
    assert "SurveyDesign(n=200" in repr(dstrat)


def test_package_does_not_import_dagster():
    code = ("import sys, socialquality.survey as s; "
            "assert not any(m == 'dagster' or m.startswith('dagster.') for m in sys.modules)")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root,
                   env={"PYTHONPATH": str(root), "PATH": ""})
    src = (root / "socialquality" / "survey.py").read_text()
    assert "import dagster" not in src and "from dagster" not in src


def test_results_do_not_warn(dclus1):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dclus1.mean("acs.k3", by="stype")
        dclus1.proportion("stype", by="sch.wide")
