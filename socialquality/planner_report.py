"""Outputs of the sampling planner: the allocation for the fieldwork agency (CSV and workbook), a
page explaining the trade-offs, and a JSON file with every promise (for the simulation check)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from socialquality.i18n import DASH, _, fmt_number, fmt_percent, install_jinja, is_missing, language
from socialquality.planner import Plan

EXCEL_UNSAFE = ("=", "+", "-", "@", "\t", "\r")


def _pct(x: Any) -> str:
    return fmt_percent(x, 0)


def fmt_num(x: Any, decimals: int = 1) -> str:
    return fmt_number(x, decimals)


def fmt_int(x: Any) -> str:
    return fmt_number(x, 0)


def plan_frames(plan: Plan) -> dict[str, pd.DataFrame]:
    allocation = plan.allocation.rename(columns={
        "district_code": "wijkcode", "district_name": "wijknaam", "age_group": "leeftijdsgroep",
        "population": "inwoners", "response_rate": "verwachte_respons", "invitations": "uitnodigingen",
        "expected_responses": "verwachte_respondenten", "oversampled": "extra_voor_interventie"})
    allocation["inwoners"] = allocation["inwoners"].round(0).astype(int)
    allocation["verwachte_respons"] = allocation["verwachte_respons"].round(4)
    allocation["verwachte_respondenten"] = allocation["verwachte_respondenten"].round(1)
    districts = plan.districts.copy()
    districts.insert(1, "district_name", districts["district_code"].map(
        dict(zip(plan.allocation["district_code"], plan.allocation["district_name"]))))
    return {"allocation": allocation, "districts": districts, "effects": plan.effects, "cuts": plan.cuts}


def _safe(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(EXCEL_UNSAFE) else value


def write_plan(plan: Plan, out_dir: str | Path, municipality_name: str,
               check: dict[str, Any] | None = None) -> dict[str, Path]:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wave = plan.settings.wave
    frames = plan_frames(plan)
    csv_path = out_dir / f"steekproefplan_{wave}.csv"
    frames["allocation"].to_csv(csv_path, index=False, sep=";", encoding="utf-8", lineterminator="\n")

    wb = Workbook()
    wb.remove(wb.active)
    fill, font = PatternFill("solid", fgColor="1F3A5F"), Font(bold=True, color="FFFFFF")
    sheets = {_("Toewijzing"): frames["allocation"], _("Wijken"): frames["districts"],
              _("Interventies"): frames["effects"], _("Bezuinigen"): frames["cuts"]}
    for title, frame in sheets.items():
        ws = wb.create_sheet(title)
        ws.append([str(c) for c in frame.columns])
        for cell in ws[1]:
            cell.fill, cell.font = fill, font
        for row in frame.itertuples(index=False):
            ws.append([None if (not isinstance(v, (str, bool)) and v is not None and is_missing(v)) else
                       _safe(v.item() if hasattr(v, "item") else v) for v in row])
        ws.freeze_panes = "A2"
        for column in ws.columns:
            ws.column_dimensions[column[0].column_letter].width = max(12, min(40, len(str(column[0].value)) + 2))
    xlsx_path = out_dir / f"steekproefplan_{wave}.xlsx"
    wb.save(xlsx_path)

    json_path = out_dir / f"steekproefplan_{wave}.json"
    promises = {"totals": plan.totals, "notes": plan.notes, "settings": plan.settings.__dict__,
                "districts": plan.districts.to_dict("records"), "effects": plan.effects.to_dict("records"),
                "cuts": plan.cuts.to_dict("records"),
                "nonsampling_variance": {k: {"a": a, "b": b} for k, (a, b) in plan.nonsampling.items()}}
    if check is not None:
        promises["simulation_check"] = {"margins": check["margins"], "power": check["power"].to_dict("records")}
    json_path.write_text(json.dumps(promises, indent=2, ensure_ascii=False, default=_json), encoding="utf-8")

    html_path = out_dir / f"steekproefplan_{wave}.html"
    html_path.write_text(render_plan_page(plan, municipality_name, check), encoding="utf-8")
    return {"csv": csv_path, "xlsx": xlsx_path, "json": json_path, "html": html_path}


def _json(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def _environment() -> Any:
    """The report templates with gettext and the locale's number filters (socialquality.i18n)."""
    import jinja2

    from socialquality.report.render import DEFAULT_TEMPLATES, TEMPLATE_ENV

    folder = Path(os.environ.get(TEMPLATE_ENV) or DEFAULT_TEMPLATES)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    install_jinja(env)
    return env


