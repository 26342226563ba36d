"""From a delivered file to normalised responses (docs/data-contracts.md, section 1).

Reads the file (`readers`), maps its columns to the codebook, drops direct identifiers,
pseudonymises the respondent id, applies missing codes, aliases and wave recodes, redacts free
text. Out-of-range codes are kept so the quality stage can set the row aside with the value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from socialquality.codebook import Codebook, age_group_of
from socialquality.errors import InputFileError
from socialquality.privacy import pseudonymise, redact_text
from socialquality.readers import (
    RawFile,
    check_value_labels,
    match_columns,
    read_survey_file,
    require_columns,
    survey_string_columns,
)


@dataclass
class NormalisedFile:
    frame: pd.DataFrame
    raw_format: str
    encoding: str | None
    delimiter: str | None
    unknown_columns: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    label_mismatches: list[dict] = field(default_factory=list)
    unparseable: dict[str, int] = field(default_factory=dict)  # column -> cells that were not numbers
    # cells/rows not taken at face value, each kept with its delivered value for the quality stage:
    # source_row, rule_id (parseable_value | whole_number | allowed_codes | complete_row), column_name, value, message
    findings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FINDING_COLUMNS))
    code_mismatches: list[dict] = field(default_factory=list)  # background values that are no code: column, value, rows


FINDING_COLUMNS = ["source_row", "rule_id", "column_name", "value", "message"]
FINDING_MESSAGES = {
    "parseable_value": "geen getal in een numerieke kolom / not a number in a numeric column",
    "whole_number": "geen geheel getal op een schaal van gehele getallen / not a whole number on a whole-number scale",
    "allowed_codes": "onbekende code (niet in het codeboek) / code not in the codebook",
    "complete_row": "rij met te weinig velden (afgebroken rij of voetregel) / row with too few fields (cut-off row or footer)",
}


def _raw_text(values: pd.Series) -> pd.Series:
    """Delivered values as stripped text (NA when missing), for findings."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _findings(rows: np.ndarray, mask: pd.Series, rule_id: str, column: str | None, values: pd.Series) -> pd.DataFrame:
    hit = np.asarray(mask.fillna(False), dtype=bool)
    return pd.DataFrame({"source_row": rows[hit], "rule_id": rule_id, "column_name": column,
                         "value": _raw_text(values)[hit].astype(object).to_numpy(), "message": FINDING_MESSAGES[rule_id]})


def _numeric(values: pd.Series, column: str, unparseable: dict[str, int]) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna() & (text != "")
    if bad.any():
        unparseable[column] = int(bad.sum())
    return numbers.astype(float)


