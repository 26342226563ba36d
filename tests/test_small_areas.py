"""The small-area stage (socialquality.small_areas) and its report: settings, variance smoothing,
covariates from the CBS file, the publication rule, suppression, a quick simulation of the
pipeline's own choice (coverage, MSE against direct), and what the user sees in HTML and Excel."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from socialquality.errors import ConfigError
from socialquality.population import read_kwb
from socialquality.small_areas import (
    COVARIATES,
    SmallAreaConfig,
    area_frame,
    estimate_small_areas,
    load_small_area_config,
    small_area_reference,
    small_area_wave,
    smooth_variances,
)
from socialquality.survey import SurveyDesign

ROOT = Path(__file__).resolve().parents[1]
CBS = ROOT / "data" / "cbs" / "kwb_2019_amsterdam_84583NED.csv"
WIJKEN = ROOT / "data" / "geo" / "wijken_2019_GM0363.geojson"


def _bench():
    """benchmarks/bench_sae.py: its synthetic city (known truth) serves the simulation tests."""
    if "bench_sae" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_sae", ROOT / "benchmarks" / "bench_sae.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_sae"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_sae"]


# ----------------------------------------------------------------------------- settings
def test_settings_default_when_absent_and_validated(tmp_path):
    assert load_small_area_config(tmp_path / "absent.yaml") == SmallAreaConfig()
    assert load_small_area_config(ROOT / "surveys" / "small_area.yaml").rule == "n_below"
    good = tmp_path / "small_area.yaml"
    good.write_text("publication: {rule: smaller_mse}\nbenchmark: ratio\ncovariates: {candidates: [pct_65plus]}\n")
    config = load_small_area_config(good)
    assert (config.rule, config.benchmark, config.candidates) == ("smaller_mse", "ratio", ("pct_65plus",))
    for text, message in (("publicatie: {}\n", "unknown setting"), ("publication: {rule: best}\n", "publication.rule"),
                          ("covariates: {candidates: [shoe_size]}\n", "unknown covariate"),
                          ("levels: [gemeente]\n", "levels")):
        good.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_small_area_config(good)


# ----------------------------------------------------------------------------- inputs
def test_variance_smoothing_replaces_unstable_variances_only():
    se = np.array([0.05, 0.04, 0.06, 0.0, 0.2, np.nan])
    n = np.array([100, 150, 80, 12, 5, 3])
    variance, smoothed = smooth_variances(se, n, below_n=50)
    assert list(smoothed) == [False, False, False, True, True, True]
    np.testing.assert_allclose(variance[:3], se[:3] ** 2)
    k = np.sum(n[:3] * se[:3] ** 2 * n[:3]) / n[:3].sum()
    np.testing.assert_allclose(variance[3:], k / n[3:])
    assert (variance > 0).all()


def test_covariates_for_every_buurt_from_the_cbs_file():
    kwb = read_kwb(CBS)
    buurten = area_frame(kwb, "GM0363", "buurt")
    assert len(buurten) == 479
    assert buurten["parent_code"].str.match(r"^WK0363\d\d$").all()
    assert (buurten["area_code"].str[2:8] == buurten["parent_code"].str[2:8]).all()
    assert buurten[list(COVARIATES)].notna().all().all()  # CBS "." filled from the district / median
    assert (buurten["imputed"] > 0).sum() > 50  # many small buurten have unpublished fields
    table, covariates = small_area_reference(kwb, "GM0363", 2019, SmallAreaConfig(), WIJKEN)
    assert len(table) == 479 and table["buurt_name"].ne(table["buurt_code"]).mean() > 0.99  # names from the map
    assert set(covariates["level"]) == {"district", "buurt"}
    kop = table.set_index("buurt_code").loc["BU03630000"]
    assert kop["buurt_name"] == "Kop Zeedijk" and kop["district_code"] == "WK036300"


# ----------------------------------------------------------------------------- simulation
@pytest.fixture(scope="module")
def simulated():
    bench = _bench()
    frame, covariates, population, catalogue, truth = bench.synthetic_city(150, 600, 6000, 4, seed=3)
    design = SurveyDesign(frame, weights="w", strata="district_code")
    result = small_area_wave(design, catalogue, "2030", "GM0000", covariates, population, SmallAreaConfig())
    table = result.estimates.merge(truth, on=["level", "area_code", "indicator_id"])
    return result, table, catalogue


def test_simulation_coverage_and_mse_against_direct(simulated):
    """The pipeline's own path on a city with known truth: EBLUP beats the direct estimate for
    areas with < 50 respondents, and its 95% intervals cover the truth about 95% of the time."""
    result, table, _ = simulated
    covered = (table["model_ci_low"] <= table["true_value"]) & (table["true_value"] <= table["model_ci_high"])
    for level in ("district", "buurt"):
        part = covered[table["level"] == level]
        assert 0.88 <= part.mean() <= 0.99, (level, part.mean())
    # direct figures are stored only from minimum_respondents on: compare where both exist and n < 50
    small = table[(table["n"] >= 30) & (table["n"] < 50) & table["direct"].notna()]
    assert len(small) > 30
    mse_model = float(((small["eblup"] - small["true_value"]) ** 2).mean())
    mse_direct = float(((small["direct"] - small["true_value"]) ** 2).mean())
    assert mse_model < mse_direct
    # every area with residents has a figure, also without respondents (synthetic)
    assert table.groupby("level")["area_code"].nunique().to_dict() == {"district": 150, "buurt": 600}
    assert (table.loc[table["n"] == 0, "gamma"] == 0).all()
    assert set(result.models["level"]) == {"district", "buurt"}
    buurt_models = result.models[result.models["level"] == "buurt"]
    assert all('"wijkcijfer"' in c for c in buurt_models["covariates"])  # the buurt model uses the district figure


def test_publication_rule_and_suppression(simulated):
    result, table, _ = simulated
    e = result.estimates
    # n_below (default, threshold 50): direct from 50 respondents, the model figure below
    assert (e.loc[e["n"] >= 50, "source"] == "direct").all()
    assert (e.loc[e["n"] < 50, "source"] == "model").all()
    # suppression still holds: no direct figure below minimum_respondents (30) is stored
    assert e.loc[e["n"] < 30, "direct"].isna().all() and e.loc[e["n"] < 30, "direct_se"].isna().all()
    model = e[e["source"] == "model"]
    np.testing.assert_allclose(model["estimate"], model["eblup"])
    inside = model[(model["ci_low"] > 0) & (model["ci_high"] < 1)]  # intervals of shares are clipped to [0, 1]
    assert len(inside) > 100
    np.testing.assert_allclose(inside["ci_high"] - inside["ci_low"], 2 * 1.959963984540054 * np.sqrt(inside["mse"]), rtol=1e-9)
    direct = e[e["source"] == "direct"]
    np.testing.assert_allclose(direct["estimate"], direct["direct"])


def test_smaller_mse_rule_and_benchmarking(simulated):
    bench = _bench()
    frame, covariates, population, catalogue, _ = bench.synthetic_city(150, 600, 6000, 2, seed=3)
    design = SurveyDesign(frame, weights="w", strata="district_code")
    config = SmallAreaConfig(rule="smaller_mse", benchmark="ratio", levels=("district",))
    e = small_area_wave(design, catalogue, "2030", "GM0000", covariates, population, config).estimates
    direct = e[e["source"] == "direct"]
    assert (direct["variance_model"] <= direct["mse"]).all()
    assert (e.loc[e["n"] < 30, "source"] == "model").all()
    for indicator, group in e.groupby("indicator_id"):
        city = float(design.mean(f"ind__{indicator}")["estimate"].iloc[0])
        weights = group["population"].to_numpy()
        # ratio benchmarking: the population-weighted model figures add up to the city's direct estimate
        # (up to clipping of shares into [0, 1])
        assert float((weights * group["eblup"]).sum() / weights.sum()) == pytest.approx(city, abs=2e-3)


def test_too_few_areas_gives_no_model_and_says_so():
    bench = _bench()
    frame, covariates, population, catalogue, _ = bench.synthetic_city(8, 20, 400, 1, seed=5)
    design = SurveyDesign(frame, weights="w", strata="district_code")
    result = small_area_wave(design, catalogue, "2030", "GM0000", covariates, population,
                             SmallAreaConfig(levels=("district",)))
    assert result.estimates.empty and "fewer than 10" in result.log[0]


# ----------------------------------------------------------------------------- the report
def _report_inputs():
    from tests.test_report import DISTRICTS, SUPPRESSED, build_inputs

    districts = list(DISTRICTS)
    kwb = read_kwb(CBS)
    buurten, _ = small_area_reference(kwb, "GM0363", 2019, SmallAreaConfig(), WIJKEN)
    mine = buurten[buurten["district_code"].isin(districts)]
    inhabited = mine[mine["population"] > 0]  # the stage gives no figure to a buurt without residents
    rows = []
    for level, codes, parents in (("district", districts, ["GM0363"] * len(districts)),
                                  ("buurt", list(inhabited["buurt_code"]), list(inhabited["district_code"]))):
        for k, (code, parent) in enumerate(zip(codes, parents)):
            n = 12 if (level, code) == ("district", SUPPRESSED[1]) else (80 if level == "district" else 3 + k % 20)
            for indicator in ("eenzaam", "cohesie"):
                eblup = 0.3123 + 0.001 * k if indicator == "eenzaam" else 6.2
                if (level, code, indicator) == ("district", SUPPRESSED[1], "eenzaam"):
                    eblup = 0.3456  # the model figure of the suppressed district
                mse = 0.0004 if indicator == "eenzaam" else 0.01
                source = "model" if n < 50 else "direct"
                direct = 0.777 if n < 30 else eblup + 0.01  # a small-n direct value that must never show
                rows.append(dict(wave="2023", level=level, area_code=code, indicator_id=indicator, parent_code=parent,
                                 population=1000.0, n=n, direct=direct, direct_se=0.05, variance_model=0.0025,
                                 variance_smoothed=n < 50, synthetic=eblup, eblup=eblup, mse=mse,
                                 model_ci_low=eblup - 1.96 * mse**0.5, model_ci_high=eblup + 1.96 * mse**0.5,
                                 gamma=0.2, std_residual=0.1, direct_suppressed=n < 30, source=source,
                                 estimate=eblup if source == "model" else direct, se=mse**0.5,
                                 ci_low=eblup - 1.96 * mse**0.5, ci_high=eblup + 1.96 * mse**0.5))
    # a row that claims "direct" with too few respondents: the renderer must not publish its number
    rows.append({**rows[-1], "area_code": inhabited["buurt_code"].iloc[0], "indicator_id": "gehoord", "n": 4,
                 "source": "direct", "direct": 0.777, "estimate": 0.777})
    models = pd.DataFrame([dict(wave="2023", level="district", indicator_id="eenzaam", method="REML", n_areas=95,
                                n_predicted=3, sigma2_u=0.0012, sigma2_u_se=0.0004, covariates='["pct_65plus"]',
                                coefficients='[{"term": "Intercept", "estimate": 0.3, "se": 0.01, "p_value": 0.0},'
                                             ' {"term": "pct_65plus", "estimate": 0.02, "se": 0.005, "p_value": 0.001}]',
                                selection="[]", loglik=10.0, aic=-14.0, r2=0.4, mean_gamma=0.3, converged=True,
                                benchmark="none", smoothed_areas=80)])
    return build_inputs(small_areas=pd.DataFrame(rows), small_area_models=models, buurten=mine,
                        buurt_geojson_path=ROOT / "data" / "geo" / "buurten_2019_GM0363.geojson"), mine


@pytest.fixture(scope="module")
def small_area_report(tmp_path_factory):
    from socialquality.report import render_report

    inputs, buurten = _report_inputs()
    out = tmp_path_factory.mktemp("rapport_sae")
    outputs = render_report(inputs, out)
    return outputs, out, buurten


def test_district_page_shows_the_model_figure_labelled(small_area_report):
    from tests.test_report import SUPPRESSED

    outputs, out, _ = small_area_report
    page = (out / "wijken" / f"{SUPPRESSED[1]}.html").read_text(encoding="utf-8")
    row = re.search(r"Eenzaam \(De Jong Gierveld, matig of ernstig\).*?</tr>", page, re.S).group(0)
    assert "34,6%" in row and "modelschatting" in row
    assert "77,7" not in page


def test_buurt_page_every_buurt_with_a_map(small_area_report):
    outputs, out, buurten = small_area_report
    html = (out / "buurten.html").read_text(encoding="utf-8")
    inhabited = buurten[buurten["population"] > 0]
    for name in inhabited["buurt_name"]:
        assert f"<td>{name}</td>" in html or f"<td>{name.replace('&', '&amp;')}</td>" in html
    assert html.count("<em>modelschatting</em>") >= len(inhabited)
    assert "77,7" not in html and "Bron registercijfers en kaart: CBS, CC BY 4.0" in html
    maps = [p for p in outputs.figure_paths if p.name.startswith("buurtkaart_")]
    assert {p.name for p in maps} >= {"buurtkaart_eenzaam.png", "buurtkaart_cohesie.png"}
    index = outputs.html_path.read_text(encoding="utf-8")
    assert 'href="buurten.html"' in index


def test_excel_sheets_label_every_figure(small_area_report):
    outputs, out, buurten = small_area_report
    wb = load_workbook(outputs.excel_path)
    ws = wb["Wijken en buurten"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, [c.value for c in r])) for r in ws.iter_rows(min_row=2)]
    assert {r["Bron van het cijfer"] for r in rows} == {"direct", "modelschatting"}
    buurt_rows = [r for r in rows if r["Niveau"] == "buurt" and r["Indicator"].startswith("Eenzaam")]
    assert {r["Code"] for r in buurt_rows} == set(buurten.loc[buurten["population"] > 0, "buurt_code"])
    assert all(isinstance(r["Cijfer"], float) and r["Ondergrens (95%)"] < r["Cijfer"] < r["Bovengrens (95%)"]
               for r in buurt_rows)
    for r in rows:
        assert r["Cijfer"] != pytest.approx(0.777) and r["Directe schatting"] != pytest.approx(0.777)
    cell = next(c for c in ws["G"][1:] if isinstance(c.value, float))
    assert cell.number_format in ("0.0%", "0.0")
    models = wb["Modellen"]
    values = [[c.value for c in r] for r in models.iter_rows(min_row=2)]
    assert [v[8] for v in values] == ["Intercept", "pct_65plus"] and values[0][4] == pytest.approx(0.0012)


def test_another_city_in_the_excel_layout_uses_the_fields_it_has():
    """Utrecht's KWB 2023 Excel download lacks e.g. the benefit and Wmo fields: those covariates drop out."""
    kwb = read_kwb(ROOT / "data" / "cbs" / "kwb_2023_utrecht.xlsx")
    buurten, covariates = small_area_reference(kwb, "GM0344", 2023, SmallAreaConfig())
    assert len(buurten) == 111 and buurten["district_code"].str.startswith("WK0344").all()
    present = set(covariates["covariate"])
    assert {"pct_laag_inkomen", "pct_65plus", "afstand_huisarts"} <= present
    assert "pct_bijstand" not in present and "wmo_per_1000" not in present
    assert covariates["value"].notna().all()
