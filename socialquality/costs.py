"""Costs and savings next to the measured effects (the money layer of the accountability chain).

Plain functions, no database and no Dagster: `socialquality.costs_stage` reads the warehouse and
stores what these return. Everything is documented in docs/methods.md ("Costs and savings").

* Register side (surveys/interventions.yaml): per intervention and year `budget`, `actual` (a
  programme) or `saving` (a closure) and `funding_source`; register-wide `unit_costs` supplied by
  the municipality and `later_cost_figures` (CBS fields that stand for later costs, e.g.
  `WmoClienten`, and the CBS editions to read them from).
* Derived: cost per participant reached (activity records), per participant who reports more
  contacts because of the activity (participant feedback, Wilson interval), per resident of the
  site districts, and per point of effect where the effect is significant. The interval of a
  cost per point is the effect's 95% interval transformed through C/x, exact because C/x is
  monotone on an interval that excludes 0 (the delta-method SE, C*se/x^2, is stored as a
  check). Where the effect is not significant, no division: the most that can be said is that
  an effect smaller than the interval's favourable bound cannot be excluded.
* A closure: the yearly saving next to the measured change on its indicators and the change in
  the later-cost register figures (difference-in-differences against the other districts, with
  a prediction interval from the spread of the other districts' changes), and, with a unit cost,
  the cost of that change in demand with its interval. Cohesion is never given a money value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialquality.errors import CodebookError
from socialquality.i18n import DASH, _, fmt_number, fmt_percent, is_missing, ngettext

Z95 = 1.959963984540054
COST_FIELDS = ("budget", "actual", "saving")


# --- register: validation and settings -----------------------------------------------------------

def check_cost_records(spec: dict[str, Any], path: str | Path, where: str) -> tuple[dict[str, Any], ...]:
    """The `costs` list of one register entry (already schema-valid), checked for meaning:
    a programme records `actual` costs, a closure a `saving`; one record per year; a record
    needs at least one amount."""
    records = []
    seen: set[int] = set()
    kind = spec.get("kind")
    for index, record in enumerate(spec.get("costs", []) or []):
        at = f"{where} costs/{index} (year {record['year']})"
        if record["year"] in seen:
            raise CodebookError(path, f"year {record['year']} is recorded twice; one cost record per year", at)
        seen.add(record["year"])
        if kind == "closure" and "actual" in record:
            raise CodebookError(path, "a closure records the yearly `saving`, not `actual` costs", at)
        if kind == "programme" and "saving" in record:
            raise CodebookError(path, "a programme records `actual` costs, not a `saving`", at)
        if not any(k in record for k in COST_FIELDS):
            raise CodebookError(path, "a cost record needs `budget`, `actual` or `saving`", at)
        records.append({"year": int(record["year"]), **{k: (float(record[k]) if k in record else None)
                                                        for k in COST_FIELDS},
                        "funding_source": str(record["funding_source"]), "note": record.get("note")})
    return tuple(sorted(records, key=lambda r: r["year"]))


@dataclass(frozen=True)
class CostSettings:
    unit_costs: tuple[dict[str, Any], ...]  # cbs_field, label, per_year, source
    later_cost_fields: tuple[dict[str, Any], ...]  # cbs_field, label, per
    cbs_files: tuple[Path, ...]


def load_cost_settings(register_path: str | Path) -> CostSettings:
    """Register-wide cost settings; CBS file names are relative to the register's folder."""
    from socialquality.codebook import read_yaml, validate_against_schema

    register_path = Path(register_path)
    raw = validate_against_schema(read_yaml(register_path), "interventions.schema.json", register_path)
    later = raw.get("later_cost_figures") or {}
    files = []
    for index, name in enumerate(later.get("cbs_files", [])):
        file = Path(name) if Path(name).is_absolute() else (register_path.parent / name)
        if not file.is_file():
            raise CodebookError(register_path, f"CBS file {name!r} not found ({file})",
                                f"later_cost_figures/cbs_files/{index}")
        files.append(file.resolve())
    units = tuple(dict(u) for u in raw.get("unit_costs", []) or [])
    fields = tuple({"per": "residents", **f} for f in later.get("fields", []))
    unknown = sorted({u["cbs_field"] for u in units} - {f["cbs_field"] for f in fields})
    if unknown:
        raise CodebookError(register_path, f"unit_costs for {unknown}: not listed under later_cost_figures.fields",
                            "unit_costs")
    return CostSettings(unit_costs=units, later_cost_fields=fields, cbs_files=tuple(files))


