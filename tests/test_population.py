"""CBS Kerncijfers wijken en buurten: reading the CSV and Excel editions, margins, register figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialquality.catalogue import load_catalogue
from socialquality.errors import InputFileError
from socialquality.population import (
    AGE_FIELDS,
    district_population,
    population_margins,
    read_kwb,
    register_values,
)

REPO = Path(__file__).resolve().parent.parent
AMSTERDAM = REPO / "data" / "cbs" / "kwb_2019_amsterdam_84583NED.csv"
UTRECHT = REPO / "data" / "cbs" / "kwb_2023_utrecht.xlsx"


@pytest.fixture(scope="module")
def amsterdam() -> pd.DataFrame:
    return read_kwb(AMSTERDAM)


@pytest.fixture(scope="module")
def utrecht() -> pd.DataFrame:
    return read_kwb(UTRECHT)


@pytest.fixture(scope="module")
def raw_amsterdam() -> pd.DataFrame:
    return pd.read_csv(AMSTERDAM, sep=";", dtype=str, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def register_specs() -> list[dict]:
    catalogue = load_catalogue(REPO / "surveys" / "indicators.yaml")
    return [{"id": r.id, "cbs_field": r.cbs_field, "denominator_field": r.denominator_field}
            for r in catalogue.register]


def wijk(kwb: pd.DataFrame, code: str) -> pd.Series:
    rows = kwb[kwb["region_code"] == code]
    assert len(rows) == 1
    return rows.iloc[0]


# ----------------------------------------------------------------------------- read_kwb
def test_read_amsterdam_csv(amsterdam: pd.DataFrame) -> None:
    assert amsterdam["region_type"].value_counts().to_dict() == {"Buurt": 479, "Wijk": 99, "Gemeente": 1}
    districts = amsterdam.loc[amsterdam["region_type"] == "Wijk", "region_code"]
    assert districts.is_unique
    assert districts.str.fullmatch(r"WK0363\d\d").all()
    # padded text is stripped
    assert amsterdam["region_code"].iloc[0] == "GM0363"
    assert (amsterdam["Gemeentenaam"] == "Amsterdam").all()
    assert set(amsterdam["region_type"]) == {"Gemeente", "Wijk", "Buurt"}
    # field names without the edition suffix; a name that would repeat keeps it
    assert {"AantalInwoners", "Mannen", "k_15Tot25Jaar", "HuishoudensMetEenLaagInkomen"} <= set(amsterdam.columns)
    assert not any(c.startswith("AantalInwoners_") for c in amsterdam.columns)
    assert {"Appartement_48", "Appartement_56"} <= set(amsterdam.columns) and "Appartement" not in amsterdam.columns
    # numbers are numbers
    city = wijk(amsterdam, "GM0363")
    assert city["AantalInwoners"] == 862965
    first = wijk(amsterdam, "WK036300")
    assert (first["AantalInwoners"], first["Mannen"], first["Vrouwen"]) == (4295, 2400, 1890)
    assert first["GemiddeldeHuishoudensgrootte"] == pytest.approx(1.4)
    assert first["AfstandTotHuisartsenpraktijk"] == pytest.approx(0.2)
    assert pd.api.types.is_numeric_dtype(amsterdam["AantalInwoners"])
    assert pd.api.types.is_numeric_dtype(amsterdam["HuishoudensMetEenLaagInkomen"])


def test_dot_for_unknown_becomes_nan(amsterdam: pd.DataFrame, raw_amsterdam: pd.DataFrame) -> None:
    raw_column = next(c for c in raw_amsterdam.columns if c.startswith("HuishoudensMetEenLaagInkomen_"))
    dots = raw_amsterdam[raw_column].str.strip() == "."
    assert dots.sum() > 0
    assert amsterdam.loc[dots.values, "HuishoudensMetEenLaagInkomen"].isna().all()
    assert amsterdam.loc[~dots.values, "HuishoudensMetEenLaagInkomen"].notna().all()
    assert np.isnan(wijk(amsterdam, "WK036350")["HuishoudensMetEenLaagInkomen"])  # a district without residents


def test_read_utrecht_excel(utrecht: pd.DataFrame) -> None:
    assert utrecht["region_type"].value_counts().to_dict() == {"Buurt": 111, "Wijk": 10, "Gemeente": 1}
    districts = utrecht.loc[utrecht["region_type"] == "Wijk", "region_code"].tolist()
    assert districts == [f"WK0344{i:02d}" for i in range(1, 11)]
    first = wijk(utrecht, "WK034401")
    assert first["RegioNaam"] == "Wijk 01 West"
    assert first["AantalInwoners"] == 29040
    assert (first["Mannen"], first["Vrouwen"]) == (14045, 14990)
    assert (first["HuishoudensTotaal"], first["Eenpersoonshuishoudens"]) == (15480, 8165)
    assert np.isnan(first["HuishoudensMetEenLaagInkomen"])  # "." in the 2023 edition
    assert pd.api.types.is_numeric_dtype(utrecht["k_65JaarOfOuder"])


def test_read_a_small_csv_exactly(tmp_path: Path) -> None:
    path = tmp_path / "kwb.csv"
    path.write_text(
        '\ufeff"ID";"WijkenEnBuurten";"SoortRegio_2";"AantalInwoners_5";"Mannen_6";"GemiddeldeHuishoudensgrootte_32";'
        '"Appartement_48";"Appartement_56"\n'
        '"1";"GM9999    ";"Gemeente  ";"   12345";"    6000";"     2,1";"       .";"      3"\n'
        '"2";"WK999901  ";"Wijk      ";"       .";"        ";"     1.5";"       1";"       2"\n',
        encoding="utf-8")
    kwb = read_kwb(path)
    assert list(kwb.columns) == ["ID", "region_code", "region_type", "AantalInwoners", "Mannen",
                                 "GemiddeldeHuishoudensgrootte", "Appartement_48", "Appartement_56"]
    assert kwb["region_code"].tolist() == ["GM9999", "WK999901"]
    assert kwb["region_type"].tolist() == ["Gemeente", "Wijk"]
    assert kwb["ID"].tolist() == ["1", "2"]  # identifiers stay text
    assert kwb["AantalInwoners"].iloc[0] == 12345 and np.isnan(kwb["AantalInwoners"].iloc[1])
    assert kwb["Mannen"].iloc[0] == 6000 and np.isnan(kwb["Mannen"].iloc[1])  # blank = unknown
    assert kwb["GemiddeldeHuishoudensgrootte"].tolist() == [2.1, 1.5]  # decimal comma or point
    assert np.isnan(kwb["Appartement_48"].iloc[0]) and kwb["Appartement_56"].tolist() == [3, 2]


def test_file_that_is_not_a_kwb_table(tmp_path: Path) -> None:
    path = tmp_path / "bevolking.csv"
    path.write_text("Wijkcode;SoortRegio;AantalInwoners\nWK036300;Wijk;4295\n", encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_kwb(path)
    assert info.value.column == "WijkenEnBuurten"
    assert str(path) in str(info.value) and "column 'WijkenEnBuurten'" in str(info.value)
    assert "not a CBS KWB table" in str(info.value)


def test_kwb_excel_without_the_population_column(tmp_path: Path) -> None:
    path = tmp_path / "kwb.xlsx"
    pd.DataFrame({"gwb_code_10": ["WK034401"], "recs": ["Wijk"], "a_man": ["10"]}).to_excel(path, index=False)
    with pytest.raises(InputFileError) as info:
        read_kwb(path)
    assert info.value.column == "AantalInwoners" and "column 'AantalInwoners'" in str(info.value)


def test_missing_or_unsupported_population_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="population file not found"):
        read_kwb(tmp_path / "kwb.csv")
    other = tmp_path / "kwb.json"
    other.write_text("{}", encoding="utf-8")
    with pytest.raises(InputFileError, match="CBS KWB CSV or Excel"):
        read_kwb(other)


# ----------------------------------------------------------------------------- districts and margins
def test_district_population_amsterdam(amsterdam: pd.DataFrame) -> None:
    districts = district_population(amsterdam, "GM0363")
    assert list(districts.columns) == ["district_code", "population", "district_name", "sex_m", "sex_v",
                                       "age_15-24", "age_25-44", "age_45-64", "age_65+"]
    assert len(districts) == 99 and districts["district_code"].str.startswith("WK0363").all()
    wijken = amsterdam[amsterdam["region_type"] == "Wijk"]
    assert districts["population"].sum() == wijken["AantalInwoners"].sum() == 862475
    # the district figures add up to the city figure up to CBS's rounding to fives
    city = wijk(amsterdam, "GM0363")["AantalInwoners"]
    assert abs(districts["population"].sum() - city) / city < 0.001
    first = districts.set_index("district_code").loc["WK036300"]
    assert (first["population"], first["sex_m"], first["sex_v"]) == (4295, 2400, 1890)
    assert (first["age_15-24"], first["age_25-44"], first["age_45-64"], first["age_65+"]) == (580, 2150, 935, 405)
    assert districts["district_name"].isna().all()  # the CSV edition has no names


def test_district_population_utrecht(utrecht: pd.DataFrame) -> None:
    districts = district_population(utrecht, "GM0344")
    assert districts["district_code"].tolist() == [f"WK0344{i:02d}" for i in range(1, 11)]
    assert districts["district_name"].iloc[2] == "Wijk 03 Overvecht"
    wijken = utrecht[utrecht["region_type"] == "Wijk"]
    assert districts["population"].sum() == wijken["AantalInwoners"].sum()
    assert districts["population"].sum() > 300_000


def test_district_population_of_another_municipality(amsterdam: pd.DataFrame) -> None:
    with pytest.raises(InputFileError, match="no districts of municipality GM0344"):
        district_population(amsterdam, "GM0344")


@pytest.mark.parametrize("which, municipality", [("amsterdam", "GM0363"), ("utrecht", "GM0344")])
def test_population_margins_have_equal_totals_per_district(request, which: str, municipality: str) -> None:
    kwb = request.getfixturevalue(which)
    districts = district_population(kwb, municipality)
    margins = population_margins(districts, 2019)
    assert list(margins.columns) == ["district_code", "year", "variable", "level", "count"]
    assert (margins["year"] == 2019).all()
    assert len(margins) == 6 * len(districts)
    assert set(margins.loc[margins["variable"] == "age_group", "level"]) == set(AGE_FIELDS)
    assert set(margins.loc[margins["variable"] == "sex", "level"]) == {"m", "v"}
    totals = margins.groupby(["district_code", "variable"])["count"].sum().unstack()
    population_15 = districts.set_index("district_code")[[f"age_{g}" for g in AGE_FIELDS]].sum(axis=1)
    inhabited = population_15[population_15 > 0].index
    assert len(inhabited) >= len(districts) - 1
    # raking needs both margins of a district to add up to the same total: the population 15+
    np.testing.assert_allclose(totals.loc[inhabited, "sex"], totals.loc[inhabited, "age_group"], rtol=1e-9)
    np.testing.assert_allclose(totals.loc[inhabited, "age_group"], population_15.loc[inhabited], rtol=1e-9)
    # the sex margin keeps the CBS ratio of men to women
    wide = margins[margins["variable"] == "sex"].pivot(index="district_code", columns="level", values="count")
    source = districts.set_index("district_code").loc[inhabited]
    np.testing.assert_allclose(wide.loc[inhabited, "m"] / wide.loc[inhabited, "v"],
                               source["sex_m"] / source["sex_v"], rtol=1e-9)


def test_population_margins_of_one_district_by_hand() -> None:
    districts = pd.DataFrame([{"district_code": "WK999901", "population": 1000, "sex_m": 300, "sex_v": 700,
                               "age_15-24": 100, "age_25-44": 300, "age_45-64": 250, "age_65+": 150}])
    margins = population_margins(districts, 2023).set_index(["variable", "level"])["count"]
    assert margins[("age_group", "25-44")] == 300
    assert margins[("sex", "m")] == pytest.approx(300 * 800 / 1000)
    assert margins[("sex", "v")] == pytest.approx(700 * 800 / 1000)


# ----------------------------------------------------------------------------- register indicators
def test_register_values_amsterdam(amsterdam: pd.DataFrame, register_specs: list[dict]) -> None:
    assert [s["id"] for s in register_specs] == ["laag_inkomen", "rond_sociaal_minimum", "afstand_huisarts",
                                                 "afstand_supermarkt", "eenpersoonshuishoudens"]
    values = register_values(amsterdam, "GM0363", register_specs, 2019)
    assert list(values.columns) == ["district_code", "indicator_id", "value", "year", "source"]
    assert len(values) == (99 + 1) * len(register_specs)  # the 99 districts and the municipality itself
    city = values[values["district_code"] == "GM0363"].set_index("indicator_id")["value"]
    assert len(city) == len(register_specs) and np.isfinite(city["afstand_huisarts"])
    assert (values["year"] == 2019).all() and values["source"].str.contains("CC BY 4.0").all()
    table = values.pivot(index="district_code", columns="indicator_id", values="value")
    first = wijk(amsterdam, "WK036300")
    assert table.loc["WK036300", "laag_inkomen"] == pytest.approx(first["HuishoudensMetEenLaagInkomen"]) == 15.0
    assert table.loc["WK036300", "afstand_huisarts"] == pytest.approx(0.2)
    # with a denominator: a percentage of households
    assert table.loc["WK036300", "eenpersoonshuishoudens"] == pytest.approx(100 * 2100 / 3040)
    # a district without households: no percentage rather than a division by zero
    assert np.isnan(table.loc["WK036350", "eenpersoonshuishoudens"])
    assert np.isfinite(table["eenpersoonshuishoudens"].drop("WK036350")).all()
    assert table["eenpersoonshuishoudens"].drop("WK036350").between(0, 100).all()


def test_register_values_utrecht(utrecht: pd.DataFrame, register_specs: list[dict]) -> None:
    values = register_values(utrecht, "GM0344", register_specs, 2023)
    table = values.pivot(index="district_code", columns="indicator_id", values="value")
    assert list(table.index) == ["GM0344"] + [f"WK0344{i:02d}" for i in range(1, 11)]
    assert table.loc["WK034401", "eenpersoonshuishoudens"] == pytest.approx(100 * 8165 / 15480)
    assert table["laag_inkomen"].isna().all()  # not yet published in this edition


def test_register_field_not_in_the_table(amsterdam: pd.DataFrame) -> None:
    with pytest.raises(InputFileError) as info:
        register_values(amsterdam, "GM0363", [{"id": "x", "cbs_field": "AantalBibliotheken"}], 2019)
    assert info.value.column == "AantalBibliotheken" and "AantalBibliotheken" in str(info.value)


def test_register_denominator_not_in_the_table(amsterdam: pd.DataFrame) -> None:
    spec = {"id": "x", "cbs_field": "Eenpersoonshuishoudens", "denominator_field": "Huishoudens"}
    with pytest.raises(InputFileError) as info:
        register_values(amsterdam, "GM0363", [spec], 2019)
    assert info.value.column == "Huishoudens" and "'Huishoudens'" in str(info.value)


def test_register_values_without_specs(amsterdam: pd.DataFrame) -> None:
    values = register_values(amsterdam, "GM0363", [], 2019)
    assert values.empty and list(values.columns) == ["district_code", "indicator_id", "value", "year", "source"]
