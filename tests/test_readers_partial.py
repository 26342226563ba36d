"""CSV rows that do not fit the header (issue 9, findings 1 and 10): nothing is padded or cut silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialquality.errors import InputFileError
from socialquality.readers import read_survey_file

STRINGS = ["resp_id", "wijk"]


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_short_rows_and_a_footer_are_listed_not_padded_silently(tmp_path):
    raw = read_survey_file(write(tmp_path / "a.csv", "resp_id;wijk;a;b\n1;W1;3;4\n2;W2;5\n3;W1;1;2\nTotaal;200\n"),
                           string_columns=STRINGS)
    assert raw.short_rows == {2: 3, 4: 2}
    assert raw.n_rows == 4


def test_short_rows_in_a_file_with_quoted_values(tmp_path):
    raw = read_survey_file(write(tmp_path / "q.csv", 'resp_id;wijk;a;b\r\n1;"W;1";3;4\r\n2;W2\r\n'), string_columns=STRINGS)
    assert raw.short_rows == {2: 2} and raw.frame["wijk"].tolist() == ["W;1", "W2"]


def test_a_file_cut_off_mid_row_is_rejected(tmp_path):
    with pytest.raises(InputFileError, match=r"ends in the middle of row 3 \(2 of 4 fields") as raised:
        read_survey_file(write(tmp_path / "b.csv", "resp_id;wijk;a;b\n1;W1;3;4\n2;W2;5;6\n3;W1"))
    assert raised.value.row == 3


def test_a_first_data_row_longer_than_the_header_is_rejected_not_cut(tmp_path):
    with pytest.raises(InputFileError, match="ragged row: 5 fields where the header has 4"):
        read_survey_file(write(tmp_path / "l.csv", "resp_id;wijk;a;b\n1;W1;3;4;9\n2;W2;5;6\n"))


def test_trailing_empty_fields_are_no_ragged_rows(tmp_path):
    raw = read_survey_file(write(tmp_path / "t.csv", "resp_id;a\nA;3;\nB;4;\n"), string_columns=STRINGS)
    assert raw.frame["a"].tolist() == [3.0, 4.0] and raw.short_rows == {}


def test_excel_sep_line_declares_the_delimiter(tmp_path):
    raw = read_survey_file(write(tmp_path / "s.csv", "sep=,\nresp_id,wijk,a\n1,W1,3\n2,W2,4\n"), string_columns=STRINGS)
    assert raw.delimiter == "," and raw.frame["a"].tolist() == [3.0, 4.0] and raw.row_numbers.tolist() == [1, 2]
    with pytest.raises(InputFileError, match=r"declares the delimiter '\|'"):
        read_survey_file(write(tmp_path / "p.csv", "sep=|\nresp_id|a\n1|2\n"))
