"""Interactive SVG trend charts (socialquality.report.svgchart) and their place on the district pages."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest
from lxml import html as lxml_html

from socialquality.i18n import use_language
from socialquality.report import svgchart
from socialquality.report.svgchart import ChartPoint, ChartSeries

ROOT = Path(__file__).resolve().parents[1]


def test_tick_labels_never_round_into_duplicates():
    ticks = svgchart.nice_ticks(99.1, 100.9)
    labels = svgchart.tick_labels(ticks)
    assert labels == ["99,0", "99,5", "100,0", "100,5", "101,0"]
    assert svgchart.tick_labels(svgchart.nice_ticks(99.1, 101.2)) == ["99", "100", "101", "102"]
    assert svgchart.tick_labels(svgchart.nice_ticks(80, 120)) == ["80", "90", "100", "110", "120"]
    with use_language("en"):
        assert svgchart.tick_labels([0.25, 0.5, 0.75]) == ["0.25", "0.50", "0.75"]


def _chart(**kw):
    main = ChartSeries("Landlust", {"2017": ChartPoint(98.0, 95.5, 100.5, 212),
                                    "2019": ChartPoint(101.26, 98.0, 104.5, 198),
                                    "2023": ChartPoint(97.0, 93.0, 101.0, 240)})
    city = ChartSeries("Demostad", {"2017": ChartPoint(100.0), "2019": ChartPoint(100.4), "2023": ChartPoint(99.2)})
    svg = svgchart.trend_svg(["2017", "2019", "2021", "2023"], main, chart_id="t-x", title="Veiligheid in Landlust",
                             comparison=city, **kw)
    return lxml_html.fragment_fromstring(str(svg))


def test_points_carry_wave_value_margin_and_n_for_hover_and_keyboard():
    svg = _chart()
    points = svg.xpath('//g[@class="pt"]')
    assert [p.get("tabindex") for p in points] == ["0", "0", "0"]  # the missing 2021 has no point
    tips = [p.get("data-tip") for p in points]
    assert tips[1] == "2019: index 101,3 (marge 98,0 tot 104,5), n = 198; Demostad: 100,4"
    assert all(p.get("aria-label") == p.get("data-tip") for p in points)
    assert svg.xpath("//title")[0].text == "Veiligheid in Landlust"
    # the band is split where a wave is missing: 2017-2019 is a band, 2023 an isolated bar
    assert len(svg.xpath('//polygon[@class="band"]')) == 1
    with use_language("en"):
        tip = _chart().xpath('//g[@class="pt"]')[0].get("data-tip")
    assert tip == "2017: index 98.0 (margin 95.5 to 100.5), n = 212; Demostad: 100.0"


def test_method_break_drawn_only_when_passed():
    assert not _chart().xpath('//line[@class="brk"]')
    svg = _chart(breaks=["2019"])
    line = svg.xpath('//line[@class="brk"]')
    assert len(line) == 1 and svg.xpath('//text[@class="brk"]')[0].text == "trendbreuk"


def test_escapes_names():
    main = ChartSeries("<b>x</b>", {"2020": ChartPoint(1.0, 0.5, 1.5)})
    comp = ChartSeries("<script>alert(1)</script>", {"2020": ChartPoint(1.0)})
    svg = str(svgchart.trend_svg(["2020"], main, chart_id="a\"b", title="<i>t</i>", comparison=comp))
    assert "<script>" not in svg and "<i>" not in svg and 'id="a&#34;b"' in svg


@pytest.fixture(scope="module")
def district_page(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_report import build_inputs
    finally:
        sys.path.pop(0)
    breaks = [{"wave": "2021", "description": "nieuwe vragenlijst", "items": ["coh_thuis"],
               "questions": ["Ik voel me thuis in deze buurt"], "conditions": ["social_cohesion"]}]
    out = tmp_path_factory.mktemp("svg")
    from socialquality.report import render_report

    return render_report(build_inputs(method_breaks=breaks), out), out


def test_district_page_has_one_interactive_chart_per_theme_and_no_png(district_page):
    outputs, out = district_page
    page = next(p for p in outputs.district_pages if p.name == "WK036394.html")
    doc = lxml_html.fromstring(page.read_text(encoding="utf-8"))
    charts = doc.xpath('//svg[@class="trend"]')
    assert len(charts) == 4
    assert not doc.xpath('//img[contains(@src, "wijk_")]')
    assert not any(p.name.startswith("wijk_") for p in outputs.figure_paths)
    # the break of the cohesion questions is on the cohesion chart only
    with_break = [c.get("id") for c in charts if c.xpath('.//line[@class="brk"]')]
    assert with_break == ["trend-social_cohesion"]
    # every point names wave, index, margin and n; the table holds the same figures
    tip = charts[0].xpath('.//g[@class="pt"]')[-1].get("data-tip")
    assert re.match(r"^\d{4}: index \d+,\d \(marge \d+,\d tot \d+,\d\), n = \d+", tip), tip
    table = charts[0].getparent().getparent().xpath('.//details[@class="trend-data"]//table')[0]
    last = table.xpath(".//tbody/tr")[-1]
    cells = [c.text_content().strip() for c in last.xpath("./td")]
    assert tip.startswith(f"{cells[0]}: index {cells[1]} (marge {cells[2]}), n = {cells[3]}")
    assert not math.isnan(float(cells[1].replace(",", ".")))


def test_index_page_city_charts_are_interactive_svg(district_page):
    outputs, out = district_page
    doc = lxml_html.fromstring(outputs.html_path.read_text(encoding="utf-8"))
    charts = doc.xpath('//svg[@class="trend"]')
    assert [c.get("id") for c in charts] == ["stad-socio_economic_security", "stad-social_inclusion",
                                             "stad-social_cohesion", "stad-social_empowerment"]
    tip = charts[2].xpath('.//g[@class="pt"]')[0].get("data-tip")
    assert tip == "2019: index 100,0 (marge 97,6 tot 102,6), n = 1.200"  # the city: no comparison line
    assert [c.get("id") for c in charts if c.xpath('.//line[@class="brk"]')] == ["stad-social_cohesion"]
