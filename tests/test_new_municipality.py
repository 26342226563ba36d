"""The six findings of issue 11, each reproduced and now giving a clear result."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from socialquality.agebands import Band, common_bands, parse_band, sorted_bands, target_group_problem
from socialquality.catalogue import load_catalogue, load_register
from socialquality.codebook import load_codebook
from socialquality.errors import CodebookError, InputFileError, SocialQualityError
from socialquality.normalise import normalise_frame
from socialquality.population_table import read_population
from socialquality.readers import read_survey_file
from socialquality.scales import generic_scale, score_scales
from socialquality.weighting import weight_wave, weighting_bands

REPO = Path(__file__).resolve().parent.parent

BANDS_CODEBOOK = """
survey: peiling
title: Peiling met leeftijdsklassen
version: 1
municipality: GM0518
respondent_id: {column: id}
district: {column: wijk}
sex: {column: geslacht, codes: {1: m, 2: v}, missing: [9]}
age_group: {column: lftklasse, codes: {1: "18-34", 2: "35-54", 3: "55-74", 4: "75+"}}
waves: [{id: "2024"}]
answer_scales:
  eens5: {codes: {1: helemaal mee eens, 2: mee eens, 3: neutraal, 4: mee oneens, 5: helemaal mee oneens}, missing: {9: weet niet}}
  ja_nee: {codes: {1: ja, 2: nee}}
items:
  - {id: kennen, text: "Mensen kennen elkaar", scale: eens5}
  - {id: prettig, text: "Prettige omgang", scale: eens5}
  - {id: nauwelijks, text: "Kennen elkaar nauwelijks", scale: eens5}
  - {id: eenzaam, text: "Vaak eenzaam?", scale: ja_nee}
scales:
  - {id: samenhang, method: mean, items: [kennen, prettig, nauwelijks], reverse: [kennen, prettig], min_valid: 2, rescale: [0, 10]}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def bands_codebook(tmp_path):
    return load_codebook(write(tmp_path / "peiling.yaml", BANDS_CODEBOOK))


def catalogue_text(target: str) -> str:
    return f"""
version: 1
survey: peiling
base_wave: "2024"
indicators:
  - {{id: eenzaam_groep, label: "Eenzaam", unit: percent, source: eenzaam, statistic: share, values: [1],
     direction: higher_is_worse, condition: social_inclusion, target_group: {target}}}
"""


