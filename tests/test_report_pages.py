"""Every rendered page reads as text for people: no raw codes, no `nan`, `None` or `{'`.

Renders the synthetic city of tests/test_report.py (index, district pages, intervention pages) and
checks the visible text of every page (tags, scripts, styles and <code> elements removed; <code>
holds identifiers on purpose, e.g. git commits).
"""

from __future__ import annotations

import html as htmllib
import re
import sys
from pathlib import Path

import pytest

from socialquality.report import render_report

ROOT = Path(__file__).resolve().parents[1]
SNAKE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")  # a code such as no_significant_change or social_cohesion
BAD = [re.compile(r"\bnan\b", re.I), re.compile(r"\bNone\b"), re.compile(r"\{'"), re.compile(r"\bNaN\b"),
       re.compile(r"\bTrue\b"), re.compile(r"\bFalse\b")]


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style|code)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<[^>]+>", " ", page)
    return htmllib.unescape(page)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_report import build_inputs
    finally:
        sys.path.pop(0)
    out = tmp_path_factory.mktemp("pages")
    render_report(build_inputs(audit_href="../audit/index.html"), out)
    return out


def test_every_page_is_plain_dutch_text(rendered):
    pages = sorted(rendered.rglob("*.html"))
    assert len(pages) >= 6
    problems = []
    for path in pages:
        text = visible_text(path.read_text(encoding="utf-8"))
        for bad in BAD:
            for m in bad.finditer(text):
                problems.append(f"{path.relative_to(rendered)}: {m.group(0)!r} in …{text[max(0, m.start() - 60):m.end() + 30]!r}")
        for m in SNAKE.finditer(text):
            problems.append(f"{path.relative_to(rendered)}: raw code {m.group(0)!r}")
    assert not problems, "\n".join(problems[:40])


def test_report_links_to_the_audit_page(rendered):
    page = (rendered / "index.html").read_text(encoding="utf-8")
    assert 'href="../audit/index.html"' in page and "auditoverzicht" in page


def test_reading_guide_matches_the_printed_margins(rendered):
    """The guide says grey <=> 0 inside the printed margin; check that literally on every change cell."""
    problems = []
    for path in sorted(rendered.rglob("*.html")):
        page = path.read_text(encoding="utf-8")
        for chip, low, high in re.findall(
                r'<span class="chip (\w+)">[^<]*</span><br><span class="note">[^<(]*\(marge ([^ ]+) tot ([^)]+)\)', page):
            lo = float(low.replace("\u2212", "-").replace(",", ".").replace("+", ""))
            hi = float(high.split()[0].replace("\u2212", "-").replace(",", ".").replace("+", ""))
            excludes = lo > 0 or hi < 0
            if chip in ("better", "worse") and not excludes:
                problems.append(f"{path.name}: coloured chip with margin {low} tot {high}")
            if chip == "neutral" and excludes:
                problems.append(f"{path.name}: grey chip with margin {low} tot {high} (excludes 0)")
    assert not problems, "\n".join(problems[:20])


def test_method_break_only_on_the_themes_it_touches(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_report import build_inputs
    finally:
        sys.path.pop(0)
    breaks = [{"wave": "2021", "description": "nieuwe vragenlijst", "items": ["coh_thuis"],
               "questions": ["Ik voel me thuis in deze buurt"], "conditions": ["social_cohesion"]}]
    render_report(build_inputs(method_breaks=breaks), tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    sections = dict(re.findall(r'<section id="(c-[^"]+)">(.*?)</section>', page, re.S))
    assert "trendbreuk 2021" in sections["c-social_cohesion"]
    assert "“Ik voel me thuis in deze buurt”" in sections["c-social_cohesion"] and "coh_thuis" not in page
    assert "trendbreuk 2021" not in sections["c-socio_economic_security"]


def test_y_ticks_at_half_steps_keep_their_decimal(tmp_path):
    import matplotlib.pyplot as plt

    from socialquality.report import charts

    fig, ax = plt.subplots()
    ax.plot([0, 1], [99.0, 101.0])
    ax.set_yticks([99.0, 99.5, 100.0, 100.5, 101.0])
    charts.nl_ticks(ax)
    labels = [ax.yaxis.get_major_formatter()(t, i) for i, t in enumerate(ax.get_yticks())]
    plt.close(fig)
    assert labels == ["99,0", "99,5", "100,0", "100,5", "101,0"]
    assert len(set(labels)) == len(labels)


def test_quality_paragraph_names_the_districts_where_weighting_hurts(tmp_path):
    """The data-quality paragraph says, in words, in which districts of the latest wave the weighting
    makes the figures much less precise (socialquality.weighting_check: design effect above 2)."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_report import build_inputs
    finally:
        sys.path.pop(0)
    inputs = build_inputs()
    codes = list(inputs.districts["district_code"])
    latest = inputs.latest_wave
    rows = [{"survey": "s", "wave": latest, "district_code": c, "n": 200, "deff": 1.3, "n_eff": 150.0,
             "converged": True} for c in codes]
    rows[0]["deff"] = 2.6
    rows[0]["n_eff"] = 77.0
    earlier = [{**r, "wave": inputs.waves[0], "deff": 3.5} for r in rows]  # an earlier wave does not count
    inputs.weighting_diagnostics = pd.DataFrame(rows + earlier)
    render_report(inputs, tmp_path)
    text = " ".join(visible_text((tmp_path / "index.html").read_text(encoding="utf-8")).split())
    name = dict(zip(inputs.districts["district_code"], inputs.districts["district_name"]))[codes[0]]
    assert f"In meting {latest} vergroot de weging de onzekerheid sterk in 1 van de {len(codes)} wijken: {name} (" in text
    assert "2,60" in text
    assert f"{dict(zip(inputs.districts['district_code'], inputs.districts['district_name']))[codes[1]]} (design" not in text
