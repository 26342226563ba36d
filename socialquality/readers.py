"""Reading delivered survey files (CSV, Excel .xlsx, SPSS .sav, Stata .dta, Parquet).

`read_survey_file` returns a `RawFile`: all delivered columns (header names stripped of
whitespace), with the same values whatever the format:
- numeric columns are float64 (NaN = missing): an answer code 3 is 3.0 from CSV, Excel, SPSS,
  Stata and Parquet alike (integers beyond 2**53 are kept as text, they can only be ids);
- text columns are pandas `str`; text that is empty or only whitespace is missing;
- `string_columns` (compare case-insensitively, e.g. the respondent id and district columns, see
  `survey_string_columns`) are always text, stripped, with a whole number from a numeric format
  written without ".0" (SPSS 123.0 -> "123"); read from CSV as text so leading zeros survive.
- rows without any value (blank lines, ";;;;" lines, empty sheet rows) are no data rows: they are
  left out and listed in `skipped_rows`.
`row_numbers[i]` is the 1-based data-row number of frame row i as the contract defines it
(docs/data-contracts.md, `source_row`): CSV the record number after the header (= line number - 1
unless a quoted field spans lines), Excel the sheet row minus 1, SPSS/Stata/Parquet the case number.

Every problem that makes a file unusable raises `InputFileError` naming the file (and the row and
column where it applies). `match_columns` maps delivered columns to the codebook,
`check_value_labels` compares SPSS/Stata value labels with the codebook.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialquality.codebook import Codebook, Item
from socialquality.errors import InputFileError
from socialquality.privacy import DIRECT_IDENTIFIER_NAMES, is_direct_identifier

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".sav": "sav",
    ".zsav": "sav",
    ".dta": "dta",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CSV_DELIMITERS: tuple[str, ...] = (";", ",", "\t")
# Tokens that mean "no value" in delivered CSV files (exact, case-sensitive). "." is how CBS and
# SPSS exports write an unknown value; the pandas defaults ("None", "n/a", ...) are not used.
CSV_NA_VALUES: list[str] = ["", "NA", "N/A", "#N/A", "NULL", "NaN", "nan", "."]
MAX_EXACT_INTEGER = 2**53
_SAMPLE_BYTES = 256 * 1024
_NUMBER_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_NUMBER_DOT = re.compile(r"^\s*[-+]?\d+\.\d+\s*$")


@dataclass
class RawFile:
    """A delivered file as read, before it is mapped to the codebook."""

    frame: pd.DataFrame
    path: Path
    format: str  # csv | xlsx | sav | dta | parquet
    checksum: str  # sha256 of the file's bytes
    encoding: str | None = None  # csv: utf-8 | utf-8-sig | cp1252; sav/dta: as stored
    delimiter: str | None = None  # csv only
    decimal: str | None = None  # csv only: "." or ","
    value_labels: dict[str, dict[Any, str]] = field(default_factory=dict)  # sav/dta: column -> {code: label}
    row_numbers: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="int64"))
    n_rows: int = 0
    sheet: str | None = None  # xlsx: the sheet read
    skipped_rows: list[int] = field(default_factory=list)  # data-row numbers of rows without any value
    user_missing: dict[str, list[Any]] = field(default_factory=dict)  # sav: declared user-missing values/ranges
    variable_labels: dict[str, str] = field(default_factory=dict)  # sav/dta: column -> question text
    short_rows: dict[int, int] = field(default_factory=dict)  # csv: data-row number -> fields present (< header)

    @property
    def name(self) -> str:
        return self.path.name


# ----------------------------------------------------------------------------- entry point
def survey_string_columns(codebook: Codebook) -> list[str]:
    """Columns of a codebook's files to read as text: respondent id, district and text items."""
    names = [codebook.respondent_id_column, codebook.district_column, *filter(None, [codebook.buurt_column])]
    for item in codebook.items.values():
        if item.type == "text":
            names.extend([item.id, *item.aliases])
    return names


