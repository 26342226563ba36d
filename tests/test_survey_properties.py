"""Property-based tests of socialquality.survey (hypothesis, small random designs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import socialquality.survey as survey_mod
from socialquality.survey import SurveyDesign

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def designs(draw, clustered: bool | None = None, with_fpc: bool | None = None):
    """A random stratified (clustered) sample as (data, design kwargs)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_strata = draw(st.integers(1, 3))
    if clustered is None:
        clustered = draw(st.booleans())
    if with_fpc is None:
        with_fpc = draw(st.booleans())
    rows = []
    psu_id = 0
    for h in range(n_strata):
        n_psu = int(rng.integers(2, 5))
        pop = n_psu + int(rng.integers(0, 20))
        for _ in range(n_psu):
            psu_id += 1
            size = int(rng.integers(1, 5)) if clustered else 1
            for _ in range(size):
                rows.append((f"h{h}", psu_id, pop))
    df = pd.DataFrame(rows, columns=["stratum", "psu", "N"])
    n = len(df)
    df["w"] = rng.uniform(0.5, 5.0, n)
    df["y"] = rng.integers(0, 11, n).astype(float)
    df.loc[rng.random(n) < 0.15, "y"] = np.nan
    df["b"] = rng.integers(0, 2, n)
    df["cat"] = rng.choice(["p", "q", "r"], n)
    df["grp"] = rng.choice(["g1", "g2", "g3"], n)
    df["m1"] = rng.choice(["x", "y"], n)
    df["m2"] = rng.choice(["s", "t", "u"], n)
    kwargs = {"weights": "w", "strata": "stratum", "psu": "psu" if clustered else None,
              "fpc": "N" if with_fpc else None}
    return df, kwargs


def _margins_for(df: pd.DataFrame, rng: np.random.Generator) -> dict:
    """Feasible margins: from positive totals on the cells seen in the sample."""
    cells = df.groupby(["m1", "m2"]).size()
    totals = pd.Series(rng.uniform(5, 50, len(cells)), index=cells.index)
    return {"m1": totals.groupby(level=0).sum().to_dict(),
            "m2": totals.groupby(level=1).sum().to_dict()}


# ------------------------------------------------------------------ naive reference
def _naive_variance(score, df, kw, lonely="adjust"):
    """R's onestrat/onestage, literally: PSU totals, centred per stratum, one loop."""
    strata = df[kw["strata"]].to_numpy()
    psu = df[kw["psu"]].to_numpy() if kw["psu"] else np.arange(len(df))
    var = 0.0
    for h in np.unique(strata):
        in_h = strata == h
        ids = np.unique(psu[in_h])
        t = np.array([score[in_h & (psu == p)].sum() for p in ids])
        n = len(ids)
        f = 1.0
        if kw["fpc"]:
            big_n = df.loc[in_h, kw["fpc"]].iloc[0]
            f = (big_n - n) / big_n
            if f < 1e-7:
                continue
        if n > 1:
            var += f * n / (n - 1) * np.sum((t - t.mean()) ** 2)
        elif lonely == "adjust":
            var += f * t[0] ** 2
    return var


def _naive_domain_means(df, kw, y, by, margins=None):
    """Loop over domains; calibrated case: explicit residuals of a d-weighted regression."""
    d = df[kw["weights"]].to_numpy()
    w = d
    x = None
    if margins is not None:
        x = np.column_stack([(df[v] == lev).to_numpy(float)
                             for v, spec in margins.items() for lev in spec])
        w = SurveyDesign(df, **kw).rake(margins, max_iter=2000, tol=1e-12).weights.to_numpy()
    yv = df[y].to_numpy()
    out = {}
    for g in sorted(df[by].unique()):
        ind = (df[by] == g).to_numpy() & ~np.isnan(yv)
        wd = w[ind].sum()
        if wd == 0:
            continue
        est = np.sum(w[ind] * yv[ind]) / wd
        z = np.where(ind, (np.nan_to_num(yv) - est) / wd, 0.0)
        if x is not None:
            sq = np.sqrt(d)
            beta = np.linalg.lstsq(x * sq[:, None], z * sq, rcond=None)[0]
            z = z - x @ beta
        out[g] = (est, np.sqrt(_naive_variance(w * z, df, kw)))
    return out


# ------------------------------------------------------------------ properties
@SETTINGS
@given(designs())
def test_domain_means_match_naive_reference(case):
    df, kw = case
    design = SurveyDesign(df, **kw)
    got = design.mean("y", by="grp").set_index("grp")
    for g, (est, se) in _naive_domain_means(df, kw, "y", "grp").items():
        assert got.loc[g, "estimate"] == pytest.approx(est, rel=1e-10)
        assert got.loc[g, "se"] == pytest.approx(se, rel=1e-8, abs=1e-12)