def cbs_year(path: Path) -> int | None:
    found = re.search(r"(20\d\d)", Path(path).name)
    return int(found.group(1)) if found else None


def later_cost_panel(settings: CostSettings, municipality: str) -> pd.DataFrame:
    """district_code, year, cbs_field, value (per 1,000 residents for per=residents), residents.

    A field missing from an edition is simply absent for that year (CBS tables differ by year)."""
    from socialquality.population import read_kwb

    rows = []
    prefix = "WK" + municipality[2:]
    for file in settings.cbs_files:
        year = cbs_year(file)
        kwb = read_kwb(file)
        wijk = kwb[(kwb["region_type"] == "Wijk") & kwb["region_code"].str.startswith(prefix)]
        residents = wijk["AantalInwoners"].astype(float)
        for field in settings.later_cost_fields:
            name = field["cbs_field"]
            if name not in wijk.columns:
                continue
            value = wijk[name].astype(float)
            if field.get("per", "residents") == "residents":
                value = 1000.0 * value / residents.replace(0, np.nan)
            rows.append(pd.DataFrame({"district_code": wijk["region_code"].to_numpy(), "year": year,
                                      "cbs_field": name, "value": value.to_numpy(),
                                      "residents": residents.to_numpy()}))
    columns = ["district_code", "year", "cbs_field", "value", "residents"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


# --- formatting ----------------------------------------------------------------------------------

def euro(x: Any, decimals: int = 0) -> str:
    """An amount in euros in the current locale: "€ 1.234" (nl), "€ 1,234" (en)."""
    return DASH if is_missing(x) else "€ " + fmt_number(x, decimals)


def _num(x: Any, decimals: int = 1) -> str:
    return fmt_number(x, decimals)


# --- derived measures ----------------------------------------------------------------------------

def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float, float]:
    """Share and its Wilson score interval (Wilson 1927)."""
    if n <= 0:
        return (math.nan,) * 3
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _float(value: Any) -> float:
    """A stored number as float; None, NaN, text -> NaN."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def effect_se(row: dict[str, Any]) -> float:
    """The effect's SE: stored, or derived from the 95% interval when it is not."""
    se = _float(row.get("se"))
    if np.isfinite(se) and se > 0:
        return se
    lo, hi = _float(row.get("ci_low")), _float(row.get("ci_high"))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return math.nan
    return (hi - lo) / (2 * Z95)


def cost_per_point(cost: float, estimate: float, ci_low: float, ci_high: float, se: float,
                   higher_is_better: bool) -> dict[str, Any]:
    """Yearly cost per point of (favourable) effect, or the most that can be said.

    Returns kind: 'cost_per_point' (significant and favourable: value, interval, delta-method SE),
    'no_effect_shown' (interval includes 0: `bound` = the favourable bound; an effect smaller than
    it cannot be excluded, one larger is unlikely; `min_cost_per_point` = cost / bound),
    'wrong_direction' (significant, unfavourable) or 'not_estimable'.
    """
    estimate, ci_low, ci_high, se, cost = (_float(v) for v in (estimate, ci_low, ci_high, se, cost))
    if not all(np.isfinite(v) for v in (estimate, ci_low, ci_high)) or not np.isfinite(cost):
        return {"kind": "not_estimable"}
    sign = 1.0 if higher_is_better else -1.0
    theta = sign * estimate
    lo, hi = sorted((sign * ci_low, sign * ci_high))
    if lo > 0:
        return {"kind": "cost_per_point", "effect": theta, "effect_low": lo, "effect_high": hi,
                "value": cost / theta, "ci_low": cost / hi, "ci_high": cost / lo,
                "delta_se": cost * se / theta ** 2 if np.isfinite(se) else math.nan}
    if hi < 0:
        return {"kind": "wrong_direction", "effect": theta, "effect_low": lo, "effect_high": hi}
    return {"kind": "no_effect_shown", "effect": theta, "effect_low": lo, "effect_high": hi, "bound": hi,
            "min_cost_per_point": cost / hi if hi > 0 else math.nan}