def read_survey_file(
    path: str | Path,
    *,
    sheet: str | None = None,
    string_columns: Iterable[str] = (),
    delimiter: str | None = None,
) -> RawFile:
    """Read one delivered file (format from the extension); see the module docstring.

    sheet: Excel sheet name (default: the first sheet). delimiter: the CSV delimiter the agency
    agreed to deliver; None = detect `;`, `,` or tab from the header and first lines."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        hint = " (old Excel format: save it as .xlsx)" if suffix == ".xls" else ""
        raise InputFileError(path, f"unsupported file type {suffix or '(no extension)'!r}{hint}; readable: {known}")
    if path.stat().st_size == 0:
        raise InputFileError(path, "empty file (0 bytes)")
    fmt = FORMATS[suffix]
    strings = {str(c).strip().casefold() for c in string_columns}
    if fmt == "csv":
        raw = _read_csv(path, strings, delimiter)
    elif fmt == "xlsx":
        raw = _read_xlsx(path, strings, sheet)
    elif fmt in ("sav", "dta"):
        raw = _read_stat(path, fmt, strings)
    else:
        raw = _read_parquet(path, strings)
    if raw.n_rows == 0:
        skipped = f" ({len(raw.skipped_rows)} empty rows)" if raw.skipped_rows else ""
        raise InputFileError(path, f"no data rows: the file holds only a header{skipped}")
    return raw


def _sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# ----------------------------------------------------------------------------- common finishing
def _check_duplicate_headers(path: Path, names: Sequence[str]) -> None:
    seen: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        if name:
            seen.setdefault(name.casefold(), []).append(position)
    for key, positions in seen.items():
        if len(positions) > 1:
            shown = " and ".join(f"{names[p - 1]!r} (column {p})" for p in positions)
            raise InputFileError(
                path,
                f"duplicate column header: {shown}; column names must be unique (compared case-insensitively)",
                column=names[positions[0] - 1],
            )


def _unnamed(position: int) -> str:
    return f"(unnamed column {position})"


def _as_text(values: pd.Series, strip: bool) -> pd.Series:
    """A column as pandas `str`: whole-number floats without '.0', empty/whitespace = NA."""
    if pd.api.types.is_float_dtype(values.dtype):
        array = values.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(array) & (np.mod(array, 1) == 0) & (np.abs(array) < MAX_EXACT_INTEGER)
        text = pd.Series(np.where(whole, array, 0).astype("int64")).astype("str").to_numpy(dtype=object)
        text[~whole] = None
        other = ~whole & ~np.isnan(array)
        if other.any():
            text[other] = [repr(float(v)) for v in array[other]]
        result = pd.Series(text, index=values.index, dtype="str")
    elif pd.api.types.is_integer_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
        result = values.astype("str")
        result = result.where(values.notna())
    elif values.dtype == object:
        def text_of(v: Any) -> Any:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return None
            if isinstance(v, float) and v.is_integer():
                return str(int(v))
            if isinstance(v, bytes):
                return v.decode("utf-8", errors="replace")
            return str(v)

        result = pd.Series([text_of(v) for v in values.to_numpy()], index=values.index, dtype="str")
    else:
        result = values.astype("str")
    if strip:
        result = result.str.strip()
        blank = result == ""
    else:
        blank = result.str.strip() == ""
    if blank.any():
        result = result.mask(blank.fillna(False).astype(bool))
    return result


def _finish_column(values: pd.Series, as_text: bool) -> pd.Series:
    """One column in the uniform types of the module docstring."""
    dtype = values.dtype
    if as_text:
        return _as_text(values, strip=True)
    if pd.api.types.is_bool_dtype(dtype):
        return values.astype("float64")
    if pd.api.types.is_integer_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        present = numbers[~np.isnan(numbers)] if values.hasnans else numbers
        if present.size and max(abs(float(present.max())), abs(float(present.min()))) > MAX_EXACT_INTEGER:
            return _as_text(values, strip=True)  # only an id can be that large
        return pd.Series(numbers, index=values.index, copy=False)
    if pd.api.types.is_float_dtype(dtype):
        if dtype == np.float64:
            return values
        return pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return values
    if dtype == object and _all_numbers(values):
        return pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
    if dtype == object and _all_datetimes(values):
        return pd.to_datetime(values)
    text = _as_text(values, strip=False)
    # a column without any value is numeric NaN in every format (as pandas reads it from CSV)
    return pd.Series(np.nan, index=values.index) if text.isna().all() else text


def _finish_frame(frame: pd.DataFrame, strings: set[str]) -> pd.DataFrame:
    """Uniform column types across formats (see the module docstring)."""
    columns = {
        name: _finish_column(frame.iloc[:, position], str(name).casefold() in strings)
        for position, name in enumerate(frame.columns)
    }
    # copy=False: no consolidation into one 2-D block (a needless copy of every column)
    return pd.DataFrame(columns, index=frame.index, copy=False)


def _all_numbers(values: pd.Series) -> bool:
    present = [v for v in values.to_numpy() if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return bool(present) and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in present)


def _all_datetimes(values: pd.Series) -> bool:
    import datetime as dt

    present = [v for v in values.to_numpy() if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return bool(present) and all(isinstance(v, (dt.datetime, dt.date, pd.Timestamp)) for v in present)


def _drop_empty_rows(frame: pd.DataFrame, row_numbers: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    if frame.shape[1] == 0 or len(frame) == 0:
        return frame, row_numbers, []
    empty = frame.isna().all(axis=1).to_numpy()
    if not empty.any():
        return frame, row_numbers, []
    skipped = row_numbers[empty].tolist()
    kept = ~empty
    return frame.loc[kept].reset_index(drop=True), row_numbers[kept], skipped


def _drop_empty_unnamed_columns(frame: pd.DataFrame, unnamed: set[str]) -> pd.DataFrame:
    drop = [c for c in frame.columns if c in unnamed and frame[c].isna().all()]
    return frame.drop(columns=drop) if drop else frame


# ----------------------------------------------------------------------------- CSV
def _decode(path: Path, data: bytes) -> tuple[str, str]:
    """(encoding, decoded sample) after checking the whole file decodes strictly."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputFileError(path, "the file is UTF-32 encoded text: save it as UTF-8 (or Windows-1252) CSV")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputFileError(path, "the file is UTF-16 encoded text (Excel 'Unicode text'): save it as CSV UTF-8")
    head = data[:4096]
    if b"\x00" in head:
        zeros_odd = head[1::2].count(0)
        zeros_even = head[0::2].count(0)
        if max(zeros_odd, zeros_even) > 0.3 * (len(head) / 2):
            raise InputFileError(path, "the file looks like UTF-16 encoded text without a byte order mark: save it as CSV UTF-8")
        raise InputFileError(path, "the file holds binary data (NUL bytes), not CSV text: is it another format renamed .csv?")
    try:
        data.decode("utf-8")
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    except UnicodeDecodeError:
        try:
            data.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InputFileError(
                path,
                f"undecodable byte 0x{data[exc.start]:02x} on line {line}: the file is neither UTF-8 nor Windows-1252 text",
                row=line - 1 if line > 1 else None,
            ) from None
    sample = data[:_SAMPLE_BYTES]
    if len(data) > _SAMPLE_BYTES:
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    text = sample.decode(encoding, errors="replace")
    return encoding, text


