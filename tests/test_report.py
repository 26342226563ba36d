"""The report renderer (socialquality.report): files, privacy (suppression), colours, Dutch numbers, Excel.

One synthetic city of four real Amsterdam districts (so the map uses the bundled GeoJSON), three
waves with a method break, one suppressed cell that *does* carry an estimate (0.777) to prove the
renderer never prints it, one programme with effects and an accountability chain, one closure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from socialquality.report import ReportInputs, render_report
from socialquality.report import text as text_nl
from socialquality.report.render import interventions_frames

ROOT = Path(__file__).resolve().parents[1]
GEOJSON = ROOT / "data" / "geo" / "wijken_2019_GM0363.geojson"
CITY = "GM0363"
WAVES = ["2019", "2021", "2023"]
DISTRICTS = {
    "WK036337": "Landlust",
    "WK036393": "Bijlmer Centrum (D,F,H)",
    "WK036394": "Bijlmer Oost (E,G,K)",
    "WK036396": "Holendrecht/Reigersbos",
}
SUPPRESSED = ("2023", "WK036396", "eenzaam")  # the cell that must never show a number
SMALL_N = ("2023", "WK036337", "gehoord")  # n = 9 < 30 but suppressed=False in the input
CONDITIONS = {
    "socio_economic_security": "Sociaal-economische zekerheid",
    "social_inclusion": "Sociale inclusie",
    "social_cohesion": "Sociale cohesie",
    "social_empowerment": "Sociale empowerment",
}
CATALOGUE = pd.DataFrame([
    ("moeite_rondkomen", "Moeite met rondkomen", "percent", "socio_economic_security", "higher_is_worse", "survey", True),
    ("eenzaam", "Eenzaam (De Jong Gierveld, matig of ernstig)", "percent", "social_inclusion", "higher_is_worse", "survey", True),
    ("eenzaam_65plus", "Eenzaam, 65-plussers", "percent", "social_inclusion", "higher_is_worse", "survey", False),
    ("cohesie", "Sociale cohesie (schaalscore 0-10)", "score", "social_cohesion", "higher_is_better", "survey", True),
    ("gehoord", "Voelt zich gehoord door de gemeente", "percent", "social_empowerment", "higher_is_better", "survey", True),
    ("laag_inkomen", "Huishoudens met een laag inkomen (CBS)", "percent", "socio_economic_security", "higher_is_worse", "register", False),
    ("afstand_huisarts", "Afstand tot huisartsenpraktijk, km (CBS)", "km", "social_inclusion", "higher_is_worse", "register", False),
], columns=["indicator_id", "label", "unit", "condition", "direction", "kind", "in_index"])
SURVEY = ["moeite_rondkomen", "eenzaam", "eenzaam_65plus", "cohesie", "gehoord"]
BASE_VALUE = {"moeite_rondkomen": 0.21, "eenzaam": 0.31, "eenzaam_65plus": 0.36, "cohesie": 6.1, "gehoord": 0.33}


def _estimate(ind: str, d_idx: int, w_idx: int) -> float:
    step = 0.01 if ind != "cohesie" else 0.1
    return round(BASE_VALUE[ind] + step * (d_idx - 1.5) + step * 0.5 * w_idx, 4)


#: CBS register profile of the districts (area_covariates) for "vergelijkbare wijken"
COVARIATE_VALUES = {  # pct_65plus, pct_niet_westers, inkomen_per_inwoner, pct_corporatie, pct_eenpersoons
    "WK036337": (14.0, 30.0, 24.0, 50.0, 45.0),
    "WK036393": (9.0, 62.0, 19.0, 60.0, 40.0),
    "WK036394": (10.0, 60.0, 20.0, 58.0, None),  # a figure CBS does not publish
    "WK036396": (16.0, 50.0, 22.0, 40.0, 38.0),
}
BREAKDOWN_SUPPRESSED = ("2023", "WK036394", "cohesie", "age_group", "15-24")  # n = 12, a number sneaked in: 0.666
BREAKDOWN_SMALL_N = ("2023", "WK036394", "gehoord", "sex", "m")  # n = 20, not flagged: the renderer blanks it


def _covariates() -> pd.DataFrame:
    names = ["pct_65plus", "pct_niet_westers", "inkomen_per_inwoner", "pct_corporatie", "pct_eenpersoons"]
    return pd.DataFrame([dict(level="district", area_code=code, covariate=name, value=value)
                         for code, values in COVARIATE_VALUES.items() for name, value in zip(names, values)])


def _breakdowns() -> pd.DataFrame:
    rows = []
    for wave in ("2021", "2023"):
        for d_idx, code in enumerate([CITY] + list(DISTRICTS)):
            for ind in ("moeite_rondkomen", "eenzaam", "cohesie", "gehoord"):
                for dim, levels in (("age_group", ["15-24", "25-44", "45-64", "65+"]), ("sex", ["m", "v"])):
                    for l_idx, level in enumerate(levels):
                        est = _estimate(ind, d_idx, 2) + (0.02 if ind != "cohesie" else 0.2) * (l_idx - 1)
                        se = 0.04 if ind != "cohesie" else 0.3
                        n = 300 if code == CITY else 40 + 10 * l_idx
                        key = (wave, code, ind, dim, level)
                        row = dict(wave=wave, district_code=code, indicator_id=ind, dimension=dim, level=level,
                                   estimate=est, se=se, ci_low=est - 1.96 * se, ci_high=est + 1.96 * se, n=n,
                                   suppressed=False, suppression_reason=None)
                        if key == BREAKDOWN_SUPPRESSED:
                            row.update(estimate=0.666, ci_low=0.5, ci_high=0.8, n=12, suppressed=True)
                        if key == BREAKDOWN_SMALL_N:
                            row.update(estimate=0.919, ci_low=0.858, ci_high=0.98, n=20)
                        rows.append(row)
    return pd.DataFrame(rows)


def build_inputs(**overrides) -> ReportInputs:
    areas = [CITY] + list(DISTRICTS)
    di_rows = []
    for w_idx, wave in enumerate(WAVES):
        for d_idx, code in enumerate(areas):
            for ind in SURVEY:
                est = _estimate(ind, d_idx, w_idx)
                if (code, ind, wave) == (CITY, "gehoord", "2023"):
                    est = 0.423  # a known figure: must read "42,3%"
                se = 0.02 if ind != "cohesie" else 0.08
                di_rows.append(dict(wave=wave, district_code=code, indicator_id=ind, estimate=est, se=se,
                                    ci_low=est - 1.96 * se, ci_high=est + 1.96 * se, n=250 if code != CITY else 1200,
                                    n_eff=200.0, deff=1.25, suppressed=False))
    di = pd.DataFrame(di_rows)
    # the suppressed cell WITH a number that sneaked in
    mask = (di["wave"] == SUPPRESSED[0]) & (di["district_code"] == SUPPRESSED[1]) & (di["indicator_id"] == SUPPRESSED[2])
    di.loc[mask, ["estimate", "ci_low", "ci_high", "n", "suppressed"]] = [0.777, 0.701, 0.853, 12, True]
    # a cell with too few respondents that is NOT flagged: the renderer must suppress it itself
    mask = (di["wave"] == SMALL_N[0]) & (di["district_code"] == SMALL_N[1]) & (di["indicator_id"] == SMALL_N[2])
    di.loc[mask, ["estimate", "ci_low", "ci_high", "n", "suppressed"]] = [0.888, 0.801, 0.975, 9, False]

    ch_rows = []
    for code in areas:
        for ind in SURVEY:
            for wave, ref, comp in (("2021", "2019", "previous"), ("2023", "2021", "previous"), ("2023", "2019", "base")):
                verdict, change = "no_significant_change", 0.005
                if (code, ind, wave, comp) == ("WK036394", "eenzaam", "2023", "previous"):
                    verdict, change = "improved", -0.052
                if (code, ind, wave, comp) == ("WK036337", "cohesie", "2023", "previous"):
                    verdict, change = "worsened", -0.61
                if wave == "2021":
                    verdict = "not_comparable"
                if (code, ind, wave) == ("WK036396", "eenzaam", "2023"):
                    verdict, change = "worsened", 0.477  # would reveal 0.777 - 0.300: must be blanked
                ch_rows.append(dict(district_code=code, indicator_id=ind, wave=wave, compared_to=comp,
                                    reference_wave=ref, change=change, ci_low=change - 0.03, ci_high=change + 0.03,
                                    p_value=0.01 if verdict in ("improved", "worsened") else 0.4,
                                    p_adjusted=0.03 if verdict in ("improved", "worsened") else 0.6,
                                    verdict=verdict, method_break=(wave == "2021")))
    idx_rows = []
    for w_idx, wave in enumerate(WAVES):
        for d_idx, code in enumerate(areas):
            for c_idx, cond in enumerate(CONDITIONS):
                value = 100.0 if (code == CITY and wave == "2019") else 100 + 3.1 * (d_idx - 2) + 0.9 * w_idx + c_idx
                lo, hi = value - 2.4, value + 2.6
                if (code, cond, wave) == ("WK036396", "social_inclusion", "2023"):
                    value = lo = hi = np.nan  # its only index indicator is suppressed
                idx_rows.append(dict(wave=wave, district_code=code, condition=cond, index=value, ci_low=lo,
                                     ci_high=hi, n_indicators=1))
    decomposition = pd.DataFrame([
        dict(wave="2023", district_code=CITY, condition="social_cohesion", indicator_id="cohesie", contribution=1.2),
        dict(wave="2023", district_code="WK036396", condition="social_inclusion", indicator_id="eenzaam",
             contribution=77.7),  # contribution of a suppressed figure: must be blanked
    ])
    register = pd.DataFrame([
        dict(district_code=code, indicator_id=ind, value=val, year=2019)
        for code, k in zip(areas, range(5))
        for ind, val in (("laag_inkomen", 12.5 + k), ("afstand_huisarts", 0.6 + 0.1 * k))
    ])
    effects = pd.DataFrame([
        dict(intervention_id="computerles65", intervention_name="Computerlessen voor 65-plussers", kind="programme",
             district_code="", indicator_id="eenzaam_65plus", method="staggered_did", estimate=-0.041, se=0.012,
             ci_low=-0.065, ci_high=-0.017, estimable=True, verdict_code="improved",
             verdict_nl="In de wijken met het programma nam Eenzaam, 65-plussers na de start van het programma af met "
                        "4,1 procentpunt vergeleken met wijken zonder programma (95%-interval: 1,7 tot 6,5). "
                        "Dit is waarschijnlijk geen toeval.", pretrend_warning=False),
        dict(intervention_id="computerles65", intervention_name="Computerlessen voor 65-plussers", kind="programme",
             district_code="WK036394", indicator_id="eenzaam_65plus", method="its", estimate=-0.02, se=0.02,
             ci_low=-0.059, ci_high=0.019, estimable=True, verdict_code="no_significant_change",
             verdict_nl="We kunnen niet zeggen of Eenzaam, 65-plussers na de start van het programma veranderde: het "
                        "95%-interval (-5,9 tot 1,9) omvat nul.", pretrend_warning=False),
        dict(intervention_id="computerles65", intervention_name="Computerlessen voor 65-plussers", kind="programme",
             district_code="WK036393", indicator_id="eenzaam_65plus", method="its", estimate=np.nan, se=np.nan,
             ci_low=np.nan, ci_high=np.nan, estimable=False, verdict_code="not_estimable",
             verdict_nl="Geen uitspraak mogelijk: te weinig metingen vóór de start.", pretrend_warning=False),
        dict(intervention_id="sluiting_buurthuis_landlust", intervention_name="Sluiting van buurthuis Landlust",
             kind="closure", district_code="WK036337", indicator_id="cohesie", method="did", estimate=-0.52, se=0.15,
             ci_low=-0.81, ci_high=-0.23, estimable=True, verdict_code="worsened",
             verdict_nl="In de wijk nam Sociale cohesie na de start van het programma af met 0,5 punt vergeleken met "
                        "de vergelijkingswijken (95%-interval: 0,2 tot 0,8). Dit is waarschijnlijk geen toeval.",
             pretrend_warning=True),
    ])
    chain = pd.DataFrame([
        dict(intervention_id="computerles65", district_code="WK036394", year=2020, sessions_planned=40,
             sessions_held=38, participants=62, target_population=1500, reach=62 / 1500, feedback_n=40,
             share_more_contacts=0.55, share_attributed_to_activity=0.45, mean_satisfaction=7.8),
        dict(intervention_id="computerles65", district_code="WK036393", year=2020, sessions_planned=40,
             sessions_held=40, participants=55, target_population=1300, reach=55 / 1300, feedback_n=3,
             share_more_contacts=0.612, share_attributed_to_activity=0.333, mean_satisfaction=9.37),  # < 5 answers
    ])
    quality = pd.DataFrame([
        dict(wave="2019", received=3100, clean=3050, quarantined=50, blocked=False, blocked_reason=""),
        dict(wave="2021", received=2900, clean=2880, quarantined=20, blocked=False, blocked_reason=""),
        dict(wave="2022", received=800, clean=0, quarantined=0, blocked=True,
             blocked_reason="verplichte kolom leeftijd ontbreekt in de levering"),
        dict(wave="2023", received=3300, clean=3210, quarantined=90, blocked=False, blocked_reason=""),
    ])
    info = pd.DataFrame([
        dict(intervention_id="computerles65", name="Computerlessen voor 65-plussers", kind="programme",
             sphere="institutional", goal="Minder eenzame 65-plussers <script>alert(1)</script>",
             mechanism="Digitale vaardigheden maken contact makkelijker; meer contact vermindert eenzaamheid."),
        dict(intervention_id="sluiting_buurthuis_landlust", name="Sluiting van buurthuis Landlust", kind="closure",
             sphere="institutional", goal="Bezuiniging op accommodaties", mechanism="Minder ontmoeting."),
    ])
    sites = pd.DataFrame([
        dict(intervention_id="computerles65", district_code="WK036394", start="2020-01-15"),
        dict(intervention_id="computerles65", district_code="WK036393", start="2020-01-15"),
        dict(intervention_id="sluiting_buurthuis_landlust", district_code="WK036337", start="2021-01-01"),
    ])
    kwargs = dict(
        municipality_code=CITY, municipality_name="Amsterdam (demostad)", waves=WAVES, latest_wave="2023",
        base_wave="2019",
        districts=pd.DataFrame({"district_code": list(DISTRICTS), "district_name": list(DISTRICTS.values()),
                                "population": [12000, 23450, 31000, 18000]}),
        catalogue=CATALOGUE, conditions=CONDITIONS, district_indicators=di, changes=pd.DataFrame(ch_rows),
        composite_index=pd.DataFrame(idx_rows), index_decomposition=decomposition, register_indicators=register,
        effects=effects, chain=chain, quality=quality,
        method_breaks=[{"wave": "2021", "description": "nieuwe vragenlijst (web in plaats van papier)",
                        "items": ["coh_thuis", "veilig"]}],
        geojson_path=GEOJSON, minimum_respondents=30,
        lineage={"run_id": "run-7f3a", "git_commit": "21b9133", "generated_at": "2025-03-12T14:03:00",
                 "codebooks": {"wijkmonitor": "v3 sha256:ab12cd"}},
        intervention_info=info, intervention_sites=sites,
        district_covariates=_covariates(), breakdowns=_breakdowns(),
    )
    kwargs.update(overrides)
    return ReportInputs(**kwargs)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rapport")
    outputs = render_report(build_inputs(), out)
    html = outputs.html_path.read_text(encoding="utf-8")
    pages = {p.stem: p.read_text(encoding="utf-8") for p in outputs.district_pages}
    return outputs, html, pages, out


def _excel_texts(path: Path) -> list[tuple[str, str, object]]:
    wb = load_workbook(path)
    cells = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    cells.append((ws.title, c.coordinate, c.value))
    return cells


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


def test_files_exist(report):
    outputs, html, pages, out = report
    assert outputs.html_path == out / "index.html" and outputs.html_path.is_file()
    assert outputs.excel_path == out / "rapport.xlsx" and outputs.excel_path.is_file()
    assert sorted(p.name for p in outputs.district_pages) == sorted(f"{c}.html" for c in DISTRICTS)
    assert all(p.parent == out / "wijken" for p in outputs.district_pages)
    assert outputs.figure_paths and all(p.is_file() and p.stat().st_size > 2000 for p in outputs.figure_paths)
    names = {p.name for p in outputs.figure_paths}
    for cond in CONDITIONS:
        assert f"trend_{cond}.png" in names and f"kaart_{cond}.png" in names
    assert any(n.startswith("interventie_computerles65") for n in names)


def test_html_is_self_contained_offline(report):
    outputs, html, pages, out = report
    for page, base in [(html, out)] + [(p, out / "wijken") for p in pages.values()]:
        assert "http://" not in page and "https://" not in page
        for src in re.findall(r'<img src="([^"]+)"', page):
            assert (base / src).resolve().is_file(), src
        for href in re.findall(r'href="([^"#]+)', page):
            assert (base / href).resolve().exists(), href


def test_html_contents(report):
    outputs, html, pages, out = report
    for name in DISTRICTS.values():
        assert name in html
    for section in ("Samenvatting", "Interventies", "Kwaliteit van de gegevens", "Verantwoording"):
        assert f">{section}</h2>" in html
    assert "trendbreuk 2021: nieuwe vragenlijst" in html
    assert "Bron: CBS, CC BY 4.0" in html
    assert "run-7f3a" in html and "21b9133" in html and "v3 sha256:ab12cd" in html
    assert "verplichte kolom leeftijd ontbreekt" in html  # blocked wave and why
    assert "38 van 40" in html  # delivered as intended
    assert "55% meer contacten" in html and "45% dankzij de activiteit" in html
    assert "Dit is waarschijnlijk geen toeval" in html  # effects.verdict_nl used in the summary
    assert "Computerlessen voor 65-plussers:" in html
    landlust = pages["WK036337"]
    assert "Sluiting van buurthuis Landlust" in landlust and "Bron: CBS" in landlust
    assert "12,5%" in html or "12,5%" in landlust  # register figure (0-100 as CBS publishes)


def test_escaping(report):
    outputs, html, pages, out = report
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)" in html
    # the only scripts are the report's own (sortable tables), written by the template
    assert html.count("<script") == html.count('<script id="report-js">')


# ---------------------------------------------------------------------------
# privacy: a suppressed cell never shows its number
# ---------------------------------------------------------------------------


def test_suppressed_cell_shows_dash_never_number(report):
    outputs, html, pages, out = report
    page = pages["WK036396"]
    forbidden = ["77,7", "0,777", "0.777", "77.7", "70,1", "85,3", "47,7"]
    for text in [html, *pages.values()]:
        for f in forbidden:
            assert f not in text, f
    # the row of the suppressed indicator in the district page shows dashes
    row = re.search(r"Eenzaam \(De Jong Gierveld, matig of ernstig\).*?</tr>", page, re.S).group(0)
    assert re.search(r'class="num suppressed">–</td>', row)
    assert "chip worse" not in row  # its (leaking) change is not comparable, grey


def test_suppressed_cell_never_in_excel(report):
    outputs, html, pages, out = report
    wb = load_workbook(outputs.excel_path)
    for sheet, coord, value in _excel_texts(outputs.excel_path):
        if isinstance(value, str):
            for f in ("77,7", "77.7", "0,777", "0.777", "47,7", "47.7"):
                assert f not in value, (sheet, coord)
        else:
            assert not np.isclose(float(value), 0.777) and not np.isclose(float(value), 77.7), (sheet, coord)
            assert not np.isclose(float(value), 0.477) and not np.isclose(float(value), 47.7), (sheet, coord)
    ws = wb["Indicatoren"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, [c.value for c in r])) for r in ws.iter_rows(min_row=2)]
    hit = [r for r in rows if (str(r["Meting"]), r["Wijkcode"], r["Indicator-id"]) == SUPPRESSED]
    assert len(hit) == 1
    # an empty cell (not the text "–", which breaks sums and filters) with the reason next to it
    assert hit[0]["Schatting"] is None and hit[0]["Ondergrens (95%)"] is None and hit[0]["Bovengrens (95%)"] is None
    assert hit[0]["Waarom leeg"].startswith("niet getoond: te weinig respondenten (minder dan 30)")
    assert isinstance(hit[0]["Meting"], int)  # waves are numbers
    # no text dash in any numeric column of any sheet, and every sheet is an Excel table (ListObject)
    for ws in wb.worksheets:
        if ws.title == "Toelichting":
            continue
        if ws.title in ("Indicatoren", "Index", "Veranderingen", "Interventies", "Kwaliteit"):
            assert ws.tables, ws.title
        assert not [c.coordinate for row in ws.iter_rows(min_row=2) for c in row if c.value == "–"], ws.title


def test_open_data_export(report):
    outputs, html, pages, out = report
    indicators = pd.read_csv(out / "open_data" / "indicatoren.csv")
    parquet = pd.read_parquet(out / "open_data" / "indicatoren.parquet")
    assert len(indicators) == len(parquet) > 0
    assert {"Meting", "Wijkcode", "Schatting", "Ondergrens (95%)", "Waarom leeg"} <= set(indicators.columns)
    key = (indicators["Meting"] == int(SUPPRESSED[0])) & (indicators["Wijkcode"] == SUPPRESSED[1]) & (
        indicators["Indicator-id"] == SUPPRESSED[2])
    assert indicators.loc[key, "Schatting"].isna().all() and key.sum() == 1
    for name in ("index", "veranderingen", "kwaliteit"):
        assert (out / "open_data" / f"{name}.csv").is_file() and (out / "open_data" / f"{name}.parquet").is_file()


def test_small_n_suppressed_even_without_flag(report):
    outputs, html, pages, out = report
    for text in [html, *pages.values()]:
        # the suppressed 88,8% (80,1 tot 97,5%) in any form (index figures may contain the same digits)
        assert not re.search(r"88,8\s*%|80,1\s*(%|tot)|97,5\s*%", text)
    assert not any(isinstance(v, float) and np.isclose(v, 0.888) for _, _, v in _excel_texts(outputs.excel_path))
    row = re.search(r"Voelt zich gehoord door de gemeente.*?</tr>", pages["WK036337"], re.S).group(0)
    assert re.search(r'class="num suppressed">–</td>', row)


def test_feedback_below_five_suppressed(report):
    outputs, html, pages, out = report
    # WK036393 had 3 feedback answers: shares 61% / 33% and satisfaction 9,4 must not appear
    page = pages["WK036393"]
    for text in (html, page):
        assert "61%" not in text and "33% dankzij" not in text and "tevredenheid 9,4" not in text
    assert "minder dan 5 deelnemers gaven antwoord" in page
    values = [v for _, _, v in _excel_texts(outputs.excel_path) if isinstance(v, float)]
    assert not any(np.isclose(v, 0.612) or np.isclose(v, 9.37) for v in values)


# ---------------------------------------------------------------------------
# colours: green/red only for significant verdicts
# ---------------------------------------------------------------------------


def test_verdict_class_rule():
    assert text_nl.verdict_class("improved") == "better"
    assert text_nl.verdict_class("worsened") == "worse"
    for v in ("no_significant_change", "not_comparable", "not_estimable", "", None):
        assert text_nl.verdict_class(v) == "neutral"


def test_green_red_only_when_significant(report):
    outputs, html, pages, out = report
    body = html
    # the explanation box shows one example chip of each colour; everything else comes from data
    coloured = re.findall(r'<span class="chip (better|worse)">([^<]*)</span>', body)
    labels = {(c, t) for c, t in coloured}
    allowed = {
        ("better", "beter"), ("worse", "slechter"),  # legend in "Zo leest u dit rapport"
        ("better", "beter: Eenzaam (De Jong Gierveld, matig of ernstig)"),  # WK036394, significant
        ("worse", "slechter: Sociale cohesie (schaalscore 0-10)"),  # WK036337, significant
        ("better", "aantoonbaar effect, gunstig"),  # pooled programme effect, significant
        ("worse", "aantoonbaar effect, ongunstig"),  # closure, significant
    }
    assert labels <= allowed, labels - allowed
    assert ("better", "beter: Eenzaam (De Jong Gierveld, matig of ernstig)") in labels
    assert ("worse", "slechter: Sociale cohesie (schaalscore 0-10)") in labels
    # district without any significant change (and whose suppressed "worsened" was blanked): all grey
    assert "chip better" not in pages["WK036396"] and "chip worse" not in pages["WK036396"]
    assert "chip neutral" in pages["WK036396"]
    # the not-significant and not-estimable effects are grey
    assert html.count("geen aantoonbaar effect") >= 1 and "geen uitspraak mogelijk" in html


def test_excel_verdict_fills(report):
    outputs, *_ = report
    wb = load_workbook(outputs.excel_path)
    ws = wb["Veranderingen"]
    header = [c.value for c in ws[1]]
    col = header.index("Oordeel") + 1
    for r in range(2, ws.max_row + 1):
        cell = ws.cell(row=r, column=col)
        colour = cell.fill.fgColor.rgb[-6:]
        if cell.value in ("beter", "slechter"):
            assert colour in ("D8F0DF", "F8D7D3")
        else:
            assert colour == "EDEDED", cell.value


# ---------------------------------------------------------------------------
# Dutch numbers
# ---------------------------------------------------------------------------


def test_dutch_number_formatting():
    assert text_nl.fmt_pct(0.423) == "42,3%"
    assert text_nl.fmt_num(6.8) == "6,8"
    assert text_nl.fmt_num(12345.6) == "12.345,6"
    assert text_nl.fmt_num(-0.04) == "0,0"
    assert text_nl.fmt_num(-1.25, 1) == "\u22121,2" or text_nl.fmt_num(-1.25, 1) == "\u22121,3"
    assert text_nl.fmt_change(0.021, "percent") == "+2,1 %-punt"
    assert text_nl.fmt_value(np.nan, "percent") == "–"
    assert text_nl.fmt_value(0.9, "km") == "0,9 km"
    assert text_nl.fmt_interval(0.401, 0.445, "percent") == "40,1 tot 44,5%"


def test_dutch_commas_in_html(report):
    outputs, html, pages, out = report
    assert "42,3%" in html and "42.3%" not in html
    assert "23.450 inwoners" in pages["WK036393"]  # thousands point
    assert not re.search(r">\s*[+\u2212-]?\d+\.\d{1,2}(?!\d)", html)  # no English decimals in cells


# ---------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------


def test_excel_sheets_and_headers(report):
    outputs, *_ = report
    wb = load_workbook(outputs.excel_path)
    for sheet in ("Toelichting", "Indicatoren", "Index", "Veranderingen", "Interventies", "Kwaliteit"):
        assert sheet in wb.sheetnames
    ind = wb["Indicatoren"]
    assert [c.value for c in ind[1]][:11] == ["Meting", "Wijkcode", "Wijk", "Thema", "Indicator-id", "Indicator",
                                              "Eenheid", "Schatting", "Ondergrens (95%)", "Bovengrens (95%)",
                                              "Respondenten (n)"]
    assert ind["A1"].font.bold and ind.freeze_panes == "D2"
    assert ind.column_dimensions["F"].width > 20
    # a percentage is stored as a proportion with a % format
    header = [c.value for c in ind[1]]
    for row in ind.iter_rows(min_row=2):
        r = dict(zip(header, row))
        if r["Wijkcode"].value == CITY and r["Indicator-id"].value == "gehoord" and r["Meting"].value == 2023:
            assert r["Schatting"].value == pytest.approx(0.423) and r["Schatting"].number_format == "0.0%"
            break
    else:
        pytest.fail("city row not found")
    assert wb["Index"]["E1"].value.startswith("Index (100 = stad 2019)")
    assert wb["Kwaliteit"]["E1"].value == "Levering tegengehouden"
    assert any("Bron: CBS" in str(c.value) for row in wb["Toelichting"].iter_rows() for c in row)
    assert any("minder dan 30" in str(c.value) for row in wb["Toelichting"].iter_rows() for c in row)


# ---------------------------------------------------------------------------
# the map and the figures
# ---------------------------------------------------------------------------


def test_map_from_real_geojson(report):
    outputs, *_ = report
    from socialquality.report.maps import load_districts

    boundaries = load_districts(GEOJSON)
    assert len(boundaries) == 99 and set(DISTRICTS) <= {d.code for d in boundaries}
    png = next(p for p in outputs.figure_paths if p.name == "kaart_social_inclusion.png")
    img = mpimg.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 400
    assert img[..., :3].std() > 0.05  # not blank


def test_event_study_chart_and_points_scale(tmp_path):
    """Optional event-time coefficients, effects given in percentage points."""
    base = build_inputs(geojson_path=None)
    effects = base.effects.copy()
    for col in ("estimate", "se", "ci_low", "ci_high"):
        effects[col] = effects[col] * np.where(effects["indicator_id"] == "eenzaam_65plus", 100, 1)
    es = pd.DataFrame([dict(intervention_id="computerles65", district_code="", indicator_id="eenzaam_65plus",
                            event_time=t, estimate=e, ci_low=e - 2, ci_high=e + 2)
                       for t, e in ((-3, 0.3), (-2, -0.2), (-1, 0.0), (0, -2.5), (1, -4.4))])
    two = base.districts[base.districts["district_code"].isin(["WK036394", "WK036393"])]
    inputs = build_inputs(geojson_path=None, effects=effects, event_study=es, effect_scale="points", districts=two)
    outputs = render_report(inputs, tmp_path)
    html = outputs.html_path.read_text(encoding="utf-8")
    assert "−4,1 %-punt" in html  # points are not multiplied again
    assert any(p.name == "interventie_computerles65_eenzaam_65plus.png" for p in outputs.figure_paths)
    assert not any(p.name.startswith("kaart_") for p in outputs.figure_paths)  # no boundaries, no maps
    assert len(outputs.district_pages) == 2


def test_no_dagster_import():
    code = "import sys, socialquality.report; assert 'dagster' not in sys.modules; " \
           "import matplotlib; assert matplotlib.get_backend().lower() == 'agg'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})


def test_interventions_frames_from_register():
    from socialquality.catalogue import load_register

    info, sites = interventions_frames(load_register(ROOT / "surveys" / "interventions.yaml"))
    assert {"computerles65", "sluiting_buurthuis_landlust"} <= set(info["intervention_id"])
    assert (sites["district_code"] == "WK036337").any()


def test_index_level_change_is_used_when_given():
    """A tested change of the theme index (indicator_id = condition id) drives the district verdict."""
    from socialquality.report.render import Model, _condition_summary, _district_status

    inputs = build_inputs(geojson_path=None)
    extra = pd.DataFrame([dict(district_code="WK036393", indicator_id="social_cohesion", wave="2023",
                               compared_to="previous", reference_wave="2021", change=3.4, ci_low=1.1, ci_high=5.7,
                               p_value=0.004, p_adjusted=0.02, verdict="improved", method_break=False)])
    inputs.changes = pd.concat([inputs.changes, extra], ignore_index=True)
    m = Model(inputs)
    status = _district_status(m, "WK036393", "social_cohesion")
    assert status["level"] == "index" and status["status"] == "better"
    assert status["chips"][0]["cls"] == "better" and status["chips"][0]["label"] == "beter (+3,4 punt)"
    statuses = {d: _district_status(m, d, "social_cohesion") for d in DISTRICTS}
    text = _condition_summary(m, "social_cohesion", statuses)
    assert text.startswith("Sociale cohesie: sinds 2021 is in ") and "Bijlmer Centrum (D,F,H)" in text


def test_empty_optional_tables(tmp_path):
    """No interventions, no quality, no register, no map: the report still renders."""
    base = build_inputs()
    one = base.districts[base.districts["district_code"] == "WK036394"]
    inputs = build_inputs(geojson_path=None, districts=one, effects=pd.DataFrame(), chain=pd.DataFrame(),
                          quality=pd.DataFrame(), register_indicators=pd.DataFrame(),
                          index_decomposition=pd.DataFrame(), method_breaks=[], intervention_info=None,
                          intervention_sites=None, lineage={})
    outputs = render_report(inputs, tmp_path)
    html = outputs.html_path.read_text(encoding="utf-8")
    assert "Er zijn geen interventies geregistreerd." in html
    assert set(load_workbook(outputs.excel_path).sheetnames) >= {"Interventies", "Kwaliteit"}