# ------------------------------------------------------------------ finding 1: missing background values
def respondents(n_per_district: int = 60, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows, margins = [], []
    for district in ("WK051801", "WK051802"):
        for band, count in (("18-34", 4000), ("35-54", 3000), ("55-74", 2000), ("75+", 800)):
            margins.append((district, 2019, "age_group", band, float(count)))
        margins += [(district, 2019, "sex", "m", 4800.0), (district, 2019, "sex", "v", 5000.0)]
        bands = rng.choice(["18-34", "35-54", "55-74", "75+"], n_per_district)
        rows.append(pd.DataFrame({"district_code": district, "age_group": bands, "age": np.nan,
                                  "sex": rng.choice(["m", "v"], n_per_district),
                                  "respondent_pid": [f"{district}-{i}" for i in range(n_per_district)],
                                  "source_row": range(n_per_district)}))
    frame = pd.concat(rows, ignore_index=True)
    return frame, pd.DataFrame(margins, columns=["district_code", "year", "variable", "level", "count"])


def test_missing_age_and_sex_get_their_own_share_instead_of_breaking_the_wave():
    frame, margins = respondents()
    frame.loc[[0, 5, 9, 70, 71], "age_group"] = None  # 5 blank ages (the finding)
    frame.loc[[1, 80], "sex"] = None
    result = weight_wave(frame, margins, survey_bands=sorted_bands(["18-34", "35-54", "55-74", "75+"]))
    weights = result.weights["weight"]
    assert weights.notna().all() and (weights > 0).all()
    totals = result.weights.groupby("district_code")["weight"].sum()
    assert totals.to_dict() == pytest.approx({"WK051801": 9800.0, "WK051802": 9800.0}, rel=1e-6)
    blank = result.weights.loc[[0, 5, 9], "weight"]
    base = result.weights.loc[[0, 5, 9], "base_weight"]
    assert blank.to_numpy() == pytest.approx(base.to_numpy(), rel=0.2)  # kept near their base-weighted share


def test_a_failed_weighting_stage_marks_the_wave_failed_and_the_run_fails(tmp_path, monkeypatch, capsys):
    """The run reports a failed wave as FAILED with exit code 1; the wave is not published."""
    import socialquality.weighting as weighting
    from pipelines.cli import main
    from socialquality.monitor import Monitor
    from socialquality.warehouse.store import usable_waves
    from tests.test_new_questionnaire import files_only_installation

    config, _ = files_only_installation(tmp_path, n=240, seed=3)

    def broken(*args, **kwargs):
        raise ValueError("margin column '_rake_age' has 5 missing value(s); impute or drop them before raking")

    monkeypatch.setattr(weighting, "weight_wave", broken)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    code = main(["run", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert "wave 2024-voorjaar: FAILED" in out
    assert "wave_weights failed: ValueError: margin column '_rake_age' has 5 missing value(s)" in out
    assert "FAILED: wave(s) 2024-voorjaar did not complete and are not in the report" in out
    assert "done: every stage completed" not in out
    assert usable_waves(Monitor.from_config(config).engine, "buurtpeiling") == []


# ------------------------------------------------------------------ finding 2: target groups and age bands
def test_a_target_group_the_bands_cannot_form_is_an_error(tmp_path, bands_codebook):
    path = write(tmp_path / "indicators.yaml", catalogue_text("{age_min: 65}"))
    with pytest.raises(CodebookError) as error:
        load_catalogue(path, bands_codebook, {"samenhang_score"})
    message = str(error.value)
    assert "indicators/0 (eenzaam_groep)" in message
    assert "cannot be formed from the age bands 18-34, 35-54, 55-74, 75+" in message and "55-74" in message


def test_a_target_group_on_band_boundaries_is_formed_from_bands(tmp_path, bands_codebook):
    from socialquality.indicators import indicator_variable

    path = write(tmp_path / "indicators.yaml", catalogue_text("{age_min: 75}"))
    catalogue = load_catalogue(path, bands_codebook, {"samenhang_score"})
    scored = pd.DataFrame({"age": np.nan, "age_group": ["18-34", "75+", "75+", "55-74", None],
                           "eenzaam": [1.0, 1.0, 2.0, 1.0, 1.0], "sex": "m"})
    values = indicator_variable(scored, catalogue.indicators[0])
    assert values.tolist()[1:3] == [1.0, 0.0]
    assert values.isna().tolist() == [True, False, False, True, True]


def test_age_in_years_with_band_fallback_forms_any_target_group():
    from socialquality.indicators import in_age_group

    scored = pd.DataFrame({"age": [66, 60, np.nan, np.nan, np.nan],
                           "age_group": ["55-74", "55-74", "75+", "55-74", None]})
    assert in_age_group(scored, 65, None).tolist() == [True, False, True, False, False]


def test_target_group_without_any_age_is_an_error(tmp_path):
    text = BANDS_CODEBOOK.replace('age_group: {column: lftklasse, codes: {1: "18-34", 2: "35-54", 3: "55-74", 4: "75+"}}\n', "")
    codebook = load_codebook(write(tmp_path / "peiling.yaml", text))
    path = write(tmp_path / "indicators.yaml", catalogue_text("{age_min: 75}"))
    with pytest.raises(CodebookError, match="target group by age needs `age` or `age_group`"):
        load_catalogue(path, codebook, {"samenhang_score"})


# ------------------------------------------------------------------ finding 3: text codes and value labels
def test_text_codes_and_labels_for_background_columns(tmp_path, bands_codebook):
    path = tmp_path / "levering.csv"
    pd.DataFrame({
        "id": [f"r{i}" for i in range(9)], "wijk": "WK051802",
        "geslacht": ["m", "V", "man", "vrouw", "1", "2", "3", "", "9"],
        "lftklasse": ["18-34", "75+", "75 jaar en ouder", "35 - 54", "3", "4", "12-17", "", "18-34"],
        "kennen": 1, "prettig": 2, "nauwelijks": 4, "eenzaam": 1,
    }).to_csv(path, sep=";", index=False)
    raw = read_survey_file(path, string_columns=["id", "wijk"])
    result = normalise_frame(raw, bands_codebook, "2024", b"k" * 16)
    assert result.frame["sex"].tolist()[:6] == ["m", "v", "m", "v", "m", "v"]
    assert result.frame["sex"].iloc[6] == "3"  # kept: the quality rule sets the row aside with the value
    assert pd.isna(result.frame["sex"].iloc[7]) and pd.isna(result.frame["sex"].iloc[8])  # blank, declared 9
    assert result.frame["age_group"].tolist()[:6] == ["18-34", "75+", "75+", "35-54", "55-74", "75+"]
    assert result.frame["age_group"].iloc[6] == "12-17"
    problems = {(p["column"], p["value"]): p["rows"] for p in result.code_mismatches}
    assert problems == {("geslacht", "3"): 1, ("lftklasse", "12-17"): 1}


def test_invalid_background_codes_reach_the_quality_rules(tmp_path, bands_codebook):
    from socialquality.quality import validate_wave, write_generated_suite

    path = tmp_path / "levering.csv"
    n = 40
    pd.DataFrame({"id": [f"r{i}" for i in range(n)], "wijk": "WK051802",
                  "geslacht": ["m", "v"] * 19 + ["3", "onbekend"], "lftklasse": ["18-34"] * (n - 1) + ["100-120"],
                  "kennen": 1, "prettig": 2, "nauwelijks": 4, "eenzaam": 1}).to_csv(path, sep=";", index=False)
    frame = normalise_frame(read_survey_file(path, string_columns=["id", "wijk"]), bands_codebook, "2024",
                            b"k" * 16).frame
    write_generated_suite(bands_codebook, tmp_path / "expectations")
    outcome = validate_wave(frame, bands_codebook, known_districts={"WK051802"},
                            expectations_dir=tmp_path / "expectations")
    set_aside = outcome.quarantine[outcome.quarantine["rule_id"] == "allowed_codes"]
    assert sorted(set_aside["value"].astype(str)) == ["100-120", "3", "onbekend"]


def test_wave_file_with_spss_value_labels(tmp_path, bands_codebook):
    import pyreadstat

    frame = pd.DataFrame({"id": ["a", "b", "c"], "wijk": ["WK051802"] * 3, "geslacht": [1.0, 2.0, 9.0],
                          "lftklasse": [1.0, 4.0, 2.0], "kennen": [1.0, 2.0, 3.0], "prettig": [1.0, 2.0, 3.0],
                          "nauwelijks": [1.0, 2.0, 3.0], "eenzaam": [1.0, 2.0, 1.0]})
    path = tmp_path / "golf.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels={
        "geslacht": {1.0: "man", 2.0: "vrouw", 9.0: "onbekend"},
        "lftklasse": {1.0: "18-34", 2.0: "35-54", 4.0: "75 jaar en ouder"}})
    result = normalise_frame(read_survey_file(path, string_columns=["id", "wijk"]), bands_codebook, "2024", b"k" * 16)
    assert result.frame["sex"].tolist()[:2] == ["m", "v"] and pd.isna(result.frame["sex"].iloc[2])
    assert result.frame["age_group"].tolist() == ["18-34", "75+", "35-54"]


# ------------------------------------------------------------------ finding 4: plain population table
def test_plain_population_table_joint_and_separate_margins(tmp_path):
    joint = tmp_path / "bevolking_joint.csv"
    joint.write_text("wijkcode;wijknaam;leeftijd;geslacht;aantal;jaar\n"
                     "WK051802;Belgisch Park;18-34;m;100;2023\nWK051802;Belgisch Park;18-34;v;120;2023\n"
                     "WK051802;Belgisch Park;35+;m;300;2023\nWK051802;Belgisch Park;35+;v;280;2023\n", encoding="utf-8")
    figures = read_population(joint, "GM0518")
    assert figures.kind == "plain" and figures.year == 2023
    margins = figures.margins.set_index(["variable", "level"])["count"]
    assert margins[("age_group", "18-34")] == 220 and margins[("age_group", "35+")] == 580
    assert margins[("sex", "m")] == 400 and margins[("sex", "v")] == 400
    assert figures.districts["district_name"].tolist() == ["Belgisch Park"]

    separate = tmp_path / "population.xlsx"
    pd.DataFrame({"District": ["WK051802"] * 5, "Age_group": ["18-24", "25-64", "65+", "", ""],
                  "Sex": ["", "", "", "man", "vrouw"], "Count": [100, 600, 300, 950, 1050]}).to_excel(separate, index=False)
    figures = read_population(separate, "GM0518", year=2022)
    margins = figures.margins.set_index(["variable", "level"])["count"]
    assert figures.year == 2022 and margins[("age_group", "65+")] == 300
    assert margins[("sex", "m")] == pytest.approx(950 * 1000 / 2000)  # scaled to the age total (the survey population)


def test_plain_population_table_errors_name_column_row_and_value(tmp_path):
    bad = tmp_path / "bevolking.csv"
    bad.write_text("wijkcode;leeftijd;geslacht;aantal\nWK051802;18-34;m;100\nWK051802;18-34;q;x\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"column 'aantal': 1 row\(s\) without a valid count, first at row 3"):
        read_population(bad, "GM0518", year=2020)
    bad.write_text("wijkcode;leeftijd;geslacht;aantal\nWK051802;18-34;q;100\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"column 'geslacht': value\(s\) \['q'\] are not a sex"):
        read_population(bad, "GM0518", year=2020)
    bad.write_text("wijkcode;leeftijd;geslacht;aantal\nWK051802;18-40;m;100\nWK051802;35-54;m;100\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="age bands 18-40 and 35-54 overlap"):
        read_population(bad, "GM0518", year=2020)
    bad.write_text("wijk;leeftijd;geslacht;aantal\nWK051802;18-34;m;100\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="population_year"):
        read_population(bad, "GM0518")  # no year in the table, the file name or the configuration
    bad.write_text("RegioS;Inwoners\nWK051802;100\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="not a population table: no column wijkcode / district"):
        read_population(bad, "GM0518", year=2020)


def test_cbs_files_still_read_with_year_from_configuration():
    figures = read_population(REPO / "data/cbs/kwb_2019_den_haag_84583NED.csv", "GM0518", year=2019)
    assert figures.kind == "cbs_kwb" and len(figures.districts) == 44
    assert set(figures.margins.loc[figures.margins["variable"] == "age_group", "level"]) == \
        {"15-24", "25-44", "45-64", "65+"}


def test_survey_bands_are_mapped_to_the_population_bands():
    population = sorted_bands(["18-24", "25-34", "35-54", "55-64", "65-74", "75+"])
    survey = sorted_bands(["18-34", "35-54", "55-74", "75+"])
    assert common_bands(survey, population) == {"18-24": "18-34", "25-34": "18-34", "35-54": "35-54",
                                                "55-64": "55-74", "65-74": "55-74", "75+": "75+"}
    assert common_bands(None, population) == {b.label: b.label for b in population}  # ages in years
    cbs = pd.DataFrame({"district_code": "WK1", "year": 2019, "variable": "age_group",
                        "level": ["15-24", "25-44", "45-64", "65+"], "count": 1.0})
    mapping, order, note = weighting_bands(cbs, survey)
    assert order == ["15+"] and "geen gemeenschappelijke grens" in note


def test_weighting_with_a_survey_band_finer_than_the_population():
    frame, margins = respondents()
    coarse = margins.replace({"18-34": "18-54", "35-54": "18-54"}).groupby(
        ["district_code", "year", "variable", "level"], as_index=False)["count"].sum()
    result = weight_wave(frame, coarse, survey_bands=sorted_bands(["18-34", "35-54", "55-74", "75+"]))
    assert result.weights["weight"].notna().all()
    assert result.weights.groupby("district_code")["weight"].sum().tolist() == pytest.approx([9800.0, 9800.0])


def test_age_band_labels():
    assert parse_band("18-34") == Band(18, 34)
    assert parse_band("75 jaar en ouder") == Band(75, math.inf) and parse_band("75+").label == "75+"
    assert parse_band("jong") is None and parse_band(None) is None
    assert target_group_problem(65, None, sorted_bands(["18-64", "65+"])) is None


# ------------------------------------------------------------------ finding 5: generic scales
def test_generic_mean_scale_reversed_and_rescaled(bands_codebook):
    responses = pd.DataFrame({"kennen": [1, 5, 1, 9, np.nan], "prettig": [1, 5, 2, np.nan, np.nan],
                              "nauwelijks": [5, 1, np.nan, 5, 5], "eenzaam": 1.0})
    scored = score_scales(responses.astype(float), bands_codebook)
    # agree with the positive statements and disagree with 'nauwelijks' = 10; the opposite = 0
    assert scored["samenhang_score"].iloc[0] == pytest.approx(10.0)
    assert scored["samenhang_score"].iloc[1] == pytest.approx(0.0)
    assert scored["samenhang_score"].iloc[2] == pytest.approx((4 + 3) / 2 * 2.5)  # two valid items: enough
    assert pd.isna(scored["samenhang_score"].iloc[3])  # 9 = weet niet is not a code: one valid item
    assert scored["samenhang_n_valid"].tolist() == [3, 3, 2, 1, 1]


def test_generic_sum_scale_prorated():
    result = generic_scale([pd.Series([1.0, 4.0]), pd.Series([2.0, np.nan]), pd.Series([3.0, 4.0])],
                           [(1, 4)] * 3, [False, True, False], method="sum", min_valid=2)
    assert result["score"].tolist() == pytest.approx([1 + 3 + 3, (4 + 4) * 3 / 2])


def test_generic_scale_mistakes_are_named(tmp_path):
    text = BANDS_CODEBOOK.replace("reverse: [kennen, prettig]", "reverse: [kennen, eenzaam]")
    with pytest.raises(CodebookError, match=r"reverse names items that are not in the scale: \['eenzaam'\]"):
        load_codebook(write(tmp_path / "a.yaml", text))
    text = BANDS_CODEBOOK.replace("min_valid: 2", "min_valid: 4")
    with pytest.raises(CodebookError, match="min_valid 4 is more than the 3 items"):
        load_codebook(write(tmp_path / "b.yaml", text))
    text = BANDS_CODEBOOK.replace("method: mean, items: [kennen, prettig, nauwelijks]",
                                  "method: cantril, items: {now: kennen, future: prettig}")
    with pytest.raises(CodebookError, match="reverse/rescale are settings of the generic methods"):
        load_codebook(write(tmp_path / "c.yaml", text))


# ------------------------------------------------------------------ finding 6: ids, unknown keys, footer, register
def test_intervention_ids_with_hyphens(tmp_path):
    register = tmp_path / "interventions.yaml"
    register.write_text(textwrap.dedent("""
        version: 1
        interventions:
          - {id: closure-cc, name: Sluiting, kind: closure, indicators: [x], sites: [{district: WK051802, start: 2022-01-01}]}
    """), encoding="utf-8")
    assert load_register(register)[0].id == "closure-cc"
    register.write_text(register.read_text().replace("closure-cc", "sluiting cc!"), encoding="utf-8")
    with pytest.raises(CodebookError, match="letters, digits, '_', '-' and '.'"):
        load_register(register)


def test_unknown_codebook_keys_are_errors(tmp_path):
    text = BANDS_CODEBOOK + "age: {column: leeftijd, groups: true}\n"
    with pytest.raises(CodebookError) as error:
        load_codebook(write(tmp_path / "x.yaml", text))
    assert "at age" in str(error.value) and "unknown key(s) 'groups'" in str(error.value)
    assert "allowed here: column, max, min" in str(error.value)


def test_report_footer_credits_no_map_when_there_is_none(tmp_path):
    from socialquality.report.render import render_report
    from tests.test_report import build_inputs

    base = build_inputs()
    one = base.districts[base.districts["district_code"] == "WK036394"]
    html = render_report(build_inputs(geojson_path=None, districts=one), tmp_path / "a").html_path.read_text("utf-8")
    assert "Registercijfers: Bron: CBS, CC BY 4.0." in html and "kaart: Bron" not in html
    html = render_report(build_inputs(geojson_path=None, districts=one, register_indicators=pd.DataFrame()),
                         tmp_path / "b").html_path.read_text("utf-8")
    assert "Bron: CBS" not in html.split("<footer>")[1]


def test_register_is_not_loaded_when_the_population_step_failed(tmp_path):
    from pipelines.definitions import defs
    from socialquality import stages
    from socialquality.monitor import Monitor
    from tests.support import write_config

    config = write_config(tmp_path, landing=tmp_path / "landing", feedback=tmp_path / "feedback")
    with pytest.raises(SocialQualityError, match="population figures are not loaded"):
        stages.load_interventions(Monitor.from_config(config, check_inputs=False))
    graph = defs.resolve_asset_graph()
    from dagster import AssetKey

    assert AssetKey("population_figures") in graph.get(AssetKey("intervention_register")).parent_keys


def test_check_lists_every_problem_at_once(tmp_path):
    from socialquality.installcheck import check_installation
    from tests.support import write_config

    codebooks = tmp_path / "codebooks"
    codebooks.mkdir()
    write(codebooks / "wijkmonitor.yaml", BANDS_CODEBOOK.replace("survey: peiling", "survey: wijkmonitor")
          + "age: {column: leeftijd, groups: true}\nextra_key: 1\n")
    config = write_config(tmp_path, landing=tmp_path / "landing", feedback=tmp_path / "feedback")
    data = yaml.safe_load(config.read_text())
    data["paths"]["codebooks"] = str(codebooks)
    data["paths"]["population"] = str(tmp_path / "missing.csv")
    config.write_text(yaml.safe_dump(data))
    problems = [str(p) for p in check_installation(config) if p.severity == "error"]
    assert any("paths.population" in p and "does not exist" in p for p in problems)
    assert any("at age" in p and "'groups'" in p for p in problems)
    assert any("(top level)" in p and "'extra_key'" in p for p in problems)


# ------------------------------------------------------------------ init on a text delivery
def test_init_from_a_csv_guesses_background_and_leaves_doubtful_codes_to_a_person(tmp_path):
    from socialquality.installer import draft_installation

    n = 400
    rng = np.random.default_rng(9)
    delivery = tmp_path / "levering 2024.csv"
    frame = pd.DataFrame({"RespNr": [f"X{i}" for i in range(n)], "Wijk": rng.choice(["WK051802", "WK051803"], n),
                          "Sekse": rng.choice(["man", "vrouw"], n), "Lft": rng.choice(["18-34", "35-54", "55+"], n),
                          "Tevreden": rng.choice([1, 2, 3, 4, 5, 9], n), "E-mail": ""})
    frame.loc[0, "Sekse"] = "3"
    frame.to_csv(delivery, index=False)
    population = tmp_path / "bevolking.csv"
    population.write_text("wijkcode;leeftijd;aantal;jaar\nWK051802;18-34;100;2024\nWK051802;35-54;100;2024\n"
                          "WK051802;55+;100;2024\nWK051803;18-34;100;2024\nWK051803;35-54;50;2024\n"
                          "WK051803;55+;10;2024\n", encoding="utf-8")
    result = draft_installation(delivery, population, tmp_path / "nieuwe_stad")
    codebook = load_codebook(result.codebook)
    assert codebook.respondent_id_column == "RespNr" and codebook.district_column == "Wijk"
    assert codebook.sex_codes == {"man": "m", "vrouw": "v"}  # '3' is not made a code, nor missing
    assert codebook.age_group_column == "Lft" and codebook.age_bands == sorted_bands(["18-34", "35-54", "55+"])
    assert codebook.drop_columns == ("E-mail",) and codebook.wave_ids == ["2024"] and codebook.municipality == "GM0518"
    subjects = {q.subject: q.text for q in result.questions}
    assert "3 (1 rows)" in subjects["codebook.sex"]
    assert "no value labels" in subjects["codebook.answer_scales.schaal1_tevreden"]
    assert (tmp_path / "nieuwe_stad" / "landing" / "nieuwe_stad" / "2024" / delivery.name).is_file()
    review = (tmp_path / "nieuwe_stad" / "REVIEW.md").read_text(encoding="utf-8")
    assert review.count("- [ ] ") == len(result.questions)
    with pytest.raises(SocialQualityError, match="is not empty"):
        draft_installation(delivery, population, tmp_path / "nieuwe_stad")
    # a column init cannot recognise is named once in the answers file; it is then no question
    frame.assign(Jaren=rng.integers(18, 90, n)).to_csv(delivery, index=False)
    assert "jaren" in load_codebook(draft_installation(delivery, population, tmp_path / "a").codebook).items
    answers = write(tmp_path / "antwoorden.yaml", "codebook: {age: {column: Jaren, min: 18, max: 105}}\n")
    codebook = load_codebook(draft_installation(delivery, population, tmp_path / "b", answers_file=answers).codebook)
    assert codebook.age_column == "Jaren" and "jaren" not in codebook.items and codebook.age_max == 105


def test_reach_target_population_with_any_bands():
    from socialquality.agebands import share_at_or_above

    assert [share_at_or_above(b, 65) for b in ("15-24", "45-64", "65+")] == [0.0, 0.0, 1.0]  # CBS: as before
    assert [share_at_or_above(b, 65) for b in ("35-54", "55-74", "75+")] == [0.0, 0.5, 1.0]  # 55-74: ages 65-74
