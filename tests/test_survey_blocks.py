"""Block-wise calibration (issue 12): the sparse, per-district matrices give the same numbers
as the dense forms, and margins nested in districts take the per-row (nested) variance path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import socialquality.survey as survey_mod
from socialquality.survey import SurveyDesign, _block_ginv, _sym_ginv


def _district_frame(n_districts: int = 12, n: int = 3000, seed: int = 3) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    district = rng.integers(0, n_districts, n)
    sex = rng.integers(0, 2, n)
    age = rng.integers(0, 3, n)
    frame = pd.DataFrame({
        "district": district, "w": rng.uniform(5, 15, n) * (1 + district % 3),
        "ds": district * 2 + sex, "da": district * 3 + age,
        "y": rng.normal(50 + 3 * age + district, 10, n),
        "grp": rng.integers(0, 4, n),
    })
    frame.loc[rng.random(n) < 0.05, "y"] = np.nan
    pop = frame.groupby("district")["w"].sum().to_numpy() * rng.uniform(0.9, 1.1, n_districts)
    sex_share = rng.uniform(0.45, 0.55, n_districts)
    age_share = rng.dirichlet(np.ones(3) * 5, n_districts)
    margins = {
        "ds": {d * 2 + s: pop[d] * (sex_share[d] if s == 0 else 1 - sex_share[d])
               for d in range(n_districts) for s in range(2)},
        "da": {d * 3 + a: pop[d] * age_share[d, a] for d in range(n_districts) for a in range(3)},
    }
    return frame, margins


def test_block_ginv_equals_dense_generalised_inverse():
    frame, margins = _district_frame()
    raked = SurveyDesign(frame, weights="w", strata="district").rake(margins)
    step = raked._cal_steps[0]
    gram = survey_mod._crosstab_sparse(step.codes, step.sizes, step.codes, step.sizes, frame["w"].to_numpy())
    dense = _sym_ginv(gram.toarray())
    assert np.allclose(_block_ginv(gram).toarray(), dense, atol=1e-12)
    # one block per district: the inverse has no entries across districts
    assert _block_ginv(gram).nnz <= 12 * 5 * 5


@pytest.mark.parametrize("by", ["district", None])
def test_nested_path_equals_general_sparse_and_dense_paths(by, monkeypatch):
    frame, margins = _district_frame()
    design = SurveyDesign(frame, weights="w", strata="district")
    nested = design.rake(margins).mean("y", by=by)
    calls = []
    original = SurveyDesign._nested_residuals

    def spy(self, u, dom):
        out = original(self, u, dom)
        calls.append(out is not None)
        return None

    monkeypatch.setattr(SurveyDesign, "_nested_residuals", spy)
    dense = design.rake(margins).mean("y", by=by)
    monkeypatch.setattr(survey_mod, "_DENSE_LIMIT", 0)
    general = design.rake(margins).mean("y", by=by)
    assert calls and all(calls)  # margins nested in districts: the nested path applies
    assert np.allclose(nested["se"], dense["se"], rtol=1e-9)
    assert np.allclose(general["se"], dense["se"], rtol=1e-7)
    assert np.allclose(nested["estimate"], dense["estimate"], rtol=1e-12)


def test_domains_across_districts_use_the_general_path():
    frame, margins = _district_frame()
    raked = SurveyDesign(frame, weights="w", strata="district").rake(margins)
    u = np.ones(len(frame))
    dom = raked._domains("grp")
    assert raked._nested_residuals(u, dom) is None
    got = raked.mean("y", by="grp")
    assert got["se"].notna().all() and (got["se"] > 0).all()


def _raked_twice(frame: pd.DataFrame, margins: dict):
    """Two calibration steps (rake, then rake again on a margin nested in districts)."""
    design = SurveyDesign(frame, weights="w", strata="district")
    once = design.rake(margins)
    frame = frame.assign(dg=frame["district"] * 4 + frame["grp"])
    totals = once.weights.groupby(frame["dg"]).sum() * 1.02
    totals = totals / totals.groupby(totals.index // 4).transform("sum") * once.weights.groupby(
        frame["district"]).sum().reindex(totals.index // 4).to_numpy()
    twice_design = SurveyDesign(frame, weights="w", strata="district").rake(margins)
    return twice_design.rake({"dg": totals.to_dict()})


@pytest.mark.parametrize("by", ["district", None])
def test_nested_path_with_two_calibration_steps_equals_general_path(by, monkeypatch):
    frame, margins = _district_frame()
    twice = _raked_twice(frame, margins)
    nested = twice.mean("y", by=by)
    assert twice._nested_residuals(np.zeros(len(frame)), twice._domains(by)) is not None
    monkeypatch.setattr(SurveyDesign, "_nested_residuals", lambda self, u, dom: None)
    general = _raked_twice(frame, margins).mean("y", by=by)
    assert np.allclose(nested["se"], general["se"], rtol=1e-9)
    assert np.allclose(nested["estimate"], general["estimate"], rtol=1e-12)


def test_domain_with_rows_outside_it_in_the_same_district_is_not_nested():
    frame, margins = _district_frame()
    frame["district_by"] = frame["district"].where(frame.index % 7 != 0)
    raked = SurveyDesign(frame, weights="w", strata="district").rake(margins)
    dom = raked._domains("district_by")
    assert dom.sel is not None
    assert raked._nested_residuals(np.zeros(len(dom.sel)), dom) is None  # rows outside share the blocks
    got = raked.mean("y", by="district_by")
    assert got["se"].notna().all() and (got["se"] > 0).all()
