"""Stage: costs and savings per intervention, next to the effects (reads and writes the warehouse).

The computations are in `socialquality.costs`; effects are consumed from the warehouse table
`intervention_effects` (estimate, se, ci_low, ci_high), never recomputed here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from socialquality.costs import derive_costs, later_cost_panel, load_cost_settings, yearly_costs
from socialquality.i18n import use_language
from socialquality.monitor import Monitor
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table, replace_rows

AGE_LOWER = {"15-24": 15, "25-44": 25, "45-64": 45, "65+": 65}


def compute_costs(m: Monitor) -> dict[str, Any]:
    from socialquality.stages import accountability_chain

    settings = load_cost_settings(m.settings.path("interventions"))
    chain = accountability_chain(m)
    effects = read_table(m.engine, s.intervention_effects)
    districts = read_table(m.engine, s.districts)
    margins = read_table(m.engine, s.population_margins)
    residents = dict(zip(districts["district_code"], districts["population"].astype(float)))
    panel = later_cost_panel(settings, m.settings.municipality)
    indicators = {i.id: i for i in m.catalogue.indicators}
    years_frames, measures = [], []
    for intervention in m.register:
        years = yearly_costs(intervention, chain)
        years_frames.append(years)
        target: dict[str, float] = {}
        if intervention.age_min is not None and not margins.empty:
            ages = margins[(margins["variable"] == "age_group")
                           & (margins["level"].map(AGE_LOWER) >= intervention.age_min)]
            target = ages.groupby("district_code")["count"].sum().to_dict()
        with use_language(m.settings.language):  # the plain-language texts in the report's language
            measures.append(derive_costs(intervention, years, effects, indicators, residents, target, panel,
                                         settings))
    yearly = pd.concat(years_frames, ignore_index=True) if years_frames else pd.DataFrame()
    derived = pd.concat(measures, ignore_index=True) if measures else pd.DataFrame()
    with m.engine.begin() as connection:
        replace_rows(connection, s.intervention_costs, yearly)
        replace_rows(connection, s.intervention_cost_measures, derived)
    counted = derived["measure"].value_counts().to_dict() if not derived.empty else {}
    return {"cost_records": len(yearly), "measures": len(derived),
            "cbs_editions": ", ".join(str(f.name) for f in settings.cbs_files) or "-",
            **{f"measure_{k}": int(v) for k, v in counted.items()}}
