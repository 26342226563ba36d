"""Codebooks: the shipped ones load; a broken one gives a CodebookError naming the file and the place."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from socialquality.codebook import AGE_GROUPS, age_group_of, load_codebook
from socialquality.errors import CodebookError

REPO = Path(__file__).resolve().parent.parent
CODEBOOKS = REPO / "surveys" / "codebooks"
WIJKMONITOR = CODEBOOKS / "wijkmonitor.yaml"
FEEDBACK = CODEBOOKS / "deelnemersfeedback.yaml"


@pytest.fixture(scope="module")
def wijkmonitor():
    return load_codebook(WIJKMONITOR)


def item_index(raw: dict[str, Any], item_id: str) -> int:
    return next(i for i, item in enumerate(raw["items"]) if item["id"] == item_id)


def write_changed(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    raw = yaml.safe_load(WIJKMONITOR.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "wijkmonitor.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def codebook_error(path: Path) -> CodebookError:
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    error = info.value
    message = str(error)
    assert "\n" not in message, message
    assert message.startswith(str(path)), message  # the file comes first
    assert error.path == str(path)
    return error


def broken(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> CodebookError:
    return codebook_error(write_changed(tmp_path, change))


# ----------------------------------------------------------------------------- the shipped codebooks
def test_wijkmonitor_loads(wijkmonitor) -> None:
    cb = wijkmonitor
    assert (cb.survey, cb.kind, cb.version, cb.municipality, cb.minimum_age) == (
        "wijkmonitor", "resident_survey", 3, "GM0363", 16)
    assert cb.path == str(WIJKMONITOR)
    assert cb.checksum == hashlib.sha256(WIJKMONITOR.read_bytes()).hexdigest()
    assert cb.wave_ids == ["2017", "2018", "2019", "2020", "2021", "2022", "2023"]
    assert cb.wave("2021").mode == "web"
    assert str(cb.wave("2017").fieldwork_start) == "2017-03-01"
    assert cb.background_columns() == {"resp_id": "respondent_id", "wijkcode": "district", "buurtcode": "buurt",
                                       "geslacht": "sex", "leeftijd": "age", "duur_min": "duration"}
    assert cb.sex_codes == {1: "m", 2: "v"} and cb.sex_missing == (9,)
    assert (cb.age_min, cb.age_max, cb.speeder_below_min) == (16, 105, 4.0)
    assert "email" in cb.drop_columns
    assert len(cb.items) == 31
    assert cb.items["veilig"].aliases == ("onveilig_buurt",)
    assert cb.items["veilig"].scale.codes == {1: "vaak", 2: "soms", 3: "(bijna) nooit"}
    assert cb.items["veilig"].scale.missing == {9: "geen antwoord"}
    assert cb.items["gezondheid"].recode == {"2017": {1: 5, 2: 4, 3: 3, 4: 2, 5: 1},
                                             "2018": {1: 5, 2: 4, 3: 3, 4: 2, 5: 1}}
    assert cb.items["coh_kennen"].reverse and not cb.items["coh_prettig"].reverse
    assert cb.items["ladder_nu"].type == "numeric" and cb.items["ladder_nu"].scale.bounds == (0.0, 10.0)
    assert cb.items["rondkomen"].type == "categorical" and cb.items["rondkomen"].required
    assert cb.items["opmerking"].type == "text" and cb.items["opmerking"].scale is None
    assert not cb.items["opmerking"].required
    assert cb.grids["cohesie_grid"] == ("coh_kennen", "coh_prettig", "coh_gezellig", "coh_thuis", "coh_contact")
    assert [s.id for s in cb.scales] == ["eenzaamheid", "cohesie", "ladder", "regie", "digitaal"]
    regie = next(s for s in cb.scales if s.id == "regie")
    assert regie.item_ids() == ["pm_controle", "pm_problemen", "pm_veranderen", "pm_hulpeloos", "pm_speelbal",
                                "pm_toekomst", "pm_alles"]
    assert regie.min_valid == 6
    assert [(b.wave, b.items) for b in cb.method_breaks] == [("2021", ("veilig", "gehoord"))]
    with pytest.raises(KeyError, match="2030"):
        cb.wave("2030")


def test_feedback_codebook_loads() -> None:
    cb = load_codebook(FEEDBACK)
    assert (cb.survey, cb.kind, cb.version) == ("deelnemersfeedback", "participant_feedback", 1)
    assert cb.sex_column is None and cb.age_column is None
    assert cb.age_group_codes == {1: "15-24", 2: "25-44", 3: "45-64", 4: "65+"}
    assert cb.background_columns() == {"deelnemer_id": "respondent_id", "wijkcode": "district",
                                       "leeftijdsgroep": "age_group"}
    assert list(cb.items) == ["interventie", "contacten_verandering", "toeschrijving", "toelichting", "tevredenheid"]
    assert cb.items["tevredenheid"].type == "numeric"
    assert cb.items["toelichting"].type == "text" and not cb.items["toelichting"].required
    assert cb.method_breaks == () and cb.scales == ()


def test_answer_scale_validity(wijkmonitor) -> None:
    ladder = wijkmonitor.answer_scales["ladder11"]
    assert ladder.is_valid(0) and ladder.is_valid(10) and ladder.is_valid(6.5)
    assert not ladder.is_valid(10.5) and not ladder.is_valid(98)
    eens = wijkmonitor.answer_scales["eens5"]
    assert eens.is_valid(1) and eens.is_valid(5.0)
    assert not eens.is_valid(2.5) and not eens.is_valid(8) and not eens.is_valid(0)
    assert eens.bounds == (1.0, 5.0)


# ----------------------------------------------------------------------------- behaviour
def test_items_asked_honours_introduced(wijkmonitor) -> None:
    asked = {wave: [i.id for i in wijkmonitor.items_asked(wave)] for wave in wijkmonitor.wave_ids}
    assert "coh_contact" not in asked["2017"] and "coh_contact" not in asked["2018"]
    for wave in ("2019", "2020", "2023"):
        assert "coh_contact" in asked[wave]
    assert len(asked["2018"]) == len(wijkmonitor.items) - 1
    assert asked["2019"] == list(wijkmonitor.items)  # codebook order


def test_items_asked_honours_dropped(tmp_path: Path) -> None:
    def drop_gehoord(raw: dict[str, Any]) -> None:
        raw["items"][item_index(raw, "gehoord")]["dropped"] = "2022"

    cb = load_codebook(write_changed(tmp_path, drop_gehoord))
    assert "gehoord" in [i.id for i in cb.items_asked("2021")]
    assert "gehoord" not in [i.id for i in cb.items_asked("2022")]
    assert "gehoord" not in [i.id for i in cb.items_asked("2023")]


def test_breaks_between(wijkmonitor) -> None:
    cb = wijkmonitor
    [brk] = cb.breaks_between("2020", "2021", ["veilig"])
    assert brk.wave == "2021" and "web" in brk.description
    assert cb.breaks_between("2020", "2021", ["rondkomen"]) == []
    assert cb.breaks_between("2017", "2023", ["rondkomen", "coh_thuis"]) == []
    assert len(cb.breaks_between("2017", "2023", ["rondkomen", "gehoord"])) == 1
    assert len(cb.breaks_between("2023", "2019", ["veilig"])) == 1  # either order
    assert len(cb.breaks_between("2020", "2021")) == 1  # any item
    assert cb.breaks_between("2021", "2023", ["veilig"]) == []  # the break wave itself is the new baseline
    assert cb.breaks_between("2017", "2020", ["veilig"]) == []


def test_whole_questionnaire_break_applies_to_every_item(tmp_path: Path) -> None:
    cb = load_codebook(write_changed(tmp_path, lambda raw: raw["method_breaks"].append(
        {"wave": "2019", "description": "Nieuw veldwerkbureau"})))
    assert [b.wave for b in cb.breaks_between("2018", "2019", ["rondkomen"])] == ["2019"]


@pytest.mark.parametrize("age, group", [
    (15, "15-24"), (16, "15-24"), (24.9, "15-24"), (25, "25-44"), (44.99, "25-44"), (45, "45-64"),
    (64.9, "45-64"), (65, "65+"), (104, "65+"),
])
def test_age_group_of(age: float, group: str) -> None:
    assert age_group_of(age) == group
    assert group in AGE_GROUPS


def test_age_group_of_missing_age() -> None:
    assert age_group_of(math.nan) is None
    assert age_group_of(float("nan")) is None


# ----------------------------------------------------------------------------- broken codebooks
def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in str(codebook_error(tmp_path / "wijkmonitor.yaml"))


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    lines = WIJKMONITOR.read_text(encoding="utf-8").splitlines()
    number = next(n for n, line in enumerate(lines, start=1) if line.startswith("title:"))
    lines[number - 1] = "title: Wijkmonitor: Sociale Kwaliteit"
    path = tmp_path / "wijkmonitor.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    error = codebook_error(path)
    assert error.location is not None and error.location.startswith(f"line {number},")
    assert "invalid YAML" in str(error)


def test_tab_indentation_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "wijkmonitor.yaml"
    path.write_text("survey: wijkmonitor\ntitle: x\nwaves:\n\t- {id: '2019'}\n", encoding="utf-8")
    error = codebook_error(path)
    assert "line 4" in str(error) and "invalid YAML" in str(error)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "wijkmonitor.yaml"
    path.write_bytes(WIJKMONITOR.read_text(encoding="utf-8").replace("Wijkmonitor Sociale", "Wijkmonitor \xe9").encode("latin-1"))
    assert "not UTF-8" in str(codebook_error(path))


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "wijkmonitor.yaml"
    path.write_text("- survey\n- items\n", encoding="utf-8")
    assert "expected a mapping at the top level" in str(codebook_error(path))


def test_schema_item_without_text(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        del raw["items"][3]["text"]

    error = broken(tmp_path, change)
    assert error.location == "items/3"
    assert "'text' is a required property" in str(error)


def test_schema_unknown_scale_method(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["scales"][1].update(method="cbs_cohesie"))
    assert error.location == "scales/1/method"
    assert "'cbs_cohesie' is not one of" in str(error)


def test_schema_unknown_top_level_key(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw.update(wave=["2017"]))
    assert error.location == "(top level)"
    assert "'wave'" in str(error)


def test_schema_wave_id_must_be_text(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["waves"][2].update(id=2019))
    assert error.location == "waves/2/id"


def test_schema_date_that_is_not_a_date(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["waves"][0]["fieldwork"].update(start="2017-3-1"))
    assert error.location == "waves/0/fieldwork/start"
    assert "'2017-3-1' is not a 'date'" in str(error)


def test_impossible_date_names_the_line(tmp_path: Path) -> None:
    text = WIJKMONITOR.read_text(encoding="utf-8")
    lines = text.splitlines()
    number = next(n for n, line in enumerate(lines, start=1) if "2020-09-01" in line)
    path = tmp_path / "wijkmonitor.yaml"
    path.write_text(text.replace("start: 2020-09-01", "start: 2020-09-31"), encoding="utf-8")
    error = codebook_error(path)
    assert error.location == f"line {number}"
    assert "invalid date" in str(error)


def test_fieldwork_that_ends_before_it_starts(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["waves"][1]["fieldwork"].update(end="2018-01-01"))
    assert error.location == "waves" and "fieldwork of wave 2018 ends before it starts" in str(error)


def test_duplicate_wave_id(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["waves"].append({"id": "2019"}))
    assert error.location == "waves" and "wave ids must be unique" in str(error)


def test_item_naming_an_unknown_answer_scale(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["items"][item_index(raw, "veilig")]["scale"] = "onveilig4"

    error = broken(tmp_path, change)
    assert error.location == "items/1 (veilig)"
    assert "unknown answer scale 'onveilig4'" in str(error)


def test_non_text_item_without_a_scale(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        item = raw["items"][item_index(raw, "rondkomen")]
        del item["scale"]
        item["type"] = "categorical"

    error = broken(tmp_path, change)
    assert error.location == "items/0 (rondkomen)" and "needs an answer `scale`" in str(error)


def test_duplicate_item_id(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["items"].append({"id": "veilig", "text": "Nog een keer?", "scale": "ja_nee"})

    error = broken(tmp_path, change)
    assert error.location == f"items/{len(yaml.safe_load(WIJKMONITOR.read_text())['items'])} (veilig)"
    assert "duplicate item id 'veilig'" in str(error)


def test_alias_colliding_with_an_earlier_item(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["items"][item_index(raw, "gehoord")]["aliases"] = ["gehoord_gemeente", "RONDKOMEN"]

    error = broken(tmp_path, change)
    index = item_index(yaml.safe_load(WIJKMONITOR.read_text()), "gehoord")
    assert error.location == f"items/{index} (gehoord)"
    assert "column name 'RONDKOMEN' also used by item 'rondkomen'" in str(error)


def test_alias_colliding_with_a_later_item(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["items"][item_index(raw, "veilig")]["aliases"] = ["onveilig_buurt", "gehoord"]

    error = broken(tmp_path, change)
    assert "(gehoord)" in error.location
    assert "column name 'gehoord' also used by item 'veilig'" in str(error)


def test_background_column_that_is_also_an_item(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["district"].update(column="Veilig"))
    assert "background column 'Veilig' is also an item name" in str(error)


def test_recode_naming_an_unknown_wave(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["items"][item_index(raw, "gezondheid")]["recode"]["2016"] = {1: 5}

    error = broken(tmp_path, change)
    assert error.location == "items/2 (gezondheid)"
    assert "recode names unknown wave '2016'" in str(error)


def test_introduced_naming_an_unknown_wave(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["items"][item_index(raw, "coh_contact")]["introduced"] = "2091"

    error = broken(tmp_path, change)
    assert "(coh_contact)" in error.location and "introduced names unknown wave '2091'" in str(error)


def test_grid_naming_an_unknown_item(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["grids"][0]["items"].append("coh_buren"))
    assert error.location == "grids/cohesie_grid"
    assert "grid names unknown items ['coh_buren']" in str(error)


def test_scale_naming_an_unknown_item(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["scales"][0]["items"].update(close="dj_verbondenheid"))
    assert error.location == "scales/eenzaamheid"
    assert "scale names unknown items ['dj_verbondenheid']" in str(error)


def test_scale_naming_an_unknown_item_in_a_nested_role(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["scales"][3]["items"]["positive"].append("pm_zelf"))
    assert error.location == "scales/regie" and "'pm_zelf'" in str(error)


def test_method_break_naming_an_unknown_wave(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["method_breaks"][0].update(wave="2024"))
    assert error.location == "method_breaks"
    assert "method break names unknown wave '2024'" in str(error)


def test_method_break_naming_an_unknown_item(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["method_breaks"][0]["items"].append("onveilig"))
    assert error.location == "method_breaks" and "['onveilig']" in str(error)


def test_answer_scale_range_the_wrong_way_round(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["answer_scales"]["ladder11"].update(range=[10, 0]))
    assert error.location == "answer_scales/ladder11" and "range must be [low, high]" in str(error)


def test_answer_code_that_is_not_a_number(tmp_path: Path) -> None:
    error = broken(tmp_path, lambda raw: raw["answer_scales"]["ja_nee"]["codes"].update(j="ja"))
    assert error.location == "answer_scales/ja_nee/codes" and "code 'j' is not a whole number" in str(error)