def _fields(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return [line]


def _sample_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _detect_delimiter(path: Path, lines: list[str], expected: str | None) -> str:
    header = lines[0]
    counts = {d: len(_fields(header, d)) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: (counts[d], -CSV_DELIMITERS.index(d)))
    shown = {";": "';'", ",": "','", "\t": "tab"}
    if expected is not None:
        if counts.get(expected, len(_fields(header, expected))) > 1:
            return expected
        found = f" it is separated by {shown[best]}" if counts[best] > 1 else " no supported delimiter was found"
        raise InputFileError(
            path, f"wrong delimiter: expected {shown.get(expected, repr(expected))} in the header row, but{found}", row=None
        )
    if counts[best] <= 1:
        others = [c for c in ("|", ":", "#", "~") if c in header]
        found = f"; it contains {others[0]!r}, a delimiter this reader does not accept" if others else ""
        raise InputFileError(
            path,
            "wrong delimiter: the header row is one single column (no ';', ',' or tab between the column names)"
            + found + "; deliver the file separated by ';', ',' or tab",
        )
    # The data lines must be split by the same delimiter as the header.
    for row, line in enumerate(lines[1:50], start=1):
        if len(_fields(line, best)) == 1:
            for other in CSV_DELIMITERS:
                if other != best and len(_fields(line, other)) == counts[best]:
                    raise InputFileError(
                        path,
                        f"wrong delimiter: the header row is separated by {shown[best]} but the data rows by {shown[other]}",
                        row=row,
                    )
    return best


def _detect_decimal(lines: list[str], delimiter: str) -> str:
    if delimiter == ",":
        return "."
    comma = dot = 0
    for line in lines[1:500]:
        for value in _fields(line, delimiter):
            if _NUMBER_COMMA.match(value):
                comma += 1
            elif _NUMBER_DOT.match(value):
                dot += 1
    return "," if comma > dot else "."


def _numeric_sample_columns(lines: list[str], delimiter: str, decimal: str, header: list[str]) -> list[str]:
    """Header names of the columns whose values in the sampled lines are all numbers or empty
    (and at least one number)."""
    number = _NUMBER_WITH_COMMA if decimal == "," else _NUMBER_WITH_DOT
    na = set(CSV_NA_VALUES)
    numeric = [True] * len(header)
    seen = [False] * len(header)
    for line in lines[1:500]:
        values = _fields(line, delimiter)
        for j in range(min(len(values), len(header))):
            value = values[j]
            if not numeric[j] or value in na:
                continue
            if number.match(value):
                seen[j] = True
            else:
                numeric[j] = False
    return [name for name, is_num, any_value in zip(header, numeric, seen) if is_num and any_value]


_NUMBER_WITH_DOT = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_NUMBER_WITH_COMMA = re.compile(r"^\s*[-+]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][-+]?\d+)?\s*$")
_LINE_IN_MESSAGE = re.compile(r"line (\d+)", re.IGNORECASE)
_ROW_IN_MESSAGE = re.compile(r"row (\d+)", re.IGNORECASE)


_SEP_LINE = re.compile(r"^\ufeff?sep=(.)\s*$", re.IGNORECASE)


def _sep_line(path: Path, lines: list[str], expected: str | None) -> str | None:
    """The delimiter that Excel's `sep=;` first line declares (None when there is no such line)."""
    if not lines:
        return None
    found = _SEP_LINE.match(lines[0])
    if found is None:
        return None
    declared = found.group(1)
    if declared not in CSV_DELIMITERS:
        raise InputFileError(path, f"the first line declares the delimiter {declared!r} (sep={declared}); "
                                   "deliver the file separated by ';', ',' or tab", row=None)
    if expected is not None and declared != expected:
        raise InputFileError(path, f"the first line declares the delimiter {declared!r} but {expected!r} was agreed")
    return declared


def _field_counts(data: bytes, encoding: str, delimiter: str, skip_lines: int) -> tuple[np.ndarray, bool]:
    """Fields per CSV record after the header (blank lines count as a record with 0 fields), and
    whether the file ends with a line break. Without quote characters the count is vectorised over
    the bytes; with quotes the csv module reads the records (a quoted value may hold delimiters)."""
    ends_with_newline = data.endswith((b"\n", b"\r"))
    if b'"' not in data and encoding in ("utf-8", "utf-8-sig", "cp1252"):
        raw = np.frombuffer(data, dtype=np.uint8)
        newline = np.flatnonzero(raw == 10)
        starts = np.concatenate(([0], newline + 1)).astype(np.int64)
        ends = np.concatenate((newline, [len(raw)])).astype(np.int64)
        if len(starts) and starts[-1] >= len(raw):
            starts, ends = starts[:-1], ends[:-1]
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int64), ends_with_newline
        # per line: delimiters + 1, counted in blocks of ~8 MB (bounded memory on large files)
        counts = np.empty(len(starts), dtype=np.int64)
        code, block, i = ord(delimiter), 1 << 23, 0
        while i < len(starts):
            j = max(int(np.searchsorted(starts, starts[i] + block, side="left")), i + 1)
            low, high = int(starts[i]), int(ends[j - 1])
            running = np.zeros(high - low + 1, dtype=np.int32)
            np.cumsum(raw[low:high] == code, dtype=np.int32, out=running[1:])
            counts[i:j] = running[ends[i:j] - low] - running[starts[i:j] - low] + 1
            i = j
        carriage = (ends > starts) & (raw[np.maximum(ends - 1, 0)] == 13)
        counts = np.where(ends - starts - carriage <= 0, 0, counts)
        return counts[1 + skip_lines:], ends_with_newline
    text = data.decode(encoding, errors="replace")
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        counts = [len(r) if r and any(f != "" for f in r) or len(r) > 1 else 0 for r in records]
    except csv.Error:  # e.g. a field beyond the csv module's size limit: pandas read it, no count
        return np.zeros(0, dtype=np.int64), ends_with_newline
    return np.asarray(counts[1 + skip_lines:], dtype=np.int64), ends_with_newline


