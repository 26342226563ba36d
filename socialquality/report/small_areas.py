"""Small-area figures in the report: model figures for districts, the buurt page with its maps,
and the Excel sheets "Wijken en buurten" and "Modellen".

Every published figure carries its source: "direct" (the survey estimate of the area) or
"modelschatting" (the Fay-Herriot figure, with its interval from the MSE); which one is published
follows the publication rule of socialquality.small_areas. A direct figure below the minimum
number of respondents is never shown (suppression holds whatever the inputs say).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from socialquality.i18n import N_, _
from socialquality.report.text import DASH, fmt_int, fmt_interval, fmt_value, is_missing

if TYPE_CHECKING:  # pragma: no cover
    from socialquality.report.render import Model

MODEL_LABEL = N_("modelschatting")
DIRECT_LABEL = N_("direct")
BUURT_PAGE = "buurten.html"
LEVEL_NAMES = {"district": N_("wijk"), "buurt": N_("buurt")}


def level_name(level: str) -> str:
    return _(LEVEL_NAMES[level]) if level in LEVEL_NAMES else level
COLUMNS = ["wave", "level", "area_code", "indicator_id", "parent_code", "n", "direct", "direct_se", "eblup", "mse",
           "model_ci_low", "model_ci_high", "gamma", "source", "estimate", "se", "ci_low", "ci_high"]


def guard(table: pd.DataFrame | None, minimum_respondents: int) -> pd.DataFrame:
    """Published small-area rows: a direct figure below the minimum is never published, whatever
    the table says (it becomes the model figure); rows without a figure are dropped."""
    if table is None or table.empty:
        return pd.DataFrame(columns=COLUMNS)
    t = table.copy()
    t["wave"] = t["wave"].astype(str)
    too_few = (t["source"] == "direct") & (t["n"].fillna(0) < minimum_respondents)
    for published, model in (("estimate", "eblup"), ("ci_low", "model_ci_low"), ("ci_high", "model_ci_high")):
        t.loc[too_few, published] = t.loc[too_few, model]
    t.loc[too_few, "source"] = "model"
    # nothing from which a suppressed direct figure could be recomputed (its residual against the model)
    hidden = [c for c in ("direct", "direct_se", "std_residual") if c in t.columns]
    t.loc[t["n"].fillna(0) < minimum_respondents, hidden] = float("nan")
    return t[t["estimate"].notna()].reset_index(drop=True)


def lookup(table: pd.DataFrame) -> dict[tuple[str, str, str, str], dict]:
    return {(r["level"], r["area_code"], r["indicator_id"], r["wave"]): r for r in table.to_dict("records")}


def model_figure(m: Model, district: str, indicator: str) -> dict | None:
    """The district's published model figure for the latest wave, or None (direct or nothing)."""
    table = getattr(m, "small_area_lookup", None)
    if not table:
        return None
    r = table.get(("district", district, indicator, m.latest))
    if r is None or r["source"] != "model":
        return None
    unit = m.unit(indicator)
    return {"value": fmt_value(r["estimate"], unit), "interval": fmt_interval(r["ci_low"], r["ci_high"], unit),
            "source": _(MODEL_LABEL)}


def source_label(source: str) -> str:
    return _(MODEL_LABEL) if source == "model" else _(DIRECT_LABEL)


