"""The whole asset graph, materialised through Dagster on a small demo city (SQLite), and the
warehouse path on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, materialize

from pipelines.definitions import all_assets, build_definitions
from pipelines.partitions import wave_partitions
from pipelines.resources import MonitorResource
from socialquality.demo.generator import generate_demo_city
from socialquality.monitor import Monitor
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table
from tests.support import write_config

WAVES = ["2019", "2020", "2021", "2022"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("city")
    manifest = generate_demo_city(folder / "data", seed=7, respondents_per_wave=1500, waves=WAVES, truth=False)
    return folder, manifest


def _materialize_all(config_path, instance, waves):
    resources = {"monitor": MonitorResource(config_path=str(config_path))}
    reference = [a for a in all_assets if a.key.path[-1] in ("population_figures", "intervention_register")]
    per_wave = [a for a in all_assets if a.partitions_def is not None]
    city = [a for a in all_assets if a.partitions_def is None and a not in reference]
    results = [materialize(reference, resources=resources, instance=instance)]
    instance.add_dynamic_partitions(wave_partitions.name, waves)
    for wave in waves:
        results.append(materialize(per_wave, partition_key=wave, resources=resources, instance=instance,
                                   selection=per_wave, raise_on_error=False))
    results.append(materialize(city, resources=resources, instance=instance))
    return results


def test_whole_graph_materialises_on_sqlite(small_city, tmp_path):
    folder, manifest = small_city
    config = write_config(tmp_path, landing=manifest.out_dir / "landing", feedback=manifest.out_dir / "feedback")
    with DagsterInstance.ephemeral() as instance:
        results = _materialize_all(config, instance, WAVES)
        assert all(r.success for r in results), [r.run_id for r in results if not r.success]
        # checks ran and were recorded: the defects of 2022 make row_rules fail (a warning)
        evaluations = [e.event_specific_data for e in results[-2].all_events
                       if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        by_name = {e.check_name: e.passed for e in evaluations}
        assert by_name["wave_usable"] and by_name["rows_reconcile"] and not by_name["row_rules"]

    monitor = Monitor.from_config(config)
    engine = monitor.engine
    runs = read_table(engine, s.validation_runs)
    assert set(runs["wave"]) == set(WAVES)
    assert (runs["received"] == runs["clean"] + runs["quarantined"]).all()
    defects = read_table(engine, s.quarantine, wave="2022")
    assert {"unique_respondent", "known_district", "minimum_age", "speeder"} <= set(defects["rule_id"])
    indicators = read_table(engine, s.district_indicators)
    assert set(indicators["wave"]) == set(WAVES)
    city = indicators[indicators["district_code"] == "GM0363"]
    assert not city["suppressed"].any() and (city["ci_low"] <= city["estimate"]).all()
    shares = indicators[indicators["indicator_id"] == "eenzaam"].dropna(subset=["estimate"])
    assert shares["estimate"].between(0, 1).all()
    # suppressed figures never carry a number
    hidden = indicators[indicators["suppressed"]]
    assert hidden["estimate"].isna().all() and (hidden["n"] < 30).all()
    assert len(read_table(engine, s.composite_index)) > 0
    effects = read_table(engine, s.intervention_effects)
    assert {"its", "did"} <= set(effects["method"])
    _same_verdict_everywhere(effects, monitor, tmp_path / "reports")
    lineage = read_table(engine, s.lineage)
    assert all(json.loads(f)[0]["checksum"] for f in lineage["files"])
    # raw respondent ids and direct identifiers never reach the warehouse
    respondents = read_table(engine, s.respondents)
    assert not respondents["respondent_pid"].str.startswith("R20").any()
    html = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "Sociale cohesie" in html and (tmp_path / "reports" / "rapport.xlsx").is_file()
    assert (tmp_path / "audit" / "index.html").is_file()
    # small areas (issue 13): buurt codes flow through ingest; every inhabited buurt gets a figure per
    # wave and indicator, labelled direct or model, on the buurt page and in Excel
    assert respondents["buurt_code"].str.startswith("BU0363").mean() > 0.99
    small = read_table(engine, s.small_area_estimates)
    inhabited = set(read_table(engine, s.buurten).query("population > 0")["buurt_code"])
    latest = small[(small["level"] == "buurt") & (small["wave"] == WAVES[-1]) & (small["indicator_id"] == "eenzaam")]
    assert set(latest["area_code"]) == inhabited and set(latest["source"]) <= {"direct", "model"}
    assert (small.loc[small["n"] < 30, "direct"].isna()).all()
    assert len(read_table(engine, s.small_area_models)) > 0
    buurt_page = (tmp_path / "reports" / "buurten.html").read_text(encoding="utf-8")
    assert "modelschatting" in buurt_page and "Kop Zeedijk" in buurt_page


def _same_verdict_everywhere(effects, monitor, reports):
    """One headline verdict per intervention and indicator, and the same text in the warehouse, the
    report, each site's district page and the Excel workbook; no Python residue in any verdict."""
    import html as html_lib

    from openpyxl import load_workbook

    heads = effects[effects["role"] == "headline"]
    expected = {(i.id, ind) for i in monitor.register for ind in i.indicators}
    assert set(zip(heads["intervention_id"], heads["indicator_id"])) == expected
    assert not heads.duplicated(["intervention_id", "indicator_id"]).any() and (heads["district_code"] == "").all()
    for text in effects["verdict_nl"]:
        assert text.endswith(".") and not any(bad in text for bad in ("[{", "{'", "nan", "None")), text
    index = html_lib.unescape((reports / "index.html").read_text(encoding="utf-8"))
    sheet = load_workbook(reports / "rapport.xlsx", read_only=True)["Interventies"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    excel = {(r[header.index("Toelichting")], r[header.index("Rol")]) for r in rows[1:]}
    for row in heads.itertuples():
        assert row.verdict_nl in index, row.verdict_nl
        assert (row.verdict_nl, "oordeel") in excel
        intervention = next(i for i in monitor.register if i.id == row.intervention_id)
        for site in intervention.sites:
            page = html_lib.unescape((reports / "wijken" / f"{site.district}.html").read_text(encoding="utf-8"))
            assert row.verdict_nl in page, (site.district, row.verdict_nl)
    supporting = effects[effects["role"] == "supporting"]
    assert supporting["verdict_nl"].str.startswith("Ondersteunende analyse van alleen deze wijk").all()


def test_blocked_wave_stops_its_indicators_only(small_city, tmp_path):
    """A blocking dataset rule (here: too few clean respondents) stops that wave; others go on."""
    folder, manifest = small_city
    custom = json.loads((monitor_root() / "expectations" / "custom" / "wijkmonitor.json").read_text())
    expectations = tmp_path / "expectations"
    (expectations / "custom").mkdir(parents=True)
    import shutil

    shutil.copytree(monitor_root() / "expectations" / "generated", expectations / "generated")
    for rule in custom["rules"]:
        if rule["rule_id"] == "min_clean_respondents":
            rule["params"]["minimum"] = 1500  # 1,500 delivered per wave: 2022 loses its defective rows
    (expectations / "custom" / "wijkmonitor.json").write_text(json.dumps(custom))
    config = write_config(tmp_path, landing=manifest.out_dir / "landing", feedback=manifest.out_dir / "feedback")
    text = config.read_text().replace(str(monitor_root() / "expectations"), str(expectations))
    config.write_text(text)
    monitor = Monitor.from_config(config)
    with DagsterInstance.ephemeral() as instance:
        results = _materialize_all(config, instance, WAVES)
    status = read_table(monitor.engine, s.wave_status).set_index("wave")["status"]
    blocked = sorted(status[status == "blocked"].index)
    usable = sorted(status[status == "usable"].index)
    assert blocked and usable, status.to_dict()
    indicators = read_table(monitor.engine, s.district_indicators)
    assert set(indicators["wave"]) == set(usable)
    # the blocked wave's runs did not materialise its weights and indicators
    for wave, result in zip(WAVES, results[1:-1]):
        materialised = {e.asset_key.path[-1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
        assert ("wave_indicators" in materialised) == (wave in usable)


def monitor_root():
    from tests.support import ROOT

    return ROOT


@pytest.mark.postgres
def test_waves_load_into_postgresql(small_city, tmp_path, postgres_url):
    folder, manifest = small_city
    config = write_config(tmp_path, landing=manifest.out_dir / "landing", feedback=manifest.out_dir / "feedback",
                          database_url=postgres_url)
    defs = build_definitions(str(config))
    with DagsterInstance.ephemeral() as instance:
        assert defs.resolve_job_def("reference_job").execute_in_process(instance=instance).success
        instance.add_dynamic_partitions(wave_partitions.name, ["2021", "2022"])
        for wave in ("2021", "2022"):
            assert defs.resolve_job_def("wave_job").execute_in_process(instance=instance, partition_key=wave).success
    engine = Monitor.from_config(config).engine
    assert engine.dialect.name == "postgresql"
    indicators = read_table(engine, s.district_indicators)
    assert set(indicators["wave"]) == {"2021", "2022"}
    runs = read_table(engine, s.validation_runs)
    assert (runs["received"] == runs["clean"] + runs["quarantined"]).all()
