"""Population figures in either form a municipality has them (docs/new-municipality.md#population):

* the CBS "Kerncijfers wijken en buurten" file (CSV or Excel, `socialquality.population`), or
* a plain table of the municipality's own (CSV or Excel), one row per count:

  | column (Dutch or English)     | content                                                 |
  |-------------------------------|---------------------------------------------------------|
  | `wijkcode` / `district`       | the district code as the survey delivers it (required)  |
  | `wijknaam` / `district_name`  | the district's name (optional)                          |
  | `leeftijd` / `age_group`      | an age band: `18-34`, `75+` (empty = all ages)          |
  | `geslacht` / `sex`            | `m`/`v` (or man/vrouw; empty = both)                    |
  | `aantal` / `count`            | number of inhabitants (required)                        |
  | `jaar` / `year`               | the year of the figures (optional)                      |

  Rows with both a band and a sex are a joint table; rows with only a band, or only a sex, are
  separate margins. Either way the weighting uses the two margins (age band, sex). Any bands may
  be used; they must not overlap. The sex margin is scaled to the total of the age margin (the
  population the survey covers), as for CBS figures.

Both come out as `districts` (district_code, district_name, population) and long `margins`
(district_code, year, variable, level, count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from socialquality.agebands import parse_band, sorted_bands
from socialquality.errors import InputFileError

PLAIN_COLUMNS = {
    "district_code": ("wijkcode", "district", "district_code", "wijk"),
    "district_name": ("wijknaam", "district_name", "naam", "name"),
    "age_group": ("leeftijd", "leeftijdsklasse", "age_group", "age_band", "age"),
    "sex": ("geslacht", "sex"),
    "count": ("aantal", "count", "inwoners", "population"),
    "year": ("jaar", "year"),
}
SEX_WORDS = {"m": "m", "man": "m", "mannen": "m", "male": "m", "v": "v", "vrouw": "v", "vrouwen": "v",
             "female": "v", "f": "v"}
TOTAL_WORDS = {"", "totaal", "total", "alle", "all", "*", "nan", "<na>", "none"}


@dataclass
class PopulationFigures:
    kind: str  # "cbs_kwb" | "plain"
    districts: pd.DataFrame  # district_code, district_name, population
    margins: pd.DataFrame  # district_code, year, variable, level, count
    year: int
    kwb: pd.DataFrame | None = None  # the CBS table (register indicators), when the file is one


def _read_any(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(path, "population file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        return pd.read_excel(path, dtype=str)
    if suffix in (".csv", ".txt", ".tsv"):
        text = path.read_bytes()
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                head = text.decode(encoding).splitlines()[0] if text else ""
                break
            except UnicodeDecodeError:
                continue
        else:
            raise InputFileError(path, "population file is neither UTF-8 nor Windows-1252 text")
        sep = max((";", ",", "\t"), key=head.count)
        return pd.read_csv(path, sep=sep, dtype=str, encoding=encoding, keep_default_na=False)
    raise InputFileError(path, "population figures must be a CSV or Excel file (CBS KWB or the plain table)")


def is_cbs_kwb(columns: list[str]) -> bool:
    names = {re.sub(r"_\d+$", "", str(c).strip()) for c in columns}
    return "WijkenEnBuurten" in names or "gwb_code_10" in names


def _year_from(path: Path, declared: int | None) -> int:
    if declared is not None:
        return int(declared)
    found = re.search(r"(?<!\d)(20\d\d)(?!\d)", path.name)
    if found:
        return int(found.group(1))
    raise InputFileError(path, "the year of the population figures is not known: add a column `jaar` to the "
                               "table or set `population_year:` in the configuration")


def read_population(path: str | Path, municipality: str, year: int | None = None) -> PopulationFigures:
    """Districts and margins from a CBS KWB file or a plain table (detected from the columns)."""
    path = Path(path)
    frame = _read_any(path)
    if is_cbs_kwb(list(frame.columns)):
        from socialquality.population import district_population, population_margins, read_kwb

        kwb = read_kwb(path)
        edition = _year_from(path, year)
        districts = district_population(kwb, municipality)
        return PopulationFigures("cbs_kwb", districts, population_margins(districts, edition), edition, kwb)
    return _plain(frame, path, year)


def _plain(frame: pd.DataFrame, path: Path, year: int | None) -> PopulationFigures:
    lower = {str(c).strip().casefold(): c for c in frame.columns}
    found: dict[str, str] = {}
    for role, names in PLAIN_COLUMNS.items():
        for name in names:
            if name in lower:
                found[role] = lower[name]
                break
    for role in ("district_code", "count"):
        if role not in found:
            raise InputFileError(path, f"not a population table: no column {' / '.join(PLAIN_COLUMNS[role][:2])} "
                                       f"(columns found: {', '.join(map(str, frame.columns))}); see "
                                       "docs/new-municipality.md for the format", column=PLAIN_COLUMNS[role][0])
    if "age_group" not in found and "sex" not in found:
        raise InputFileError(path, "the population table needs a column leeftijd (age band) and/or geslacht (sex)")
    data = pd.DataFrame({role: frame[column].astype(object).where(frame[column].notna(), "").astype(str).str.strip()
                         for role, column in found.items()})
    data["_row"] = range(2, len(data) + 2)  # row numbers as in a spreadsheet (header = row 1)
    data = data[data["district_code"].str.len() > 0]
    data["district_code"] = data["district_code"].str.upper()
    counts = pd.to_numeric(data["count"].str.replace(" ", "").str.replace(",", "."), errors="coerce")
    bad = data[counts.isna() | (counts < 0)]
    if not bad.empty:
        raise InputFileError(path, f"{len(bad)} row(s) without a valid count, first at "
                                   f"row {bad['_row'].iloc[0]} ({bad['count'].iloc[0]!r})", column=found["count"])
    data["count"] = counts
    band = data["age_group"] if "age_group" in data else pd.Series("", index=data.index)
    band = band.where(~band.str.casefold().isin(TOTAL_WORDS), "")
    sex_raw = data["sex"] if "sex" in data else pd.Series("", index=data.index)
    sex = sex_raw.str.casefold().map(lambda v: "" if v in TOTAL_WORDS else SEX_WORDS.get(v))
    unknown_sex = data[sex.isna()]
    if not unknown_sex.empty:
        values = sorted(set(unknown_sex["sex"]))
        raise InputFileError(path, f"value(s) {values} are not a sex (m/v, man/vrouw or "
                                   f"empty for both) in {len(unknown_sex)} row(s), first at row "
                                   f"{unknown_sex['_row'].iloc[0]}", column=found["sex"])
    labels = sorted(set(band) - {""})
    try:
        bands = sorted_bands(labels)
    except ValueError as error:
        rows = data.loc[band.isin(labels), "_row"]
        raise InputFileError(path, f"{error} "
                                   f"(rows {rows.min()}-{rows.max()})", column=found.get("age_group")) from None
    canonical = {label: parse_band(label).label for label in labels}  # "75 en ouder" -> "75+"
    data["band"] = band.map(lambda v: canonical.get(v, ""))
    data["sexc"] = sex
    if "year" in data and data["year"].str.len().gt(0).any():
        years = sorted(set(data["year"]) - {""})
        if len(years) > 1:
            raise InputFileError(path, f"the population table mixes years {years}: deliver one year", column="jaar")
        year = int(float(years[0]))
    year = _year_from(path, year)

    rows, districts = [], []
    for code, part in data.groupby("district_code", sort=True):
        joint = part[(part["band"] != "") & (part["sexc"] != "")]
        age_only = part[(part["band"] != "") & (part["sexc"] == "")]
        sex_only = part[(part["band"] == "") & (part["sexc"] != "")]
        if not joint.empty:
            age = joint.groupby("band")["count"].sum()
            sexes = joint.groupby("sexc")["count"].sum()
        else:
            age = age_only.groupby("band")["count"].sum()
            sexes = sex_only.groupby("sexc")["count"].sum()
        if age.empty and bands:
            raise InputFileError(path, f"district {code}: no counts by age band")
        if age.empty:  # sex only: one age level covering everyone
            age = pd.Series({"0+": float(sexes.sum())})
        total = float(age.sum())
        for label in [b.label for b in bands] or ["0+"]:
            rows.append((code, year, "age_group", label, float(age.get(label, 0.0))))
        sex_total = float(sexes.sum())
        if sex_total:
            for level in ("m", "v"):
                rows.append((code, year, "sex", level, float(sexes.get(level, 0.0)) * total / sex_total))
        name = ""
        if "district_name" in part:
            names = [n for n in part["district_name"] if n]
            name = names[0] if names else ""
        districts.append({"district_code": code, "district_name": name or None, "population": total})
    margins = pd.DataFrame(rows, columns=["district_code", "year", "variable", "level", "count"])
    return PopulationFigures("plain", pd.DataFrame(districts), margins, year)