def _read_csv(path: Path, strings: set[str], expected_delimiter: str | None) -> RawFile:
    data = path.read_bytes()
    checksum = hashlib.sha256(data).hexdigest()
    encoding, text = _decode(path, data)
    lines = _sample_lines(text)
    if not lines:
        raise InputFileError(path, "empty file: no header row, only blank lines")
    declared = _sep_line(path, lines, expected_delimiter)
    skip_lines = 0
    if declared is not None:
        lines = lines[1:]
        expected_delimiter = declared
        skip_lines = 1
        if not lines:
            raise InputFileError(path, "empty file: only the line sep=…, no header row")
    delimiter = _detect_delimiter(path, lines, expected_delimiter)
    decimal = _detect_decimal(lines, delimiter)
    header_raw = _fields(lines[0].lstrip("\ufeff"), delimiter)
    names = [h.strip() for h in header_raw]
    _check_duplicate_headers(path, names)
    if len(lines) == 1:
        raise InputFileError(path, "no data rows: the file holds only a header")
    # fields per record, counted before parsing (pandas pads short rows and may cut a long first row)
    field_counts = _field_counts(data, encoding, delimiter, skip_lines) if len(names) > 1 else (np.zeros(0, "int64"), True)
    long = np.flatnonzero(field_counts[0] > len(names))
    if long.size:  # empty extra fields (a trailing delimiter) are fine; others make the file ragged
        _check_long_rows(path, data, encoding, delimiter, skip_lines, len(names), set((long[:1000] + 1).tolist()))
    text_dtypes: dict[str, Any] = {raw: str for raw, name in zip(header_raw, names) if name.casefold() in strings}
    float_dtypes = {
        raw: "float64" for raw in _numeric_sample_columns(lines, delimiter, decimal, header_raw) if raw not in text_dtypes
    }

    def parse(dtype: dict[str, Any]) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            warnings.simplefilter("ignore", pd.errors.ParserWarning)  # long rows are checked by _short_rows
            return pd.read_csv(
                io.BytesIO(data),
                sep=delimiter,
                decimal=decimal,
                encoding=encoding,
                engine="c",
                header=0,
                skiprows=skip_lines,
                index_col=False,
                dtype=dtype or None,
                keep_default_na=False,
                na_values=CSV_NA_VALUES,
                skip_blank_lines=False,
            )

    try:
        try:
            # Columns whose sampled values are all numbers are parsed straight into float64.
            frame = parse({**text_dtypes, **float_dtypes})
        except ValueError as exc:
            if not float_dtypes or isinstance(exc, pd.errors.ParserError):
                raise
            frame = parse(text_dtypes)  # text further down a sampled-numeric column: infer types
    except pd.errors.ParserError as exc:
        raise _csv_parse_error(path, exc, len(names)) from None
    except (pd.errors.EmptyDataError, ValueError) as exc:
        raise InputFileError(path, f"not a readable CSV file: {exc}") from None
    del data
    if frame.shape[1] != len(names):
        raise InputFileError(path, f"the header has {len(names)} columns but {frame.shape[1]} were read")
    unnamed = {_unnamed(i) for i, n in enumerate(names, start=1) if not n}
    frame.columns = [n or _unnamed(i) for i, n in enumerate(names, start=1)]
    frame = _drop_empty_unnamed_columns(frame, unnamed)
    frame = _finish_frame(frame, strings)
    frame = _numbers_in_text_columns(frame, strings)
    row_numbers = np.arange(1, len(frame) + 1, dtype="int64")
    short_rows = _short_rows(path, field_counts, len(names), len(frame))
    frame, row_numbers, skipped = _drop_empty_rows(frame, row_numbers)
    return RawFile(
        frame=frame,
        path=path,
        format="csv",
        checksum=checksum,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        row_numbers=row_numbers,
        n_rows=len(frame),
        skipped_rows=skipped,
        short_rows=short_rows,
    )


