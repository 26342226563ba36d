"""The sampling plan page (reports/templates/plan.html.j2) in Dutch and in English (issue 10)."""

from __future__ import annotations

import lxml.html
import pytest

from socialquality.i18n import use_language
from socialquality.planner import PlanSettings, make_plan
from socialquality.planner_report import render_plan_page, write_plan
from tests.test_planner import _synthetic_inputs


@pytest.fixture(scope="module")
def pages():
    settings = PlanSettings(wave="2021", margin_pp=8.0, effect_sd=0.3, power=0.8, max_invitation_share=0.5,
                            budget_invitations=3000)
    out = {}
    for lang in ("nl", "en"):
        with use_language(lang):
            plan = make_plan(_synthetic_inputs(), settings)
            out[lang] = lxml.html.fromstring(render_plan_page(plan, "Demostad"))
    return out


def _text(doc) -> str:
    for code in doc.iter("code", "style"):
        code.drop_tree()
    return " ".join(doc.text_content().split())


def test_the_dutch_plan_page(pages):
    doc = pages["nl"]
    assert doc.get("lang") == "nl"
    text = _text(doc)
    assert "Steekproefplan 2021" in text and "Hoe het plan is gemaakt" in text
    assert "Nooit meer dan 50% van een groep inwoners wordt uitgenodigd." in text
    assert "het budget is kleiner dan wat de doelen vragen" in text  # the planner's own note, in Dutch
    assert [th.text_content() for th in doc.iter("th")][:3] == ["Interventie", "Indicator", "Effect (0,30 sd)"]


def test_the_english_plan_page_has_no_dutch(pages):
    doc = pages["en"]
    assert doc.get("lang") == "en"
    text = _text(doc)
    assert "Sampling plan 2021" in text and "How the plan was made" in text
    assert "Never more than 50% of a group of residents is invited." in text
    assert "the budget is smaller than the targets require" in text
    assert [th.text_content() for th in doc.iter("th")][:3] == ["Intervention", "Indicator", "Effect (0.30 sd)"]
    for dutch in (" wijk", " meting", "uitnodigingen", "procentpunt", " van de ", "Kans", "budget is kleiner"):
        assert dutch not in text, dutch


def test_the_plan_workbook_sheets_follow_the_language(tmp_path):
    settings = PlanSettings(wave="2021", margin_pp=8.0, effect_sd=0.3, power=0.8, max_invitation_share=1.0)
    with use_language("en"):
        plan = make_plan(_synthetic_inputs(), settings)
        paths = write_plan(plan, tmp_path, "Demostad")
    from openpyxl import load_workbook

    assert load_workbook(paths["xlsx"]).sheetnames == ["Allocation", "Districts", "Interventions", "Cuts"]
