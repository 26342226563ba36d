"""Fay-Herriot EBLUP and MSE against R sae 1.3 (eblupFH/mseFH) on the milk data (Arora & Lahiri 1997)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialquality.sae import fay_herriot

DATA = Path(__file__).parent / "reference_data"


@pytest.fixture(scope="module")
def milk() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "expenditure_on_milk.csv")
    frame["var"] = frame["std_error"] ** 2
    return frame


def test_reml_matches_sae_eblupFH_and_mseFH(milk):
    fit = fay_herriot(milk, direct="direct_est", variance="var", covariates="C(major_area)", area="small_area")
    reference = pd.read_csv(DATA / "milk_sae_reference.csv")
    assert fit.method == "REML" and fit.converged
    assert fit.sigma2_u == pytest.approx(0.01855022232, abs=5e-12)
    assert f"{fit.sigma2_u:.5f}" == "0.01855"  # as R prints it to 4 significant digits
    np.testing.assert_allclose(fit.coefficients["estimate"], [0.9681889704, 0.1327801425, 0.2269462189,
                                                             -0.2413010797], atol=1e-9)
    np.testing.assert_allclose(fit.coefficients["se"], [0.06936208412, 0.10300072435, 0.09232981035,
                                                       0.08161707047], atol=1e-10)
    np.testing.assert_allclose(fit.estimates["eblup"], reference["eblup"], atol=1e-9)
    np.testing.assert_allclose(fit.estimates["mse"], reference["mse"], atol=1e-11)
    assert fit.loglik == pytest.approx(12.677478132, abs=1e-8)
    assert fit.aic == pytest.approx(-15.354956264, abs=1e-8)
    assert fit.bic == pytest.approx(-6.548955686, abs=1e-8)
    assert list(fit.estimates["area"]) == list(milk["small_area"])


def test_ml_matches_sae(milk):
    fit = fay_herriot(milk, "direct_est", "var", "C(major_area)", area="small_area", method="ML")
    reference = pd.read_csv(DATA / "milk_sae_reference_ml.csv")
    assert fit.sigma2_u == pytest.approx(0.01551755026, abs=5e-12)
    np.testing.assert_allclose(fit.estimates["eblup"], reference["eblup"], atol=1e-9)
    np.testing.assert_allclose(fit.estimates["mse"], reference["mse"], atol=1e-11)


def test_column_list_equals_formula(milk):
    dummies = pd.get_dummies(milk["major_area"], prefix="ma", drop_first=True).astype(float)
    frame = pd.concat([milk, dummies], axis=1)
    by_list = fay_herriot(frame, "direct_est", "var", list(dummies.columns), area="small_area")
    by_formula = fay_herriot(milk, "direct_est", "var", "y ~ C(major_area)", area="small_area")
    assert by_list.sigma2_u == pytest.approx(by_formula.sigma2_u, rel=1e-12)
    np.testing.assert_allclose(by_list.estimates["mse"], by_formula.estimates["mse"], rtol=1e-10)


def test_shrinkage_and_diagnostics(milk):
    fit = fay_herriot(milk, "direct_est", "var", "C(major_area)", area="small_area")
    e = fit.estimates
    # gamma = sigma2_u / (sigma2_u + psi): the least precise direct estimate is shrunk most
    np.testing.assert_allclose(e["gamma"], fit.sigma2_u / (fit.sigma2_u + milk["var"]))
    assert e.loc[milk["var"].idxmax(), "gamma"] == e["gamma"].min()
    np.testing.assert_allclose(e["eblup"], e["gamma"] * e["direct"] + (1 - e["gamma"]) * e["synthetic"])
    assert (e["mse"] < e["variance"]).all()  # the model borrows strength in every area
    text = fit.summary()
    assert "sigma2_u:             0.0185502" in text and "C(major_area)[T.4]" in text
    assert list(fit.residuals().columns) == ["area", "direct", "synthetic", "residual", "std_residual", "gamma"]


def test_predict_new_area_is_synthetic_with_model_variance(milk):
    fit = fay_herriot(milk, "direct_est", "var", "C(major_area)", area="small_area")
    new = pd.DataFrame({"small_area": [101, 102], "major_area": [1, 4]})
    predicted = fit.predict(new)
    assert list(predicted["area"]) == [101, 102]
    assert predicted["eblup"].iloc[0] == pytest.approx(0.9681889704, abs=1e-9)
    assert predicted["eblup"].iloc[1] == pytest.approx(0.9681889704 - 0.2413010797, abs=1e-9)
    # MSE = sigma2_u + var(intercept) for major area 1
    assert predicted["mse"].iloc[0] == pytest.approx(fit.sigma2_u + 0.06936208412**2, rel=1e-8)


def test_bootstrap_mse_agrees_with_analytic_mse(milk):
    fit = fay_herriot(milk, "direct_est", "var", "C(major_area)", area="small_area")
    boot = fit.bootstrap_mse(replicates=300, seed=7)
    ratio = boot.to_numpy() / fit.estimates["mse"].to_numpy()
    assert 0.85 < ratio.mean() < 1.15


def test_benchmarking_hits_the_target(milk):
    fit = fay_herriot(milk, "direct_est", "var", "C(major_area)", area="small_area")
    weights = milk["samp_size"].to_numpy(dtype=float)
    for kind in ("ratio", "difference"):
        adjusted = fit.benchmark(1.0, weights, kind=kind)
        assert float((weights * adjusted).sum() / weights.sum()) == pytest.approx(1.0, abs=1e-12)


def test_clear_errors(milk):
    bad = milk.assign(var=0.0)
    with pytest.raises(ValueError, match="positive"):
        fay_herriot(bad, "direct_est", "var", "C(major_area)")
    with pytest.raises(ValueError, match="not in the data"):
        fay_herriot(milk, "direct_est", "var", ["nope"])
    with pytest.raises(ValueError, match="collinear"):
        fay_herriot(milk.assign(a=1.0, b=2.0), "direct_est", "var", ["a", "b"])
    with pytest.raises(ValueError, match="method"):
        fay_herriot(milk, "direct_est", "var", "C(major_area)", method="FH")  # type: ignore[arg-type]