def demand_change(panel: pd.DataFrame, field: str, district: str, start_year: int) -> dict[str, Any]:
    """Change of a later-cost figure in the district from the last edition before the start to the
    latest edition from the start year on, minus the mean change of the other districts (DiD).

    Interval: a 95% prediction interval from the spread of the other districts' changes,
    t_{C-1} * sd_C * sqrt(1 + 1/C): how much a district's figure moves without the closure."""
    from scipy import stats

    data = panel[panel["cbs_field"] == field]
    years = sorted(data["year"].dropna().unique())
    before = [y for y in years if y < start_year]
    after = [y for y in years if y >= start_year]
    if not before or not after:
        have = ", ".join(str(int(y)) for y in years) or _("geen")
        return {"kind": "not_measurable", "years": [int(y) for y in years],
                "reason": _("CBS-jaren met dit cijfer: %(years)s; er is een jaar vóór én een jaar na de start "
                            "(%(start)s) nodig", years=have, start=start_year)}
    y0, y1 = int(before[-1]), int(after[-1])
    wide = data[data["year"].isin([y0, y1])].pivot_table(index="district_code", columns="year", values="value")
    wide = wide.dropna()
    if district not in wide.index:
        return {"kind": "not_measurable", "years": [y0, y1], "reason": _("geen CBS-cijfer voor de wijk in beide jaren")}
    change = wide[y1] - wide[y0]
    others = change.drop(index=district)
    if len(others) < 5:
        return {"kind": "not_measurable", "years": [y0, y1], "reason": _("te weinig andere wijken om mee te vergelijken")}
    did = float(change[district] - others.mean())
    half = float(stats.t.ppf(0.975, len(others) - 1) * others.std(ddof=1) * math.sqrt(1 + 1 / len(others)))
    return {"kind": "measured", "years": [y0, y1], "level_before": float(wide.loc[district, y0]),
            "level_after": float(wide.loc[district, y1]), "value": did, "ci_low": did - half, "ci_high": did + half,
            "n_comparison": int(len(others))}


def yearly_costs(intervention: Any, chain: pd.DataFrame) -> pd.DataFrame:
    """Per registered year: amounts, funding, participants (activity) and feedback counts."""
    rows = []
    mine = chain[chain["intervention_id"] == intervention.id] if not chain.empty else chain
    for record in intervention.costs:
        year_chain = mine[mine["year"] == record["year"]] if not mine.empty else mine
        participants = year_chain["participants"].sum(min_count=1) if not year_chain.empty else np.nan
        feedback_n = float(year_chain["feedback_n"].sum()) if not year_chain.empty else 0.0
        attributed = float((year_chain["feedback_n"] * year_chain["share_attributed_to_activity"]).sum(min_count=1)) \
            if not year_chain.empty else np.nan
        rows.append({"intervention_id": intervention.id, "year": record["year"], "budget": record["budget"],
                     "actual": record["actual"], "saving": record["saving"],
                     "funding_source": record["funding_source"], "note": record.get("note"),
                     "participants": float(participants) if participants == participants else np.nan,
                     "feedback_n": feedback_n, "feedback_attributed": attributed})
    columns = ["intervention_id", "year", "budget", "actual", "saving", "funding_source", "note", "participants",
               "feedback_n", "feedback_attributed"]
    return pd.DataFrame(rows, columns=columns)


