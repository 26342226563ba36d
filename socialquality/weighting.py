"""Weighting a wave to the district population: base weights, collapse rules, raking.

Each district is a stratum of the sample. The base weight is N_d / n_d (the population the age
margin covers, e.g. CBS 15+ or a municipality's 18+ table, over respondents); the weights are then
raked within each district to two separate margins, sex and age band, because CBS publishes them
separately (a joint table is used through its two margins). The age bands are those the survey
and the population table have in common (`weighting_bands`, socialquality.agebands). Cells are
collapsed before raking:

* an age group with fewer than `min_cell` respondents in a district is merged with its
  neighbour (15-24 with 25-44, 65+ with 45-64, a middle group with its smaller neighbour),
  repeatedly, until every group has `min_cell` respondents or only one group is left;
* a sex with fewer than `min_cell` respondents: the sex margin is dropped for that district
  (raked on age only);
* respondents with a missing sex, or a missing age, keep their base-weighted share of the
  district (their own margin level), so the other levels' targets are scaled down to the same
  total (docs/methods.md, "Missing background").

Raking is done over all districts at once with the margins `district x sex` and
`district x age group`, so the variance of every estimate accounts for the calibration
(`SurveyDesign.rake`). Trimming bounds on g = raked / base weight keep extreme weights out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from socialquality.agebands import assign_bands, common_bands, parse_band, sorted_bands
from socialquality.codebook import AGE_GROUPS
from socialquality.survey import SurveyDesign

SEX_LEVELS = ("m", "v")


@dataclass
class WeightingResult:
    design: SurveyDesign  # raked design over the whole wave, strata = district
    weights: pd.DataFrame  # respondent_pid, source_row, district_code, base_weight, weight
    diagnostics: pd.DataFrame  # one row per district


def collapse_age_groups(counts: dict[str, int], min_cell: int,
                        order: tuple[str, ...] | list[str] = AGE_GROUPS) -> dict[str, str]:
    """Map each age group (in `order`, youngest first) to the (possibly merged) group it is raked
    in, e.g. {'15-24': '15-24+25-44'}."""
    groups = [[g] for g in order]
    def size(group: list[str]) -> int:
        return sum(counts.get(g, 0) for g in group)
    while len(groups) > 1:
        small = [i for i, g in enumerate(groups) if size(g) < min_cell]
        if not small:
            break
        i = small[0]
        if i == 0:
            j = 1
        elif i == len(groups) - 1:
            j = i - 1
        else:  # merge with the smaller neighbour so the merged cell stays homogeneous
            j = i - 1 if size(groups[i - 1]) <= size(groups[i + 1]) else i + 1
        low, high = sorted((i, j))
        groups[low] = groups[low] + groups[high]
        del groups[high]
    mapping = {}
    for group in groups:
        label = "+".join(group)
        for g in group:
            mapping[g] = label
    return mapping


def weighting_bands(margins: pd.DataFrame, survey_bands=None) -> tuple[dict[str, str], list[str], str | None]:
    """(population band -> weighting band, the weighting bands youngest first, a note when the survey's
    bands and the population's share no boundary). `survey_bands`: the codebook's bands, None = years."""
    levels = sorted(set(margins.loc[margins["variable"] == "age_group", "level"]))
    try:
        population = sorted_bands(levels)
    except ValueError as error:
        raise ValueError(f"population table: {error}") from None
    mapping = common_bands(survey_bands, population)
    order = list(dict.fromkeys(mapping[b.label] for b in population))
    note = None
    if len(order) == 1 and len(population) > 1:
        note = ("leeftijd niet gewogen: de leeftijdsklassen van de enquête ("
                + ", ".join(b.label for b in survey_bands or []) + ") en van de bevolkingstabel ("
                + ", ".join(b.label for b in population) + ") hebben geen gemeenschappelijke grens")
    return mapping, order, note


def _rake_with_widening(design: SurveyDesign, margins: dict, bounds: tuple[float, float], max_iter: int):
    """Rake within the trimming bounds; when the margins cannot be met within them, widen the
    bounds step by step (x1.5 on both sides, at most 4 times) and finally rake without bounds.
    The bounds that were used are returned and reported per district."""
    import warnings

    candidates: list[tuple[float, float] | None] = [bounds]
    low, high = bounds
    for _ in range(4):
        low, high = low / 1.5, high * 1.5
        candidates.append((low, high))
    candidates.append(None)
    raked = None
    for candidate in candidates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            raked = design.rake(margins, max_iter=max_iter, tol=1e-6, bounds=candidate)
        if raked.calibration.converged:
            return raked, candidate
    return raked, None


def weight_wave(respondents: pd.DataFrame, margins: pd.DataFrame, *, trim_bounds: tuple[float, float] = (0.3, 3.0),
                min_cell: int = 5, max_iter: int = 200, survey_bands=None) -> WeightingResult:
    """Rake a wave's clean respondents to the population margins of their districts.

    respondents: district_code, sex, age (years, may be NA), age_group (the survey's band, used where
    the age in years is not known), respondent_pid, source_row (+ analysis columns).
    margins: district_code, variable ('sex'|'age_group'), level, count (as population_margins() or
    population_table.plain_margins(); any age bands). survey_bands: the codebook's age bands (None:
    ages in years). Respondents whose age (band) is missing keep their base-weighted share, as a
    missing sex does (their own margin level).
    """
    frame = respondents.copy().reset_index(drop=True)
    band_of, band_order, band_note = weighting_bands(margins, survey_bands)
    margins = margins.copy()
    is_age = margins["variable"] == "age_group"
    margins.loc[is_age, "level"] = margins.loc[is_age, "level"].map(band_of)
    targets = [parse_band(label) for label in band_order]
    age = frame["age"] if "age" in frame else pd.Series(np.nan, index=frame.index)
    survey_band = frame["age_group"] if "age_group" in frame else pd.Series(None, index=frame.index)
    frame["age_group"] = assign_bands(age, survey_band, targets)
    pop = margins.pivot_table(index="district_code", columns=["variable", "level"], values="count", aggfunc="sum")
    missing = sorted(set(frame["district_code"]) - set(pop.index))
    if missing:
        raise ValueError(f"no population figures for districts {missing}")

    n_by_district = frame.groupby("district_code").size()
    age_total = pop["age_group"].sum(axis=1)
    frame["base_weight"] = frame["district_code"].map(age_total / n_by_district).astype(float)

    sex_targets: dict[str, float] = {}
    age_targets: dict[str, float] = {}
    sex_level = pd.Series(index=frame.index, dtype=object)
    age_level = pd.Series(index=frame.index, dtype=object)
    notes: dict[str, list[str]] = {}
    for district, rows in frame.groupby("district_code").groups.items():
        part = frame.loc[rows]
        total = float(age_total[district])
        district_notes = notes.setdefault(district, [])
        # age: collapse small cells, then one level per (merged) group
        if band_note:
            district_notes.append(band_note)
        counts = part["age_group"].value_counts().to_dict()
        mapping = collapse_age_groups(counts, min_cell, band_order)
        merged = sorted(set(mapping.values()) - set(band_order))
        if merged:
            district_notes.append("leeftijdsgroepen samengevoegd: " + ", ".join(merged))
        age_unknown = part["age_group"].isna()
        age_fixed = float(part.loc[age_unknown, "base_weight"].sum())
        labels = part["age_group"].map(mapping)
        age_level.loc[rows] = np.where(age_unknown, district + "|?", district + "|" + labels.astype(str))
        if age_fixed:
            age_targets[f"{district}|?"] = age_fixed
        age_scale = (total - age_fixed) / total if total else 0.0
        for group, label in mapping.items():
            key = f"{district}|{label}"
            age_targets[key] = age_targets.get(key, 0.0) + float(pop.loc[district, ("age_group", group)]) * age_scale
        # sex: drop the margin when a sex is too thin; missing sex keeps its base-weighted share
        sex_counts = part["sex"].value_counts()
        unknown = part["sex"].isna() | ~part["sex"].isin(SEX_LEVELS)
        if all(sex_counts.get(s, 0) >= min_cell for s in SEX_LEVELS):
            fixed = float(part.loc[unknown, "base_weight"].sum())
            sex_pop = np.array([float(pop.loc[district, ("sex", s)]) for s in SEX_LEVELS])
            scale = (total - fixed) / sex_pop.sum()
            for s, count in zip(SEX_LEVELS, sex_pop):
                sex_targets[f"{district}|{s}"] = count * scale
            sex_level.loc[rows] = np.where(unknown, district + "|?", district + "|" + part["sex"].astype(str))
            if fixed:
                sex_targets[f"{district}|?"] = fixed
        else:
            district_notes.append("geslacht niet gewogen (te weinig mannen of vrouwen)")
            sex_level.loc[rows] = district + "|*"
            sex_targets[f"{district}|*"] = total
    frame["_rake_sex"] = sex_level.astype(str)
    frame["_rake_age"] = age_level.astype(str)
    # raking requires equal grand totals: the age targets define the total of every district
    design = SurveyDesign(frame, weights="base_weight", strata="district_code")
    raked, used_bounds = _rake_with_widening(design, {"_rake_sex": sex_targets, "_rake_age": age_targets},
                                             trim_bounds, max_iter)
    if used_bounds != trim_bounds:
        wide = "onbegrensd" if used_bounds is None else f"[{used_bounds[0]:g}, {used_bounds[1]:g}]"
        for district in notes:
            notes[district].append(f"afkapgrenzen verruimd tot {wide}")
    trim_bounds = used_bounds or (0.0, float("inf"))
    frame["weight"] = raked.weights.to_numpy()
    report = raked.calibration

    g = frame["weight"] / frame["base_weight"]
    on_bound = (np.isclose(g, trim_bounds[0]) | np.isclose(g, trim_bounds[1]))
    grouped = frame.assign(_on_bound=on_bound).groupby("district_code")
    diagnostics = grouped.agg(n=("weight", "size"), trimmed=("_on_bound", "sum"))
    w = frame["weight"]
    stats = frame.assign(w2=w ** 2).groupby("district_code").agg(sw=("weight", "sum"), sw2=("w2", "sum"),
                                                                 n=("weight", "size"))
    diagnostics["deff"] = stats["n"] * stats["sw2"] / stats["sw"] ** 2
    diagnostics["n_eff"] = stats["n"] / diagnostics["deff"]
    diagnostics["converged"] = bool(report.converged)
    diagnostics["iterations"] = int(report.iterations)
    diagnostics["collapsed"] = [("; ".join(notes.get(d, [])) or None) for d in diagnostics.index]
    warnings = []
    for district, row in diagnostics.iterrows():
        reasons = []
        if row["deff"] > 2.5:
            reasons.append(f"ontwerpeffect {row['deff']:.1f} (> 2,5)")
        if row["trimmed"] > 0:
            reasons.append(f"{int(row['trimmed'])} gewichten afgekapt")
        if not report.converged:
            reasons.append("weging niet geconvergeerd")
        district_notes = notes.get(district, [])
        if any(note.startswith("leeftijdsgroepen samengevoegd") for note in district_notes):
            reasons.append("cellen samengevoegd")
        if any(note.startswith("geslacht niet gewogen") for note in district_notes):
            reasons.append("geslacht niet gewogen")
        if any(note.startswith("leeftijd niet gewogen") for note in district_notes):
            reasons.append("leeftijd niet gewogen")
        if any(note.startswith("afkapgrenzen verruimd") for note in district_notes):
            reasons.append("afkapgrenzen verruimd")
        warnings.append("; ".join(reasons) or None)
    diagnostics["warning"] = warnings
    diagnostics = diagnostics.reset_index()
    weights = frame[["respondent_pid", "source_row", "district_code", "base_weight", "weight"]].copy()
    return WeightingResult(design=raked, weights=weights, diagnostics=diagnostics)
