"""Data Docs as an auditor opens them from a file share (issue 10): every page (index, run page,
per-suite page) is self-contained -- no request to any server, no script -- every link leads to a
file that exists, rules are named in the page language with their code beside them, and the
English pages carry no Dutch (nor the Dutch pages English)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import lxml.html
import pytest

from socialquality.i18n import use_language
from socialquality.quality import build_data_docs, validate_wave
from tests.test_quality import CODEBOOK, DISTRICTS, EXPECTATIONS, wave_frame


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    outcome = validate_wave(wave_frame(), CODEBOOK, known_districts=DISTRICTS, expectations_dir=EXPECTATIONS,
                            run_label="test")
    out = {}
    for lang in ("nl", "en"):
        folder = tmp_path_factory.mktemp(f"docs_{lang}") / "audit" / "data_docs"
        (folder.parent).mkdir(parents=True, exist_ok=True)
        (folder.parent / "index.html").write_text("<!doctype html><title>audit</title>", encoding="utf-8")
        with use_language(lang):
            run = build_data_docs(outcome, folder, "Wijkmonitor 2023", audit_href="../index.html")
        out[lang] = {"index": folder / "index.html", "run": run, "suites": sorted((run.parent / "gx").glob("*.html"))}
    return out


def _pages(d: dict) -> list[Path]:
    return [d["index"], d["run"], *d["suites"]]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_page_is_offline_and_every_link_resolves(docs, lang):
    d = docs[lang]
    assert len(d["suites"]) == 2  # the generated suite and the custom clean-rows suite
    for page in _pages(d):
        doc = lxml.html.fromstring(page.read_text(encoding="utf-8"))
        assert doc.get("lang") == lang
        assert not list(doc.iter("script")) and not list(doc.iter("link")) and not list(doc.iter("img")), page
        for el in doc.iter():
            for attr in ("href", "src"):
                url = el.get(attr)
                if url is None:
                    continue
                assert not re.match(r"^[a-z]+:", url) and not url.startswith("//"), (page, url)
                target = (page.parent / unquote(url.split("#")[0])).resolve()
                assert target.is_file(), (page.name, url)
        assert "http://" not in page.read_text(encoding="utf-8") and "https://" not in page.read_text(encoding="utf-8")
    # the index links every run and every suite page; each suite page links home and to its run
    index = d["index"].read_text(encoding="utf-8")
    for suite in d["suites"]:
        assert f"/gx/{suite.name}" in index
        links = [a.get("href") for a in lxml.html.fromstring(suite.read_text(encoding="utf-8")).iter("a")]
        assert links[:2] == ["../../../index.html", "../index.html"]


def _visible(page: Path) -> str:
    doc = lxml.html.fromstring(page.read_text(encoding="utf-8"))
    for el in doc.iter("code", "style", "title"):
        el.drop_tree()
    return " ".join(doc.text_content().split())


def test_rules_by_name_with_their_code(docs):
    run = docs["nl"]["run"].read_text(encoding="utf-8")
    assert "bekende wijk<div><code>known_district</code>" in run
    assert "steeds hetzelfde antwoord in een vragenblok<div><code>straightlining</code>" in run
    suite = next(p for p in docs["nl"]["suites"] if "generated" in p.name).read_text(encoding="utf-8")
    assert "waarden in de toegestane lijst<div><code>expect_column_values_to_be_in_set</code>" in suite
    assert "WK999999" in suite  # the unknown district code, as a found value
    en = docs["en"]["run"].read_text(encoding="utf-8")
    assert "known district<div><code>known_district</code>" in en


def test_english_pages_have_no_dutch_and_dutch_pages_no_english(docs):
    dutch = re.compile(r"\b(meting|wijk|rijen|regel|geslaagd|mislukt|Ontvangen|apart gezet|Geen|Alle runs|"
                       r"Beschrijving|waarden|van de)\b")
    english = re.compile(r"\b(passed|failed|received|quarantined|rows affected|expectations met|All runs|"
                         r"Description|This run|none)\b")
    for page in _pages(docs["en"]):
        found = dutch.findall(_visible(page))
        assert not found, (page.name, found[:5])
    for page in _pages(docs["nl"]):
        found = english.findall(_visible(page))
        assert not found, (page.name, found[:5])