# ----------------------------------------------------------------------------- buurt page
def render_buurt_page(m: Model, env: Any, out_dir: Path, fig_dir: Path, buurten: pd.DataFrame | None,
                      boundaries_path: Path | None, common: dict) -> tuple[Path | None, list[Path]]:
    """buurten.html: per indicator of the latest wave a map of every buurt and a table."""
    table = getattr(m, "small_areas", None)
    if table is None or table.empty or buurten is None or buurten.empty:
        return None, []
    latest = table[(table["level"] == "buurt") & (table["wave"] == m.latest)]
    if latest.empty:
        return None, []
    names = dict(zip(buurten["buurt_code"], buurten["buurt_name"]))
    population = dict(zip(buurten["buurt_code"], buurten["population"]))
    boundaries = None
    if boundaries_path is not None and Path(boundaries_path).is_file():
        from socialquality.report import maps

        boundaries = maps.load_districts(Path(boundaries_path))
    figures, sections = [], []
    known = set(buurten.loc[buurten["population"] > 0, "buurt_code"])
    city_rows = {r["indicator_id"]: r for r in m.di[(m.di["district_code"] == m.city)
                                                     & (m.di["wave"] == m.latest)].to_dict("records")}
    for indicator in [i for i in m.cat if i in set(latest["indicator_id"])]:
        unit = m.unit(indicator)
        rows = latest[latest["indicator_id"] == indicator].copy()
        rows["_name"] = rows["area_code"].map(names).fillna(rows["area_code"])
        rows = rows.sort_values(["parent_code", "_name"])
        factor = 100.0 if unit == "percent" else 1.0
        city = city_rows.get(indicator)
        centre = float(city["estimate"]) * factor if city is not None and not is_missing(city["estimate"]) \
            else float(rows["estimate"].median() * factor)
        figure = None
        if boundaries is not None:
            from socialquality.report import maps

            values = {r["area_code"]: float(r["estimate"]) * factor for r in rows.to_dict("records")}
            path = maps.choropleth(boundaries, values, fig_dir / f"buurtkaart_{indicator}.png", known=known,
                                   legend_label=f"{m.label(indicator)} {m.latest}" + (" (%)" if unit == "percent" else ""),
                                   center=centre, outside_label=_("geen inwoners"))
            figures.append(path)
            figure = {"src": f"figuren/{path.name}", "name": path.name}
        n_model = int((rows["source"] == "model").sum())
        sections.append({
            "id": indicator, "label": m.label(indicator), "figure": figure, "n_model": n_model,
            "n_direct": len(rows) - n_model,
            "rows": [{"code": r["area_code"], "name": r["_name"], "district": m.names.get(r["parent_code"],
                                                                                             r["parent_code"]),
                      "value": fmt_value(r["estimate"], unit), "interval": fmt_interval(r["ci_low"], r["ci_high"], unit),
                      "n": fmt_int(r["n"]), "source": source_label(r["source"]),
                      "is_model": r["source"] == "model"}
                     for r in rows.to_dict("records")],
        })
    without = sorted(c for c, p in population.items() if not p)
    page = env.get_template("buurten.html.j2").render(
        **common, root="", sections=sections, n_buurten=len(known), without_residents=len(without),
        threshold_note=getattr(m, "small_area_note", ""))
    path = out_dir / BUURT_PAGE
    path.write_text(page, encoding="utf-8")
    return path, figures


