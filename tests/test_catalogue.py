"""The indicator catalogue and the intervention register: the shipped files and clear errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from socialquality.catalogue import CONDITION_NAMES, load_catalogue, load_register
from socialquality.codebook import load_codebook
from socialquality.errors import CodebookError
from socialquality.population import district_population, read_kwb
from socialquality.scales import scale_columns

REPO = Path(__file__).resolve().parent.parent
INDICATORS = REPO / "surveys" / "indicators.yaml"
INTERVENTIONS = REPO / "surveys" / "interventions.yaml"


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(REPO / "surveys" / "codebooks" / "wijkmonitor.yaml")


@pytest.fixture(scope="module")
def derived(codebook) -> set[str]:
    return {column for spec in codebook.scales for column in scale_columns(spec)}


@pytest.fixture(scope="module")
def catalogue(codebook, derived):
    return load_catalogue(INDICATORS, codebook, derived)


@pytest.fixture(scope="module")
def amsterdam_districts() -> set[str]:
    kwb = read_kwb(REPO / "data" / "cbs" / "kwb_2019_amsterdam_84583NED.csv")
    return set(district_population(kwb, "GM0363")["district_code"])


def changed(source: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def index_of(raw: dict[str, Any], indicator_id: str) -> int:
    return next(i for i, spec in enumerate(raw["indicators"]) if spec["id"] == indicator_id)


def catalogue_error(path: Path, *args: Any) -> CodebookError:
    with pytest.raises(CodebookError) as info:
        load_catalogue(path, *args)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    return info.value


def register_error(path: Path, *args: Any) -> CodebookError:
    with pytest.raises(CodebookError) as info:
        load_register(path, *args)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- the shipped files
def test_catalogue_loads_and_matches_the_codebook(catalogue, codebook, derived) -> None:
    assert (catalogue.version, catalogue.survey, catalogue.base_wave, catalogue.minimum_respondents) == (
        2, "wijkmonitor", "2017", 30)
    assert catalogue.path == str(INDICATORS)
    assert catalogue.conditions == CONDITION_NAMES
    assert len(catalogue.indicators) == 15 and len({i.id for i in catalogue.indicators}) == 15
    assert {i.condition for i in catalogue.indicators} == set(CONDITION_NAMES)
    for indicator in catalogue.indicators:
        assert indicator.source in set(codebook.items) | derived, indicator.id
        assert indicator.statistic == "mean" or indicator.values, indicator.id
    onveilig = catalogue.indicator("onveilig")
    assert (onveilig.source, onveilig.statistic, onveilig.values, onveilig.unit) == ("veilig", "share", (1.0, 2.0),
                                                                                    "percent")
    assert not onveilig.higher_is_better and onveilig.in_index and onveilig.index_weight == 1.0
    cohesie = catalogue.indicator("cohesie")
    assert (cohesie.source, cohesie.statistic, cohesie.values, cohesie.unit) == ("cohesie_score", "mean", (), "score")
    assert cohesie.higher_is_better
    older = catalogue.indicator("eenzaam_65plus")
    assert (older.age_min, older.age_max, older.sex, older.in_index) == (65, None, None, False)
    with pytest.raises(KeyError):
        catalogue.indicator("geluk")
    assert [(r.id, r.cbs_field, r.denominator_field) for r in catalogue.register] == [
        ("laag_inkomen", "HuishoudensMetEenLaagInkomen", None),
        ("rond_sociaal_minimum", "HuishOnderOfRondSociaalMinimum", None),
        ("afstand_huisarts", "AfstandTotHuisartsenpraktijk", None),
        ("afstand_supermarkt", "AfstandTotGroteSupermarkt", None),
        ("eenpersoonshuishoudens", "Eenpersoonshuishoudens", "HuishoudensTotaal"),
    ]
    assert catalogue.register[2].unit == "km"


def test_catalogue_loads_on_its_own() -> None:
    catalogue = load_catalogue(INDICATORS)
    assert len(catalogue.indicators) == 15


def test_register_loads_against_catalogue_and_districts(catalogue, amsterdam_districts) -> None:
    register = load_register(INTERVENTIONS, catalogue, amsterdam_districts)
    assert [i.id for i in register] == ["computerles65", "sluiting_buurthuis_landlust"]
    lessons, closure = register
    assert (lessons.kind, lessons.sphere, lessons.age_min, lessons.feedback_survey) == (
        "programme", "institutional", 65, "deelnemersfeedback")
    assert lessons.indicators == ("digitaal_basis_65plus", "eenzaam_65plus")
    assert len(lessons.sites) == 8 and len(lessons.activity) == 8
    assert lessons.sites[0].district == "WK036394" and lessons.sites[0].start == dt.date(2020, 1, 15)
    assert lessons.sites[0].end is None
    assert sorted({site.start.year for site in lessons.sites}) == [2020, 2021, 2022]  # staggered
    assert "eenzaamheid" in lessons.mechanism
    assert (closure.kind, closure.age_min, closure.feedback_survey) == ("closure", None, None)
    assert [(s.district, s.start) for s in closure.sites] == [("WK036337", dt.date(2021, 1, 1))]
    for intervention in register:
        for indicator_id in intervention.indicators:
            catalogue.indicator(indicator_id)  # every named indicator exists
        assert {s.district for s in intervention.sites} <= amsterdam_districts


# ----------------------------------------------------------------------------- catalogue errors
def test_unknown_indicator_source(tmp_path: Path, codebook, derived) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["indicators"][index_of(raw, "onveilig")]["source"] = "onveilig_gevoel"

    error = catalogue_error(changed(INDICATORS, tmp_path, change), codebook, derived)
    assert error.location == "indicators/1 (onveilig)"
    assert "source 'onveilig_gevoel' is neither an item nor a derived scale column of wijkmonitor" in str(error)


def test_derived_source_needs_the_scale_columns(tmp_path: Path, codebook) -> None:
    error = catalogue_error(INDICATORS, codebook)  # no derived columns given
    assert "(bloeiend)" in error.location and "'ladder_thriving'" in str(error)


def test_share_without_values(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        del raw["indicators"][index_of(raw, "gehoord")]["values"]

    path = changed(INDICATORS, tmp_path, change)
    error = catalogue_error(path)
    assert error.location == f"indicators/{index_of(yaml.safe_load(INDICATORS.read_text()), 'gehoord')}"
    assert "'values' is a required property" in str(error)


def test_mean_needs_no_values(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        spec = raw["indicators"][index_of(raw, "gehoord")]
        spec["statistic"] = "mean"
        del spec["values"]

    assert load_catalogue(changed(INDICATORS, tmp_path, change)).indicator("gehoord").values == ()


def test_unknown_condition(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["indicators"][0]["condition"] = "social_quality"

    error = catalogue_error(changed(INDICATORS, tmp_path, change))
    assert error.location == "indicators/0/condition"
    assert "'social_quality' is not one of" in str(error)


def test_unknown_direction(tmp_path: Path) -> None:
    error = catalogue_error(changed(INDICATORS, tmp_path,
                                    lambda raw: raw["indicators"][2].update(direction="lower_is_better")))
    assert error.location == "indicators/2/direction"


def test_unknown_condition_of_a_register_indicator(tmp_path: Path) -> None:
    error = catalogue_error(changed(INDICATORS, tmp_path,
                                    lambda raw: raw["register_indicators"][4].update(condition="wonen")))
    assert error.location == "register_indicators/4/condition"


def test_register_indicator_without_cbs_field(tmp_path: Path) -> None:
    error = catalogue_error(changed(INDICATORS, tmp_path, lambda raw: raw["register_indicators"][0].pop("cbs_field")))
    assert error.location == "register_indicators/0" and "'cbs_field' is a required property" in str(error)


def test_duplicate_indicator_id(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["indicators"].append(dict(raw["indicators"][0]))

    error = catalogue_error(changed(INDICATORS, tmp_path, change))
    assert error.location == "indicators/15" and "duplicate indicator id 'moeite_rondkomen'" in str(error)


def test_base_wave_not_in_the_codebook(tmp_path: Path, codebook, derived) -> None:
    error = catalogue_error(changed(INDICATORS, tmp_path, lambda raw: raw.update(base_wave="2016")), codebook, derived)
    assert error.location == "base_wave" and "base_wave '2016' is not a wave of wijkmonitor" in str(error)


def test_catalogue_for_another_survey(tmp_path: Path, codebook, derived) -> None:
    error = catalogue_error(changed(INDICATORS, tmp_path, lambda raw: raw.update(survey="buurtpeiling")),
                            codebook, derived)
    assert "'buurtpeiling'" in str(error) and "'wijkmonitor'" in str(error)


def test_invalid_catalogue_yaml(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text("version: 2\nsurvey: wijkmonitor\nindicators:\n  - {id: a, label: [b}\n", encoding="utf-8")
    error = catalogue_error(path)
    assert "invalid YAML" in str(error) and error.location.startswith("line 4")


# ----------------------------------------------------------------------------- register errors
def test_register_naming_an_unknown_indicator(tmp_path: Path, catalogue) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["interventions"][0]["indicators"].append("digitaal_65plus")

    error = register_error(changed(INTERVENTIONS, tmp_path, change), catalogue)
    assert error.location == "interventions/0 (computerles65)"
    assert "unknown indicators ['digitaal_65plus'] (not in indicators.yaml)" in str(error)


def test_register_naming_a_register_indicator_is_refused(tmp_path: Path, catalogue) -> None:
    # the effects are estimated on survey indicators; CBS figures are context only
    def change(raw: dict[str, Any]) -> None:
        raw["interventions"][1]["indicators"] = ["laag_inkomen"]

    error = register_error(changed(INTERVENTIONS, tmp_path, change), catalogue)
    assert error.location == "interventions/1 (sluiting_buurthuis_landlust)"


def test_register_naming_a_district_not_in_the_population(tmp_path: Path, catalogue, amsterdam_districts) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["interventions"][1]["sites"].append({"district": "WK034401", "start": "2021-01-01"})

    error = register_error(changed(INTERVENTIONS, tmp_path, change), catalogue, amsterdam_districts)
    assert error.location == "interventions/1 (sluiting_buurthuis_landlust)"
    assert "district WK034401 is not a district of the population figures" in str(error)
    # without a set of known districts the same file loads
    assert len(load_register(changed(INTERVENTIONS, tmp_path, change), catalogue)[1].sites) == 2


def test_register_district_code_that_is_not_a_cbs_code(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["interventions"][0]["sites"][0]["district"] = "Centrum"

    error = register_error(changed(INTERVENTIONS, tmp_path, change))
    assert error.location == "interventions/0/sites/0/district"


def test_register_impossible_start_date(tmp_path: Path) -> None:
    text = INTERVENTIONS.read_text(encoding="utf-8")
    number = next(n for n, line in enumerate(text.splitlines(), start=1) if "start: 2021-01-01" in line)
    path = tmp_path / "interventions.yaml"
    path.write_text(text.replace("start: 2021-01-01", "start: 2021-02-29"), encoding="utf-8")
    error = register_error(path)
    assert error.location == f"line {number}" and "invalid date" in str(error)


def test_register_start_that_is_not_a_date(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["interventions"][1]["sites"][0]["start"] = "januari 2021"

    error = register_error(changed(INTERVENTIONS, tmp_path, change))
    assert error.location == "interventions/1/sites/0/start" and "is not a 'date'" in str(error)


def test_duplicate_intervention_id(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["interventions"][1]["id"] = "computerles65"

    assert "intervention ids must be unique" in str(register_error(changed(INTERVENTIONS, tmp_path, change)))


def test_unknown_intervention_kind(tmp_path: Path) -> None:
    error = register_error(changed(INTERVENTIONS, tmp_path, lambda raw: raw["interventions"][0].update(kind="pilot")))
    assert error.location == "interventions/0/kind"
