"""One page per intervention (interventies/<anchor>.html): the whole accountability chain on one
A4 — goal, activity, reach, participants' feedback, district effect, costs — and the cost sheets
of the workbook. Uses the report's own formatting of the chain and effects (report.render), and
the cost measures stored by socialquality.costs_stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from socialquality.i18n import N_, _
from socialquality.report.text import DASH, fmt_datetime, fmt_int, fmt_pct, is_missing

PAGE_DIR = "interventies"

MEASURE_ORDER = ["cost_per_year", "saving_per_year", "budget_spent", "cost_per_participant",
                 "cost_per_participant_more_contacts", "cost_per_resident", "cost_per_target_resident",
                 "saving_per_resident", "cost_per_point", "effect_not_shown", "effect_wrong_direction",
                 "effect_not_estimable", "measured_change", "demand_change", "demand_cost", "no_costs"]
MEASURE_NAMES = {
    "cost_per_year": N_("Kosten per jaar"), "saving_per_year": N_("Besparing per jaar"), "budget_spent": N_("Besteed van de begroting"),
    "cost_per_participant": N_("Kosten per deelnemer"), "cost_per_participant_more_contacts":
    N_("Kosten per deelnemer met meer contacten dankzij de activiteit"), "cost_per_resident": N_("Kosten per inwoner"),
    "cost_per_target_resident": N_("Kosten per inwoner uit de doelgroep"), "saving_per_resident": N_("Besparing per inwoner"),
    "cost_per_point": N_("Kosten per punt effect"), "effect_not_shown": N_("Geen effect aangetoond"),
    "effect_wrong_direction": N_("Effect de verkeerde kant op"), "effect_not_estimable": N_("Effect niet te schatten"),
    "measured_change": N_("Gemeten verandering in de wijk"), "demand_change": N_("Registercijfer voor latere kosten"),
    "demand_cost": N_("Kosten van de veranderde vraag"), "no_costs": N_("Kosten"),
}
EXCEL_UNSAFE = ("=", "+", "-", "@", "\t", "\r")
COST_COLUMNS = ["intervention_id", "year", "budget", "actual", "saving", "funding_source", "note", "participants",
                "feedback_n", "feedback_attributed"]
MEASURE_COLUMNS = ["intervention_id", "measure", "indicator_id", "value", "ci_low", "ci_high", "extra", "unit",
                   "text_nl"]


def _ordered(measures: pd.DataFrame) -> list[dict[str, Any]]:
    rank = {m: i for i, m in enumerate(MEASURE_ORDER)}
    rows = sorted(measures.to_dict("records"), key=lambda r: (rank.get(r["measure"], 99), r.get("id") or 0))
    return [{"name": _(MEASURE_NAMES[r["measure"]]) if r["measure"] in MEASURE_NAMES else _("Kosten"),
             "text": r["text_nl"], "measure": r["measure"]}
            for r in rows]


def _year_rows(years: pd.DataFrame, closure: bool) -> list[dict[str, str]]:
    from socialquality.costs import euro

    out = []
    for r in years.sort_values("year").to_dict("records"):
        out.append({"year": str(int(r["year"])), "budget": euro(r["budget"]),
                    "amount": euro(r["saving"] if closure else r["actual"]),
                    "funding": str(r["funding_source"] or DASH),
                    "participants": fmt_int(r["participants"]) if not is_missing(r["participants"]) else DASH})
    return out


def _activity_totals(chain: list[dict[str, Any]], raw: pd.DataFrame) -> dict[str, str]:
    if raw.empty:
        return {}
    held = raw["sessions_held"].sum(min_count=1)
    planned = raw["sessions_planned"].sum(min_count=1)
    people = raw["participants"].sum(min_count=1)
    target = raw.drop_duplicates("district_code")["target_population"].sum(min_count=1)
    fb = raw["feedback_n"].sum()
    more = (raw["feedback_n"] * raw["share_more_contacts"]).sum(min_count=1)
    attributed = (raw["feedback_n"] * raw["share_attributed_to_activity"]).sum(min_count=1)
    return {
        "delivered": _("%(held)s van %(planned)s bijeenkomsten gehouden", held=fmt_int(held), planned=fmt_int(planned))
                     + (f" ({fmt_pct(held / planned, 0)})" if planned and not is_missing(planned) else ""),
        "reach": _("%(n)s deelnemers", n=fmt_int(people))
                 + ("; " + _("doelgroep in de wijken %(target)s inwoners (%(share)s)", target=fmt_int(target),
                             share=fmt_pct(people / target)) if target and not is_missing(target) else ""),
        "feedback": (_("%(n)s deelnemers vulden de vragenlijst in: %(more)s heeft meer contacten, %(attributed)s zegt "
                       "dat dat (mede) door de activiteit komt", n=fmt_int(fb), more=fmt_pct(more / fb, 0),
                       attributed=fmt_pct(attributed / fb, 0))
                     if fb >= 5 and not is_missing(more) else _("te weinig antwoorden van deelnemers (minder dan 5)")),
    }


def render_intervention_pages(inputs: Any, costs: pd.DataFrame | None, measures: pd.DataFrame | None, out_dir: Path,
                              *, template_dir: Path | None = None,
                              interventions: list[dict[str, Any]] | None = None) -> list[Path]:
    """Write interventies/<anchor>.html for every intervention of the report; returns the paths.

    `interventions`: the report's own intervention entries (render._interventions), so the chain
    and effects read exactly as in the report; computed here when not given."""
    from socialquality.report import render as r

    costs = costs if costs is not None else pd.DataFrame(columns=COST_COLUMNS)
    measures = measures if measures is not None else pd.DataFrame(columns=MEASURE_COLUMNS)
    model = r.Model(inputs)
    out_dir = Path(out_dir)
    page_dir = out_dir / PAGE_DIR
    page_dir.mkdir(parents=True, exist_ok=True)
    env = r._environment(template_dir)
    if interventions is None:
        interventions = r._interventions(model, out_dir / r.FIGURES, [])
    raw_chain = model.chain
    paths = []
    for iv in interventions:
        mine = measures[measures["intervention_id"] == iv["id"]] if not measures.empty else measures
        years = costs[costs["intervention_id"] == iv["id"]] if not costs.empty else costs
        page = env.get_template("intervention.html.j2").render(
            municipality_name=inputs.municipality_name, iv=iv, root="../",
            totals=_activity_totals(iv["chain"], raw_chain[raw_chain["intervention_id"] == iv["id"]]),
            years=_year_rows(years, iv["is_closure"]) if not years.empty else [],
            measures=_ordered(mine) if not mine.empty else [],
            headline=iv["headline"], latest=inputs.latest_wave,
            lang=r.language(),
            generated=fmt_datetime(inputs.lineage["generated_at"]) if inputs.lineage and inputs.lineage.get(
                "generated_at") else "")
        path = page_dir / f"{iv['anchor']}.html"
        path.write_text(page, encoding="utf-8")
        paths.append(path)
    return paths