def render_plan_page(plan: Plan, municipality_name: str, check: dict[str, Any] | None = None) -> str:
    """The plan page in the current language (socialquality.i18n)."""
    st, totals = plan.settings, plan.totals
    effects = []
    for r in plan.effects.to_dict("records"):
        effects.append({"name": r["intervention_name"], "label": r["label"],
                        "delta": f"{fmt_num(r.get('delta'), 1)} {_(r['unit'])}", "treated": r["treated"],
                        "comparison": r["comparison"], "power": _pct(r.get("power")),
                        "max_power": _pct(r.get("max_power")),
                        "ok": (not is_missing(r.get("power"))) and r["power"] >= st.power})
    cuts = []
    for r in plan.cuts.to_dict("records"):
        powers = [f"{k.split(':')[2]}: {_pct(v)}" for k, v in r.items() if str(k).startswith("power:")]
        cuts.append({"share": _pct(r["cut_share"]), "invitations": fmt_int(r["invitations"]),
                     "responses": fmt_int(r["expected_responses"]),
                     "meeting": fmt_int(r["districts_meeting_margin"]),
                     "median_margin": fmt_num(r["median_margin_pp"], 1), "powers": "; ".join(powers)})
    over = plan.districts.sort_values("margin_pp", ascending=False).head(8)
    names = dict(zip(plan.allocation["district_code"], plan.allocation["district_name"]))
    worst = [{"name": names.get(d, d), "margin": fmt_num(mg, 1), "n": fmt_int(n)}
             for d, mg, n in zip(over["district_code"], over["margin_pp"], over["expected_responses"])
             if st.margin_pp is None or mg > st.margin_pp]
    check_view = None
    if check is not None:
        cm = check["margins"]
        check_view = {"replicates": cm["replicates"],
                      "reported": fmt_num(cm["median_reported_over_promised"], 2),
                      "empirical": fmt_num(cm["empirical_over_promised"], 2),
                      "promised_margin": fmt_num(cm["median_promised_margin_pp"], 2),
                      "simulated_margin": fmt_num(cm["median_simulated_margin_pp"], 2),
                      "within": _("%(within)s van %(promised)s", within=cm["of_those_simulated_within_target_plus_5pct"],
                                  promised=cm["districts_promised_within_target"]) if st.margin_pp else DASH,
                      "power": [{"id": f"{r['intervention_id']} / {r['indicator_id']}",
                                 "promised": _pct(r["promised_power"]), "simulated": _pct(r["simulated_power"]),
                                 "mc": _pct(r["mc_error"])} for r in check["power"].to_dict("records")]}
    env = _environment()
    return env.get_template("plan.html.j2").render(
        lang=language(), max_share=fmt_percent(st.max_invitation_share, 0), municipality_name=municipality_name, wave=st.wave, settings=st, totals=totals,
        invitations=fmt_int(totals["invitations"]), responses=fmt_int(totals["expected_responses"]),
        euros=fmt_int(totals["euros"]), required_invitations=fmt_int(totals["required_invitations"]),
        required_euros=fmt_int(totals["required_euros"]), margin=fmt_num(st.margin_pp, 1) if st.margin_pp else None,
        effect_sd=fmt_num(st.effect_sd, 2) if st.effect_sd else None, power=_pct(st.power),
        effects=effects, cuts=cuts, worst=worst, notes=plan.notes, check=check_view,
        districts_meeting=fmt_int(totals["districts_meeting_margin"]), districts=fmt_int(totals["districts"]))
