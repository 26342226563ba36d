"""Similar districts (socialquality.similar) and breakdowns by age group and sex
(socialquality.breakdowns) -- the computations and what the district page and workbook show."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from lxml import html as lxml_html
from openpyxl import load_workbook

from socialquality.breakdowns import estimate_breakdowns
from socialquality.i18n import use_language
from socialquality.population import read_kwb
from socialquality.similar import SIMILARITY_VARIABLES, nearest, profile, versus_similar
from socialquality.small_areas import area_frame, covariates_long
from socialquality.survey import SurveyDesign

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_report import BREAKDOWN_SMALL_N, BREAKDOWN_SUPPRESSED, build_inputs  # noqa: E402

sys.path.pop(0)


def _long(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.melt(id_vars="area_code", var_name="covariate", value_name="value").assign(level="district")


# ----------------------------------------------------------------------------- similar districts
def test_nearest_by_standardised_distance_and_missing_is_median():
    wide = pd.DataFrame({"area_code": list("ABCDE"),
                         "pct_65plus": [10.0, 11.0, 30.0, 31.0, 20.0],
                         "inkomen_per_inwoner": [20.0, 21.0, 40.0, np.nan, 30.0],
                         "pct_corporatie": [5.0, 5.0, 5.0, 5.0, 5.0]})  # no variation: not used
    prof = profile(_long(wide), list("ABCDE"))
    assert list(prof.columns) == ["pct_65plus", "inkomen_per_inwoner"]
    assert prof.loc["D", "inkomen_per_inwoner"] == 25.5  # the median of the others
    nb = nearest(prof, k=2)
    first = {d: g.sort_values("rank")["similar_code"].tolist() for d, g in nb.groupby("district_code")}
    assert first["A"] == ["B", "E"] and first["C"][0] in {"D", "E"}
    # the distance is the root mean square of the z-differences
    x = prof.to_numpy()
    z = (x - x.mean(0)) / x.std(0)
    expected = float(np.sqrt(((z[0] - z[1]) ** 2).mean()))
    assert nb[(nb["district_code"] == "A") & (nb["rank"] == 1)]["distance"].iloc[0] == pytest.approx(expected)


def test_versus_similar_marks_only_significant_differences_after_bh():
    nb = pd.DataFrame({"district_code": ["A", "A", "B", "B", "C", "C"], "similar_code": ["B", "C", "A", "C", "A", "B"],
                       "rank": [1, 2] * 3, "distance": 0.1})
    frame = pd.DataFrame({"wave": "2023", "district_code": list("ABC"), "condition": "c",
                          "index": [110.0, 100.0, 100.5], "ci_low": [108.0, 98.0, 98.5], "ci_high": [112.0, 102.0, 102.5]})
    out = versus_similar(frame, nb, key="condition", value="index").set_index("district_code")
    se = 2.0 / 1.959963984540054
    diff_a = 110.0 - (100.0 + 100.5) / 2
    z = diff_a / np.sqrt(se ** 2 + 2 * se ** 2 / 4)
    from scipy import stats
    assert out.loc["A", "diff"] == pytest.approx(diff_a)
    assert out.loc["A", "p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert out.loc["A", "vs_similar"] == "higher"
    assert out.loc["C", "vs_similar"] in ("lower", "same")
    # a missing figure leaves the district out; one similar district with a figure is not enough
    frame.loc[frame["district_code"] == "B", "index"] = np.nan
    out = versus_similar(frame, nb, key="condition", value="index")
    assert set(out["district_code"]) == set()


def test_similar_districts_of_both_cities_from_the_cbs_files():
    for path, city, n_districts in (("kwb_2019_amsterdam_84583NED.csv", "GM0363", 99),
                                    ("kwb_2019_den_haag_84583NED.csv", "GM0518", 44)):
        kwb = read_kwb(ROOT / "data" / "cbs" / path)
        areas = area_frame(kwb, city, "district", SIMILARITY_VARIABLES)
        long = covariates_long(areas, "district", SIMILARITY_VARIABLES)
        prof = profile(long, list(areas["area_code"]))
        assert len(prof) == n_districts and prof.shape[1] >= 6, (city, list(prof.columns))
        nb = nearest(prof)
        assert nb.groupby("district_code").size().eq(5).all()
        assert not (nb["district_code"] == nb["similar_code"]).any()


# ----------------------------------------------------------------------------- breakdowns
def _design(seed: int = 3) -> SurveyDesign:
    """Three districts; in WK02 only 10 respondents are 75+; 20 respondents have no age group."""
    rng = np.random.default_rng(seed)
    n = 900
    frame = pd.DataFrame({
        "district_code": np.repeat(["WK01", "WK02", "WK03"], n // 3),
        "age_group": rng.choice(["18-34", "35-54", "55-74"], n),
        "sex": rng.choice(["m", "v"], n),
        "w": rng.uniform(0.5, 2.0, n),
    })
    frame.loc[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] + list(range(600, 660)), "age_group"] = "75+"
    frame.loc[range(300, 310), "age_group"] = "75+"
    frame.loc[range(700, 720), "age_group"] = None
    frame["ind__eenzaam"] = (rng.uniform(size=n) < 0.3 + 0.2 * (frame["age_group"] == "75+")).astype(float)
    return SurveyDesign(frame, weights="w", strata="district_code")


def test_breakdowns_are_weighted_domain_means_with_suppression():
    design = _design()
    catalogue = SimpleNamespace(indicators=[SimpleNamespace(id="eenzaam", in_index=True),
                                            SimpleNamespace(id="niet_gevraagd", in_index=True)],
                                minimum_respondents=30)
    out = estimate_breakdowns(design, catalogue, "2023", "GM9999")
    data = design.data
    assert set(out["dimension"]) == {"age_group", "sex"}
    assert set(out.loc[out["dimension"] == "age_group", "level"]) == {"18-34", "35-54", "55-74", "75+"}
    row = out[(out["district_code"] == "WK01") & (out["level"] == "35-54")].iloc[0]
    sub = data[(data["district_code"] == "WK01") & (data["age_group"] == "35-54")]
    assert row["estimate"] == pytest.approx(np.average(sub["ind__eenzaam"], weights=sub["w"]))
    assert row["n"] == len(sub) and row["ci_low"] < row["estimate"] < row["ci_high"]
    assert row["se"] == pytest.approx((row["ci_high"] - row["ci_low"]) / (2 * 1.959963984540054))
    small = out[(out["district_code"] == "WK02") & (out["level"] == "75+")].iloc[0]
    assert small["n"] == 10 and small["suppressed"] and np.isnan(small["estimate"])
    assert small["suppression_reason"] == "minder dan 30 respondenten"
    city = out[(out["district_code"] == "GM9999") & (out["level"] == "m")].iloc[0]
    assert city["n"] == int((data["sex"] == "m").sum())


# ----------------------------------------------------------------------------- the district page and workbook
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from socialquality.report import render_report

    out = tmp_path_factory.mktemp("sim")
    return render_report(build_inputs(), out), out


def _page(rendered, code="WK036394"):
    outputs, out = rendered
    return lxml_html.fromstring((out / "wijken" / f"{code}.html").read_text(encoding="utf-8"))


def test_district_page_lists_similar_districts_side_by_side(rendered):
    doc = _page(rendered)
    section = doc.xpath('//section[@class="similar"]')[0]
    intro = section.xpath("./p")[0].text_content()
    assert intro.startswith("De 3 wijken van Amsterdam (demostad) die volgens de CBS-cijfers het meest op "
                            "Bijlmer Oost (E,G,K) lijken, op: aandeel 65-plussers, aandeel met een niet-westerse")
    rows = section.xpath(".//table/tbody/tr")
    names = [r.xpath("./td")[0].text_content().strip() for r in rows]
    assert names[0] == "Bijlmer Oost (E,G,K)" and names[1] == "Bijlmer Centrum (D,F,H)"  # the nearest profile
    assert sorted(names[1:]) == sorted(["Bijlmer Centrum (D,F,H)", "Holendrecht/Reigersbos", "Landlust"])
    assert rows[1].xpath(".//a/@href") == ["WK036393.html"]
    first = rows[0].xpath("./td")[1].text_content()
    assert re.fullmatch(r"\d+,\d\d+,\d tot \d+,\d", first.strip().replace("\n", "")), first
    marks = [li.text_content() for li in section.xpath(".//ul/li")]
    assert len(marks) == 4
    assert all(re.search(r": (hoger|lager) dan vergelijkbare wijken \(index|: niet aantoonbaar anders dan "
                         r"vergelijkbare wijken|: geen vergelijking", t) for t in marks), marks


def test_district_page_breakdown_table_with_suppressed_cells(rendered):
    doc = _page(rendered)
    table = doc.xpath('//section[@class="breakdowns"]//table')[0]
    heads = [th.text_content() for th in table.xpath("./thead/tr[2]/th")]
    assert heads == ["Indicator", "15-24 jaar", "25-44 jaar", "45-64 jaar", "65 jaar en ouder", "mannen", "vrouwen"]
    rows = {r.xpath("./th")[0].text_content(): r.xpath("./td") for r in table.xpath("./tbody/tr")}
    assert rows["Sociale cohesie (schaalscore 0-10)"][0].text_content().startswith("–")
    assert "minder dan 30 respondenten in deze groep" in rows["Sociale cohesie (schaalscore 0-10)"][0].text_content()
    assert rows["Voelt zich gehoord door de gemeente"][4].text_content().startswith("–")  # n = 20, not flagged
    cell = rows["Moeite met rondkomen"][0].text_content()
    assert re.fullmatch(r"\d+,\d%\d+,\d% tot \d+,\d%", cell.strip()), cell
    page = lxml_html.tostring(doc, encoding="unicode")
    for hidden in ("66,6", "0.666", "91,9", "0.919"):
        assert hidden not in page
    note = doc.xpath('//section[@class="breakdowns"]/p[@class="note"]')[0].text_content()
    assert "–: niet getoond, minder dan 30 respondenten in deze groep." in note


def test_breakdowns_in_the_workbook_and_open_data(rendered):
    outputs, out = rendered
    wb = load_workbook(outputs.excel_path)
    ws = wb["Uitsplitsingen"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    assert header == ("Meting", "Wijk", "Wijkcode", "Indicator", "Uitsplitsing", "Groep", "Cijfer",
                      "Ondergrens (95%)", "Bovengrens (95%)", "n", "Waarom leeg")
    assert {r[0] for r in rows[1:]} == {2023}  # the workbook: the latest wave
    wave, code = BREAKDOWN_SUPPRESSED[:2]
    hit = [r for r in rows[1:] if r[0] == int(wave) and r[2] == code and r[5] == "15-24 jaar"
           and r[3] == "Sociale cohesie (schaalscore 0-10)"]
    assert len(hit) == 1 and hit[0][6] is None and hit[0][-1]  # empty, with the reason
    shown = next(i for i, r in enumerate(rows[1:], start=2) if r[3] == "Moeite met rondkomen" and r[6] is not None)
    assert ws.cell(row=shown, column=7).number_format == "0.0%"
    # open data: the sheet (latest wave) and every wave
    assert len(pd.read_csv(out / "open_data" / "uitsplitsingen.csv")) == len(rows) - 1
    every = pd.read_csv(out / "open_data" / "uitsplitsingen_alle_metingen.csv")
    assert set(every["Meting"]) == {2021, 2023} and len(every) == 2 * (len(rows) - 1)
    assert list(every.columns) == list(header)
    small = every[(every["Wijkcode"] == BREAKDOWN_SMALL_N[1]) & (every["Groep"] == "mannen")
                  & (every["Indicator"] == "Voelt zich gehoord door de gemeente") & (every["Meting"] == 2023)]
    assert small["Cijfer"].isna().all() and (small["Waarom leeg"] == "minder dan 30 respondenten").all()
    parquet = pd.read_parquet(out / "open_data" / "uitsplitsingen_alle_metingen.parquet")
    assert len(parquet) == len(every) and parquet["Cijfer"].dtype == float


def test_english_page(tmp_path):
    from socialquality.report import render_report

    with use_language("en"):
        outputs = render_report(build_inputs(), tmp_path)
    doc = lxml_html.fromstring((tmp_path / "wijken" / "WK036394.html").read_text(encoding="utf-8"))
    assert doc.xpath('//section[@class="similar"]/h2')[0].text_content() == "Similar districts"
    heads = [th.text_content() for th in doc.xpath('//section[@class="breakdowns"]//thead/tr[2]/th')]
    assert heads[1:] == ["15-24 years", "25-44 years", "45-64 years", "65 years and over", "men", "women"]