def _key(value: object) -> str | None:
    """A delivered code or codebook key compared as text: 1, 1.0 and "1" are the same; case is ignored."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(float(value))
    text = " ".join(str(value).split()).casefold()
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return text or None
    return str(int(number)) if number.is_integer() else str(number)


SEX_WORDS = {"man": "m", "mannelijk": "m", "male": "m", "vrouw": "v", "vrouwelijk": "v", "female": "v",
             "anders": "x", "non-binair": "x"}


def canonical_sex(value: str) -> str | None:
    return SEX_WORDS.get(value)


def canonical_band(value: str) -> str | None:
    from socialquality.agebands import parse_band

    band = parse_band(value)
    return band.label if band else None


def map_background_codes(values: pd.Series, codes: dict, missing: tuple = (),
                         value_labels: dict | None = None, canonical=None) -> tuple[pd.Series, dict[str, int]]:
    """Delivered background values -> the codebook's labels (e.g. sex `m`/`v`, band `18-34`).

    A value matches a code (`1`, `M`, `man`; numbers and text alike, case ignored), the label itself
    (`m`, `65+`), a common way of writing the label (`canonical`: sex `man`/`vrouw`, bands `18 - 34`,
    `75 jaar en ouder`), or, for SPSS/Stata files, the file's value label of the delivered number (`1`
    labelled "man" matches the code `man`). Declared missing codes and empty cells become NA. Any other value is
    kept as delivered text, so the quality rule `allowed_codes` sets the row aside with the value, and
    is returned in `problems` (value -> number of rows)."""
    lookup: dict[str, str] = {}
    for label in codes.values():
        lookup[_key(label)] = label
    for code, label in codes.items():
        lookup[_key(code)] = label
    missing_keys = {_key(m) for m in missing}
    file_labels = {_key(k): _key(v) for k, v in (value_labels or {}).items()}
    keys = values.map(_key)
    if canonical is not None:  # written another common way: translate to the label's key
        targets = set(codes.values())
        for key in set(keys.dropna()) - set(lookup) - missing_keys:
            for candidate in (key, file_labels.get(key)):
                label = canonical(candidate) if candidate else None
                if label in targets:
                    lookup[key] = label
                    break
    result = keys.map(lambda k: None if k is None or k in missing_keys else
                      lookup.get(k, lookup.get(file_labels.get(k), None) if k in file_labels else None))
    if file_labels:  # a labelled "missing" value (e.g. 9 = "geen antwoord") is declared by its code
        result = result.where(~keys.map(lambda k: file_labels.get(k) in missing_keys if k else False), None)
    unknown = result.isna() & keys.notna() & ~keys.isin(missing_keys)
    if file_labels:
        unknown &= ~keys.map(lambda k: file_labels.get(k) in missing_keys if k else False)
    raw_text = values.map(lambda v: _key(v) if isinstance(v, (int, float, np.number)) and not pd.isna(v)
                          else (None if pd.isna(v) else str(v).strip())).astype("string")
    labels = pd.Series(result, index=values.index, dtype="string")
    labels = labels.where(~unknown, raw_text)
    problems = raw_text[unknown].value_counts().to_dict()
    return labels, {str(k): int(v) for k, v in problems.items()}


def _delivered_name(match, canonical: str) -> str:
    for delivered, name in match.background_columns.items():
        if name == canonical:
            return delivered
    return canonical


def normalise_frame(raw: RawFile, codebook: Codebook, wave: str, key: bytes) -> NormalisedFile:
    """Map a read file onto the codebook's current coding for `wave`."""
    match = match_columns(list(raw.frame.columns), codebook, wave)
    require_columns(match, raw.path)
    delivered = raw.frame.rename(columns=match.mapping)
    unparseable: dict[str, int] = {}
    out = pd.DataFrame(index=delivered.index)

    ids = delivered[codebook.respondent_id_column]
    if ids.isna().all():
        raise InputFileError(raw.path, "the respondent id column is empty", column=codebook.respondent_id_column)
    out["respondent_pid"] = pseudonymise(ids, codebook.survey, key)
    out["wave"] = wave
    out["district_code"] = delivered[codebook.district_column].astype("string").str.strip().str.upper()
    if codebook.buurt_column and codebook.buurt_column in delivered:
        out["buurt_code"] = delivered[codebook.buurt_column].astype("string").str.strip().str.upper()
    else:
        out["buurt_code"] = pd.Series(pd.NA, index=out.index, dtype="string")

    def coded(column: str | None, codes: dict, missing: tuple = ()) -> pd.Series:
        """A coded background column as labels (NA when not delivered or declared missing); a value
        that is no code is kept as delivered text so that the quality rules set the row aside."""
        if not column or column not in delivered:
            return pd.Series(pd.NA, index=out.index, dtype="string")
        labels, problems = map_background_codes(delivered[column], codes, missing,
                                                raw.value_labels.get(_delivered_name(match, column)),
                                                canonical_sex if column == codebook.sex_column else canonical_band)
        for value, rows in problems.items():
            code_mismatches.append({"column": _delivered_name(match, column), "value": value, "rows": rows,
                                    "expected": sorted({str(k) for k in codes} | set(codes.values()))})
        return labels

    code_mismatches: list[dict] = []
    out["sex"] = coded(codebook.sex_column, codebook.sex_codes, codebook.sex_missing)
    if codebook.age_column and codebook.age_column in delivered:
        out["age"] = _numeric(delivered[codebook.age_column], codebook.age_column, unparseable)
        from_years = out["age"].map(age_group_of).astype("string")
        if codebook.age_group_column:  # both delivered: the codebook's bands; the band column where age is blank
            from socialquality.agebands import sorted_bands

            bands_of = sorted_bands(set(codebook.age_group_codes.values()))
            from_years = out["age"].map(lambda a: next((b.label for b in bands_of if b.contains(a)), None)
                                        if a == a else None).astype("string")
            bands = coded(codebook.age_group_column, codebook.age_group_codes, codebook.age_group_missing)
            out["age_group"] = bands.where(out["age"].isna(), from_years)
        else:
            out["age_group"] = from_years
    else:
        out["age"] = np.nan
        out["age_group"] = coded(codebook.age_group_column, codebook.age_group_codes, codebook.age_group_missing)
    if codebook.duration_column and codebook.duration_column in delivered:
        duration = _numeric(delivered[codebook.duration_column], codebook.duration_column, unparseable)
        out["duration_min"] = duration / 60.0 if codebook.duration_unit == "seconds" else duration
    else:
        out["duration_min"] = np.nan
    out["source_file"] = raw.path.name
    out["source_row"] = np.asarray(raw.row_numbers, dtype="int64")

    items = {}
    for item in codebook.items.values():
        if item.id not in delivered.columns:
            if item.type == "text":
                items[item.id] = pd.Series(pd.NA, index=out.index, dtype="string")
            else:
                items[item.id] = pd.Series(np.nan, index=out.index)  # not asked in this wave
            continue
        if item.type == "text":
            items[item.id] = redact_text(delivered[item.id].astype("string"))
            continue
        values = _numeric(delivered[item.id], item.id, unparseable)
        recode = item.recode.get(wave)
        if recode:  # an answer scale that ran the other way in this wave
            mapped = values.map({float(k): float(v) for k, v in recode.items()})
            values = mapped.where(values.isin([float(k) for k in recode]), values)
        if item.scale is not None and item.scale.missing:
            values = values.mask(values.isin([float(code) for code in item.scale.missing]))
        items[item.id] = values
    out = pd.concat([out, pd.DataFrame(items, index=out.index)], axis=1).reset_index(drop=True)

    findings = _ingest_findings(raw, codebook, delivered, out)

    mismatches = [asdict(m) for m in check_value_labels(raw, codebook, wave)] if raw.value_labels else []
    return NormalisedFile(frame=out, raw_format=raw.format, encoding=raw.encoding, delimiter=raw.delimiter,
                          unknown_columns=list(match.unknown), dropped_columns=list(match.dropped),
                          label_mismatches=mismatches, unparseable=unparseable, findings=findings,
                          code_mismatches=code_mismatches)


