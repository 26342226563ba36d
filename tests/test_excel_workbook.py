"""rapport.xlsx as a user opens it (openpyxl), in Dutch and in English (issue 10).

Every data sheet is an Excel table (ListObject) over all its rows, including the cost sheets; a
numeric column holds numbers only (no "–"), and a row with an empty figure says why; waves and
years are numbers; interventions are shown by name; no doubled brackets; the explanation sheet
has readable labels, not raw lineage keys; sheet names and headers follow the language.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from openpyxl import load_workbook

from socialquality.i18n import use_language
from socialquality.report import render_report
from tests.test_report import build_inputs

COSTS = pd.DataFrame([
    dict(intervention_id="computerles65", year=2020, budget=36000.0, actual=34200.0, saving=None, funding_source=None,
         note="", participants=62, feedback_n=40, feedback_attributed=18),
    dict(intervention_id="sluiting_buurthuis_landlust", year=2021, budget=None, actual=None, saving=187500.0,
         funding_source="gemeente", note="sluiting per 1 januari", participants=None, feedback_n=None,
         feedback_attributed=None),
])
MEASURES = pd.DataFrame([
    dict(intervention_id="computerles65", measure="cost_per_participant", indicator_id="", value=455.0,
         ci_low=None, ci_high=None, extra=None, unit="€", text_nl="€ 455 per deelnemer"),
])


def _workbook(tmp_path, lang: str):
    with use_language(lang):
        outputs = render_report(build_inputs(intervention_costs=COSTS, cost_measures=MEASURES, geojson_path=None),
                                tmp_path / lang)
    return load_workbook(outputs.excel_path)


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xlsx")
    return {lang: _workbook(tmp, lang) for lang in ("nl", "en")}


def _rows(ws) -> tuple[list[str], list[dict]]:
    values = list(ws.iter_rows(values_only=True))
    header = [str(h) for h in values[0]]
    return header, [dict(zip(header, r)) for r in values[1:]]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_data_sheet_is_a_table_of_clean_columns(books, lang):
    wb = books[lang]
    why = {"nl": "Waarom leeg", "en": "Why empty"}[lang]
    explanation = wb.worksheets[0]
    assert explanation.title == {"nl": "Toelichting", "en": "Notes"}[lang]
    for ws in wb.worksheets[1:]:
        header, rows = _rows(ws)
        if not rows:
            continue
        [table] = ws.tables.values()
        assert table.ref == f"A1:{ws.cell(row=1, column=len(header)).column_letter}{len(rows) + 1}", ws.title
        for name in header:
            column = [r[name] for r in rows if r[name] is not None]
            kinds = {type(v) for v in column}
            assert not (kinds & {int, float} and str in kinds), (ws.title, name, kinds)
            assert "–" not in column and "-" not in column, (ws.title, name)
        numeric = [h for h in header if {type(r[h]) for r in rows if r[h] is not None} <= {int, float}
                   and any(r[h] is not None for r in rows)]
        for r in rows:
            if any(r[h] is None for h in numeric) and why in header:
                assert r[why], (ws.title, r)
        wave = {"nl": "Meting", "en": "Wave"}[lang]
        if wave in header:
            assert all(isinstance(r[wave], int) for r in rows), ws.title
        for value in (v for r in rows for v in r.values() if isinstance(v, str)):
            assert not re.search(r"\)\s*\(", value) or "Bijlmer" in value, (ws.title, value)  # "(demostad) (hele stad)"


def test_cost_sheets_are_tables_with_names_and_numbers(books):
    wb = books["nl"]
    header, rows = _rows(wb["Kosten per jaar"])
    assert header[:6] == ["Interventie", "Interventie-id", "Jaar", "Begroting (€)", "Werkelijke kosten (€)",
                          "Besparing (€)"]
    first = rows[0]
    assert first["Interventie"] == "Computerlessen voor 65-plussers" and first["Jaar"] == 2020
    assert first["Begroting (€)"] == 36000 and first["Besparing (€)"] is None
    assert first["Waarom leeg"] == "niet opgegeven in het interventieregister"
    assert wb["Kosten per jaar"].tables and wb["Kosten en effect"].tables


def test_labels_not_raw_ids_and_a_readable_explanation(books):
    wb = books["nl"]
    _, chain = _rows(wb["Interventieketen"])
    assert {r["Interventie"] for r in chain} == {"Computerlessen voor 65-plussers"}
    assert {r["Interventie-id"] for r in chain} == {"computerles65"}
    _, quality = _rows(wb["Kwaliteit"])
    assert {r["Levering tegengehouden"] for r in quality} == {"ja", "nee"}
    labels = [row[0] for row in wb["Toelichting"].iter_rows(min_row=3, values_only=True) if row[0]]
    assert "Herkomst: Codeboeken: wijkmonitor" in labels and "Herkomst: Run-id (Dagster)" in labels
    for raw in ("codebook", "codebooks", "files", "run_id", "git_commit", "generated_at"):
        assert not [label for label in labels if label.endswith(": " + raw)], raw
    generated = next(row[1] for row in wb["Toelichting"].iter_rows(values_only=True) if row[0] == "Herkomst: Gemaakt op")
    assert generated == "12 maart 2025 14:03"


def test_the_english_workbook_has_english_sheets_and_headers(books):
    wb = books["en"]
    assert wb.sheetnames[:8] == ["Notes", "Indicators", "Index", "Changes", "Interventions",
                                 "Intervention chain", "Register figures", "Quality"]
    header, rows = _rows(wb["Indicators"])
    assert header[:8] == ["Wave", "District code", "District", "Theme", "Indicator id", "Indicator", "Unit",
                          "Estimate"]
    dutch = re.compile(r"\b(Meting|Wijk|Ondergrens|Bovengrens|Schatting|Oordeel|Waarom|ja|nee|Kosten|Jaar)\b")
    for ws in wb.worksheets[1:]:
        head, _ = _rows(ws)
        assert not [h for h in head if dutch.search(h)], (ws.title, head)
    _, quality = _rows(wb["Quality"])
    assert {r["Delivery held back"] for r in quality} == {"yes", "no"}
    assert wb["Costs per year"].tables


def test_a_table_longer_than_a_sheet_continues_on_the_next_sheet_and_in_one_open_data_file(tmp_path, monkeypatch):
    """Excel holds 1,048,576 rows a sheet; a longer table (a national installation's indicators) goes on
    over numbered sheets, each an Excel table, and the open data (written from the same cleaned rows) hold
    it as one file: no row is cut off."""
    from openpyxl import load_workbook

    from socialquality.report import excel

    monkeypatch.setattr(excel, "MAX_TABLE_ROWS", 3)
    path = tmp_path / "lang.xlsx"
    book = excel._Book(path)
    try:
        book.notes("Toelichting", "kop", [])
        book.table(excel.Sheet("Indicatoren", ["Meting", "Waarde"], [[2020 + i, float(i)] for i in range(7)],
                               {2: "0.0"}, wave_columns={1}))
    finally:
        book.close()
    wb = load_workbook(path)
    assert wb.sheetnames == ["Toelichting", "Indicatoren (1)", "Indicatoren (2)", "Indicatoren (3)"]
    values = [row for ws in wb.worksheets[1:] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert values == [(2020 + i, float(i)) for i in range(7)]
    assert all(len(ws.tables) == 1 for ws in wb.worksheets[1:])
    files = excel.write_open_data_from(book.tables, tmp_path / "open")
    assert sorted(p.name for p in files) == ["indicatoren.csv", "indicatoren.parquet"]
    import pandas as pd

    assert pd.read_csv(tmp_path / "open" / "indicatoren.csv")["Waarde"].tolist() == [float(i) for i in range(7)]
