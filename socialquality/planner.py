"""Sampling planner for the next wave: invitations per district and age group so that district
figures reach a target margin and registered interventions' effects of a chosen size can be
detected, within a budget. Formulas and references: docs/methods.md, "Sampling planner".

Pure functions on frames (no database, no Dagster); `socialquality.planner_io` gathers the
inputs from the warehouse and the fieldwork files, `socialquality.planner_report` writes the
CSV, workbook and explanation page, `socialquality.planner_check` verifies the promises by
simulation with the demo generator.

The model in one paragraph. The agency draws invitations per district x age group from the
population register (sex in proportion to the population), so the expected respondents of a
cell are invitations x population share x response rate. Response rates per district, age
group and sex come from the last waves (usable respondents / invitations), shrunk towards the
city rate of the age group and sex with `prior_invitations` pseudo-invitations. A district
estimate's variance is deff x S^2 / n with S^2 the indicator's unit variance in the district
(n_eff x SE^2 of the last waves) and deff Kish's weighting effect of the planned cell
composition, deff = (sum r_c)(sum N_c^2 / r_c) / (sum N_c)^2 (Kish 1965, 1992). The base plan
invites age groups in inverse proportion to their response rate, so responses follow the
population (deff near 1). Effects: the contrast of the new wave with the waves before each
site's start, treated minus comparison districts (the event-time estimate of the DiD); its
variance adds the sampling variances of the new wave (planned), of the pre-start waves (as
observed) and a non-sampling district variance a + b g^2 (g = years between the new wave and
the pre-start waves) fitted to the comparison districts' observed changes. Power = Phi(delta /
sd - z_{1-alpha/2}), delta = effect_sd x the indicator's person-level SD.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from socialquality.i18n import _, fmt_percent


@dataclass(frozen=True)
class PlanSettings:
    wave: str
    margin_pp: float | None = 5.0
    margin_indicators: tuple[str, ...] | None = None  # None: every percent indicator without a target group
    effect_sd: float | None = 0.3
    power: float = 0.8
    alpha: float = 0.05
    oversample: bool = True
    budget_invitations: int | None = None
    budget_euros: float | None = None
    cost_per_invitation: float = 0.0
    cost_per_response: float = 0.0
    cut_shares: tuple[float, ...] = (0.1, 0.25)
    min_population: int = 500
    prior_invitations: float = 50.0
    max_invitation_share: float = 0.5
    history_waves: int = 2


@dataclass(frozen=True)
class EffectDesign:
    """One registered intervention x indicator, with what the variance needs."""

    intervention_id: str
    intervention_name: str
    indicator_id: str
    label: str
    percent: bool
    age_min: float | None
    sites: dict[str, list[str]]  # site district -> its pre-start waves
    comparison: list[str]


@dataclass
class PlanInputs:
    """cells: district_code, age_group, sex, population, rate (shrunk), invitations, responses.
    unit_variance: district_code, indicator_id, s2 (indicator scale; shares 0-1).
    history: wave, district_code, indicator_id, estimate, se (usable, not suppressed).
    wave_times: wave -> year; new_time: year of the planned wave."""

    cells: pd.DataFrame
    unit_variance: pd.DataFrame
    history: pd.DataFrame
    wave_times: dict[str, float]
    new_time: float
    indicators: dict[str, Any]  # catalogue Indicator objects
    effects: list[EffectDesign] = field(default_factory=list)
    district_names: dict[str, str] = field(default_factory=dict)
    #: share of the (domain's) respondents with a value on the indicator (item non-response)
    answer_rate: dict[str, float] = field(default_factory=dict)


@dataclass
class Plan:
    settings: PlanSettings
    allocation: pd.DataFrame  # district_code, age_group, population, response_rate, invitations, expected_responses
    districts: pd.DataFrame  # district_code, population, invitations, expected_responses, deff, margin_pp, meets_margin
    margins: pd.DataFrame  # district_code, indicator_id, se (indicator scale), margin_pp
    effects: pd.DataFrame  # intervention_id, indicator_id, delta, sd, power, variance parts
    cuts: pd.DataFrame  # cut_share, invitations, districts_meeting_margin, median_margin_pp, min_power ...
    totals: dict[str, Any]
    notes: list[str]
    nonsampling: dict[str, tuple[float, float]]  # indicator -> (a, b) of a + b g^2 (indicator scale)


Z = stats.norm.ppf


def age_lower(label: str) -> float:
    """Lower bound of an age group label ("65+" -> 65, "15-24" -> 15)."""
    found = re.match(r"\s*(\d+)", str(label))
    return float(found.group(1)) if found else math.nan


def shrink_rates(cells: pd.DataFrame, prior: float) -> pd.Series:
    """(responses + prior x city rate of the age group and sex) / (invitations + prior)."""
    city = cells.groupby(["age_group", "sex"])[["responses", "invitations"]].sum()
    city_rate = (city["responses"] / city["invitations"]).rename("city_rate")
    merged = cells.join(city_rate, on=["age_group", "sex"])
    return (merged["responses"] + prior * merged["city_rate"]) / (merged["invitations"] + prior)


def kish_deff(responses: np.ndarray, population: np.ndarray, *, random_counts: bool = True) -> float:
    """Kish's weighting effect of cell weights N_c / r_c: (sum r)(sum N^2/r) / (sum N)^2.

    With random_counts the expected respondents r_c of a cell are random (Poisson), and
    E[1/r] ~ (1/r)(1 + 1/r) is used (second-order), so that small cells cost what they cost."""
    keep = population > 0
    r, n = np.maximum(responses[keep], 1e-9), population[keep]
    inverse = (1 / r) * (1 + 1 / np.maximum(r, 1.0)) if random_counts else 1 / r
    return float(r.sum() * (n ** 2 * inverse).sum() / n.sum() ** 2)


def expected_cells(cells: pd.DataFrame, invitations: pd.Series) -> pd.Series:
    """Expected respondents per district x age group x sex for invitations per district x age group."""
    share = cells["population"] / cells.groupby(["district_code", "age_group"])["population"].transform("sum")
    inv = cells.set_index(["district_code", "age_group"]).index.map(invitations.to_dict()).to_numpy(dtype=float)
    return pd.Series(np.nan_to_num(inv) * share.to_numpy() * cells["rate"].to_numpy(), index=cells.index)


def base_shape(cells: pd.DataFrame) -> pd.Series:
    """Invitations per expected respondent per district x age group such that expected respondents
    follow the population over the age groups: (N_da / N_d) / rate_da."""
    grouped = cells.assign(nr=cells["population"] * cells["rate"]).groupby(["district_code", "age_group"])
    agg = grouped.agg(population=("population", "sum"), nr=("nr", "sum"))
    rate_da = agg["nr"] / agg["population"]
    share = agg["population"] / agg.groupby(level="district_code")["population"].transform("sum")
    return (share / rate_da).replace([np.inf], np.nan).fillna(0.0)


@dataclass
class Evaluation:
    districts: pd.DataFrame
    margins: pd.DataFrame
    effects: pd.DataFrame
    domain_n: dict[tuple[str, float | None], float]


def _domain_stats(cells: pd.DataFrame, resp: pd.Series, age_min: float | None) -> pd.DataFrame:
    frame = cells.assign(r=resp.to_numpy())
    if age_min is not None:
        frame = frame[frame["age_group"].map(age_lower) >= age_min]
    rows = []
    for district, part in frame.groupby("district_code"):
        rows.append((district, float(part["r"].sum()),
                     kish_deff(part["r"].to_numpy(), part["population"].to_numpy())))
    return pd.DataFrame(rows, columns=["district_code", "n", "deff"]).set_index("district_code")


def evaluate(inputs: PlanInputs, settings: PlanSettings, invitations: pd.Series,
             nonsampling: dict[str, tuple[float, float]]) -> Evaluation:
    """Margins per district and indicator, and power per intervention x indicator, for an allocation."""
    cells = inputs.cells
    resp = expected_cells(cells, invitations)
    domains: dict[float | None, pd.DataFrame] = {}

    def domain(age_min: float | None) -> pd.DataFrame:
        if age_min not in domains:
            domains[age_min] = _domain_stats(cells, resp, age_min)
        return domains[age_min]

    z = Z(1 - settings.alpha / 2)
    s2 = inputs.unit_variance.set_index(["district_code", "indicator_id"])["s2"]
    margin_ids = margin_indicators(inputs, settings)
    rows = []
    whole = domain(None)
    for district in whole.index:
        for ind in margin_ids:
            if (district, ind) not in s2.index:
                continue
            n = whole.loc[district, "n"] * inputs.answer_rate.get(ind, 1.0)
            se = math.sqrt(whole.loc[district, "deff"] * s2[(district, ind)] / max(n, 1e-9))
            rows.append((district, ind, se, 100 * z * se))
    margins = pd.DataFrame(rows, columns=["district_code", "indicator_id", "se", "margin_pp"])
    worst = margins.groupby("district_code")["margin_pp"].max() if not margins.empty else pd.Series(dtype=float)
    pop = cells.groupby("district_code")["population"].sum()
    inv_d = invitations.groupby(level="district_code").sum()
    districts = pd.DataFrame({"population": pop, "invitations": inv_d.reindex(pop.index).fillna(0.0),
                              "expected_responses": whole["n"].reindex(pop.index),
                              "deff": whole["deff"].reindex(pop.index),
                              "margin_pp": worst.reindex(pop.index)})
    districts["meets_margin"] = (districts["margin_pp"] <= settings.margin_pp + 1e-9) \
        if settings.margin_pp is not None else True
    districts = districts.reset_index().rename(columns={"index": "district_code"})

    effect_rows = []
    for design in inputs.effects:
        effect_rows.append(effect_power(inputs, settings, design, domain(design.age_min), nonsampling))
    effects = pd.DataFrame(effect_rows)
    return Evaluation(districts=districts, margins=margins, effects=effects,
                      domain_n={(d, a): float(v) for a, frame in domains.items() for d, v in frame["n"].items()})


def margin_indicators(inputs: PlanInputs, settings: PlanSettings) -> list[str]:
    if settings.margin_indicators:
        return list(settings.margin_indicators)
    return [i.id for i in inputs.indicators.values()
            if i.unit == "percent" and i.age_min is None and i.age_max is None and i.sex is None]


_SE2_CACHE: dict[int, dict[tuple[str, str], dict[str, float]]] = {}


def _se2_history(inputs: PlanInputs, district: str, indicator: str, waves: list[str]) -> float:
    """Sampling variance of the mean of a district's estimates over `waves` (those it has)."""
    lookup = _SE2_CACHE.get(id(inputs.history))
    if lookup is None:
        lookup = {}
        for row in inputs.history.itertuples(index=False):
            lookup.setdefault((row.district_code, row.indicator_id), {})[row.wave] = float(row.se) ** 2
        _SE2_CACHE.clear()
        _SE2_CACHE[id(inputs.history)] = lookup
    known = lookup.get((district, indicator), {})
    values = [known[w] for w in waves if w in known]
    if not values:
        return math.nan
    return float(sum(values) / len(values) ** 2)