def _short_rows(path: Path, field_counts: tuple[np.ndarray, bool], width: int, n_rows: int) -> dict[int, int]:
    """{data-row number: fields} of rows with fewer fields than the header (pandas pads them).

    A file that ends without a line break in a short row was cut off (a half-finished copy): the
    whole file is rejected, because the rows after the cut are missing too. Other short rows (a
    `Totaal;200` footer, a row an editor shortened) are returned: ingestion sets them aside."""
    if width <= 1:
        return {}
    counts, ends_with_newline = field_counts
    counts = counts[:n_rows]
    short = np.flatnonzero((counts > 0) & (counts < width))
    found = {int(i) + 1: int(counts[i]) for i in short}
    last = len(counts)
    while last > 0 and counts[last - 1] == 0:
        last -= 1
    if last and last in found and not ends_with_newline:
        raise InputFileError(
            path, f"the file ends in the middle of row {last} ({found[last]} of {width} fields, no line break "
                  "at the end): it looks cut off (an incomplete copy?); deliver the complete file", row=last)
    return found


def _check_long_rows(path: Path, data: bytes, encoding: str, delimiter: str, skip_lines: int, width: int,
                     rows: set[int]) -> None:
    """A row longer than the header is fine when its extra fields are empty (a trailing
    delimiter, as Excel writes it); otherwise the file is ragged and rejected."""
    text = data.decode(encoding, errors="replace")
    try:
        for number, record in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter),
                                        start=-skip_lines):
            if number in rows and any(field.strip() for field in record[width:]):
                raise InputFileError(path, f"ragged row: {len(record)} fields where the header has {width} "
                                           f"(row {number}); a value may contain an unquoted delimiter", row=number)
            if number > max(rows):
                break
    except csv.Error:
        return