def _ingest_findings(raw: RawFile, codebook: Codebook, delivered: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """What normalisation could not take at face value, with the delivered value: text in a numeric
    column, a fraction on a whole-number scale, an unknown sex or age-group code, a short row.
    Nothing here becomes silently missing: the quality stage quarantines each row found."""
    rows = np.asarray(raw.row_numbers, dtype="int64")
    parts = []
    numeric_columns = {item.id: item for item in codebook.items.values() if item.type != "text"}
    for column in [codebook.age_column, codebook.duration_column]:
        if column and column in delivered:
            numeric_columns[column] = None
    for column, item in numeric_columns.items():
        if column not in delivered:
            continue
        values = delivered[column]
        if not pd.api.types.is_numeric_dtype(values):
            text = _raw_text(values)
            numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
            parts.append(_findings(rows, text.notna() & numbers.isna(), "parseable_value", column, values))
        else:
            numbers = values.astype(float)
        scale = item.scale if item is not None else None
        if scale is not None and scale.value_range is not None and getattr(scale, "whole", True):
            fraction = numbers.notna() & np.isfinite(numbers) & (numbers != np.floor(numbers))
            parts.append(_findings(rows, fraction, "whole_number", column, values))
    coded = [("sex", codebook.sex_column, codebook.sex_codes)]
    if not (codebook.age_column and codebook.age_column in delivered):
        coded.append(("age_group", codebook.age_group_column, codebook.age_group_codes))
    for canonical, column, codes in coded:
        if not column or column not in delivered:
            continue
        text = _raw_text(delivered[column])
        unknown = text.notna() & out[canonical].isna().to_numpy()
        missing_codes = {str(c) for c in getattr(codebook, f"{canonical}_missing", ()) or ()}
        numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
        declared_missing = numbers.isin([float(c) for c in missing_codes]) | text.isin(missing_codes)
        parts.append(_findings(rows, unknown & ~declared_missing, "allowed_codes", canonical, delivered[column]))
    if raw.short_rows:
        width = raw.frame.shape[1]
        positions = np.flatnonzero(np.isin(rows, list(raw.short_rows)))
        parts.append(pd.DataFrame({
            "source_row": rows[positions], "rule_id": "complete_row", "column_name": None,
            "value": [f"{raw.short_rows[int(r)]} van {width} velden / of {width} fields" for r in rows[positions]],
            "message": FINDING_MESSAGES["complete_row"]}))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    return pd.concat(parts, ignore_index=True)[FINDING_COLUMNS]


def normalise_file(path: str | Path, codebook: Codebook, wave: str, key: bytes) -> NormalisedFile:
    raw = read_survey_file(Path(path), string_columns=survey_string_columns(codebook))
    if raw.n_rows == 0:
        raise InputFileError(path, "the file has no data rows")
    return normalise_frame(raw, codebook, wave, key)
