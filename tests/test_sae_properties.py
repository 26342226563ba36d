"""Properties of the Fay-Herriot fit (hypothesis): equivariance and the shape of the EBLUP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialquality.sae import fay_herriot


def _data(seed: int, m: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(m)
    psi = rng.uniform(0.2, 2.0, m)
    theta = 1.0 + 0.8 * x + rng.normal(0, 0.7, m)
    return pd.DataFrame({"area": np.arange(m), "x": x, "psi": psi, "y": theta + rng.normal(0, np.sqrt(psi))})


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(15, 80), shift=st.floats(-50, 50), scale=st.floats(0.1, 10))
def test_location_and_scale_equivariance(seed, m, shift, scale):
    data = _data(seed, m)
    base = fay_herriot(data, "y", "psi", ["x"], area="area")
    moved = fay_herriot(data.assign(y=scale * data["y"] + shift, psi=scale**2 * data["psi"]), "y", "psi", ["x"],
                        area="area")
    assert moved.sigma2_u == pytest.approx(scale**2 * base.sigma2_u, rel=1e-3, abs=1e-9 * scale**2)
    np.testing.assert_allclose(moved.estimates["eblup"], scale * base.estimates["eblup"] + shift,
                               rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(moved.estimates["mse"], scale**2 * base.estimates["mse"], rtol=1e-3,
                               atol=1e-8 * scale**2)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(12, 80))
def test_eblup_lies_between_direct_and_synthetic(seed, m):
    fit = fay_herriot(_data(seed, m), "y", "psi", ["x"], area="area")
    e = fit.estimates
    assert fit.sigma2_u >= 0 and ((e["gamma"] >= 0) & (e["gamma"] < 1)).all()
    low = np.minimum(e["direct"], e["synthetic"]) - 1e-12
    high = np.maximum(e["direct"], e["synthetic"]) + 1e-12
    assert ((e["eblup"] >= low) & (e["eblup"] <= high)).all()
    assert (e["mse"] > 0).all()
    # the area with the most precise direct estimate is shrunk least
    assert e.loc[e["variance"].idxmin(), "gamma"] == pytest.approx(e["gamma"].max())


def test_zero_area_variance_gives_the_synthetic_estimate():
    rng = np.random.default_rng(4)
    m = 60
    x = rng.standard_normal(m)
    psi = np.full(m, 1.0)
    y = 2.0 + x + rng.normal(0, 0.2, m)  # far less spread than the sampling variance: sigma2_u = 0
    fit = fay_herriot(pd.DataFrame({"y": y, "x": x, "psi": psi}), "y", "psi", ["x"])
    assert fit.sigma2_u == 0.0 and fit.converged
    np.testing.assert_allclose(fit.estimates["eblup"], fit.estimates["synthetic"])
