"""A district page prints as a tidy A4 handout: Chromium's print-to-PDF gives at most two pages,
the break falling before "Vergelijkbare wijken" (issue 10).

Uses the Debian package ``chromium`` (skipped without it, like tests/test_browser.py; .ci/run
installs it). The page count is read from the PDF's page tree (``/Type /Pages ... /Count n``) and
checked against the number of page objects.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from socialquality.report import render_report

ROOT = Path(__file__).resolve().parents[1]


def _chromium() -> str | None:
    for candidate in (os.environ.get("SOCIALQUALITY_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def pdf_pages(pdf: bytes) -> int:
    trees = re.findall(rb"<<[^<>]*?/Type\s*/Pages\b[^<>]*?>>", pdf)
    counts = [int(c) for tree in trees for c in re.findall(rb"/Count\s+(\d+)", tree)]
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert counts and max(counts) == pages, (counts, pages)
    return pages


def print_to_pdf(chromium: str, page: Path, out: Path) -> int:
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                           "--disable-background-networking", "--no-first-run", f"--print-to-pdf={out}",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    assert out.is_file(), done.stderr[-2000:]
    return pdf_pages(out.read_bytes())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium binary found (apt-get install chromium; .ci/run installs it when missing)")
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_report import build_inputs
    finally:
        sys.path.pop(0)
    out = tmp_path_factory.mktemp("print")
    render_report(build_inputs(), out / "rapport")
    render_report(build_inputs(district_covariates=None, breakdowns=None), out / "kort")
    return chromium, out


def test_a_district_page_with_an_intervention_prints_on_two_a4_pages(report):
    chromium, out = report
    # Landlust: an intervention (a closure), similar districts, breakdowns, CBS figures
    assert print_to_pdf(chromium, out / "rapport" / "wijken" / "WK036337.html", out / "landlust.pdf") == 2
    assert print_to_pdf(chromium, out / "rapport" / "wijken" / "WK036394.html", out / "oost.pdf") == 2


def test_without_comparisons_the_handout_is_one_page(report):
    chromium, out = report
    # Holendrecht/Reigersbos has no intervention
    assert print_to_pdf(chromium, out / "kort" / "wijken" / "WK036396.html", out / "holendrecht.pdf") == 1