def headline_effects(effects: pd.DataFrame, intervention_id: str) -> pd.DataFrame:
    """One effect per indicator: the pooled estimate over the sites (DiD or staggered DiD) when
    estimable, else the single site's estimate when the intervention has one site."""
    mine = effects[effects["intervention_id"] == intervention_id]
    out = []
    for indicator, rows in mine.groupby("indicator_id", sort=False):
        ok = rows[rows["estimable"].astype(bool) & rows["estimate"].notna()]
        if "role" in ok.columns and (ok["role"] == "headline").any():  # the one verdict (effects.choose)
            out.append(ok[ok["role"] == "headline"].iloc[0])
            continue
        pooled = ok[ok["district_code"] == ""]
        sites = ok[ok["district_code"] != ""]
        if not pooled.empty:
            out.append(pooled.iloc[0])
        elif sites["district_code"].nunique() == 1:
            out.append(sites.iloc[0])
        else:
            out.append(rows.iloc[0].copy())
    return pd.DataFrame(out).reset_index(drop=True) if out else mine.iloc[0:0]


def derive_costs(intervention: Any, years: pd.DataFrame, effects: pd.DataFrame, indicators: dict[str, Any],
                 residents: dict[str, float], target_residents: dict[str, float], panel: pd.DataFrame,
                 settings: CostSettings) -> pd.DataFrame:
    """The derived cost measures of one intervention (see the module doc), one row each:
    intervention_id, measure, indicator_id ('' when none), value, ci_low, ci_high, unit, text_nl."""
    rows: list[dict[str, Any]] = []
    iv = intervention.id
    sites = [s.district for s in intervention.sites]
    n_residents = float(sum(residents.get(d, 0.0) for d in sites))

    def add(measure: str, value: Any = np.nan, low: Any = np.nan, high: Any = np.nan, unit: str = "euro",
            text: str = "", indicator: str = "", extra: float = np.nan) -> None:
        rows.append({"intervention_id": iv, "measure": measure, "indicator_id": indicator,
                     "value": float(value) if value is not None else np.nan,
                     "ci_low": float(low), "ci_high": float(high), "extra": float(extra), "unit": unit,
                     "text_nl": text})

    if years.empty:
        add("no_costs", text=_("Voor deze interventie zijn (nog) geen kosten vastgelegd in het register."), unit="")
        return pd.DataFrame(rows)
    closure = intervention.kind == "closure"
    amount = years["saving"] if closure else years["actual"]
    with_amount = years[amount.notna()]
    if with_amount.empty:
        add("no_costs", text=_("Er is alleen een begroting vastgelegd, nog geen werkelijke besparing.") if closure
            else _("Er is alleen een begroting vastgelegd, nog geen werkelijke kosten."), unit="")
        return pd.DataFrame(rows)
    amounts = (with_amount["saving"] if closure else with_amount["actual"]).astype(float)
    per_year = float(amounts.mean())
    span = f"{int(with_amount['year'].min())}–{int(with_amount['year'].max())}" if len(with_amount) > 1 \
        else str(int(with_amount["year"].iloc[0]))
    values = dict(amount=euro(per_year), span=span, total=euro(amounts.sum()))
    add("saving_per_year" if closure else "cost_per_year", per_year,
        text=_("Gemiddeld %(amount)s besparing per jaar (%(span)s; totaal %(total)s).", **values) if closure else
        _("Gemiddeld %(amount)s kosten per jaar (%(span)s; totaal %(total)s).", **values))
    budget = years["budget"].dropna()
    if not closure and not budget.empty:
        spent = years.dropna(subset=["budget", "actual"])
        if not spent.empty:
            share = float(spent["actual"].sum() / spent["budget"].sum()) if spent["budget"].sum() > 0 else np.nan
            add("budget_spent", share, unit="share",
                text=_("Besteed: %(spent)s van een begroting van %(budget)s (%(share)s).",
                       spent=euro(spent["actual"].sum()), budget=euro(spent["budget"].sum()),
                       share=fmt_percent(share, 0)))
    if n_residents > 0:
        add("saving_per_resident" if closure else "cost_per_resident", per_year / n_residents, unit="euro",
            text=ngettext("%(amount)s per inwoner van de wijk per jaar (%(residents)s inwoners).",
                          "%(amount)s per inwoner van de wijken per jaar (%(residents)s inwoners).", len(sites),
                          amount=euro(per_year / n_residents, 2), residents=_num(n_residents, 0)))
    if not closure:
        target = float(sum(target_residents.get(d, 0.0) for d in sites))
        if intervention.age_min is not None and target > 0:
            add("cost_per_target_resident", per_year / target,
                text=_("%(amount)s per inwoner van %(age)s jaar of ouder in de wijken per jaar.",
                       amount=euro(per_year / target, 2), age=int(intervention.age_min)))
        reached = with_amount.dropna(subset=["participants"])
        if not reached.empty and reached["participants"].sum() > 0:
            total, people = float(reached["actual"].sum()), float(reached["participants"].sum())
            add("cost_per_participant", total / people,
                text=_("%(amount)s per deelnemer (%(people)s deelnemers volgens de activiteitenregistratie, "
                       "%(total)s).", amount=euro(total / people), people=_num(people, 0), total=euro(total)))
            fb = reached[reached["feedback_n"] > 0]
            if not fb.empty and fb["feedback_n"].sum() >= 5:
                share, low, high = wilson(float(fb["feedback_attributed"].sum()), float(fb["feedback_n"].sum()))
                if share > 0:
                    value = total / (people * share)
                    add("cost_per_participant_more_contacts", value, total / (people * high),
                        total / (people * low) if low > 0 else np.inf,
                        text=_("%(amount)s per deelnemer die door de activiteit meer contacten zegt te hebben "
                               "(%(share)s van %(n)s deelnemers die de vragenlijst invulden; 95%%-interval %(low)s "
                               "tot %(high)s).", amount=euro(value), share=fmt_percent(share, 0),
                               n=_num(fb["feedback_n"].sum(), 0), low=euro(total / (people * high)),
                               high=euro(total / (people * low)) if low > 0 else _("onbepaald")))

    for record in headline_effects(effects, iv).to_dict("records"):
        ind = indicators.get(record["indicator_id"])
        if ind is None:
            continue
        unit = "procentpunt" if ind.unit == "percent" else "punt"  # the stored unit code (Dutch, as before)
        unit_text = _(unit)
        # lower-case the first letter only: "Eenzaam (De Jong Gierveld ...)" keeps its proper names
        label = ind.label[:1].lower() + ind.label[1:] if not ind.label[1:2].isupper() else ind.label
        se = effect_se(record)
        for key in ("estimate", "ci_low", "ci_high"):
            record[key] = _float(record.get(key))
        if closure:
            if not bool(record["estimable"]) or not np.isfinite(record["estimate"]):
                add("measured_change", indicator=ind.id, unit=unit,
                    text=_("%(label)s: het effect is niet te schatten (%(reason)s).", label=ind.label,
                           reason=record.get("reason") or _("te weinig gegevens")))
                continue
            sig = record["ci_low"] > 0 or record["ci_high"] < 0
            change_values = dict(label=ind.label, effect=_num(record["estimate"], 1), unit=unit_text,
                                 low=_num(record["ci_low"], 1), high=_num(record["ci_high"], 1))
            add("measured_change", record["estimate"], record["ci_low"], record["ci_high"], unit=unit, indicator=ind.id,
                extra=se,
                text=(_("%(label)s: %(effect)s %(unit)s (95%%-interval %(low)s tot %(high)s); een aantoonbare "
                        "verandering.", **change_values) if sig else
                      _("%(label)s: %(effect)s %(unit)s (95%%-interval %(low)s tot %(high)s); geen aantoonbare "
                        "verandering.", **change_values))
                + " " + _("Aan deze verandering is bewust geen geldbedrag gehangen: daar bestaat geen betrouwbare "
                          "prijs voor."))
            continue
        result = cost_per_point(per_year, record["estimate"], record["ci_low"], record["ci_high"], se,
                                ind.higher_is_better)
        if result["kind"] == "cost_per_point":
            add("cost_per_point", result["value"], result["ci_low"], result["ci_high"], unit=f"euro/{unit}",
                indicator=ind.id, extra=result["delta_se"],
                text=_("%(label)s: %(amount)s per jaar per %(unit)s effect (95%%-interval %(low)s tot %(high)s), "
                       "bij een verbetering van %(effect)s %(unit)s (%(effect_low)s tot %(effect_high)s).",
                       label=ind.label, amount=euro(result["value"]), unit=unit_text, low=euro(result["ci_low"]),
                       high=euro(result["ci_high"]), effect=_num(result["effect"], 1),
                       effect_low=_num(result["effect_low"], 1), effect_high=_num(result["effect_high"], 1)))
        elif result["kind"] == "no_effect_shown":
            bound = result["bound"]
            text = (_("%(label)s: geen effect aangetoond. Met dit budget is een effect kleiner dan %(bound)s "
                      "%(unit)s niet uit te sluiten (ook geen effect); een groter effect is onwaarschijnlijk.",
                      label=ind.label, bound=_num(bound, 1), unit=unit_text) if bound > 0
                    else _("%(label)s: geen effect aangetoond.", label=ind.label))
            if bound > 0:
                text += " " + _("Per %(unit)s effect kost het dus minstens %(amount)s per jaar.", unit=unit_text,
                                amount=euro(result["min_cost_per_point"]))
            add("effect_not_shown", bound, result["effect_low"], result["effect_high"], unit=unit, indicator=ind.id,
                extra=result["min_cost_per_point"], text=text)
        elif result["kind"] == "wrong_direction":
            add("effect_wrong_direction", result["effect"], result["effect_low"], result["effect_high"], unit=unit,
                indicator=ind.id, text=_("%(label)s: het effect gaat de verkeerde kant op; kosten per punt effect "
                                         "zijn dan niet zinvol.", label=ind.label))
        else:
            add("effect_not_estimable", indicator=ind.id, unit=unit,
                text=_("%(label)s: het effect is niet te schatten, dus ook geen kosten per punt effect.",
                       label=ind.label))

    if closure and settings.later_cost_fields:
        start = min(s.start.year for s in intervention.sites)
        units = {u["cbs_field"]: u for u in settings.unit_costs}
        for field in settings.later_cost_fields:
            name, flabel = field["cbs_field"], field["label"]
            per = " " + _("per 1.000 inwoners") if field.get("per", "residents") == "residents" else ""
            for district in sites:
                change = demand_change(panel, name, district, start)
                if change["kind"] != "measured":
                    add("demand_change", indicator=name, unit="per_1000" if per else "value",
                        text=_("%(label)s%(per)s: niet te meten — %(reason)s. Wat dit cijfer na de sluiting doet, "
                               "is met deze gegevens dus niet te zeggen.", label=flabel, per=per,
                               reason=change["reason"]))
                    continue
                y0, y1 = change["years"]
                add("demand_change", change["value"], change["ci_low"], change["ci_high"],
                    unit="per_1000" if per else "value", indicator=name,
                    text=_("%(label)s%(per)s: van %(before)s (%(y0)s) naar %(after)s (%(y1)s); %(change)s meer dan "
                           "de verandering in de andere wijken (95%%-interval %(low)s tot %(high)s).", label=flabel,
                           per=per, before=_num(change["level_before"], 1), y0=y0,
                           after=_num(change["level_after"], 1), y1=y1, change=_num(change["value"], 1),
                           low=_num(change["ci_low"], 1), high=_num(change["ci_high"], 1)))
                unit_cost = units.get(name)
                if unit_cost is not None and per:
                    people = residents.get(district, 0.0) / 1000.0 * unit_cost["per_year"]
                    value, low, high = (change[k] * people for k in ("value", "ci_low", "ci_high"))
                    add("demand_cost", value, low, high, indicator=name,
                        text=_("Bij %(unit_cost)s per %(unit)s per jaar%(source)s: %(amount)s per jaar "
                               "(95%%-interval %(low)s tot %(high)s), naast een besparing van %(saving)s per jaar.",
                               unit_cost=euro(unit_cost["per_year"]), unit=unit_cost["label"],
                               source=" (" + unit_cost["source"] + ")" if unit_cost.get("source") else "",
                               amount=euro(value), low=euro(low), high=euro(high), saving=euro(per_year)))
    return pd.DataFrame(rows)