def _csv_parse_error(path: Path, exc: Exception, n_columns: int) -> InputFileError:
    message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        line = int(fields.group(2))
        return InputFileError(
            path,
            f"ragged row: {fields.group(3)} fields where the header has {fields.group(1)} "
            f"(line {line} of the file); a value may contain an unquoted delimiter",
            row=line - 1,
        )
    if "EOF inside string" in message:
        match = _ROW_IN_MESSAGE.search(message) or _LINE_IN_MESSAGE.search(message)
        row = int(match.group(1)) if match else None
        return InputFileError(path, "a quoted value is never closed (unterminated '\"')", row=row)
    match = _LINE_IN_MESSAGE.search(message)
    return InputFileError(path, f"not a readable CSV file: {message}", row=int(match.group(1)) - 1 if match else None)


def _numbers_in_text_columns(frame: pd.DataFrame, strings: set[str]) -> pd.DataFrame:
    """A text column whose values are all numbers with a decimal comma (a float column whose
    first values were empty, or quoted "12,5" in a ',' file) becomes numeric."""
    for name in frame.columns:
        values = frame[name]
        if str(name).casefold() in strings or not pd.api.types.is_string_dtype(values.dtype):
            continue
        present = values.dropna()
        if len(present) and present.str.fullmatch(r"\s*[-+]?\d+(?:,\d+)?\s*").all() and present.str.contains(",").any():
            frame[name] = pd.to_numeric(values.str.replace(",", ".", regex=False).str.strip())
    return frame


# ----------------------------------------------------------------------------- Excel
def _read_xlsx(path: Path, strings: set[str], sheet: str | None) -> RawFile:
    import openpyxl

    checksum = _sha256_file(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, XML errors ...
        raise InputFileError(path, f"not a readable Excel file (truncated or damaged?): {type(exc).__name__}") from None
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise InputFileError(path, f"no sheet named {sheet!r}; the sheets are {', '.join(map(repr, workbook.sheetnames))}")
        try:
            rows = worksheet.iter_rows(values_only=True)
            header = next(rows, None)
            body: list[tuple[Any, ...]] = []
            numbers: list[int] = []
            for sheet_row, values in enumerate(rows, start=2):
                body.append(values)
                numbers.append(sheet_row - 1)
        except InputFileError:
            raise
        except Exception as exc:
            raise InputFileError(path, f"not a readable Excel file (truncated or damaged?): {type(exc).__name__}") from None
        title = worksheet.title
    finally:
        workbook.close()
    if header is None or all(v is None or str(v).strip() == "" for v in header):
        raise InputFileError(path, f"sheet {title!r} has no header row (row 1 is empty)")
    width = max([len(header), *(len(r) for r in body)]) if body else len(header)
    names = [("" if v is None else str(v).strip()) for v in header] + [""] * (width - len(header))
    _check_duplicate_headers(path, names)
    columns = [n or _unnamed(i) for i, n in enumerate(names, start=1)]
    table = np.full((len(body), width), None, dtype=object)
    for i, values in enumerate(body):
        table[i, : len(values)] = values
    frame = pd.DataFrame(table, columns=columns)
    for name in frame.columns:  # '' and whitespace-only cells are empty, as in CSV
        frame[name] = [None if isinstance(v, str) and not v.strip() else v for v in frame[name].to_numpy()]
    frame = _drop_empty_unnamed_columns(frame, {c for c, n in zip(columns, names) if not n})
    frame = _finish_frame(frame, strings)
    frame, row_numbers, skipped = _drop_empty_rows(frame, np.asarray(numbers, dtype="int64"))
    return RawFile(
        frame=frame,
        path=path,
        format="xlsx",
        checksum=checksum,
        row_numbers=row_numbers,
        n_rows=len(frame),
        sheet=title,
        skipped_rows=skipped,
    )


# ----------------------------------------------------------------------------- SPSS / Stata
def _label_code(code: Any) -> Any:
    if isinstance(code, (float, np.floating)) and float(code).is_integer():
        return int(code)
    if isinstance(code, (np.integer,)):
        return int(code)
    return code


def _read_stat(path: Path, fmt: str, strings: set[str]) -> RawFile:
    import pyreadstat

    checksum = _sha256_file(path)
    what = "SPSS .sav" if fmt == "sav" else "Stata .dta"
    try:
        if fmt == "sav":
            frame, meta = pyreadstat.read_sav(str(path), user_missing=True, dates_as_pandas_datetime=True)
        else:
            frame, meta = pyreadstat.read_dta(str(path), dates_as_pandas_datetime=True)
    except Exception as exc:  # pyreadstat.ReadstatError / PyreadstatError and friends
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(path, f"not a readable {what} file (truncated or damaged?): {detail}") from None
    names = [str(c).strip() for c in frame.columns]
    _check_duplicate_headers(path, names)
    frame.columns = names
    value_labels = {
        str(column).strip(): {_label_code(code): str(label) for code, label in labels.items()}
        for column, labels in (meta.variable_value_labels or {}).items()
    }
    user_missing: dict[str, list[Any]] = {}
    for column, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        user_missing[str(column).strip()] = [
            _label_code(r["lo"]) if r["lo"] == r["hi"] else (_label_code(r["lo"]), _label_code(r["hi"])) for r in ranges
        ]
    variable_labels = {
        str(c).strip(): str(label)
        for c, label in zip(meta.column_names, meta.column_labels or [])
        if label
    }
    frame = _finish_frame(frame, strings)
    frame, row_numbers, skipped = _drop_empty_rows(frame, np.arange(1, len(frame) + 1, dtype="int64"))
    return RawFile(
        frame=frame,
        path=path,
        format=fmt,
        checksum=checksum,
        encoding=getattr(meta, "file_encoding", None),
        value_labels=value_labels,
        row_numbers=row_numbers,
        n_rows=len(frame),
        skipped_rows=skipped,
        user_missing=user_missing,
        variable_labels=variable_labels,
    )


# ----------------------------------------------------------------------------- Parquet
def _read_parquet(path: Path, strings: set[str]) -> RawFile:
    import pyarrow.parquet as pq

    checksum = _sha256_file(path)

    def damaged(exc: Exception) -> InputFileError:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return InputFileError(path, f"not a readable Parquet file (truncated or damaged?): {detail}")

    try:
        parquet = pq.ParquetFile(path, memory_map=True)
        raw_names = list(parquet.schema_arrow.names)
    except Exception as exc:  # ArrowInvalid, OSError ...
        raise damaged(exc) from None
    names = [str(c).strip() for c in raw_names]
    _check_duplicate_headers(path, names)
    # Column by column: the Arrow buffers of one column are freed before the next is decoded, so
    # memory holds the result plus one column (not the whole table twice). A stored pandas index
    # (e.g. resp_id, or __index_level_0__) is an ordinary delivered column here.
    columns: dict[str, pd.Series] = {}
    n_rows = parquet.metadata.num_rows
    try:
        for raw_name, name in zip(raw_names, names):
            chunked = parquet.read(columns=[raw_name], use_pandas_metadata=False).column(0)
            values = pd.Series(chunked.to_pandas(), copy=False).reset_index(drop=True)
            del chunked
            columns[name] = _finish_column(values, name.casefold() in strings)
    except Exception as exc:
        raise damaged(exc) from None
    finally:
        parquet.close()
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows), copy=False) if columns else pd.DataFrame(index=pd.RangeIndex(n_rows))
    frame, row_numbers, skipped = _drop_empty_rows(frame, np.arange(1, len(frame) + 1, dtype="int64"))
    return RawFile(
        frame=frame, path=path, format="parquet", checksum=checksum, row_numbers=row_numbers,
        n_rows=len(frame), skipped_rows=skipped,
    )


