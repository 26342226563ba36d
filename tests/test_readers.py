"""Reading delivered files in every format, the errors that stop a file, column matching and
value-label checks (socialquality.readers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from socialquality.codebook import load_codebook
from socialquality.errors import InputFileError
from socialquality.readers import (
    RawFile,
    check_value_labels,
    match_columns,
    read_survey_file,
    require_columns,
    survey_string_columns,
)

ROOT = Path(__file__).resolve().parents[1]
WIJKMONITOR = ROOT / "surveys" / "codebooks" / "wijkmonitor.yaml"
STRINGS = ["resp_id", "wijkcode", "opmerking"]


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(WIJKMONITOR)


def delivered() -> pd.DataFrame:
    """A small delivery as an agency would produce it (item codes, ids with leading zeros)."""
    return pd.DataFrame(
        {
            "resp_id": ["0012", "0013", "R14"],
            "wijkcode": ["WK036301", "WK036302", "WK036301"],
            "leeftijd": [34.0, 70.0, np.nan],
            "geslacht": [1, 2, 9],
            "dj_leegte": [1, 3, 8],
            "ladder_nu": [7.0, 10.0, np.nan],
            "duur_min": [12.5, 7.25, np.nan],
            "opmerking": ["hé daar", None, "bel 0612345678"],
        }
    )


def expected_frame() -> pd.DataFrame:
    frame = delivered()
    for column in ("leeftijd", "geslacht", "dj_leegte", "ladder_nu", "duur_min"):
        frame[column] = frame[column].astype("float64")
    for column in STRINGS:
        frame[column] = frame[column].astype("str")
    return frame


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ----------------------------------------------------------------------------- CSV dialects
def test_csv_semicolon_decimal_comma_with_bom(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "levering.csv",
        "\ufeffresp_id; wijkcode ;leeftijd;duur_min\n0012;WK036301;34;12,5\n0013;WK036302;70;7,25\n",
    )
    raw = read_survey_file(path, string_columns=STRINGS)
    assert (raw.format, raw.encoding, raw.delimiter, raw.decimal) == ("csv", "utf-8-sig", ";", ",")
    assert list(raw.frame.columns) == ["resp_id", "wijkcode", "leeftijd", "duur_min"]  # header stripped
    assert raw.frame["resp_id"].tolist() == ["0012", "0013"]  # leading zeros kept
    assert raw.frame["duur_min"].tolist() == [12.5, 7.25]
    assert raw.frame["leeftijd"].dtype == "float64"
    assert raw.row_numbers.tolist() == [1, 2] and raw.n_rows == 2
    assert raw.value_labels == {}
    import hashlib

    assert raw.checksum == hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_comma_with_dot_decimals(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "levering.csv", 'resp_id,wijkcode,duur_min,opmerking\n1,WK036301,12.5,"ja, prima"\n2,WK036302,3.0,\n')
    raw = read_survey_file(path, string_columns=STRINGS)
    assert (raw.encoding, raw.delimiter, raw.decimal) == ("utf-8", ",", ".")
    assert raw.frame["duur_min"].tolist() == [12.5, 3.0]
    assert raw.frame["resp_id"].tolist() == ["1", "2"]
    assert raw.frame["opmerking"].iloc[0] == "ja, prima" and pd.isna(raw.frame["opmerking"].iloc[1])


def test_csv_cp1252_with_accented_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "levering.csv", "resp_id;opmerking\n1;Café in de buurt is dicht\n2;privé\n", "cp1252")
    raw = read_survey_file(path, string_columns=STRINGS)
    assert raw.encoding == "cp1252"
    assert raw.frame["opmerking"].tolist() == ["Café in de buurt is dicht", "privé"]


def test_csv_tab_delimited_and_trailing_delimiters(tmp_path: Path) -> None:
    tab = read_survey_file(write_csv(tmp_path / "tab.tsv", "resp_id\twijkcode\tq1\nA\tWK1\t3\n"), string_columns=STRINGS)
    assert tab.delimiter == "\t" and tab.frame["q1"].tolist() == [3.0]
    # Excel exports often end every line with the delimiter: no extra column, no error
    trailing = read_survey_file(write_csv(tmp_path / "t.csv", "resp_id;q1;\nA;3;\nB;4;\n"), string_columns=STRINGS)
    assert list(trailing.frame.columns) == ["resp_id", "q1"]
    data_only = read_survey_file(write_csv(tmp_path / "t2.csv", "resp_id;q1\nA;3;\nB;4;\n"), string_columns=STRINGS)
    assert data_only.frame["q1"].tolist() == [3.0, 4.0]


def test_csv_blank_rows_are_skipped_but_keep_row_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "levering.csv", "resp_id;q1\nA;1\n\n;\nB;2\n")
    raw = read_survey_file(path, string_columns=STRINGS)
    assert raw.frame["resp_id"].tolist() == ["A", "B"]
    assert raw.row_numbers.tolist() == [1, 4] and raw.skipped_rows == [2, 3]


def test_csv_decimal_comma_detected_late_and_missing_tokens(tmp_path: Path) -> None:
    lines = ["resp_id;duur;leeftijd"] + [f"{i};;." for i in range(600)] + ["x;12,5;40"]
    raw = read_survey_file(write_csv(tmp_path / "late.csv", "\n".join(lines) + "\n"), string_columns=STRINGS)
    assert raw.frame["duur"].dtype == "float64" and raw.frame["duur"].iloc[-1] == 12.5
    assert raw.frame["leeftijd"].isna().sum() == 600  # "." means unknown


def test_numeric_ids_without_string_columns_are_numbers(tmp_path: Path) -> None:
    raw = read_survey_file(write_csv(tmp_path / "ids.csv", "resp_id;q1\n0012;1\n13;2\n"))
    assert raw.frame["resp_id"].tolist() == [12.0, 13.0]


# ----------------------------------------------------------------------------- every format
def write_all_formats(tmp_path: Path) -> dict[str, Path]:
    frame = delivered()
    paths = {}
    paths["csv"] = tmp_path / "levering.csv"
    frame.to_csv(paths["csv"], sep=";", decimal=",", index=False, encoding="utf-8-sig")
    paths["csv_comma"] = tmp_path / "levering_comma.csv"
    frame.to_csv(paths["csv_comma"], sep=",", index=False)
    paths["xlsx"] = tmp_path / "levering.xlsx"
    frame.to_excel(paths["xlsx"], index=False, sheet_name="data")
    paths["sav"] = tmp_path / "levering.sav"
    sav_frame = frame.copy()
    sav_frame["opmerking"] = sav_frame["opmerking"].fillna("")
    pyreadstat.write_sav(
        sav_frame,
        paths["sav"],
        variable_value_labels={
            "dj_leegte": {1: "ja", 2: "min of meer", 3: "nee", 8: "weet niet", 9: "geen antwoord"},
            "geslacht": {1: "man", 2: "vrouw", 9: "onbekend"},
        },
        missing_ranges={"dj_leegte": [8, 9]},
        column_labels={"dj_leegte": "Ik ervaar een leegte om me heen."},
    )
    paths["dta"] = tmp_path / "levering.dta"
    pyreadstat.write_dta(sav_frame, paths["dta"], variable_value_labels={"dj_leegte": {1: "ja", 2: "min of meer", 3: "nee"}})
    paths["parquet"] = tmp_path / "levering.parquet"
    frame.to_parquet(paths["parquet"], index=False)
    return paths


def test_every_format_reads_back_the_same_values(tmp_path: Path) -> None:
    expected = expected_frame()
    for fmt, path in write_all_formats(tmp_path).items():
        raw = read_survey_file(path, string_columns=STRINGS)
        assert isinstance(raw, RawFile)
        assert raw.format == fmt.split("_")[0]
        assert raw.n_rows == 3 and raw.row_numbers.tolist() == [1, 2, 3], fmt
        pd.testing.assert_frame_equal(raw.frame, expected, check_dtype=True, obj=fmt)


def test_spss_value_labels_and_user_missing_are_kept(tmp_path: Path) -> None:
    raw = read_survey_file(write_all_formats(tmp_path)["sav"], string_columns=STRINGS)
    assert raw.value_labels["dj_leegte"] == {1: "ja", 2: "min of meer", 3: "nee", 8: "weet niet", 9: "geen antwoord"}
    assert raw.frame["dj_leegte"].tolist() == [1.0, 3.0, 8.0]  # user-missing codes delivered as is
    assert raw.user_missing["dj_leegte"] == [8, 9]
    assert raw.variable_labels["dj_leegte"] == "Ik ervaar een leegte om me heen."
    stata = read_survey_file(tmp_path / "levering.dta", string_columns=STRINGS)
    assert stata.value_labels["dj_leegte"] == {1: "ja", 2: "min of meer", 3: "nee"}


def test_excel_sheet_choice_and_row_numbers(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "levering.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "toelichting"
    workbook.active.append(["dit is geen data"])
    sheet = workbook.create_sheet("data")
    sheet.append([" resp_id ", "wijkcode", "q1", None])
    sheet.append(["A", "WK036301", 1])
    sheet.append([None, None, None])  # an empty sheet row
    sheet.append([12, "WK036302", 2.5])
    sheet.append(["  ", None, None])  # only whitespace: empty too
    workbook.save(path)
    raw = read_survey_file(path, sheet="data", string_columns=STRINGS)
    assert raw.sheet == "data" and list(raw.frame.columns) == ["resp_id", "wijkcode", "q1"]
    assert raw.frame["resp_id"].tolist() == ["A", "12"]
    assert raw.frame["q1"].tolist() == [1.0, 2.5]
    assert raw.row_numbers.tolist() == [1, 3]  # sheet rows 2 and 4, minus 1
    assert raw.skipped_rows == [2, 4]
    with pytest.raises(InputFileError, match="no sheet named 'Blad1'; the sheets are 'toelichting', 'data'"):
        read_survey_file(path, sheet="Blad1")


# ----------------------------------------------------------------------------- errors, one each
def assert_names_file(error: pytest.ExceptionInfo[InputFileError], path: Path) -> None:
    assert error.value.path == str(path)
    assert str(path) in str(error.value)


def test_error_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "leeg.csv"
    path.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"empty file \(0 bytes\)") as error:
        read_survey_file(path)
    assert_names_file(error, path)


def test_error_header_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "kop.csv", "resp_id;wijkcode;q1\n")
    with pytest.raises(InputFileError, match="no data rows") as error:
        read_survey_file(path)
    assert_names_file(error, path)
    xlsx = tmp_path / "kop.xlsx"
    pd.DataFrame(columns=["resp_id", "q1"]).to_excel(xlsx, index=False)
    with pytest.raises(InputFileError, match="no data rows"):
        read_survey_file(xlsx)


def test_error_wrong_delimiter_single_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pipe.csv", "resp_id|wijkcode|q1\nA|WK1|3\n")
    with pytest.raises(InputFileError, match=r"wrong delimiter: the header row is one single column.*'\|'") as error:
        read_survey_file(path)
    assert_names_file(error, path)


def test_error_wrong_delimiter_header_and_rows_differ(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "mixed.csv", "resp_id;wijkcode;q1\nA,WK1,3\n")
    with pytest.raises(InputFileError, match="header row is separated by ';' but the data rows by ','") as error:
        read_survey_file(path)
    assert error.value.row == 1


def test_error_wrong_delimiter_against_the_agreed_one(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "comma.csv", "resp_id,wijkcode,q1\nA,WK1,3\n")
    with pytest.raises(InputFileError, match="expected ';' in the header row, but it is separated by ','"):
        read_survey_file(path, delimiter=";")
    assert read_survey_file(path, delimiter=",").delimiter == ","


def test_error_utf16_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "unicode.csv"
    path.write_bytes("resp_id;q1\nA;1\n".encode("utf-16"))  # with BOM, as Excel 'Unicode text'
    with pytest.raises(InputFileError, match="UTF-16") as error:
        read_survey_file(path)
    assert_names_file(error, path)
    no_bom = tmp_path / "unicode_le.csv"
    no_bom.write_bytes("resp_id;q1\nA;1\n".encode("utf-16-le"))
    with pytest.raises(InputFileError, match="UTF-16"):
        read_survey_file(no_bom)


def test_error_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "kapot.csv"
    path.write_bytes(b"resp_id;q1\nA;1\nB;\x81\x8d\n")  # invalid UTF-8 and undefined in Windows-1252
    with pytest.raises(InputFileError, match="neither UTF-8 nor Windows-1252") as error:
        read_survey_file(path)
    assert error.value.row == 2


def test_error_duplicate_headers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dubbel.csv", "resp_id;leeftijd;q1;Leeftijd\nA;30;1;31\n")
    with pytest.raises(InputFileError, match=r"duplicate column header: 'leeftijd' \(column 2\) and 'Leeftijd' \(column 4\)") as error:
        read_survey_file(path)
    assert error.value.column == "leeftijd"
    assert_names_file(error, path)


def test_error_ragged_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "rafel.csv", "resp_id;q1;q2\nA;1;2\nB;1;2;3\nC;1;2\n")
    with pytest.raises(InputFileError, match="ragged row: 4 fields where the header has 3") as error:
        read_survey_file(path)
    assert error.value.row == 2
    assert "row 2" in str(error.value)


def test_error_truncated_xlsx(tmp_path: Path) -> None:
    good = tmp_path / "goed.xlsx"
    delivered().to_excel(good, index=False)
    path = tmp_path / "afgebroken.xlsx"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputFileError, match=r"not a readable Excel file \(truncated or damaged\?\)") as error:
        read_survey_file(path)
    assert_names_file(error, path)


def test_error_truncated_or_garbage_sav(tmp_path: Path) -> None:
    good = write_all_formats(tmp_path)["sav"]
    truncated = tmp_path / "afgebroken.sav"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputFileError, match=r"not a readable SPSS .sav file \(truncated or damaged\?\)") as error:
        read_survey_file(truncated)
    assert_names_file(error, truncated)
    garbage = tmp_path / "onzin.sav"
    garbage.write_bytes(b"this is not an SPSS file at all" * 10)
    with pytest.raises(InputFileError, match="not a readable SPSS .sav file"):
        read_survey_file(garbage)


def test_error_garbage_parquet_and_dta(tmp_path: Path) -> None:
    for name in ("onzin.parquet", "onzin.dta"):
        path = tmp_path / name
        path.write_bytes(b"PAR1 not really" * 20)
        with pytest.raises(InputFileError, match="not a readable"):
            read_survey_file(path)


def test_error_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "levering.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    with pytest.raises(InputFileError, match=r"unsupported file type '.xls' \(old Excel format: save it as .xlsx\)") as error:
        read_survey_file(path)
    assert_names_file(error, path)
    with pytest.raises(InputFileError, match="file not found"):
        read_survey_file(tmp_path / "bestaat_niet.csv")


def test_error_binary_data_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "eigenlijk_sav.csv"
    path.write_bytes(b"$FL2@(#) SPSS DATA FILE\x00\x00\x02\x00\x00\x00" + bytes(range(256)) * 4)
    with pytest.raises(InputFileError, match="binary data"):
        read_survey_file(path)


# ----------------------------------------------------------------------------- match_columns
def wijkmonitor_columns(codebook, wave: str) -> list[str]:
    order = codebook.wave_ids
    return ["RESP_ID", "Wijkcode", "geslacht", "leeftijd", "duur_min"] + [
        item.id for item in codebook.items.values() if item.asked_in(wave, order)
    ]


def test_match_columns_maps_items_aliases_and_background(codebook) -> None:
    columns = wijkmonitor_columns(codebook, "2019")
    columns[columns.index("veilig")] = "ONVEILIG_BUURT"  # old alias, other case
    columns += ["Naam", "e-mail", "BSN", "weging_extra"]
    match = match_columns(columns, codebook, "2019")
    assert match.items["ONVEILIG_BUURT"] == "veilig"
    assert match.background == {"RESP_ID": "respondent_id", "Wijkcode": "district", "geslacht": "sex",
                                "leeftijd": "age", "duur_min": "duration"}
    assert match.mapping["RESP_ID"] == "resp_id" and match.mapping["ONVEILIG_BUURT"] == "veilig"
    assert match.dropped == ["Naam", "e-mail", "BSN"]  # 'BSN' is not in drop_columns but is an identifier
    assert match.unknown == ["weging_extra"]
    assert match.missing_required == [] and match.conflicts == {} and match.not_asked == []
    require_columns(match, "levering.csv")  # nothing missing: no error


def test_match_columns_missing_required_depends_on_wave(codebook) -> None:
    columns_2017 = wijkmonitor_columns(codebook, "2017")
    assert "coh_contact" not in columns_2017
    assert match_columns(columns_2017, codebook, "2017").missing_required == []
    later = match_columns(columns_2017, codebook, "2019")
    assert later.missing_required == ["coh_contact"]  # introduced in 2019
    with pytest.raises(InputFileError, match="missing required columns for wave 2019: 'coh_contact'") as error:
        require_columns(later, "wijkmonitor_2019.csv")
    assert error.value.path == "wijkmonitor_2019.csv" and error.value.column == "coh_contact"


def test_match_columns_respondent_and_district_are_required(codebook) -> None:
    columns = [c for c in wijkmonitor_columns(codebook, "2019") if c not in ("RESP_ID", "Wijkcode")]
    match = match_columns(columns, codebook, "2019")
    assert match.missing_required == ["resp_id", "wijkcode"]
    with pytest.raises(InputFileError, match="'resp_id', 'wijkcode'"):
        require_columns(match, "x.csv")


def test_match_columns_conflict_and_not_asked(codebook) -> None:
    columns = wijkmonitor_columns(codebook, "2017") + ["onveilig_buurt", "coh_contact"]
    match = match_columns(columns, codebook, "2017")
    assert match.conflicts == {"veilig": ["veilig", "onveilig_buurt"]}
    assert match.not_asked == ["coh_contact"]
    with pytest.raises(InputFileError, match="both map to 'veilig'"):
        require_columns(match, "x.csv")
    with pytest.raises(KeyError):
        match_columns(columns, codebook, "1999")


def test_survey_string_columns(codebook) -> None:
    assert survey_string_columns(codebook) == ["resp_id", "wijkcode", "buurtcode", "opmerking"]


# ----------------------------------------------------------------------------- value labels
def sav_with_labels(tmp_path: Path, labels: dict[str, dict[int, str]], frame: pd.DataFrame | None = None) -> RawFile:
    frame = frame if frame is not None else pd.DataFrame({"resp_id": ["1"], "dj_leegte": [1], "GEZONDHEID": [2], "ladder_nu": [7]})
    path = tmp_path / "labels.sav"
    pyreadstat.write_sav(frame, path, variable_value_labels=labels)
    return read_survey_file(path, string_columns=STRINGS)


def test_value_labels_that_agree_give_no_mismatch(tmp_path: Path, codebook) -> None:
    raw = sav_with_labels(tmp_path, {
        "dj_leegte": {1: "Ja", 2: "min  of meer", 3: "nee", 8: "weet niet", 9: "geen antwoord"},
        "ladder_nu": {0: "slechtst mogelijke leven", 10: "best mogelijke leven", 99: "geen antwoord"},
    })
    assert check_value_labels(raw, codebook) == []


def test_value_labels_unknown_code_and_different_label(tmp_path: Path, codebook) -> None:
    raw = sav_with_labels(tmp_path, {
        "dj_leegte": {1: "ja", 2: "soms", 3: "nee", 7: "wil niet zeggen"},
        "ladder_nu": {11: "hoger dan 10"},
        "resp_id_labels_ignored": {},
    })
    problems = check_value_labels(raw, codebook)
    assert [(p.column, p.code, p.problem) for p in problems] == [
        ("dj_leegte", 2, "label_differs"), ("dj_leegte", 7, "unknown_code"), ("ladder_nu", 11, "unknown_code")
    ]
    differs = problems[0]
    assert (differs.file, differs.file_label, differs.codebook_label, differs.item) == ("labels.sav", "soms", "min of meer", "dj_leegte")


def test_value_labels_follow_the_wave_recode(tmp_path: Path, codebook) -> None:
    old_coding = {1: "zeer slecht", 2: "slecht", 3: "gaat wel", 4: "goed", 5: "zeer goed"}  # before 2019
    raw = sav_with_labels(tmp_path, {"GEZONDHEID": old_coding})
    assert check_value_labels(raw, codebook, wave="2017") == []
    current = check_value_labels(raw, codebook, wave="2019")
    assert {p.code for p in current} == {1, 2, 4, 5} and all(p.problem == "label_differs" for p in current)


def test_value_labels_of_other_formats_are_empty(tmp_path: Path, codebook) -> None:
    raw = read_survey_file(write_csv(tmp_path / "x.csv", "resp_id;dj_leegte\n1;1\n"), string_columns=STRINGS)
    assert check_value_labels(raw, codebook) == []
    assert dataclasses.is_dataclass(raw)


def test_csv_text_after_the_sampled_lines_falls_back_to_type_inference(tmp_path: Path) -> None:
    lines = ["resp_id;q1;q2"] + [f"{i};{i % 5 + 1};3" for i in range(700)] + ["x;onbekend;3"]
    raw = read_survey_file(write_csv(tmp_path / "junk.csv", "\n".join(lines) + "\n"), string_columns=STRINGS)
    assert raw.n_rows == 701
    assert raw.frame["q1"].iloc[-1] == "onbekend" and raw.frame["q1"].iloc[0] == "1"  # kept as text
    assert raw.frame["q2"].dtype == "float64"


def test_parquet_with_a_stored_index(tmp_path: Path) -> None:
    path = tmp_path / "met_index.parquet"
    delivered().set_index("resp_id").to_parquet(path)  # pandas stores the named index as a column
    raw = read_survey_file(path, string_columns=STRINGS)
    assert raw.frame["resp_id"].tolist() == ["0012", "0013", "R14"]
    assert raw.row_numbers.tolist() == [1, 2, 3]
