"""CBS "Kerncijfers wijken en buurten" (KWB): population margins and register figures per district.

Reads the table as CBS delivers it: the open-data CSV (table 84583NED and later editions: `;`,
UTF-8 with BOM, padded text, `.` for unknown, field names with an edition-specific `_NN` suffix)
and the Excel download (`gwb_code_10`, `a_inw`, ...). Both come out in one shape whose field names
are the CBS keys without suffix (e.g. `HuishoudensMetEenLaagInkomen`). Bron: CBS, CC BY 4.0.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from socialquality.errors import InputFileError

# Excel (KWB download) codes -> the CBS open-data keys used throughout.
EXCEL_CODES = {
    "gwb_code_10": "WijkenEnBuurten",
    "regio": "RegioNaam",
    "gm_naam": "Gemeentenaam",
    "recs": "SoortRegio",
    "a_inw": "AantalInwoners",
    "a_man": "Mannen",
    "a_vrouw": "Vrouwen",
    "a_00_14": "k_0Tot15Jaar",
    "a_15_24": "k_15Tot25Jaar",
    "a_25_44": "k_25Tot45Jaar",
    "a_45_64": "k_45Tot65Jaar",
    "a_65_oo": "k_65JaarOfOuder",
    "a_hh": "HuishoudensTotaal",
    "a_1p_hh": "Eenpersoonshuishoudens",
    "p_hh_li": "HuishoudensMetEenLaagInkomen",
    "p_hh_osm": "HuishOnderOfRondSociaalMinimum",
    "g_afs_hp": "AfstandTotHuisartsenpraktijk",
    "g_afs_gs": "AfstandTotGroteSupermarkt",
    "g_afs_kv": "AfstandTotKinderdagverblijf",
    "g_afs_sc": "AfstandTotSchool",
    "g_ink_pi": "GemiddeldInkomenPerInwoner",
}
AGE_FIELDS = {
    "15-24": "k_15Tot25Jaar",
    "25-44": "k_25Tot45Jaar",
    "45-64": "k_45Tot65Jaar",
    "65+": "k_65JaarOfOuder",
}
SEX_FIELDS = {"m": "Mannen", "v": "Vrouwen"}
TEXT_FIELDS = {"ID", "WijkenEnBuurten", "Gemeentenaam", "SoortRegio", "Codering", "RegioNaam",
               "IndelingswijzigingWijkenEnBuurten", "MeestVoorkomendePostcode"}
_SUFFIX = re.compile(r"_\d+$")


def _strip_suffixes(columns: list[str]) -> list[str]:
    """`AantalInwoners_5` -> `AantalInwoners`; a name that would repeat keeps its suffix."""
    stripped = [_SUFFIX.sub("", c) for c in columns]
    counts = pd.Series(stripped).value_counts()
    return [s if counts[s] == 1 else c for s, c in zip(stripped, columns)]


def read_kwb(path: str | Path) -> pd.DataFrame:
    """All regions of a KWB file: `region_code`, `region_type` (Gemeente/Wijk/Buurt), then fields."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "population file not found")
    if path.suffix.lower() in (".xlsx", ".xls"):
        frame = pd.read_excel(path, dtype=str)
        frame = frame.rename(columns=EXCEL_CODES)
    elif path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, sep=";", dtype=str, encoding="utf-8-sig")
        frame.columns = _strip_suffixes([c.strip() for c in frame.columns])
    else:
        raise InputFileError(path, "population figures must be the CBS KWB CSV or Excel file")
    for required in ("WijkenEnBuurten", "SoortRegio", "AantalInwoners"):
        if required not in frame.columns:
            raise InputFileError(path, f"not a CBS KWB table: column {required!r} is missing", column=required)
    frame = frame.apply(lambda s: s.str.strip() if s.dtype == object or str(s.dtype) == "str" else s)
    frame = frame.rename(columns={"WijkenEnBuurten": "region_code", "SoortRegio": "region_type"})
    for column in frame.columns:
        if column in TEXT_FIELDS or column in ("region_code", "region_type"):
            continue
        values = frame[column].replace({".": None, "": None})
        frame[column] = pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce")
    return frame


def district_population(kwb: pd.DataFrame, municipality: str) -> pd.DataFrame:
    """Districts (wijken) of one municipality: code, population, sex and age-group counts."""
    code_prefix = "WK" + municipality[2:]
    districts = kwb[(kwb["region_type"] == "Wijk") & kwb["region_code"].str.startswith(code_prefix)].copy()
    if districts.empty:
        raise InputFileError("population figures", f"no districts of municipality {municipality} in the KWB table")
    columns = {"region_code": "district_code", "AantalInwoners": "population"}
    result = districts.rename(columns=columns)[["district_code", "population"]].copy()
    result["district_name"] = districts["RegioNaam"].values if "RegioNaam" in districts else None
    for level, field in SEX_FIELDS.items():
        result[f"sex_{level}"] = districts[field].values
    for level, field in AGE_FIELDS.items():
        result[f"age_{level}"] = districts[field].values
    return result.reset_index(drop=True)


def population_margins(districts: pd.DataFrame, year: int) -> pd.DataFrame:
    """Long margins (district_code, year, variable, level, count) for the survey population 15+.

    CBS gives sex for all ages but age groups from 0; the survey covers 15+ (in practice 16+).
    The sex margin is scaled to the 15+ total so that both margins have the same total, as raking
    requires (documented in docs/methods.md).
    """
    rows = []
    for record_map in districts.to_dict("records"):
        record = pd.Series(record_map)
        ages = {level: float(record_map[f"age_{level}"]) for level in AGE_FIELDS}
        total_15 = sum(v for v in ages.values() if v == v)
        sexes = {level: float(record_map[f"sex_{level}"]) for level in SEX_FIELDS}
        sex_total = sum(v for v in sexes.values() if v == v)
        for level, count in ages.items():
            rows.append((record["district_code"], year, "age_group", level, count))
        for level, count in sexes.items():
            scaled = count * total_15 / sex_total if sex_total else 0.0
            rows.append((record["district_code"], year, "sex", level, scaled))
    return pd.DataFrame(rows, columns=["district_code", "year", "variable", "level", "count"])


def register_values(kwb: pd.DataFrame, municipality: str, specs: list[dict], year: int) -> pd.DataFrame:
    """Register indicators (the objective ring) per district and for the municipality itself (its
    KWB row, district_code = the municipality code, so reports can show the city's value):
    district_code, indicator_id, value, year."""
    code_prefix = "WK" + municipality[2:]
    districts = kwb[((kwb["region_type"] == "Wijk") & kwb["region_code"].str.startswith(code_prefix))
                    | ((kwb["region_type"] == "Gemeente") & (kwb["region_code"] == municipality))]
    frames = []
    for spec in specs:
        for field in filter(None, (spec["cbs_field"], spec.get("denominator_field"))):
            if field not in districts.columns:
                raise InputFileError("population figures", f"register field {field!r} not in the KWB table",
                                     column=field)
        field = spec["cbs_field"]
        values = districts[field].astype(float)
        if spec.get("denominator_field"):
            values = 100.0 * values / districts[spec["denominator_field"]].astype(float).replace(0, np.nan)
        frames.append(pd.DataFrame({
            "district_code": districts["region_code"].values,
            "indicator_id": spec["id"],
            "value": values.values,
            "year": year,
            "source": "CBS Kerncijfers wijken en buurten (CC BY 4.0)",
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["district_code", "indicator_id", "value", "year", "source"])