def nonsampling_variance(inputs: PlanInputs, indicator: str, comparison: list[str]) -> tuple[float, float]:
    """(a, b) in Var_nonsampling(y_w2 - y_w1) = a + b g^2, fitted (non-negative least squares) to
    the comparison districts' observed changes between every pair of waves: the variance of the
    changes over districts minus their mean sampling variance."""
    h = inputs.history[(inputs.history["indicator_id"] == indicator) & inputs.history["district_code"].isin(comparison)]
    wide = h.pivot_table(index="district_code", columns="wave", values="estimate")
    se2 = h.pivot_table(index="district_code", columns="wave", values="se") ** 2
    waves = [w for w in sorted(wide.columns, key=lambda w: inputs.wave_times.get(w, 0))]
    xs, ys, ws = [], [], []
    for i, w1 in enumerate(waves):
        for w2 in waves[i + 1:]:
            both = wide[[w1, w2]].dropna().index
            if len(both) < 10:
                continue
            diff = wide.loc[both, w2] - wide.loc[both, w1]
            excess = float(diff.var(ddof=1) - (se2.loc[both, w1] + se2.loc[both, w2]).mean())
            g = inputs.wave_times[w2] - inputs.wave_times[w1]
            xs.append([1.0, g * g])
            ys.append(excess)
            ws.append(len(both))
    if len(xs) < 2:
        return 0.0, 0.0
    sqrt_w = np.sqrt(np.array(ws, dtype=float))
    coef = optimize.nnls(np.array(xs) * sqrt_w[:, None], np.array(ys) * sqrt_w)[0]
    return float(coef[0]), float(coef[1])


