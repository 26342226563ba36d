"""The second city: Den Haag from its own files, through `socialquality init`, `check` and `run`
(docs/new-municipality.md), as a research department would do it.

Different from the demo city in every way issue 11 names: 43 inhabited districts of the real CBS
2019 figures, an 18+ questionnaire with other items, a generic (mean) scale, background columns as
value labels and text codes, age in bands 18-34/35-54/55-74/75+ with the age in years often blank,
a plain 18+ population table instead of a CBS file, deliveries as .zsav, .dta, comma-CSV in
Windows-1252 and TSV, intervention ids with hyphens. The decisions a person makes after `init`
are files in tests/data/denhaag/ (answers.yaml, catalogue.yaml, interventions.yaml).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.denhaag_city import CLOSURE_SITES, DATA, WAVES, write_deliveries

REPO = Path(__file__).resolve().parent.parent
KEY = "Dh7kQ2xV9pLm4Rt8WzN3cYb6Ha5Je1Ug"  # a test key that passes the production key rules
pytestmark = pytest.mark.slow


def cli(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALQUALITY_")}
    env.update(PYTHONPATH=str(REPO), SOCIALQUALITY_PSEUDONYM_KEY=KEY)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def den_haag(tmp_path_factory):
    root = tmp_path_factory.mktemp("denhaag")
    files = write_deliveries(root / "van_het_bureau", per_wave=1200)
    folder = root / "installatie"
    init = cli("init", str(files["2021"]), "--population", str(DATA / "bevolking_18plus.csv"), "--out", str(folder),
               "--survey", "stadsenquete", "--boundaries", str(REPO / "data/geo/wijken_2019_GM0518.geojson"),
               "--register-figures", str(REPO / "data/cbs/kwb_2019_den_haag_84583NED.csv"),
               "--answers", str(DATA / "answers.yaml"))
    assert init.returncode == 0, init.stderr
    for wave, path in files.items():  # the later deliveries arrive in the landing folder
        target = folder / "landing" / "stadsenquete" / wave
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.name)
    check = cli("check", "--config", str(folder / "config" / "socialquality.yaml"))
    run = cli("run", "--config", str(folder / "config" / "socialquality.yaml"))
    database = sqlite3.connect(folder / "var" / "warehouse.sqlite")
    yield {"folder": folder, "files": files, "init": init, "check": check, "run": run, "db": database}
    database.close()


def query(city, sql: str) -> pd.DataFrame:
    return pd.read_sql_query(sql, city["db"])


def test_init_without_answers_lists_every_open_decision(den_haag, tmp_path):
    result = cli("init", str(den_haag["files"]["2021"]), "--population", str(DATA / "bevolking_18plus.csv"),
                 "--out", str(tmp_path / "nieuw"))
    assert result.returncode == 0, result.stderr
    for subject in ("config.municipality", "codebook.background", "codebook.minimum_age", "codebook.waves",
                    "codebook.scales", "config.population_year", "config.paths.boundaries",
                    "config.paths.register_figures", "catalogue", "interventions"):
        assert f"[{subject}]" in result.stdout
    codebook = (tmp_path / "nieuw" / "surveys" / "codebooks" / "nieuw.yaml").read_text(encoding="utf-8")
    # from the SPSS value labels: sex words, bands (75 jaar en ouder -> 75+), answer labels, missing codes
    assert "codes: {1: m, 2: v}" in codebook and "missing: [9]" in codebook
    assert "codes: {1: 18-34, 2: 35-54, 3: 55-74, 4: 75+}" in codebook
    assert "helemaal mee eens" in codebook and "9: zeg ik liever niet" in codebook
    # an installation with open decisions does not pass the check
    check = cli("check", "--config", str(tmp_path / "nieuw" / "config" / "socialquality.yaml"))
    assert check.returncode == 1
    assert "open decision: **codebook.waves**" in check.stdout
    assert "error(s)" in check.stdout.splitlines()[-1]


def test_the_reviewed_installation_passes_the_check(den_haag):
    assert "no open decisions" in den_haag["init"].stdout
    check = den_haag["check"]
    assert check.returncode == 0, check.stdout
    assert "0 error(s)" in check.stdout
    # the invalid background codes of the 2023 file are named with column, value and rows
    assert "column 'Geslacht': value '3' in 2 row(s)" in check.stdout
    assert "column 'LftKlasse': value '12-17' in 1 row(s)" in check.stdout
    assert "gewicht_bureau" in check.stdout


def test_the_run_completes_every_wave(den_haag):
    run = den_haag["run"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "done: every stage completed" in run.stdout
    status = query(den_haag, "select wave, status from wave_status")
    assert dict(zip(status["wave"], status["status"])) == {w: "usable" for w in WAVES}


def test_indicators_for_every_district_with_enough_respondents(den_haag):
    clean = query(den_haag, "select wave, district_code, count(*) n from respondents "
                            "where status in ('clean', 'released') group by wave, district_code")
    figures = query(den_haag, "select * from district_indicators")
    assert set(figures["district_code"]) - {"GM0518"} <= set(clean["district_code"])
    assert len(set(clean["district_code"])) == 43  # every inhabited district of Den Haag answered
    for indicator in ("tevreden_buurt", "samenhang", "eenzaam", "moeite_rondkomen", "cijfer_leven", "gehoord"):
        rows = figures[figures["indicator_id"] == indicator].merge(clean, on=["wave", "district_code"])
        enough = rows[rows["n_y"] >= 40]  # a few item non-responses stay above the minimum of 30
        assert len(enough) > 20
        assert not enough["suppressed"].astype(bool).any(), indicator
        assert enough["estimate"].notna().all()
    samenhang = figures[(figures["indicator_id"] == "samenhang") & ~figures["suppressed"].astype(bool)]
    assert samenhang["estimate"].between(0, 10).all()  # the generic scale, rescaled to 0-10


def test_target_group_indicators_65_and_75_plus(den_haag):
    city = query(den_haag, "select * from district_indicators where district_code = 'GM0518'")
    for indicator, low, high in (("eenzaam_65plus", 250, 450), ("eenzaam_75plus", 90, 220)):
        rows = city[city["indicator_id"] == indicator]
        assert sorted(rows["wave"]) == list(WAVES), indicator
        assert rows["estimate"].between(0.05, 0.45).all(), rows
        assert rows["n"].between(low, high).all(), rows  # the domain, not the whole sample
    everyone = city[city["indicator_id"] == "eenzaam"]
    assert (everyone["n"].to_numpy() > city[city["indicator_id"] == "eenzaam_75plus"]["n"].to_numpy()).all()


def test_interventions_with_hyphens_get_verdicts(den_haag):
    effects = query(den_haag, "select * from intervention_effects")
    assert {"sluiting-bibliotheken-2022", "buurtkamers-65plus"} <= set(effects["intervention_id"])
    assert effects["verdict_code"].notna().all()
    pooled = effects[(effects["intervention_id"] == "sluiting-bibliotheken-2022") & (effects["district_code"] == "")
                     & (effects["indicator_id"] == "samenhang")]
    assert len(pooled) == 1
    assert pooled["estimate"].iloc[0] < 0  # the closure lowered cohesion (simulated: -1.8 points)
    assert pooled["verdict_nl"].iloc[0]
    sites = effects.loc[effects["intervention_id"] == "sluiting-bibliotheken-2022", "district_code"]
    assert set(sites) - {""} == set(CLOSURE_SITES)


def test_invalid_background_codes_are_quarantined_and_blanks_weighted(den_haag):
    quarantine = query(den_haag, "select wave, column_name, value from quarantine where rule_id = 'allowed_codes'")
    sex = quarantine[quarantine["column_name"] == "sex"]
    assert sorted(sex["value"]) == ["3", "3", "x"]
    assert "12-17" in set(quarantine.loc[quarantine["column_name"] == "age_group", "value"])
    weights = query(den_haag, "select r.sex, r.age_group, w.weight from weights w join respondents r on "
                              "r.survey = w.survey and r.wave = w.wave and r.respondent_pid = w.respondent_pid")
    blank_sex = weights[weights["sex"].isna()]
    assert len(blank_sex) > 10 and (blank_sex["weight"] > 0).all()


def test_the_report_credits_what_it_shows(den_haag):
    html = (den_haag["folder"] / "var" / "reports" / "index.html").read_text(encoding="utf-8")
    assert "Den Haag" in html
    assert "Registercijfers en kaart: Bron: CBS, CC BY 4.0." in html
    assert "Buurtkamers voor ouderen" in html
    assert (den_haag["folder"] / "var" / "reports" / "rapport.xlsx").is_file()


def test_breakdowns_by_the_citys_own_age_bands_and_sex(den_haag):
    cells = query(den_haag, "select * from district_breakdowns")
    assert set(cells["wave"]) == set(WAVES)
    ages = set(cells.loc[cells["dimension"] == "age_group", "level"])
    assert ages == {"18-34", "35-54", "55-74", "75+"}  # Den Haag's bands, not the demo's
    assert set(cells.loc[cells["dimension"] == "sex", "level"]) == {"m", "v"}
    shown = cells[~cells["suppressed"].astype(bool)]
    assert (shown["n"] >= 30).all() and shown["estimate"].notna().all()
    hidden = cells[cells["suppressed"].astype(bool)]
    assert (hidden["n"] < 30).all() and hidden["estimate"].isna().all()
    city = shown[shown["district_code"] == "GM0518"]
    assert len(city) > 0


def test_district_page_has_similar_districts_and_breakdowns(den_haag):
    from lxml import html as lxml_html

    pages = sorted((den_haag["folder"] / "var" / "reports" / "wijken").glob("WK*.html"))
    docs = [lxml_html.fromstring(p.read_text(encoding="utf-8")) for p in pages]
    assert sum(1 for d in docs if d.xpath('//section[@class="similar"]')) >= 42  # every inhabited district
    doc = next(d for d in docs if d.xpath('//section[@class="breakdowns"]'))
    similar = doc.xpath('//section[@class="similar"]//table/tbody/tr')
    assert len(similar) == 6  # the district and its 5 most similar districts
    links = [a.get("href") for a in doc.xpath('//section[@class="similar"]//table//a')]
    assert len(links) == 5 and all(link.startswith("WK0518") for link in links)
    heads = [th.text_content() for th in doc.xpath('//section[@class="breakdowns"]//thead/tr[2]/th')]
    assert heads[1:] == ["18-34 jaar", "35-54 jaar", "55-74 jaar", "75 jaar en ouder", "mannen", "vrouwen"]


def test_the_regional_overview_reads_the_second_city(den_haag, tmp_path, monkeypatch):
    """`socialquality region-report` over a region with Den Haag: its own themes, latest wave and pages."""
    import re

    import yaml

    from socialquality.monitor import Monitor

    config = den_haag["folder"] / "config" / "socialquality.yaml"
    region = tmp_path / "region.yaml"
    region.write_text(yaml.safe_dump({"name": "Haaglanden", "municipalities": {"GM0518": str(config)}}),
                      encoding="utf-8")
    done = cli("region-report", "--region", str(region))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "regio" / "index.html").read_text(encoding="utf-8")
    monkeypatch.setenv("SOCIALQUALITY_PSEUDONYM_KEY", KEY)
    monitor = Monitor.from_config(config, check_inputs=False)
    assert f"<td>{max(WAVES)}</td>" in html and "gepubliceerd" in html
    for label in monitor.catalogue.conditions.values():
        assert f"<td>{label}</td>" in html
    links = re.findall(r'href="([^"#][^"]*)"', html)  # the trend report and the audit page of Den Haag
    assert len(links) == 2
    assert sorted((tmp_path / "regio" / h).resolve().name for h in links) == ["index.html", "index.html"]
    assert all((tmp_path / "regio" / h).resolve().is_file() for h in links), links
