"""Covariances of domain means: consistent with the variances the design already gives."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialquality.survey import SurveyDesign

DATA = Path(__file__).parent / "reference_data"


@pytest.fixture(scope="module")
def clus1() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "apiclus1.csv")
    frame["ell_plus_meals"] = frame["ell"] + frame["meals"]
    return frame


def test_covariance_with_itself_is_the_variance(clus1):
    design = SurveyDesign(clus1, "pw", psu="dnum", fpc="fpc")
    cov = design.mean_covariance("api00", "api00")["cov"].iloc[0]
    assert cov == pytest.approx(design.mean("api00")["se"].iloc[0] ** 2, rel=1e-12)
    assert design.mean("api00")["se"].iloc[0] == pytest.approx(23.542, rel=1e-3)


def test_variance_of_a_sum_of_domain_means(clus1):
    """Var(mean(a) + mean(b)) = Var(a) + Var(b) + 2 Cov(a, b), per domain, also after raking."""
    design = SurveyDesign(clus1, "pw", psu="dnum", fpc="fpc")
    raked = design.rake({"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}})
    for d in (design, raked):
        cov = d.mean_covariance("ell", "meals", by="stype")["cov"].to_numpy()
        var_a = d.mean("ell", by="stype")["se"].to_numpy() ** 2
        var_b = d.mean("meals", by="stype")["se"].to_numpy() ** 2
        var_sum = d.mean("ell_plus_meals", by="stype")["se"].to_numpy() ** 2
        np.testing.assert_allclose(var_a + var_b + 2 * cov, var_sum, rtol=1e-9)
        assert (cov > 0).all()  # English learners and free meals go together


def test_all_pairs_at_once_equal_the_pairwise_covariances(clus1):
    design = SurveyDesign(clus1, "pw", psu="dnum", fpc="fpc")
    raked = design.rake({"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}})
    variables = ["ell", "meals", "api00", "api99"]
    for d in (design, raked):
        table = d.mean_covariances(variables, by="stype")
        assert len(table) == 6 * 3
        assert list(table.columns) == ["stype", "variable_a", "variable_b", "cov"]
        for (a, b), part in table.groupby(["variable_a", "variable_b"], sort=False):
            assert variables.index(a) < variables.index(b)
            np.testing.assert_allclose(part["cov"].to_numpy(), d.mean_covariance(a, b, by="stype")["cov"].to_numpy(),
                                       rtol=1e-12)
        overall = d.mean_covariances(variables)
        assert len(overall) == 6 and overall["cov"].notna().all()
