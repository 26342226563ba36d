"""End to end on a small demo city: costs in the warehouse, the page per intervention, the cost
sheets of the workbook, the demo's fieldwork files and `socialquality plan`."""

from __future__ import annotations

import csv

import pytest
import yaml
from openpyxl import load_workbook

from pipelines.cli import main
from socialquality import stages
from socialquality.costs_stage import compute_costs
from socialquality.demo.generator import generate_demo_city
from socialquality.monitor import Monitor
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table
from tests.support import write_config

WAVES = ["2018", "2019", "2020", "2021"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("costcity")
    manifest = generate_demo_city(folder / "data", seed=11, respondents_per_wave=3000, waves=WAVES, truth=False)
    config = write_config(folder, landing=manifest.out_dir / "landing", feedback=manifest.out_dir / "feedback")
    m = Monitor.from_config(config)
    stages.load_population(m)
    stages.load_interventions(m)
    for wave in WAVES:
        stages.ingest_wave(m, wave, "t")
        stages.validate_wave(m, wave, "t")
        stages.weight_wave_stage(m, wave, "t")
        stages.estimate_wave(m, wave, "t")
    stages.ingest_feedback(m, "t")
    stages.compute_trends(m, "t")
    stages.estimate_effects(m, "t")
    report = compute_costs(m)
    stages.render_trend_report(m, "t")
    return folder, manifest, config, m, report


def test_costs_are_in_the_warehouse(city):
    folder, manifest, config, m, report = city
    costs = read_table(m.engine, s.intervention_costs)
    assert len(costs) == report["cost_records"] == 5
    programme = costs[costs["intervention_id"] == "computerles65"].set_index("year")
    assert programme.loc[2020, "actual"] == 34200 and programme.loc[2020, "participants"] == 158
    measures = read_table(m.engine, s.intervention_cost_measures)
    by = measures.set_index(["intervention_id", "measure"])
    assert by.loc[("computerles65", "cost_per_participant"), "value"] == pytest.approx(175500 / 386)
    assert by.loc[("sluiting_buurthuis_landlust", "saving_per_year"), "value"] == 187500
    # never a cost per point without a significant favourable effect
    effects = read_table(m.engine, s.intervention_effects)
    for row in measures[measures["measure"] == "cost_per_point"].itertuples():
        assert row.ci_low <= row.value <= row.ci_high
        pooled = effects[(effects["intervention_id"] == row.intervention_id)
                         & (effects["indicator_id"] == row.indicator_id) & (effects["district_code"] == "")]
        assert not pooled.empty and (pooled["ci_low"].iloc[0] > 0 or pooled["ci_high"].iloc[0] < 0)
    not_shown = measures[measures["measure"] == "effect_not_shown"]
    assert not_shown["text_nl"].str.contains("niet uit te sluiten").all()
    # the closure: one CBS year with Wmo figures, so the change is honestly not measurable
    demand = measures[(measures["measure"] == "demand_change")]
    assert set(demand["indicator_id"]) == {"WmoClienten", "JongerenMetJeugdzorgInNatura"}
    assert demand["value"].isna().all() and demand["text_nl"].str.contains("niet te meten").all()


def test_page_per_intervention_and_cost_sheets(city):
    folder, *_ = city
    reports = folder / "reports"
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert 'href="interventies/iv-computerles65.html"' in index
    page = (reports / "interventies" / "iv-computerles65.html").read_text(encoding="utf-8")
    for text in ("1. Doel", "2. Activiteit", "3. Bereik", "4. Wat zeggen de deelnemers?", "5. Effect in de wijk",
                 "6. Kosten", "€ 455 per deelnemer (386 deelnemers", "@page { size: A4 portrait"):
        assert text in page, text
    closure = (reports / "interventies" / "iv-sluiting_buurthuis_landlust.html").read_text(encoding="utf-8")
    assert "Gemiddeld € 187.500 besparing per jaar" in closure and "Gemeten verandering in de wijk" in closure
    assert "Wmo-cliënten per 1.000 inwoners: niet te meten" in closure
    workbook = load_workbook(reports / "rapport.xlsx")
    rows = list(workbook["Kosten per jaar"].iter_rows(values_only=True))
    assert rows[0][:6] == ("Interventie", "Interventie-id", "Jaar", "Begroting (€)", "Werkelijke kosten (€)",
                           "Besparing (€)")
    # no saving for a programme: an empty cell (not "–") with the reason at the end of the row
    assert ("Computerlessen voor 65-plussers", "computerles65", 2020, 36000, 34200, None) == rows[1][:6]
    assert rows[0][-1] == "Waarom leeg" and rows[1][-1] == "niet opgegeven in het interventieregister"
    assert workbook["Kosten per jaar"].tables and workbook["Kosten en effect"].tables  # Excel tables (ListObjects)
    measures = list(workbook["Kosten en effect"].iter_rows(values_only=True))
    column = measures[0].index("Toelichting")
    assert any("per deelnemer" in r[column] for r in measures[1:])


def test_plan_for_the_next_wave(city, tmp_path, capsys):
    folder, manifest, config, m, _ = city
    for wave in WAVES:
        with open(manifest.out_dir / "fieldwork" / "wijkmonitor" / wave / f"veldwerk_{wave}.csv",
                  encoding="utf-8") as handle:
            assert next(csv.reader(handle, delimiter=";")) == ["wijkcode", "geslacht", "leeftijdsgroep",
                                                               "uitnodigingen", "respons"]
    settings = tmp_path / "planning.yaml"
    settings.write_text(yaml.safe_dump({
        "version": 1, "fieldwork": str(manifest.out_dir / "fieldwork"), "margin": {"target_pp": 10},
        "effects": {"effect_sd": 0.3}, "budget": {"invitations": 30000}, "cut_shares": [0.2]}), encoding="utf-8")
    out = tmp_path / "plan"
    code = main(["plan", "--config", str(config), "--wave", "2025", "--settings", str(settings), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "plan for wave 2025:" in printed and "budget -20%:" in printed
    with open(out / "steekproefplan_2025.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert {"wijkcode", "leeftijdsgroep", "uitnodigingen", "verwachte_respondenten"} <= set(rows[0])
    total = sum(int(r["uitnodigingen"]) for r in rows)
    assert 29000 <= total <= 30000 + len(rows)  # the budget, up to rounding up per cell
    page = (out / "steekproefplan_2025.html").read_text(encoding="utf-8")
    assert "Steekproefplan 2025" in page and "Wat gaat er verloren bij bezuinigen?" in page
    assert load_workbook(out / "steekproefplan_2025.xlsx").sheetnames == ["Toewijzing", "Wijken", "Interventies",
                                                                          "Bezuinigen"]
    # clear errors: a wave already held, a budget given twice
    assert main(["plan", "--config", str(config), "--wave", "2020", "--settings", str(settings)]) == 2
    assert "has already been held" in capsys.readouterr().err
    settings.write_text(yaml.safe_dump({"version": 1, "fieldwork": "x", "margin": {"target_pp": 5},
                                        "budget": {"invitations": 5, "euros": 5.0}}), encoding="utf-8")
    assert main(["plan", "--config", str(config), "--wave", "2025", "--settings", str(settings)]) == 2
    assert "in invitations or in euros, not both" in capsys.readouterr().err