def effect_power(inputs: PlanInputs, settings: PlanSettings, design: EffectDesign, domain: pd.DataFrame,
                 nonsampling: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Variance and power of the new wave's event-time contrast (treated minus comparison, each
    relative to the waves before the site's start), on the indicator's display scale (points)."""
    scale = 100.0 if design.percent else 1.0
    s2 = inputs.unit_variance.set_index(["district_code", "indicator_id"])["s2"]
    a, b = nonsampling.get(design.indicator_id, (0.0, 0.0))
    sites = [d for d in design.sites if d in domain.index and (d, design.indicator_id) in s2.index]
    comparison = [d for d in design.comparison if d in domain.index and (d, design.indicator_id) in s2.index]
    result: dict[str, Any] = {"intervention_id": design.intervention_id, "intervention_name": design.intervention_name,
                              "indicator_id": design.indicator_id, "label": design.label,
                              "unit": "procentpunt" if design.percent else "punt", "treated": len(sites),
                              "comparison": len(comparison), "target_age_min": design.age_min}
    if not sites or len(comparison) < 2:
        return {**result, "power": math.nan, "note": "te weinig wijken met gegevens"}

    def new_var(d: str) -> float:
        n = domain.loc[d, "n"] * inputs.answer_rate.get(design.indicator_id, 1.0)
        return domain.loc[d, "deff"] * s2[(d, design.indicator_id)] / max(n, 1e-9)

    T, C = len(sites), len(comparison)
    treated_new = sum(new_var(d) for d in sites) / T ** 2
    treated_pre, treated_ns, gaps, pres = 0.0, 0.0, [], []
    for d in sites:
        pre = design.sites[d]
        v = _se2_history(inputs, d, design.indicator_id, pre)
        treated_pre += (0.0 if math.isnan(v) else v) / T ** 2
        g = inputs.new_time - float(np.mean([inputs.wave_times[w] for w in pre])) if pre else 0.0
        gaps.append(g)
        pres.append(max(len(pre), 1))
        treated_ns += (a / 2 * (1 + 1 / max(len(pre), 1)) + b * g * g) / T ** 2
    comp_new = sum(new_var(d) for d in comparison) / C ** 2
    comp_pre = 0.0
    for d in comparison:
        vals = [_se2_history(inputs, d, design.indicator_id, pre) for pre in design.sites.values()]
        vals = [v for v in vals if not math.isnan(v)]
        comp_pre += (float(np.mean(vals)) if vals else 0.0) / C ** 2
    comp_ns = (a / 2 * (1 + 1 / float(np.mean(pres))) + b * float(np.mean(gaps)) ** 2) / C
    variance = (treated_new + treated_pre + treated_ns + comp_new + comp_pre + comp_ns) * scale ** 2
    sd_person = math.sqrt(float(np.median([s2[(d, design.indicator_id)] for d in sites]))) * scale
    delta = (settings.effect_sd or 0.0) * sd_person
    z = Z(1 - settings.alpha / 2)
    power = float(stats.norm.cdf(delta / math.sqrt(variance) - z) + stats.norm.cdf(-delta / math.sqrt(variance) - z))
    fixed = (treated_pre + treated_ns + comp_pre + comp_ns) * scale ** 2
    best = float(stats.norm.cdf(delta / math.sqrt(fixed) - z)) if fixed > 0 else 1.0
    return {**result, "delta": delta, "sd_person": sd_person, "variance": variance, "sd": math.sqrt(variance),
            "var_new_treated": treated_new * scale ** 2, "var_new_comparison": comp_new * scale ** 2,
            "var_fixed": fixed, "power": power, "max_power": best,
            "mean_gap_years": float(np.mean(gaps)), "note": ""}


def make_plan(inputs: PlanInputs, settings: PlanSettings) -> Plan:
    """The allocation (see the module doc): margin requirement, oversampling for the effects, budget."""
    cells = inputs.cells
    notes: list[str] = []
    shape = base_shape(cells)
    z = Z(1 - settings.alpha / 2)
    nonsampling = {}
    for design in inputs.effects:
        if design.indicator_id not in nonsampling:
            nonsampling[design.indicator_id] = nonsampling_variance(inputs, design.indicator_id, design.comparison)

    # 1. respondents per district for the margin (deff of the base shape at that size: two passes)
    n_needed = {d: 100.0 for d in shape.index.get_level_values("district_code").unique()}
    s2 = inputs.unit_variance.set_index(["district_code", "indicator_id"])["s2"]
    ids = margin_indicators(inputs, settings)
    for _round in range(2):
        trial = shape * pd.Series(shape.index.get_level_values("district_code").map(n_needed), index=shape.index)
        per_unit = evaluate(inputs, settings, trial, {})
        for row in per_unit.districts.itertuples():
            if settings.margin_pp is None:
                n_needed[row.district_code] = 30.0
                continue
            worst = max((s2.get((row.district_code, k), np.nan) / inputs.answer_rate.get(k, 1.0) for k in ids),
                        default=np.nan)
            if not np.isfinite(worst):
                worst = float(inputs.unit_variance[inputs.unit_variance["indicator_id"].isin(ids)]["s2"].max())
            n_needed[row.district_code] = (z * 100 / settings.margin_pp) ** 2 * row.deff * worst
    cap = cells.groupby(["district_code", "age_group"])["population"].sum() * settings.max_invitation_share
    base = (shape * pd.Series(shape.index.get_level_values("district_code").map(n_needed), index=shape.index)
            ).clip(upper=cap)
    extra = pd.Series(0.0, index=shape.index)

    # 2. effects: raise the target group's invitations at the sites until the power is reached
    if settings.effect_sd:
        for design in inputs.effects:
            target = design.age_min if settings.oversample else None
            mask = pd.Series(shape.index.get_level_values("district_code").isin(list(design.sites)), index=shape.index)
            if target is not None:
                mask &= pd.Series(shape.index.get_level_values("age_group").map(age_lower) >= target, index=shape.index)

            def power_at(factor: float) -> float:
                trial = (base + extra).where(~mask, (base + extra) * factor).clip(upper=cap)
                stats_ = _domain_stats(cells, expected_cells(cells, trial), design.age_min)
                return float(effect_power(inputs, settings, design, stats_, nonsampling)["power"])

            now = power_at(1.0)
            if not np.isfinite(now) or now >= settings.power:
                continue
            top = power_at(50.0)
            goal = settings.power
            if top < settings.power:
                goal = top - 0.05  # beyond this, more respondents buy little
                notes.append(_("%(intervention)s — %(indicator)s: %(power)s onderscheidend vermogen is niet "
                               "haalbaar, ook niet met veel meer respondenten in de wijk (hooguit %(top)s: de variatie "
                               "tussen wijken en de eerdere metingen begrenzen het); ",
                               intervention=design.intervention_name, indicator=design.label,
                               power=fmt_percent(settings.power, 0), top=fmt_percent(top, 0))
                             + (_("de steekproef in de doelgroep is verhoogd tot een kans van %(goal)s.",
                                  goal=fmt_percent(goal, 0)) if goal > now else
                                _("de steekproef is niet verhoogd (kans nu %(now)s).", now=fmt_percent(now, 0))))
                if goal <= now:
                    continue
            low, high = 1.0, 50.0
            for _step in range(30):
                mid = (low + high) / 2
                low, high = (mid, high) if power_at(mid) < goal else (low, mid)
            factor = high
            extra = extra + ((base + extra) * (factor - 1)).where(mask, 0.0)
            extra = ((base + extra).clip(upper=cap) - base).clip(lower=0.0)

    # 3. budget: scale the margin part (or everything when even the effect part does not fit)
    required = base + extra
    responses = expected_cells(cells, required).sum()

    def cost(inv: pd.Series) -> tuple[float, float]:
        r = expected_cells(cells, inv).sum()
        return float(inv.sum()), float(settings.cost_per_invitation * inv.sum() + settings.cost_per_response * r)

    final = required
    budget_note = _("geen budget opgegeven: het plan is wat de doelen vragen")
    req_inv, req_eur = cost(required)
    if settings.budget_invitations or settings.budget_euros:
        def over(inv: pd.Series) -> float:
            n_inv, eur = cost(inv)
            if settings.budget_invitations:
                return n_inv - settings.budget_invitations
            return eur - settings.budget_euros

        if over(extra) > 0:  # even the oversampling does not fit: scale everything
            lam = optimize.brentq(lambda f: over(required * f), 1e-6, 1.0)
            final = required * lam
            budget_note = _("het budget is kleiner dan wat de doelen vragen: alle uitnodigingen zijn met "
                            "%(cut)s verlaagd", cut=fmt_percent(1 - lam, 0))
        else:
            hi = 1.0
            while over(base * hi + extra) < 0 and hi < 1e4:
                hi *= 2
            lam = optimize.brentq(lambda f: over(base * f + extra), 0.0, hi) if over(base * 0 + extra) < 0 <= over(
                base * hi + extra) else hi
            final = (base * lam + extra).clip(lower=0.0, upper=cap)
            budget_note = (_("het budget is groter dan wat de doelen vragen: de rest is naar verhouding over de "
                             "wijken verdeeld (kleinere marges)") if lam > 1 else
                           _("het budget is kleiner dan wat de doelen vragen: de basissteekproef is met %(cut)s "
                             "verlaagd, de extra steekproef voor de interventies is gehouden",
                             cut=fmt_percent(1 - lam, 0)))
    final = np.ceil(final)
    ev = evaluate(inputs, settings, final, nonsampling)
    resp_da = expected_cells(cells, final).groupby([cells["district_code"], cells["age_group"]]).sum()
    rate_da = (cells.assign(nr=cells["population"] * cells["rate"]).groupby(["district_code", "age_group"])["nr"].sum()
               / cells.groupby(["district_code", "age_group"])["population"].sum())
    pop_da = cells.groupby(["district_code", "age_group"])["population"].sum()
    allocation = pd.DataFrame({"population": pop_da, "response_rate": rate_da, "invitations": final.astype(int),
                               "expected_responses": resp_da,
                               "oversampled": (extra.reindex(final.index).fillna(0) > 0)}).reset_index()
    allocation.insert(1, "district_name", allocation["district_code"].map(lambda c: inputs.district_names.get(c, "")))
    cuts = []
    for share in settings.cut_shares:
        cut = evaluate(inputs, settings, np.floor(final * (1 - share)), nonsampling)
        cuts.append(_summary_row(share, cut, settings, float(np.floor(final * (1 - share)).sum())))
    cuts_frame = pd.DataFrame([_summary_row(0.0, ev, settings, float(final.sum())), *cuts])
    n_inv, eur = cost(final)
    totals = {"wave": settings.wave, "invitations": int(n_inv), "expected_responses": float(ev.districts["expected_responses"].sum()),
              "euros": eur, "required_invitations": int(math.ceil(req_inv)), "required_euros": req_eur,
              "required_responses": float(responses), "budget_note": budget_note,
              "districts": int(len(ev.districts)),
              "districts_meeting_margin": int(ev.districts["meets_margin"].sum())}
    return Plan(settings=settings, allocation=allocation, districts=ev.districts, margins=ev.margins,
                effects=ev.effects, cuts=cuts_frame, totals=totals, notes=notes, nonsampling=nonsampling)


def _summary_row(share: float, ev: Evaluation, settings: PlanSettings, invitations: float) -> dict[str, Any]:
    row = {"cut_share": share, "invitations": invitations,
           "expected_responses": float(ev.districts["expected_responses"].sum()),
           "districts_meeting_margin": int(ev.districts["meets_margin"].sum()),
           "median_margin_pp": float(ev.districts["margin_pp"].median()),
           "max_margin_pp": float(ev.districts["margin_pp"].max())}
    for r in ev.effects.to_dict("records"):
        row[f"power:{r['intervention_id']}:{r['indicator_id']}"] = r["power"]
    return row