# ----------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class ColumnMatch:
    """How the delivered columns of one file map to a codebook (for one wave)."""

    wave: str
    items: dict[str, str]  # delivered column -> item id
    background: dict[str, str]  # delivered column -> role (respondent_id, district, sex, age, age_group, duration)
    background_columns: dict[str, str]  # delivered column -> the codebook's name for that column
    dropped: list[str]  # direct identifiers: never read further, never stored
    unknown: list[str]  # neither item, background nor identifier
    missing_required: list[str]  # canonical names (item ids, background column names) not delivered
    conflicts: dict[str, list[str]]  # canonical name -> several delivered columns mapping to it
    not_asked: list[str]  # delivered item columns that the codebook says were not asked in this wave

    @property
    def mapping(self) -> dict[str, str]:
        """Delivered column -> canonical name (item id or the codebook's background column name)."""
        return {**self.background_columns, **self.items}


def match_columns(columns: Sequence[str], codebook: Codebook, wave: str) -> ColumnMatch:
    """Map delivered column names to the codebook, case-insensitively (item ids and aliases,
    background columns); identifiers (codebook `drop_columns` or DIRECT_IDENTIFIER_NAMES) are
    listed in `dropped`. `missing_required`: required items asked in `wave`, the respondent id
    and the district column that are not delivered."""
    codebook.wave(wave)  # KeyError naming the codebook for an unknown wave
    order = codebook.wave_ids
    item_names: dict[str, str] = {}
    for item in codebook.items.values():
        for name in (item.id, *item.aliases):
            item_names[name.casefold()] = item.id
    background_names = {name.casefold(): (name, role) for name, role in codebook.background_columns().items()}
    drop_names = {name.casefold() for name in codebook.drop_columns}

    items: dict[str, str] = {}
    background: dict[str, str] = {}
    background_columns: dict[str, str] = {}
    dropped: list[str] = []
    unknown: list[str] = []
    targets: dict[str, list[str]] = {}
    for column in columns:
        key = str(column).strip().casefold()
        if key in background_names:
            canonical, role = background_names[key]
            background[column] = role
            background_columns[column] = canonical
            targets.setdefault(canonical, []).append(column)
        elif key in item_names:
            items[column] = item_names[key]
            targets.setdefault(item_names[key], []).append(column)
        elif key in drop_names or is_direct_identifier(column):
            dropped.append(column)
        else:
            unknown.append(column)
    delivered = set(targets)
    missing = [name for name in (codebook.respondent_id_column, codebook.district_column) if name not in delivered]
    missing += [
        item.id for item in codebook.items.values()
        if item.required and item.asked_in(wave, order) and item.id not in delivered
    ]
    not_asked = [c for c, item_id in items.items() if not codebook.items[item_id].asked_in(wave, order)]
    return ColumnMatch(
        wave=wave,
        items=items,
        background=background,
        background_columns=background_columns,
        dropped=dropped,
        unknown=unknown,
        missing_required=missing,
        conflicts={k: v for k, v in targets.items() if len(v) > 1},
        not_asked=not_asked,
    )