@SETTINGS
@given(designs(), st.integers(0, 2**32 - 1))
def test_raked_domain_means_match_naive_reference(case, seed):
    df, kw = case
    margins = _margins_for(df, np.random.default_rng(seed))
    design = SurveyDesign(df, **kw)
    raked = design.rake(margins, max_iter=2000, tol=1e-12)
    got = raked.mean("y", by="grp").set_index("grp")
    # the same through the expanded (large-problem) variance formula
    old_limit = survey_mod._DENSE_LIMIT
    survey_mod._DENSE_LIMIT = 0
    try:
        expanded = design.rake(margins, max_iter=2000, tol=1e-12).mean("y", by="grp")
    finally:
        survey_mod._DENSE_LIMIT = old_limit
    expanded = expanded.set_index("grp")
    for g, (est, se) in _naive_domain_means(df, kw, "y", "grp", margins).items():
        assert got.loc[g, "estimate"] == pytest.approx(est, rel=1e-8)
        assert got.loc[g, "se"] == pytest.approx(se, rel=1e-6, abs=1e-9)
        assert expanded.loc[g, "se"] == pytest.approx(se, rel=1e-6, abs=1e-7)


@SETTINGS
@given(designs(), st.integers(0, 2**32 - 1),
       st.one_of(st.none(), st.tuples(st.floats(0.3, 0.9), st.floats(1.2, 4.0))))
def test_raking_meets_every_margin(case, seed, bounds):
    df, kw = case
    margins = _margins_for(df, np.random.default_rng(seed))
    design = SurveyDesign(df, **kw)
    if bounds is None:
        raked = design.rake(margins, max_iter=2000, tol=1e-9)
    else:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            raked = design.rake(margins, max_iter=300, tol=1e-9, bounds=bounds)
        g = raked.weights / design.weights
        assert g.min() >= bounds[0] * (1 - 1e-12) and g.max() <= bounds[1] * (1 + 1e-12)
        if not raked.calibration.converged:
            return  # infeasible bounds are reported, not raised
    assert raked.calibration.converged
    for var, spec in margins.items():
        sums = raked.weights.groupby(df[var]).sum()
        for level, total in spec.items():
            assert sums[level] == pytest.approx(total, rel=1e-8)


@SETTINGS
@given(designs(), st.floats(-50, 50, allow_nan=False), st.booleans())
def test_constant_variable_has_zero_se(case, c, raked):
    df, kw = case
    df = df.assign(const=c)
    design = SurveyDesign(df, **kw)
    if raked:
        design = design.rake(_margins_for(df, np.random.default_rng(0)), max_iter=2000)
    for by in (None, "grp"):
        res = design.mean("const", by=by)
        assert np.allclose(res["estimate"], c, rtol=1e-12, atol=1e-12)
        assert np.all(res["se"] <= 1e-9 * (1 + abs(c)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs(), st.integers(0, 2**32 - 1), st.booleans())
def test_shuffling_rows_changes_nothing(case, seed, raked):
    df, kw = case
    perm = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.iloc[perm].reset_index(drop=True)
    a, b = SurveyDesign(df, **kw), SurveyDesign(shuffled, **kw)
    if raked:
        margins = _margins_for(df, np.random.default_rng(1))
        a, b = a.rake(margins, tol=1e-12, max_iter=2000), b.rake(margins, tol=1e-12,
                                                                  max_iter=2000)
    for method, var, by in (("mean", "y", None), ("mean", "y", ["grp", "m1"]),
                            ("total", "y", "grp"), ("proportion", "cat", "grp")):
        ra = getattr(a, method)(var, by=by)
        rb = getattr(b, method)(var, by=by)
        pd.testing.assert_frame_equal(ra, rb, rtol=1e-8, atol=1e-10)


@SETTINGS
@given(designs())
def test_one_level_domain_equals_overall(case):
    df, kw = case
    df = df.assign(everyone="all")
    design = SurveyDesign(df, **kw)
    for method in ("mean", "total"):
        overall = getattr(design, method)("y")
        dom = getattr(design, method)("y", by="everyone")
        assert list(dom["everyone"]) == ["all"]
        pd.testing.assert_frame_equal(dom.drop(columns="everyone"), overall, rtol=1e-12)


@SETTINGS
@given(designs(), st.sampled_from([None, "grp", ["grp", "m2"]]))
def test_proportions_sum_to_one(case, by):
    df, kw = case
    res = SurveyDesign(df, **kw).proportion("cat", by=by)
    assert set(res["category"]) <= {"p", "q", "r"}
    if by is None:
        assert res["estimate"].sum() == pytest.approx(1.0)
    else:
        sums = res.groupby(by)["estimate"].sum()
        assert np.allclose(sums, 1.0)
        # the SEs of a two-category split are equal; all are finite
        assert np.isfinite(res["se"]).all()


@SETTINGS
@given(designs(), st.floats(0.01, 1000.0))
def test_scaling_weights_leaves_means_and_ses(case, k):
    df, kw = case
    a = SurveyDesign(df, **kw)
    b = SurveyDesign(df.assign(w=df["w"] * k), **kw)
    for by in (None, "grp"):
        ma, mb = a.mean("y", by=by), b.mean("y", by=by)
        assert np.allclose(ma["estimate"], mb["estimate"], rtol=1e-10, equal_nan=True)
        assert np.allclose(ma["se"], mb["se"], rtol=1e-8, atol=1e-12, equal_nan=True)
        assert np.allclose(ma["deff"], mb["deff"], rtol=1e-10, equal_nan=True)
        ta, tb = a.total("y", by=by), b.total("y", by=by)
        assert np.allclose(ta["estimate"] * k, tb["estimate"], rtol=1e-10)
        assert np.allclose(ta["se"] * k, tb["se"], rtol=1e-8, atol=1e-12)
