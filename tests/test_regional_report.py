"""The regional overview (issue 12): `socialquality region-report` over two municipalities.

Two installations (each its own warehouse, reports and audit page) are run through the pipeline
stages; one gets its trend report and audit page written, the other only its figures and a third
wave that is delivered but not yet checked. The command's page is read as a person reads it:
every municipality listed with its latest wave and status, the city-wide index per theme with its
interval, the districts that differ from their city, and links that open the right files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag

import pytest
import yaml

from socialquality import stages
from socialquality.codebook import load_codebook
from socialquality.demo.generator import CODEBOOK_PATH, simulate_wave, write_wave_file
from socialquality.monitor import Monitor
from tests.support import ROOT, write_config

WAVES = ("2017", "2018")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _municipality(tmp: Path, name: str, seed: int, *, report: bool, pending: str | None = None) -> Path:
    folder = tmp / name
    landing = folder / "landing"
    codebook = load_codebook(CODEBOOK_PATH)
    for wave in WAVES + ((pending,) if pending else ()):
        frame = simulate_wave(wave, seed=seed, respondents_per_wave=4000, codebook=codebook)
        write_wave_file(frame, landing / codebook.survey / wave / f"levering_{wave}.csv", "csv-nl", codebook)
    (folder / "feedback").mkdir(parents=True)
    config = write_config(folder, landing=landing, feedback=folder / "feedback",
                          municipality_name=f"{name} <gemeente>")
    m = Monitor.from_config(config)
    stages.load_population(m)
    stages.load_interventions(m)
    for wave in WAVES:
        stages.ingest_wave(m, wave, "test")
        stages.validate_wave(m, wave, "test")
        stages.weight_wave_stage(m, wave, "test")
        stages.estimate_wave(m, wave, "test")
    if pending:
        stages.ingest_wave(m, pending, "test")
    stages.compute_trends(m, "test")
    if report:
        stages.estimate_effects(m, "test")
        stages.render_trend_report(m, "test-run")
        stages.render_audit_index(m, "test-run")
    return config


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("region")
    configs = {"GM_NOORD": _municipality(tmp, "Noord", 11, report=True),
               "GM_ZUID": _municipality(tmp, "Zuid", 12, report=False, pending="2019")}
    path = tmp / "region.yaml"
    path.write_text(yaml.safe_dump({"name": "Regio <Test>", "municipalities": {k: str(v) for k, v in configs.items()}}),
                    encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALQUALITY_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _read(path: Path) -> tuple[str, Page]:
    html = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    return html, page


@pytest.mark.slow
def test_region_report_lists_every_municipality_with_status_figures_and_working_links(region: Path) -> None:
    done = _cli("region-report", "--region", str(region))
    assert done.returncode == 0, done.stderr
    page_path = region.parent / "regio" / "index.html"
    assert f"regional overview written: {page_path}" in done.stdout
    html, page = _read(page_path)
    text = " ".join(" ".join(page.text).split())
    # names from the configuration are escaped, not markup
    assert "Regio &lt;Test&gt;" in html and "<Test>" not in html
    assert "Noord &lt;gemeente&gt;" in html
    assert "1 van 2 gemeenten met een gepubliceerde meting" in text
    overview = {row[0]: row for row in page.rows if row and row[0].endswith(")") and "GM_" in row[0]}
    noord, zuid = overview["Noord <gemeente> (GM_NOORD)"], overview["Zuid <gemeente> (GM_ZUID)"]
    assert noord[1] == "2018" and noord[2] == "gepubliceerd"
    assert zuid[1] == "2018"
    assert zuid[2].startswith("cijfers berekend, rapport nog niet geschreven")
    assert "Meting 2019 is ontvangen en nog niet gecontroleerd." in zuid[2]
    assert zuid[4] == "nog niet geschreven" and zuid[5] == "nog niet geschreven"
    # links: the in-page anchors exist, the report and audit links open the municipality's own files
    files = []
    for href in page.links:
        target, anchor = urldefrag(href)
        if not target:
            assert anchor in page.ids, href
            continue
        resolved = (page_path.parent / target).resolve()
        assert resolved.is_file(), href
        files.append(resolved)
    assert sorted(files) == sorted([(region.parent / "Noord" / "reports" / "index.html").resolve(),
                                    (region.parent / "Noord" / "audit" / "index.html").resolve()])
    # per theme: the city-wide index with its interval and the districts against their city
    monitor = Monitor.from_config(region.parent / "Noord" / "config.yaml")
    header = ["Thema", "Index", "95%-interval", "Wijken significant hoger dan de gemeente",
              "Wijken significant lager dan de gemeente"]
    assert page.rows.count(header) == 2
    start = page.rows.index(header) + 1
    themes = page.rows[start:start + len(monitor.catalogue.conditions)]
    assert [row[0] for row in themes] == list(monitor.catalogue.conditions.values())
    for row in themes:
        low, high = (float(x.replace(".", "").replace(",", ".").replace("\u2212", "-")) for x in row[2].split(" \u2013 "))
        assert low <= float(row[1].replace(",", ".")) <= high
    assert "Cijfers van minder dan 30 respondenten worden niet getoond." in text
    assert "Indicatoren: " + themes[0][0] in text


@pytest.mark.slow
def test_region_report_in_english_and_a_clear_error_for_a_missing_region(region: Path, tmp_path: Path) -> None:
    done = _cli("region-report", "--region", str(region), "--out", str(tmp_path / "en"), "--language", "en")
    assert done.returncode == 0, done.stderr
    _, page = _read(tmp_path / "en" / "index.html")
    text = " ".join(" ".join(page.text).split())
    assert "1 of 2 municipalities with a published wave" in text
    assert "Wave 2019 has been received and not yet checked." in text
    missing = _cli("region-report", "--region", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and missing.stderr.startswith("socialquality: error:")


def test_render_regional_folds_long_district_lists_and_shows_a_municipality_without_figures(tmp_path: Path) -> None:
    """Rendering alone (no warehouse): at national size a theme can have hundreds of districts that differ."""
    from socialquality.report.regional import ConditionSummary, MunicipalitySummary, render_regional

    report = tmp_path / "gm1" / "reports" / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>", encoding="utf-8")
    many = [f"Wijk {i:03d}" for i in range(250)]
    summaries = [
        MunicipalitySummary(code="GM1", name="Eerste", survey="Enquête", latest_wave="2024", status="published",
                            notes=[], districts=300, report_path=report, audit_path=tmp_path / "gm1" / "audit.html",
                            conditions=[ConditionSummary("c", "Thema <b>", "101,0", "100,0 \u2013 102,0",
                                                         higher=many, lower=["Wijk <script>"], tested=300)],
                            base_wave="2017"),
        MunicipalitySummary(code="GM2", name="Tweede", survey="Enquête", latest_wave=None, status="none", notes=[],
                            districts=0, report_path=tmp_path / "none.html", audit_path=tmp_path / "none2.html",
                            conditions=[]),
    ]
    html, page = _read(render_regional(summaries, tmp_path / "regio"))
    text = " ".join(" ".join(page.text).split())
    assert "250 wijken" in text and "Wijk 249" in text  # folded: a count, the names behind it
    assert "<details><summary>250 wijken</summary>" in html
    assert "Wijk &lt;script&gt;" in html and "Thema &lt;b&gt;" in html
    assert "Nog geen bruikbare meting: er zijn geen cijfers gepubliceerd." in text
    assert [h for h in page.links if not h.startswith("#")] == ["../gm1/reports/index.html"]