def require_columns(match: ColumnMatch, path: str | Path) -> None:
    """Raise InputFileError naming the file when required columns are missing or when two
    delivered columns map to the same codebook name (e.g. an item and its old alias)."""
    if match.missing_required:
        names = ", ".join(repr(c) for c in match.missing_required)
        raise InputFileError(
            path,
            f"missing required columns for wave {match.wave}: {names}",
            column=match.missing_required[0],
        )
    if match.conflicts:
        canonical, delivered = next(iter(match.conflicts.items()))
        shown = " and ".join(repr(c) for c in delivered)
        raise InputFileError(path, f"columns {shown} both map to {canonical!r}: deliver only one of them", column=delivered[1])


# ----------------------------------------------------------------------------- value labels
@dataclass(frozen=True)
class LabelMismatch:
    file: str
    column: str
    code: Any
    file_label: str
    codebook_label: str | None
    problem: str  # "unknown_code" | "label_differs"
    item: str | None = None


def _normal_label(label: str) -> str:
    return " ".join(str(label).split()).casefold()


def check_value_labels(raw: RawFile, codebook: Codebook, wave: str | None = None) -> list[LabelMismatch]:
    """Compare the value labels of a .sav/.dta file with the codebook's answer scales.

    For each labelled item column (matched by item id or alias, case-insensitively): a code that is
    labelled in the file but is neither an answer code nor a missing code of the item's scale is
    `unknown_code`; a code whose label differs (ignoring case and whitespace) is `label_differs`.
    With `wave`, file codes are first translated by the item's recode for that wave (the file is
    in that wave's coding). For numeric scales (`range`) only codes outside the range are checked.
    Returns [] for formats without value labels; the caller decides whether a mismatch stops the file."""
    names: dict[str, Item] = {}
    for item in codebook.items.values():
        for name in (item.id, *item.aliases):
            names[name.casefold()] = item
    problems: list[LabelMismatch] = []
    for column, labels in raw.value_labels.items():
        item = names.get(column.strip().casefold())
        if item is None or item.scale is None:
            continue
        scale = item.scale
        recode = item.recode.get(wave, {}) if wave is not None else {}
        for code, file_label in labels.items():
            try:
                number = float(code)
            except (TypeError, ValueError):
                number = None
            current: Any = code
            if number is not None and number.is_integer():
                current = recode.get(int(number), int(number))
            if current in scale.missing:
                expected: str | None = scale.missing[current]
            elif scale.value_range is not None:
                if number is not None and scale.value_range[0] <= float(current) <= scale.value_range[1]:
                    continue
                expected = None
            else:
                expected = scale.codes.get(current) if isinstance(current, int) else None
            if expected is None:
                problems.append(LabelMismatch(raw.name, column, code, file_label, None, "unknown_code", item.id))
            elif _normal_label(expected) != _normal_label(file_label):
                problems.append(LabelMismatch(raw.name, column, code, file_label, expected, "label_differs", item.id))
    return problems


__all__ = [
    "CSV_DELIMITERS",
    "ColumnMatch",
    "DIRECT_IDENTIFIER_NAMES",
    "FORMATS",
    "LabelMismatch",
    "RawFile",
    "check_value_labels",
    "match_columns",
    "read_survey_file",
    "require_columns",
    "survey_string_columns",
]