# ----------------------------------------------------------------------------- Excel
def excel_sheets(m: Model, formats: dict[str, str]) -> tuple[list[tuple[str, str]], list[Any]]:
    """The explanation lines and the sheets "Wijken en buurten" (every published small-area figure)
    and "Modellen" (diagnostics) of rapport.xlsx, as data for socialquality.report.excel."""
    from socialquality.i18n import _
    from socialquality.report.excel import Sheet

    table = getattr(m, "small_areas", None)
    if table is None or table.empty:
        return [], []
    notes = [
        (_("Wijken en buurten"), _("Het gepubliceerde cijfer per wijk en buurt. ‘modelschatting’: een schatting die "
                                   "de antwoorden uit het gebied combineert met CBS-cijfers over het gebied "
                                   "(Fay-Herriot-model), met een marge uit de modelfout; ‘direct’: het cijfer uit de "
                                   "enquête. Een direct cijfer op basis van te weinig respondenten wordt nooit "
                                   "getoond. Het blad ‘Indicatoren’ toont alleen de directe cijfers; veranderingen, "
                                   "index en effecten rusten op de directe cijfers.")),
        (_("Modellen"), _("Per indicator en niveau: de gebiedsvariantie, de gekozen CBS-kenmerken "
                          "(gestandaardiseerd) met coëfficiënt en standaardfout, en het gemiddelde gewicht van de "
                          "directe schatting.")),
    ]
    names = {**m.names, **getattr(m, "buurt_names", {})}
    order = {w: k for k, w in enumerate(m.waves)}
    ind_order = {i: k for k, i in enumerate(m.cat)}
    t = table.assign(_w=table["wave"].map(order), _i=table["indicator_id"].map(ind_order),
                     _l=table["level"].map({"district": 0, "buurt": 1}))
    t = t.sort_values(["_w", "_l", "_i", "parent_code", "area_code"])
    rows, row_formats = [], []
    for r in t.to_dict("records"):
        rows.append([r["wave"], _(LEVEL_NAMES.get(r["level"], r["level"])), names.get(r["area_code"], r["area_code"]),
                     r["area_code"], names.get(r["parent_code"], r["parent_code"]), m.label(r["indicator_id"]),
                     _num(r["estimate"]), _num(r["ci_low"]), _num(r["ci_high"]), source_label(r["source"]),
                     _num(r["n"]), _num(r["direct"]), _num(r["eblup"]), _num(r["gamma"]),
                     _num(r.get("std_residual"))])
        row_formats.append(formats.get(m.unit(r["indicator_id"]), "0.0"))
    sheets = [Sheet(_("Wijken en buurten"), [
        _("Meting"), _("Niveau"), _("Gebied"), _("Code"), _("Wijk"), _("Indicator"), _("Cijfer"), _("Ondergrens (95%)"),
        _("Bovengrens (95%)"), _("Bron van het cijfer"), _("n"), _("Directe schatting"), _("Modelschatting"),
        _("Gewicht directe schatting (gamma)"), _("Gestandaardiseerd residu (direct - model)")], rows,
        {11: "#,##0", 14: "0.00", 15: "0.00"}, row_formats={c: row_formats for c in (7, 8, 9, 12, 13)},
        freeze="D2", wave_columns={1},
        empty_reason=_("niet getoond: te weinig respondenten voor een direct cijfer"))]

    models = getattr(m, "small_area_models", None)
    if models is None or models.empty:
        return notes, sheets
    rows = []
    for r in models.sort_values(["wave", "level", "indicator_id"]).to_dict("records"):
        coefficients = json.loads(r["coefficients"] or "[]")
        for k, c in enumerate(coefficients):
            rows.append([r["wave"], _(LEVEL_NAMES.get(r["level"], r["level"])), m.label(r["indicator_id"]),
                         _num(r["n_areas"]) if k == 0 else None, _num(r["sigma2_u"]) if k == 0 else None,
                         _num(r["sigma2_u_se"]) if k == 0 else None, _num(r["r2"]) if k == 0 else None,
                         _num(r["mean_gamma"]) if k == 0 else None, c["term"], c["estimate"], c["se"], c["p_value"]])
    sheets.append(Sheet(_("Modellen"), [
        _("Meting"), _("Niveau"), _("Indicator"), _("Gebieden met respondenten"), _("Gebiedsvariantie (sigma2_u)"),
        _("SE sigma2_u"), _("Verklaard deel tussen gebieden"), _("Gemiddeld gewicht directe schatting"),
        _("Term (covariaat, gestandaardiseerd)"), _("Coëfficiënt"), _("SE"), _("p-waarde")], rows,
        {4: "#,##0", 5: "0.000000", 6: "0.000000", 7: "0.00", 8: "0.00", 10: "0.0000", 11: "0.0000", 12: "0.000"},
        freeze="D2", wave_columns={1}))
    return notes, sheets


def _num(value: Any) -> Any:
    """A number for the workbook; a missing one is an empty cell (its reason is in "Waarom leeg")."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or is_missing(value):
        return None
    return float(value)
