"""Weighting a wave to the district population (CBS): base weights, collapse rules, raking.

Each district is a stratum of the sample. The base weight is N_d / n_d (population 15+ over
respondents); the weights are then raked within each district to two separate margins, sex and
age group, because CBS publishes them separately. Cells are collapsed before raking:

* an age group with fewer than `min_cell` respondents in a district is merged with its
  neighbour (15-24 with 25-44, 65+ with 45-64, a middle group with its smaller neighbour),
  repeatedly, until every group has `min_cell` respondents or only one group is left;
* a sex with fewer than `min_cell` respondents: the sex margin is dropped for that district
  (raked on age only);
* respondents with a missing sex keep their base-weighted share of the district (their own
  margin level), so the other levels' targets are scaled down to the same total.

Raking is done over all districts at once with the margins `district x sex` and
`district x age group`, so the variance of every estimate accounts for the calibration
(`SurveyDesign.rake`). Trimming bounds on g = raked / base weight keep extreme weights out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from socialquality.codebook import AGE_GROUPS
from socialquality.survey import SurveyDesign

SEX_LEVELS = ("m", "v")


@dataclass
class WeightingResult:
    design: SurveyDesign  # raked design over the whole wave, strata = district
    weights: pd.DataFrame  # respondent_pid, source_row, district_code, base_weight, weight
    diagnostics: pd.DataFrame  # one row per district


def collapse_age_groups(counts: dict[str, int], min_cell: int) -> dict[str, str]:
    """Map each age group to the (possibly merged) group it is raked in, e.g. {'15-24': '15-24+25-44'}."""
    groups = [[g] for g in AGE_GROUPS]
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
                min_cell: int = 5, max_iter: int = 200) -> WeightingResult:
    """Rake a wave's clean respondents to the population margins of their districts.

    respondents: district_code, sex, age_group, respondent_pid, source_row (+ analysis columns).
    margins: district_code, variable ('sex'|'age_group'), level, count (as population_margins()).
    """
    frame = respondents.copy().reset_index(drop=True)
    pop = margins.pivot_table(index="district_code", columns=["variable", "level"], values="count", aggfunc="sum")
    missing = sorted(set(frame["district_code"]) - set(pop.index))
    if missing:
        raise ValueError(f"no population figures for districts {missing}")

    n_by_district = frame.groupby("district_code").size()
    age_total = pop["age_group"].sum(axis=1)
    frame["base_weight"] = frame["district_code"].map(age_total / n_by_district).astype(float)

    district = frame["district_code"].astype(str)
    notes: dict[str, list[str]] = {d: [] for d in sorted(district.unique())}
    # age: collapse small cells per district (a few dict operations per district), then one
    # level per (merged) group; the rows are labelled in one vectorised pass
    counts = pd.crosstab(district, frame["age_group"]).to_dict("index")
    map_rows = []
    age_targets: dict[str, float] = {}
    for d in notes:
        mapping = collapse_age_groups({g: int(c) for g, c in counts.get(d, {}).items() if c}, min_cell)
        merged = sorted(set(mapping.values()) - set(AGE_GROUPS))
        if merged:
            notes[d].append("leeftijdsgroepen samengevoegd: " + ", ".join(merged))
        for group, label in mapping.items():
            map_rows.append((d, group, label))
            key = f"{d}|{label}"
            age_targets[key] = age_targets.get(key, 0.0) + float(pop.loc[d, ("age_group", group)])
    age_map = pd.DataFrame(map_rows, columns=["_d", "_g", "_label"]).set_index(["_d", "_g"])["_label"]
    age_label = age_map.reindex(pd.MultiIndex.from_arrays([district, frame["age_group"]])).to_numpy()
    age_level = pd.Series(district.to_numpy() + "|" + pd.Series(age_label).astype(str).to_numpy(),
                          index=frame.index)
    # sex: drop the margin when a sex is too thin; missing sex keeps its base-weighted share
    unknown = frame["sex"].isna() | ~frame["sex"].isin(SEX_LEVELS)
    sex_counts = pd.crosstab(district[~unknown], frame.loc[~unknown, "sex"]).reindex(
        index=list(notes), columns=list(SEX_LEVELS), fill_value=0)
    fixed = frame["base_weight"].where(unknown, 0.0).groupby(district).sum().reindex(list(notes), fill_value=0.0)
    sex_ok = (sex_counts >= min_cell).all(axis=1)
    sex_targets: dict[str, float] = {}
    for d in notes:
        total = float(age_total[d])
        if sex_ok[d]:
            sex_pop = np.array([float(pop.loc[d, ("sex", s)]) for s in SEX_LEVELS])
            scale = (total - float(fixed[d])) / sex_pop.sum()
            for s, count in zip(SEX_LEVELS, sex_pop):
                sex_targets[f"{d}|{s}"] = count * scale
            if fixed[d]:
                sex_targets[f"{d}|?"] = float(fixed[d])
        else:
            notes[d].append("geslacht niet gewogen (te weinig mannen of vrouwen)")
            sex_targets[f"{d}|*"] = total
    row_ok = sex_ok.reindex(district).to_numpy()
    sex_text = frame["sex"].astype(str).to_numpy()
    sex_level = pd.Series(np.where(~row_ok, district + "|*",
                                   np.where(unknown, district + "|?", district + "|" + sex_text)),
                          index=frame.index)
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
        if any(note.startswith("afkapgrenzen verruimd") for note in district_notes):
            reasons.append("afkapgrenzen verruimd")
        warnings.append("; ".join(reasons) or None)
    diagnostics["warning"] = warnings
    diagnostics = diagnostics.reset_index()
    weights = frame[["respondent_pid", "source_row", "district_code", "base_weight", "weight"]].copy()
    return WeightingResult(design=raked, weights=weights, diagnostics=diagnostics)
