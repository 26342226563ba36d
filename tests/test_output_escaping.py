"""Nothing delivered becomes markup or a formula (issue 9, findings 3 and 4).

- GX's own Data Docs pages (audit/data_docs/runs/*/gx/*.html): a delivered file name
  `x"><img src=x onerror=alert(1)>.csv` and a district code `<SCRIPT>` must arrive as text;
  the test parses the generated pages and looks for injected elements and attributes.
- rapport.xlsx: a label, district name or intervention name starting with = + - @ is stored as
  text (with Excel's quote prefix), never as a formula; the test opens the workbook with openpyxl.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from openpyxl import load_workbook

from socialquality.quality import build_data_docs, validate_wave
from tests.test_quality import CODEBOOK, DISTRICTS, EXPECTATIONS, wave_frame

EVIL_FILE = 'x"><img src=x onerror=alert(1)>.csv'
EVIL_DISTRICT = "<SCRIPT>"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def evil_docs(tmp_path_factory):
    frame = wave_frame()
    frame["source_file"] = EVIL_FILE
    frame.loc[frame.index[:3], "district_code"] = EVIL_DISTRICT
    outcome = validate_wave(frame, CODEBOOK, known_districts=DISTRICTS, expectations_dir=EXPECTATIONS,
                            run_label="xss")
    out = tmp_path_factory.mktemp("docs")
    page = build_data_docs(outcome, out, f"Wijkmonitor {EVIL_DISTRICT}")
    return page.parent


def test_gx_data_docs_pages_carry_no_injected_elements(evil_docs: Path):
    pages = sorted((evil_docs / "gx").glob("*.html"))
    assert pages
    for page in [*pages, evil_docs / "index.html", evil_docs.parent.parent / "index.html"]:
        text = page.read_text(encoding="utf-8")
        parser = _Elements()
        parser.feed(text)
        assert not [t for t, a in parser.tags if t == "img" and a.get("src") == "x"], page
        assert not [a for _, a in parser.tags if "onerror" in a], page
        # GX's page has its own script elements; none may be the delivered district code
        assert "<SCRIPT>" not in text, page
        assert '"><img' not in text, page
    gx_text = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "&lt;SCRIPT&gt;" in gx_text or "&amp;lt;SCRIPT&amp;gt;" in gx_text  # shown, as text


def test_workbook_stores_formula_like_texts_as_text(tmp_path):
    from socialquality.report.render import render_report
    from tests.test_report import build_inputs

    inputs = build_inputs()
    inputs.districts.loc[inputs.districts.index[0], "district_name"] = '=HYPERLINK("http://x","y")'
    inputs.catalogue.loc[inputs.catalogue.index[0], "label"] = "+cmd|' /C calc'!A0"
    inputs.effects["intervention_name"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    inputs.intervention_info["name"] = "-2+3"
    outputs = render_report(inputs, tmp_path / "reports")
    workbook = load_workbook(outputs.excel_path)
    formulas, seen = [], set()
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formulas.append((ws.title, cell.coordinate, cell.value))
                if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                    assert cell.quotePrefix, (ws.title, cell.coordinate)
                    seen.add(cell.value)
    assert formulas == []
    assert '=HYPERLINK("http://x","y")' in seen and "+cmd|' /C calc'!A0" in seen
