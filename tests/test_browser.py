"""The pages as a reader opens them: headless Chromium at 1400 and 390 px, network off.

Opens the report's index, a district page with an intervention (Landlust: the closure of its
community centre), the audit page and the Data Docs (index, a run page and a per-suite page) of a
validated wave, and
checks per page and width: no horizontal scroll of the page itself (wide tables scroll inside their
own box), no console errors, no failed or blocked requests (the network is off: everything must come
from the files), and no serious or critical axe-core violations. Screenshots go to
``$SOCIALQUALITY_SCREENSHOTS`` when set.

Tools: the Debian package ``chromium`` driven by ``playwright-core`` and ``axe-core`` from npm
(tests/browser/package.json; .ci/run installs all three when missing). The test is skipped only when
no Chromium binary is found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from socialquality import stages
from socialquality.audit import render_audit_page
from socialquality.demo.generator import generate_demo_city
from socialquality.monitor import Monitor
from socialquality.report import render_report
from tests.support import ROOT, write_config

BROWSER_DIR = ROOT / "tests" / "browser"
WIDTHS = [1400, 390]


def _chromium() -> str | None:
    for candidate in (os.environ.get("SOCIALQUALITY_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _node_modules() -> None:
    if (BROWSER_DIR / "node_modules" / "playwright-core").is_dir() and (BROWSER_DIR / "node_modules" / "axe-core").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed for the browser test (apt-get install nodejs npm; .ci/run does this)")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"npm ci in tests/browser failed:\n{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium binary found (apt-get install chromium; .ci/run installs it when missing)")
    if shutil.which("node") is None:
        pytest.fail("node is needed for the browser test (apt-get install nodejs; .ci/run does this)")
    _node_modules()
    folder = tmp_path_factory.mktemp("browser")
    # the report: the synthetic city of tests/test_report.py (four real districts, interventions, a break)
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_report import build_inputs
    finally:
        sys.path.pop(0)
    report = folder / "report"
    render_report(build_inputs(), report)
    # the audit page and Data Docs: one validated wave of the demo city with its defects
    manifest = generate_demo_city(folder / "demo", seed=7, respondents_per_wave=400, waves=["2022"], truth=False)
    config = write_config(folder, landing=manifest.out_dir / "landing", feedback=manifest.out_dir / "feedback")
    monitor = Monitor.from_config(config)
    try:
        stages.load_population(monitor)
        stages.ingest_wave(monitor, "2022", "run-ingest")
        stages.validate_wave(monitor, "2022", "run-validate")
        audit = render_audit_page(monitor.engine, folder / "audit", "Auditoverzicht wijkmonitor")
    finally:
        monitor.engine.dispose()
    docs = folder / "audit" / "data_docs"
    run_pages = sorted(docs.glob("runs/*/index.html"))
    assert run_pages, "validate_wave wrote no Data Docs run page"
    suite_pages = sorted(docs.glob("runs/*/gx/*.html"))
    assert suite_pages, "validate_wave wrote no Data Docs suite page"
    return {"chromium": Path(chromium), "index": report / "index.html",
            "wijk": report / "wijken" / "WK036337.html", "audit": audit,
            "datadocs": docs / "index.html", "datadocs_run": run_pages[0], "datadocs_suite": suite_pages[0]}


@pytest.fixture(scope="module")
def results(pages, tmp_path_factory) -> list[dict]:
    shots = os.environ.get("SOCIALQUALITY_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
    job = {"chromium": str(pages["chromium"]), "widths": WIDTHS, "screenshots": shots,
           "hover": [{"name": "index", "selector": "svg.map a.area[href$='WK036337.html']"},
                     # a point of a trend chart on the district page (socialquality.report.svgchart)
                     {"name": "wijk", "selector": "svg.trend#trend-social_cohesion g.pt:last-of-type",
                      "tip": ".chart-tip:not([hidden])", "focus": True}],
           "pages": [{"name": name, "path": str(path)} for name, path in pages.items() if name != "chromium"]}
    job_path = tmp_path_factory.mktemp("job") / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    done = subprocess.run(["node", str(BROWSER_DIR / "check_pages.mjs"), str(job_path)], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _each(results, name):
    found = [r for r in results if r["name"] == name]
    assert {r["width"] for r in found} == set(WIDTHS), name
    return found


@pytest.mark.parametrize("name", ["index", "wijk", "audit", "datadocs", "datadocs_run", "datadocs_suite"])
def test_page_in_the_browser(results, name):
    problems = []
    for r in _each(results, name):
        where = f"{name} at {r['width']} px"
        if r["scroll"]["scrollWidth"] > r["scroll"]["innerWidth"] + 1:
            problems.append(f"{where}: scrolls sideways ({r['scroll']['scrollWidth']} px wide; "
                            f"too wide: {r['scroll']['wide']})")
        if r["consoleErrors"]:
            problems.append(f"{where}: console errors {r['consoleErrors'][:3]}")
        if r["failed"] or r["blocked"]:
            problems.append(f"{where}: requests failed with the network off {(r['failed'] + r['blocked'])[:5]}")
        bad = [v for v in r["axe"] if v["impact"] in ("serious", "critical")]
        if bad:
            problems.append(f"{where}: axe-core {[(v['id'], v['impact'], v['nodes'], v['example']) for v in bad]}")
    assert not problems, "\n".join(problems)


def test_map_hover_shows_the_district(results):
    """Pointing at Landlust on the interactive map shows its name, index, margin and n."""
    for r in _each(results, "index"):
        texts = [h["text"] for h in r["hover"]]
        assert texts and texts[0], f"no tooltip at {r['width']} px"
        assert texts[0].startswith("Landlust: index ") and "marge" in texts[0] and "n = " in texts[0], texts[0]


def test_trend_chart_point_shows_its_figures_on_hover_and_focus(results):
    """Pointing at (or tabbing to) the 2023 point of Landlust's cohesion chart shows wave, index,
    margin, n and the city; the tip goes away when the pointer leaves."""
    expected = "2023: index 100,7 (marge 98,3 tot 103,3), n = 250; Amsterdam (demostad): 97,6"
    for r in _each(results, "wijk"):
        hover = [h for h in r["hover"] if "svg.trend" in h["selector"]]
        assert hover, f"no trend-chart hover at {r['width']} px"
        assert hover[0]["text"] == expected, (r["width"], hover[0])
        assert hover[0]["afterLeave"] is None, (r["width"], hover[0])
        assert hover[0]["focusText"] == expected, (r["width"], hover[0])
