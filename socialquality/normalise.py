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


def _numeric(values: pd.Series, column: str, unparseable: dict[str, int]) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna() & (text != "")
    if bad.any():
        unparseable[column] = int(bad.sum())
    return numbers.astype(float)


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

    def coded(column: str | None, codes: dict[int, str]) -> pd.Series:
        """A coded background column as labels (NA when not delivered or not a known code)."""
        if not column or column not in delivered:
            return pd.Series(pd.NA, index=out.index, dtype="string")
        numbers = _numeric(delivered[column], column, unparseable)
        return numbers.map({float(k): v for k, v in codes.items()}).astype("string")

    out["sex"] = coded(codebook.sex_column, codebook.sex_codes)
    if codebook.age_column and codebook.age_column in delivered:
        out["age"] = _numeric(delivered[codebook.age_column], codebook.age_column, unparseable)
        out["age_group"] = out["age"].map(age_group_of).astype("string")
    else:
        out["age"] = np.nan
        out["age_group"] = coded(codebook.age_group_column, codebook.age_group_codes)
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

    mismatches = [asdict(m) for m in check_value_labels(raw, codebook, wave)] if raw.value_labels else []
    return NormalisedFile(frame=out, raw_format=raw.format, encoding=raw.encoding, delimiter=raw.delimiter,
                          unknown_columns=list(match.unknown), dropped_columns=list(match.dropped),
                          label_mismatches=mismatches, unparseable=unparseable)


def normalise_file(path: str | Path, codebook: Codebook, wave: str, key: bytes) -> NormalisedFile:
    raw = read_survey_file(Path(path), string_columns=survey_string_columns(codebook))
    if raw.n_rows == 0:
        raise InputFileError(path, "the file has no data rows")
    return normalise_frame(raw, codebook, wave, key)
