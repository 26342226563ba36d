"""Inputs of the sampling planner: settings file (surveys/planning.yaml), fieldwork records,
and the warehouse (population, respondents, district indicators, register)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialquality.errors import CodebookError, InputFileError, SocialQualityError
from socialquality.planner import EffectDesign, PlanInputs, PlanSettings

FIELDWORK_COLUMNS = {"wijkcode": "district_code", "geslacht": "sex", "leeftijdsgroep": "age_group",
                     "uitnodigingen": "invitations", "respons": "completes"}


def load_plan_settings(path: str | Path, wave: str) -> tuple[PlanSettings, Path]:
    """The settings and the resolved fieldwork folder (relative to the settings file)."""
    from socialquality.codebook import read_yaml, validate_against_schema

    path = Path(path)
    raw = validate_against_schema(read_yaml(path), "planning.schema.json", path)
    budget, costs = raw.get("budget") or {}, raw.get("costs") or {}
    if budget.get("invitations") and budget.get("euros"):
        raise CodebookError(path, "give the budget in invitations or in euros, not both", "budget")
    if budget.get("euros") and not (costs.get("per_invitation") or costs.get("per_response")):
        raise CodebookError(path, "a budget in euros needs costs.per_invitation and/or costs.per_response", "costs")
    margin, effects = raw.get("margin"), raw.get("effects")
    if margin is None and effects is None:
        raise CodebookError(path, "set a target: `margin` (district figures), `effects` (interventions) or both")
    settings = PlanSettings(
        wave=str(wave),
        margin_pp=float(margin["target_pp"]) if margin else None,
        margin_indicators=tuple(margin["indicators"]) if margin and margin.get("indicators") else None,
        effect_sd=float(effects["effect_sd"]) if effects else None,
        power=float((effects or {}).get("power", 0.8)), alpha=float((effects or {}).get("alpha", 0.05)),
        oversample=bool((effects or {}).get("oversample", True)),
        budget_invitations=budget.get("invitations"), budget_euros=budget.get("euros"),
        cost_per_invitation=float(costs.get("per_invitation", 0.0)),
        cost_per_response=float(costs.get("per_response", 0.0)),
        cut_shares=tuple(float(x) for x in raw.get("cut_shares", [0.1, 0.25])),
        min_population=int(raw.get("min_population", 500)),
        prior_invitations=float(raw.get("prior_invitations", 50.0)),
        max_invitation_share=float(raw.get("max_invitation_share", 0.5)),
        history_waves=int(raw.get("history_waves", 2)),
    )
    folder = Path(raw["fieldwork"])
    return settings, (folder if folder.is_absolute() else (path.parent / folder)).resolve()


def read_fieldwork(folder: Path, survey: str, waves: list[str]) -> pd.DataFrame:
    """Invitations per wave, district, sex and age group from <folder>/<survey>/<wave>/*.csv."""
    frames = []
    for wave in waves:
        files = sorted((folder / survey / wave).glob("*.csv")) if (folder / survey / wave).is_dir() else []
        if not files:
            continue
        path = files[-1]
        try:
            frame = pd.read_csv(path, sep=";", dtype={"wijkcode": str, "geslacht": str, "leeftijdsgroep": str},
                                encoding="utf-8-sig")
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise InputFileError(path, f"not a readable fieldwork file ({error})") from None
        missing = [c for c in FIELDWORK_COLUMNS if c not in frame.columns]
        if missing:
            raise InputFileError(path, f"fieldwork file lacks column(s) {', '.join(missing)}; expected "
                                       f"{';'.join(FIELDWORK_COLUMNS)}")
        frame = frame.rename(columns=FIELDWORK_COLUMNS)
        bad = pd.to_numeric(frame["invitations"], errors="coerce")
        if bad.isna().any() or (bad < 0).any():
            raise InputFileError(path, "uitnodigingen must be whole numbers >= 0",
                                 row=int(frame.index[bad.isna() | (bad < 0)][0]) + 2)
        frames.append(frame.assign(wave=wave, invitations=bad.astype(float)))
    if not frames:
        raise SocialQualityError(f"no fieldwork records (invitations) for waves {', '.join(waves)} in {folder / survey}; "
                                 "the planner needs the agency's invitations per district, sex and age group "
                                 "(docs/methods.md, Sampling planner)")
    return pd.concat(frames, ignore_index=True)


def gather_inputs(m: Any, settings: PlanSettings, fieldwork_folder: Path) -> PlanInputs:
    """Everything the planner needs, from the warehouse and the fieldwork files."""
    from socialquality.stages import wave_times
    from socialquality.warehouse import schema as s
    from socialquality.warehouse.store import read_table, usable_waves

    survey = m.codebook.survey
    usable = [w for w in m.codebook.wave_ids if w in usable_waves(m.engine, survey)]
    if not usable:
        raise SocialQualityError("no usable wave in the warehouse: run the pipeline first")
    fieldwork = read_fieldwork(fieldwork_folder, survey, usable)
    recent = [w for w in usable if w in set(fieldwork["wave"])][-settings.history_waves:]
    fieldwork = fieldwork[fieldwork["wave"].isin(recent)]

    # usable respondents per wave x district x sex x age group (unknown sex shared out by the known)
    respondents = read_table(m.engine, s.respondents, survey=survey)
    respondents = respondents[respondents["wave"].isin(recent) & respondents["status"].isin(["clean", "released"])]
    counts = respondents.groupby(["district_code", "age_group", "sex"], dropna=False).size().rename("n").reset_index()
    known = counts[counts["sex"].isin(["m", "v"])]
    unknown = counts[~counts["sex"].isin(["m", "v"])].groupby(["district_code", "age_group"])["n"].sum()
    share = known["n"] / known.groupby(["district_code", "age_group"])["n"].transform("sum")
    extra = known.set_index(["district_code", "age_group"]).index.map(unknown.to_dict()).to_numpy(dtype=float)
    known = known.assign(responses=known["n"] + np.nan_to_num(extra) * share.to_numpy())
    invitations = fieldwork.groupby(["district_code", "age_group", "sex"])["invitations"].sum().rename("invitations")

    margins = read_table(m.engine, s.population_margins)
    sex_m = margins[margins["variable"] == "sex"].pivot_table(index="district_code", columns="level", values="count")
    ages = margins[margins["variable"] == "age_group"].rename(columns={"level": "age_group", "count": "n_age"})
    sexes = [c for c in sex_m.columns if c in ("m", "v")]
    rows = []
    for r in ages.itertuples(index=False):
        total = sex_m.loc[r.district_code, sexes].sum() if r.district_code in sex_m.index else 0
        for sex in sexes:
            frac = sex_m.loc[r.district_code, sex] / total if total > 0 else 1 / len(sexes)
            rows.append((r.district_code, r.age_group, sex, float(r.n_age) * float(frac)))
    cells = pd.DataFrame(rows, columns=["district_code", "age_group", "sex", "population"])
    cells = cells.join(invitations, on=["district_code", "age_group", "sex"])
    cells = cells.join(known.set_index(["district_code", "age_group", "sex"])["responses"],
                       on=["district_code", "age_group", "sex"])
    cells[["invitations", "responses"]] = cells[["invitations", "responses"]].fillna(0.0)
    pop = cells.groupby("district_code")["population"].transform("sum")
    invited = cells.groupby("district_code")["invitations"].transform("sum")
    cells = cells[(pop >= settings.min_population) & (invited > 0)].reset_index(drop=True)
    from socialquality.planner import shrink_rates

    cells["rate"] = shrink_rates(cells, settings.prior_invitations)

    indicators = read_table(m.engine, s.district_indicators, survey=survey)
    indicators = indicators[indicators["wave"].isin(usable) & ~indicators["suppressed"].astype(bool)
                            & (indicators["district_code"] != m.settings.municipality)]
    last = indicators[indicators["wave"].isin(recent)].copy()
    last["s2"] = last["n_eff"] * last["se"] ** 2
    unit_variance = last.groupby(["district_code", "indicator_id"], as_index=False)["s2"].mean()
    medians = unit_variance.groupby("indicator_id")["s2"].median()
    full = pd.MultiIndex.from_product([cells["district_code"].unique(), medians.index],
                                      names=["district_code", "indicator_id"])
    unit_variance = unit_variance.set_index(["district_code", "indicator_id"]).reindex(full)
    unit_variance["s2"] = unit_variance["s2"].fillna(pd.Series(unit_variance.index.get_level_values(1).map(medians),
                                                               index=unit_variance.index))
    unit_variance = unit_variance.reset_index()

    times = wave_times(m)
    try:
        new_time = float(int(settings.wave))
    except ValueError:
        new_time = max(times.values()) + 1.0
    catalogue = {i.id: i for i in m.catalogue.indicators}
    sampled = set(cells["district_code"])
    all_sites = {site.district for i in m.register for site in i.sites}
    comparison = sorted(sampled - all_sites)
    effects = []
    for intervention in m.register:
        sites = {}
        for site in intervention.sites:
            if site.district not in sampled:
                continue
            pre = [w for w in usable if m.codebook.wave(w).fieldwork_start is not None
                   and m.codebook.wave(w).fieldwork_start < site.start]
            if not pre:
                pre = [w for w in usable if times[w] < site.start.year]
            if pre:
                sites[site.district] = pre
        for ind_id in intervention.indicators:
            ind = catalogue[ind_id]
            age_min = ind.age_min if ind.age_min is not None else None
            effects.append(EffectDesign(intervention_id=intervention.id, intervention_name=intervention.name,
                                        indicator_id=ind_id, label=ind.label, percent=ind.unit == "percent",
                                        age_min=age_min, sites=sites, comparison=comparison))
    from socialquality.planner import age_lower

    per_age = respondents.groupby(["wave", "district_code", "age_group"]).size().rename("n").reset_index()
    per_age["lower"] = per_age["age_group"].map(age_lower)
    answer_rate = {}
    for ind_id, ind in catalogue.items():
        rows = last[last["indicator_id"] == ind_id]
        base = per_age if ind.age_min is None else per_age[per_age["lower"] >= ind.age_min]
        domain = base.groupby(["wave", "district_code"])["n"].sum()
        keyed = rows.set_index(["wave", "district_code"])["n"]
        both = keyed.index.intersection(domain.index)
        if len(both) and domain.loc[both].sum() > 0:
            answer_rate[ind_id] = float(min(1.0, keyed.loc[both].sum() / domain.loc[both].sum()))
    districts = read_table(m.engine, s.districts)
    history = indicators[["wave", "district_code", "indicator_id", "estimate", "se"]].reset_index(drop=True)
    return PlanInputs(cells=cells, unit_variance=unit_variance, history=history, wave_times=times, new_time=new_time,
                      indicators=catalogue, effects=effects,
                      district_names=dict(zip(districts["district_code"], districts["district_name"])),
                      answer_rate=answer_rate)


def run_plan(config_path: str, wave: str, settings_path: str | None = None, out_dir: str | None = None,
             check_replicates: int = 0, quiet: bool = False) -> dict[str, Any]:
    """`socialquality plan`: gather, plan, (optionally) check by simulation, write the outputs."""
    from socialquality.monitor import Monitor
    from socialquality.planner import make_plan
    from socialquality.i18n import use_language
    from socialquality.planner_report import write_plan

    m = Monitor.from_config(config_path)
    settings_file = Path(settings_path) if settings_path else m.settings.path("interventions").parent / "planning.yaml"
    settings, folder = load_plan_settings(settings_file, wave)
    if wave in m.codebook.wave_ids:
        raise SocialQualityError(f"wave {wave} has already been held (it is in the codebook); plan a later wave")
    inputs = gather_inputs(m, settings, folder)
    with use_language(m.settings.language):  # the plan's notes in the configured language
        plan = make_plan(inputs, settings)
    check = None
    if check_replicates:
        if not m.settings.demo:
            raise SocialQualityError("--check simulates with the demo generator: only for the demo configuration")
        from socialquality.planner_check import simulate_plan
        from socialquality.warehouse import schema as s
        from socialquality.warehouse.store import read_table

        check = simulate_plan(plan, inputs, m.catalogue, read_table(m.engine, s.population_margins), check_replicates)
    out = Path(out_dir) if out_dir else m.settings.path("reports") / f"steekproefplan_{wave}"
    with use_language(m.settings.language):
        paths = write_plan(plan, out, m.settings.municipality_name, check)
    return {"plan": plan, "check": check, "paths": paths}


def print_plan(result: dict[str, Any]) -> None:
    plan, check = result["plan"], result["check"]
    t = plan.totals
    print(f"plan for wave {t['wave']}: {t['invitations']} invitations, {t['expected_responses']:.0f} expected "
          f"responses, EUR {t['euros']:,.0f} (the targets alone ask {t['required_invitations']} invitations)")
    print(f"  {t['budget_note']}")
    if plan.settings.margin_pp is not None:
        print(f"  districts within +/-{plan.settings.margin_pp:g} pp: {t['districts_meeting_margin']} of {t['districts']} "
              f"(median margin {plan.districts['margin_pp'].median():.2f} pp)")
    for r in plan.effects.to_dict("records"):
        print(f"  power {r['intervention_id']} / {r['indicator_id']}: {r['power']:.1%} "
              f"(effect {r.get('delta', float('nan')):.2f} {r['unit']}, at most {r.get('max_power', float('nan')):.1%})")
    for cut in plan.cuts.to_dict("records")[1:]:
        print(f"  budget -{cut['cut_share']:.0%}: {cut['districts_meeting_margin']} districts within the margin, "
              f"median margin {cut['median_margin_pp']:.2f} pp")
    if check is not None:
        cm = check["margins"]
        print(f"simulation check ({cm['replicates']} draws of the planned wave through the pipeline's weighting and "
              f"estimation): reported SE / promised = {cm['median_reported_over_promised']:.3f} (median), "
              f"empirical SD / promised = {cm['empirical_over_promised']:.3f}; districts promised within the "
              f"target and simulated within it (+5%): {cm['of_those_simulated_within_target_plus_5pct']} of "
              f"{cm['districts_promised_within_target']}")
        for r in check["power"].to_dict("records"):
            print(f"  power {r['intervention_id']} / {r['indicator_id']}: promised {r['promised_power']:.1%}, "
                  f"simulated {r['simulated_power']:.1%} (MC error {r['mc_error']:.1%})")
    for key, path in result["paths"].items():
        print(f"{key}: {path}")
