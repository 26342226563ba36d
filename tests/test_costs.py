"""Costs in the register and the money layer of the accountability chain (socialquality.costs)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from socialquality.catalogue import Intervention, Site, load_register
from socialquality.costs import (
    CostSettings,
    cost_per_point,
    demand_change,
    derive_costs,
    load_cost_settings,
    wilson,
    yearly_costs,
)
from socialquality.errors import CodebookError
from tests.support import ROOT


def _register(tmp_path: Path, costs: list[dict], kind: str = "programme", extra: dict | None = None) -> Path:
    document = {"version": 1, **(extra or {}), "interventions": [{
        "id": "x", "name": "X", "kind": kind, "indicators": ["eenzaam"],
        "sites": [{"district": "WK036394", "start": "2020-01-15"}], "costs": costs}]}
    path = tmp_path / "interventions.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_demo_register_has_costs_for_every_intervention():
    register = load_register(ROOT / "surveys" / "interventions.yaml")
    assert register and all(i.costs for i in register)
    closure = next(i for i in register if i.kind == "closure")
    assert all(c["saving"] and c["actual"] is None for c in closure.costs)
    settings = load_cost_settings(ROOT / "surveys" / "interventions.yaml")
    assert {f["cbs_field"] for f in settings.later_cost_fields} == {"WmoClienten", "JongerenMetJeugdzorgInNatura"}
    assert len(settings.cbs_files) == 2 and all(f.is_file() for f in settings.cbs_files)


@pytest.mark.parametrize("costs, kind, message", [
    ([{"year": 2021, "actual": 10, "funding_source": "g"}], "closure", "a closure records the yearly `saving`"),
    ([{"year": 2021, "saving": 10, "funding_source": "g"}], "programme", "a programme records `actual` costs"),
    ([{"year": 2021, "actual": 1, "funding_source": "g"}, {"year": 2021, "actual": 2, "funding_source": "g"}],
     "programme", "year 2021 is recorded twice"),
    ([{"year": 2021, "funding_source": "g"}], "programme", "needs `budget`, `actual` or `saving`"),
    ([{"year": 2021, "actual": -5, "funding_source": "g"}], "programme", "-5 is less than the minimum of 0"),
    ([{"year": 2021, "actual": 5}], "programme", "'funding_source' is a required property"),
])
def test_cost_records_are_validated_with_clear_messages(tmp_path, costs, kind, message):
    with pytest.raises(CodebookError) as error:
        load_register(_register(tmp_path, costs, kind))
    assert message in str(error.value) and "interventions.yaml" in str(error.value)


def test_unit_cost_needs_a_listed_field_and_cbs_files_must_exist(tmp_path):
    costs = [{"year": 2021, "saving": 5, "funding_source": "g"}]
    path = _register(tmp_path, costs, "closure", {
        "later_cost_figures": {"cbs_files": ["missing.csv"], "fields": [{"cbs_field": "WmoClienten", "label": "Wmo"}]}})
    with pytest.raises(CodebookError, match="CBS file 'missing.csv' not found"):
        load_cost_settings(path)
    cbs = str(ROOT / "data" / "cbs" / "kwb_2019_amsterdam_84583NED.csv")
    path = _register(tmp_path, costs, "closure", {
        "later_cost_figures": {"cbs_files": [cbs], "fields": [{"cbs_field": "WmoClienten", "label": "Wmo"}]},
        "unit_costs": [{"cbs_field": "JongerenMetJeugdzorgInNatura", "label": "jeugdige", "per_year": 9000}]})
    with pytest.raises(CodebookError, match="not listed under later_cost_figures.fields"):
        load_cost_settings(path)


def test_cost_per_point_transforms_the_effect_interval():
    result = cost_per_point(60000, 20.0, 10.0, 30.0, 5.1, higher_is_better=True)
    assert result["kind"] == "cost_per_point"
    assert result["value"] == pytest.approx(3000) and result["ci_low"] == pytest.approx(2000)
    assert result["ci_high"] == pytest.approx(6000)
    assert result["delta_se"] == pytest.approx(60000 * 5.1 / 400)
    # an indicator where lower is better: a fall is the favourable effect
    lonely = cost_per_point(60000, -15.0, -25.0, -5.0, 5.1, higher_is_better=False)
    assert lonely["value"] == pytest.approx(4000) and lonely["ci_low"] == pytest.approx(2400)
    assert lonely["ci_high"] == pytest.approx(12000)


def test_no_division_by_an_insignificant_effect():
    result = cost_per_point(60000, 2.0, -3.0, 7.0, 2.5, higher_is_better=True)
    assert result["kind"] == "no_effect_shown" and result["bound"] == 7.0
    assert result["min_cost_per_point"] == pytest.approx(60000 / 7.0) and "value" not in result
    assert cost_per_point(60000, -8.0, -12.0, -4.0, 2.0, higher_is_better=True)["kind"] == "wrong_direction"
    assert cost_per_point(60000, math.nan, math.nan, math.nan, math.nan, True)["kind"] == "not_estimable"


def test_wilson_interval_reference_value():
    # Wilson (1927) score interval for 8/10: 0.4902 to 0.9433 (e.g. Newcombe 1998, table I)
    p, low, high = wilson(8, 10)
    assert p == 0.8 and low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)


def _panel(years: list[int], shift: float, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for d in range(40):
        base = 70 + rng.normal(0, 10)
        for y in years:
            value = base + (y - years[0]) * 1.0 + rng.normal(0, 2) + (shift if d == 0 and y >= 2021 else 0)
            rows.append({"district_code": f"WK{d:06d}", "year": y, "cbs_field": "WmoClienten", "value": value,
                         "residents": 10000.0})
    return pd.DataFrame(rows)


def test_demand_change_is_a_did_with_a_prediction_interval():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(300):
        panel = _panel([2019, 2022], 12.0, rng)
        result = demand_change(panel, "WmoClienten", "WK000000", 2021)
        assert result["kind"] == "measured" and result["years"] == [2019, 2022]
        covered += result["ci_low"] < 12.0 < result["ci_high"]
    assert 0.92 <= covered / 300 <= 0.98  # nominal 95%; MC error about 1.3 points
    # one edition only: nothing can be said
    one = demand_change(panel[panel["year"] == 2019], "WmoClienten", "WK000000", 2021)
    assert one["kind"] == "not_measurable" and "2019" in one["reason"]


def _programme(costs) -> Intervention:
    return Intervention(id="p", name="Programma", kind="programme", sphere=None, mechanism="", goal="", age_min=65,
                        indicators=("eenzaam_65plus",), sites=(Site("WK1", dt.date(2020, 1, 1)),
                                                               Site("WK2", dt.date(2020, 1, 1))), costs=costs)


class _Ind:
    def __init__(self, id, unit="percent", higher=False, label="Eenzaam, 65-plussers"):
        self.id, self.unit, self.label, self.higher_is_better = id, unit, label, higher


def test_derived_measures_and_texts_for_a_programme():
    costs = ({"year": 2020, "budget": 50000.0, "actual": 40000.0, "saving": None, "funding_source": "g", "note": None},
             {"year": 2021, "budget": 50000.0, "actual": 60000.0, "saving": None, "funding_source": "g", "note": None})
    iv = _programme(costs)
    chain = pd.DataFrame({"intervention_id": "p", "district_code": ["WK1", "WK2", "WK1"], "year": [2020, 2020, 2021],
                          "participants": [50, 50, 100], "feedback_n": [40, 40, 80],
                          "share_attributed_to_activity": [0.5, 0.5, 0.5]})
    years = yearly_costs(iv, chain)
    assert list(years["participants"]) == [100, 100] and list(years["feedback_attributed"]) == [40, 40]
    effects = pd.DataFrame([{"intervention_id": "p", "district_code": "", "indicator_id": "eenzaam_65plus",
                             "method": "staggered_did", "estimate": 2.0, "se": 3.0, "ci_low": -4.0, "ci_high": 8.0,
                             "estimable": True, "reason": None}])
    settings = CostSettings((), (), ())
    out = derive_costs(iv, years, effects, {"eenzaam_65plus": _Ind("eenzaam_65plus")}, {"WK1": 6000, "WK2": 4000},
                       {"WK1": 600, "WK2": 400}, pd.DataFrame(), settings).set_index("measure")
    assert out.loc["cost_per_year", "value"] == 50000
    assert out.loc["cost_per_participant", "value"] == 500  # 100,000 for 200 participants
    assert out.loc["cost_per_resident", "value"] == 5.0 and out.loc["cost_per_target_resident", "value"] == 50.0
    share, low, high = wilson(80, 160)
    assert out.loc["cost_per_participant_more_contacts", "value"] == pytest.approx(100000 / (200 * share))
    assert out.loc["cost_per_participant_more_contacts", "ci_low"] == pytest.approx(100000 / (200 * high))
    # lower is better: the favourable bound of -8..4 is 4 points fewer lonely people
    row = out.loc["effect_not_shown"]
    assert row["value"] == 4.0 and "cost_per_point" not in out.index
    assert ("Met dit budget is een effect kleiner dan 4,0 procentpunt niet uit te sluiten" in row["text_nl"]
            and "minstens € 12.500 per jaar" in row["text_nl"])


def test_closure_saving_next_to_measured_change_and_cost_of_demand():
    costs = ({"year": 2021, "budget": None, "actual": None, "saving": 200000.0, "funding_source": "b", "note": None},)
    iv = Intervention(id="c", name="Sluiting", kind="closure", sphere=None, mechanism="", goal="", age_min=None,
                      indicators=("cohesie",), sites=(Site("WK000000", dt.date(2021, 1, 1)),), costs=costs)
    effects = pd.DataFrame([{"intervention_id": "c", "district_code": "", "indicator_id": "cohesie", "method": "did",
                             "estimate": -0.4, "se": 0.2, "ci_low": -0.8, "ci_high": -0.01, "estimable": True,
                             "reason": None}])
    panel = _panel([2019, 2022], 12.0, np.random.default_rng(3))
    settings = CostSettings(({"cbs_field": "WmoClienten", "label": "Wmo-cliënt", "per_year": 5000.0},),
                            ({"cbs_field": "WmoClienten", "label": "Wmo-cliënten", "per": "residents"},), ())
    out = derive_costs(iv, yearly_costs(iv, pd.DataFrame()), effects,
                       {"cohesie": _Ind("cohesie", unit="score", higher=True, label="Sociale cohesie")},
                       {"WK000000": 10000.0}, {}, panel, settings).set_index("measure")
    assert out.loc["saving_per_year", "value"] == 200000 and out.loc["saving_per_resident", "value"] == 20.0
    change = out.loc["measured_change"]
    assert change["value"] == -0.4 and "geen geldbedrag" in change["text_nl"] and "€" not in change["text_nl"]
    demand = demand_change(panel, "WmoClienten", "WK000000", 2021)
    cost = out.loc["demand_cost"]
    assert cost["value"] == pytest.approx(demand["value"] * 10 * 5000)
    assert cost["ci_low"] == pytest.approx(demand["ci_low"] * 10 * 5000)
    assert "naast een besparing van € 200.000 per jaar" in cost["text_nl"]


def test_not_estimable_effects_stored_as_null_are_handled():
    """An effect the estimator could not compute is stored with NULL numbers (None in the frame)."""
    from socialquality.costs import effect_se

    assert math.isnan(effect_se({"se": None, "ci_low": None, "ci_high": None}))
    assert effect_se({"se": None, "ci_low": 1.0, "ci_high": 4.92}) == pytest.approx(1.0, abs=1e-3)
    assert cost_per_point(1000, None, None, None, None, True)["kind"] == "not_estimable"
    iv = _programme(({"year": 2020, "budget": None, "actual": 1000.0, "saving": None, "funding_source": "g",
                      "note": None},))
    effects = pd.DataFrame([{"intervention_id": "p", "district_code": "", "indicator_id": "eenzaam_65plus",
                             "method": "did", "estimate": None, "se": None, "ci_low": None, "ci_high": None,
                             "estimable": False, "reason": "te weinig wijken"}], dtype=object)
    out = derive_costs(iv, yearly_costs(iv, pd.DataFrame()), effects, {"eenzaam_65plus": _Ind("eenzaam_65plus")},
                       {}, {}, pd.DataFrame(), CostSettings((), (), ())).set_index("measure")
    assert "niet te schatten" in out.loc["effect_not_estimable", "text_nl"]
