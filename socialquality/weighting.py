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

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from socialquality.agebands import assign_bands, common_bands, parse_band, sorted_bands
from socialquality.codebook import AGE_GROUPS
from socialquality.survey import SurveyDesign, ipf

SEX_LEVELS = ("m", "v")


@dataclass
class WeightingResult:
    design: SurveyDesign  # raked design over the whole wave, strata = district
    weights: pd.DataFrame  # respondent_pid, source_row, district_code, base_weight, weight
    diagnostics: pd.DataFrame  # one row per district
    bounds: pd.DataFrame | None = None  # district_code, bound_low, bound_high (g-weights), widened
    reused: bool = False  # the weights were given (fitted_weights), not raked here


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


#: Widening of the trimming bounds in a district whose margins cannot be met within them: x1.5 on
#: both sides, at most this many times, then no bounds.
WIDENING_STEPS = 4
WIDENING_FACTOR = 1.5
#: Sweeps of the first raking of the whole wave; districts not done by then go on alone.
FIRST_SWEEPS = 25
_SEX_SLOTS = 4  # level codes per district in the sex margin: m, v, ? (unknown), * (sex not weighted)


def bound_candidates(bounds: tuple[float, float]) -> list[tuple[float, float] | None]:
    """The asked bounds, then each widening step, then None (no bounds)."""
    low, high = bounds
    out: list[tuple[float, float] | None] = [(float(low), float(high))]
    for _ in range(WIDENING_STEPS):
        low, high = low / WIDENING_FACTOR, high * WIDENING_FACTOR
        out.append((low, high))
    out.append(None)
    return out


def _level_errors(got: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Relative error of every margin level (absolute where the total is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got - totals) / totals
    return np.where(totals > 0, rel, np.abs(got - totals))


def _failing_blocks(w: np.ndarray, codes_list: list[np.ndarray], totals_list: list[np.ndarray],
                    slots: list[int], tol: float) -> np.ndarray:
    """Districts (level code // slots) with a margin level off by more than ``tol`` (relative)."""
    bad = [np.flatnonzero(_level_errors(np.bincount(codes, weights=w, minlength=len(totals)), totals) > tol) // k
           for codes, totals, k in zip(codes_list, totals_list, slots)]
    return np.unique(np.concatenate(bad)).astype(np.int64)


def _widen_per_district(base: np.ndarray, district: np.ndarray, codes_list: list[np.ndarray],
                        totals_list: list[np.ndarray], slots: list[int], failing: np.ndarray,
                        candidates: list[tuple[float, float] | None], max_iter: int, tol: float,
                        start: int = 1) -> dict[int, int]:
    """For the districts whose margins cannot be met within the asked bounds: the first
    candidate from ``start`` on (index into ``candidates``) with which they can, raking only their
    own rows; a district that no bounds help gets the last candidate (no bounds).

    The margins are nested in the districts (every level belongs to one district), so a district
    rakes the same on its own as within the whole wave."""
    chosen: dict[int, int] = {}
    last = len(candidates) - 1
    for position in range(start, len(candidates)):
        if failing.size == 0:
            break
        rows = np.flatnonzero(np.isin(district, failing))
        sub_codes, sub_totals, sub_levels = [], [], []
        for codes, totals in zip(codes_list, totals_list):
            levels, local = np.unique(codes[rows], return_inverse=True)
            sub_codes.append(local.astype(np.int64).ravel())
            sub_totals.append(totals[levels])
            sub_levels.append(levels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            w, *_ = ipf(base[rows], sub_codes, sub_totals, max_iter, tol, candidates[position])
        still: set[int] = set()
        for local, totals, levels, k in zip(sub_codes, sub_totals, sub_levels, slots):
            errors = _level_errors(np.bincount(local, weights=w, minlength=len(totals)), totals)
            still.update((levels[errors > tol] // k).tolist())
        for d in failing.tolist():
            if d not in still or position == last:
                chosen[int(d)] = position
        failing = np.array(sorted(still), dtype=np.int64)
    return chosen


def weight_wave(respondents: pd.DataFrame, margins: pd.DataFrame, *, trim_bounds: tuple[float, float] = (0.3, 3.0),
                min_cell: int = 5, max_iter: int = 200, survey_bands=None,
                fitted_weights: np.ndarray | None = None) -> WeightingResult:
    """Rake a wave's clean respondents to the population margins of their districts.

    respondents: district_code, sex, age (years, may be NA), age_group (the survey's band, used where
    the age in years is not known), respondent_pid, source_row (+ analysis columns).
    margins: district_code, variable ('sex'|'age_group'), level, count (as population_margins() or
    population_table.plain_margins(); any age bands). survey_bands: the codebook's age bands (None:
    ages in years). Respondents whose age (band) is missing keep their base-weighted share, as a
    missing sex does (their own margin level).

    Trimming bounds: the wave is raked with `trim_bounds`; a district whose margins cannot be met
    within them is raked again on its own with wider bounds (x1.5 on both sides, at most 4 times,
    then without bounds), and the final raking of the whole wave uses each district's own bounds.
    The diagnostics note the widened bounds per district (`afkapgrenzen verruimd tot ...`).

    Vectorised over districts and rows: the margin levels are integer codes (district x level).

    `fitted_weights`: the weights this function gave the same respondents and margins before
    (stored by the weighting stage); the raking is then not repeated, only its calibration
    matrices are built (for the variances). The diagnostics then count trimming against
    `trim_bounds` and carry no widening notes.
    """
    frame = respondents.reset_index(drop=True)  # copy-on-write: the caller's frame is not changed
    band_of, band_order, band_note = weighting_bands(margins, survey_bands)
    margins = margins.copy()
    is_age = margins["variable"] == "age_group"
    margins.loc[is_age, "level"] = margins.loc[is_age, "level"].map(band_of)
    targets = [parse_band(label) for label in band_order]
    age = frame["age"] if "age" in frame else pd.Series(np.nan, index=frame.index)
    survey_band = frame["age_group"] if "age_group" in frame else pd.Series(None, index=frame.index)
    frame["age_group"] = assign_bands(age, survey_band, targets)
    pop = margins.pivot_table(index="district_code", columns=["variable", "level"], values="count", aggfunc="sum")
    missing = sorted(set(frame["district_code"].dropna().unique()) - set(pop.index))
    if missing:
        raise ValueError(f"no population figures for districts {missing}")

    district, labels = pd.factorize(frame["district_code"], sort=True)
    district = district.astype(np.int64)
    nd, nb = len(labels), len(band_order)
    n_d = np.bincount(district, minlength=nd).astype(np.float64)
    pop_age = (pop["age_group"].reindex(index=labels, columns=band_order) if "age_group" in pop
               else pd.DataFrame(np.nan, index=labels, columns=band_order))
    total = pop_age.sum(axis=1).to_numpy(dtype=np.float64)
    base = (total / n_d)[district]
    frame["base_weight"] = base
    notes: dict[int, list[str]] = {d: ([band_note] if band_note else []) for d in range(nd)}

    # age: collapse small cells per district, then one level per (merged) group, `?` for an unknown age
    band = pd.Index(band_order).get_indexer(frame["age_group"].astype(object))
    known = band >= 0
    counts = np.bincount(district[known] * nb + band[known], minlength=nd * nb).reshape(nd, max(nb, 1)) \
        if nb else np.zeros((nd, 0), dtype=np.int64)
    group_start = np.tile(np.arange(nb), (nd, 1))
    patterns: dict[tuple[int, ...], tuple[np.ndarray, list[str]]] = {}
    for d in range(nd):
        key = tuple(int(c) for c in counts[d])
        hit = patterns.get(key)
        if hit is None:
            mapping = collapse_age_groups(dict(zip(band_order, key)), min_cell, band_order)
            first: dict[str, int] = {}
            for position, b in enumerate(band_order):
                first.setdefault(mapping[b], position)  # a merged group is coded by its youngest band
            hit = (np.array([first[mapping[b]] for b in band_order], dtype=np.int64),
                   sorted(set(mapping.values()) - set(band_order)))
            patterns[key] = hit
        group_start[d] = hit[0]
        if hit[1]:
            notes[d].append("leeftijdsgroepen samengevoegd: " + ", ".join(hit[1]))
    age_slots = nb + 1
    age_code = district * age_slots + np.where(known, group_start[district, np.maximum(band, 0)], nb)
    age_fixed = np.bincount(district[~known], weights=base[~known], minlength=nd)
    with np.errstate(divide="ignore", invalid="ignore"):
        age_scale = np.where(total != 0, (total - age_fixed) / total, 0.0)
    scaled = pop_age.to_numpy(dtype=np.float64) * age_scale[:, None]
    age_keys = (np.arange(nd)[:, None] * age_slots + group_start).ravel()
    age_tot = np.full(nd * age_slots, np.nan)
    age_tot[np.unique(age_keys)] = 0.0
    np.add.at(age_tot, age_keys, scaled.ravel())
    has_unknown_age = age_fixed != 0
    age_tot[np.flatnonzero(has_unknown_age) * age_slots + nb] = age_fixed[has_unknown_age]

    # sex: drop the margin when a sex is too thin; a missing sex keeps its base-weighted share
    is_m = (frame["sex"] == "m").to_numpy(dtype=bool, na_value=False)
    is_v = (frame["sex"] == "v").to_numpy(dtype=bool, na_value=False)
    unknown = ~(is_m | is_v)
    n_m = np.bincount(district[is_m], minlength=nd)
    n_v = np.bincount(district[is_v], minlength=nd)
    weighted = (n_m >= min_cell) & (n_v >= min_cell)
    fixed = np.bincount(district[unknown], weights=base[unknown], minlength=nd)
    pop_sex = (pop["sex"].reindex(index=labels, columns=list(SEX_LEVELS)).to_numpy(dtype=np.float64)
               if "sex" in pop else np.full((nd, 2), np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        sex_scale = (total - fixed) / pop_sex.sum(axis=1)
    slot = np.where(is_m, 0, np.where(is_v, 1, 2))
    sex_code = district * _SEX_SLOTS + np.where(weighted[district], slot, 3)
    sex_tot = np.full(nd * _SEX_SLOTS, np.nan)
    yes = np.flatnonzero(weighted)
    sex_tot[yes * _SEX_SLOTS] = pop_sex[yes, 0] * sex_scale[yes]
    sex_tot[yes * _SEX_SLOTS + 1] = pop_sex[yes, 1] * sex_scale[yes]
    with_fixed = yes[fixed[yes] != 0]
    sex_tot[with_fixed * _SEX_SLOTS + 2] = fixed[with_fixed]
    no = np.flatnonzero(~weighted)
    sex_tot[no * _SEX_SLOTS + 3] = total[no]
    for d in no:
        notes[int(d)].append("geslacht niet gewogen (te weinig mannen of vrouwen)")
    frame["_rake_sex"] = sex_code
    frame["_rake_age"] = age_code

    def spec(tot: np.ndarray) -> dict[int, float]:
        present = np.flatnonzero(~np.isnan(tot))
        return dict(zip(present.tolist(), tot[present].tolist()))

    # raking requires equal grand totals: the age targets define the total of every district
    design = SurveyDesign(frame, weights="base_weight", strata="district_code")
    rake_margins = {"_rake_sex": spec(sex_tot), "_rake_age": spec(age_tot)}
    candidates = bound_candidates(trim_bounds)
    codes_list = [sex_code, age_code]
    totals_list = [np.nan_to_num(sex_tot), np.nan_to_num(age_tot)]
    slots = [_SEX_SLOTS, age_slots]
    chosen: dict[int, int] = {}
    if fitted_weights is None:
        # a first, short raking of the whole wave within the asked bounds finds the districts that
        # are not done yet; they go on raking on their own rows (cheap), and are widened if need be
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            w_first, _, done, *_ = ipf(base, codes_list, totals_list, min(max_iter, FIRST_SWEEPS), 1e-6,
                                       candidates[0])
        if not done:
            failing = _failing_blocks(w_first, codes_list, totals_list, slots, 1e-6)
            chosen = {d: p for d, p in _widen_per_district(base, district, codes_list, totals_list, slots, failing,
                                                           candidates, max_iter, 1e-6, start=0).items() if p > 0}
    bounds_asked: Any = candidates[0]
    if chosen:  # one pair of bounds per row: the asked ones, wider in the districts that need it
        low = np.full(nd, candidates[0][0])
        high = np.full(nd, candidates[0][1])
        for d, position in sorted(chosen.items()):
            bounds_d = candidates[position]
            low[d], high[d] = (0.0, np.inf) if bounds_d is None else bounds_d
            wide = "onbegrensd" if bounds_d is None else f"[{bounds_d[0]:g}, {bounds_d[1]:g}]"
            notes[d].append(f"afkapgrenzen verruimd tot {wide}")
        bounds_asked = (low[district], high[district])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        raked = design.rake(rake_margins, max_iter=max_iter, tol=1e-6, bounds=bounds_asked,
                            fitted=None if fitted_weights is None else np.asarray(fitted_weights, dtype=float))
    frame["weight"] = raked.weights.to_numpy()
    report = raked.calibration
    row_low = np.full(nd, candidates[0][0])
    row_high = np.full(nd, candidates[0][1])
    for d, position in chosen.items():
        bounds_d = candidates[position]
        row_low[d], row_high[d] = (0.0, np.inf) if bounds_d is None else bounds_d

    w = frame["weight"].to_numpy()
    g = w / base
    on_bound = np.isclose(g, row_low[district]) | np.isclose(g, row_high[district])
    failing_now = set(_failing_blocks(w, codes_list, totals_list, slots, 1e-6).tolist())
    sw = np.bincount(district, weights=w, minlength=nd)
    sw2 = np.bincount(district, weights=w * w, minlength=nd)
    diagnostics = pd.DataFrame({"district_code": labels.astype(object), "n": n_d.astype(np.int64),
                                "trimmed": np.bincount(district, weights=on_bound, minlength=nd).astype(np.int64)})
    diagnostics["deff"] = n_d * sw2 / sw ** 2
    diagnostics["n_eff"] = n_d / diagnostics["deff"]
    diagnostics["converged"] = [d not in failing_now for d in range(nd)]
    diagnostics["iterations"] = int(report.iterations)
    diagnostics["collapsed"] = pd.Series([("; ".join(notes[d]) or None) for d in range(nd)], dtype=object)
    warning_texts = []
    for d, (deff, trimmed, converged) in enumerate(zip(diagnostics["deff"], diagnostics["trimmed"],
                                                       diagnostics["converged"])):
        reasons = []
        if deff > 2.5:
            reasons.append(f"ontwerpeffect {deff:.1f} (> 2,5)")
        if trimmed > 0:
            reasons.append(f"{int(trimmed)} gewichten afgekapt")
        if not converged:
            reasons.append("weging niet geconvergeerd")
        district_notes = notes[d]
        if any(note.startswith("leeftijdsgroepen samengevoegd") for note in district_notes):
            reasons.append("cellen samengevoegd")
        if any(note.startswith("geslacht niet gewogen") for note in district_notes):
            reasons.append("geslacht niet gewogen")
        if any(note.startswith("leeftijd niet gewogen") for note in district_notes):
            reasons.append("leeftijd niet gewogen")
        if any(note.startswith("afkapgrenzen verruimd") for note in district_notes):
            reasons.append("afkapgrenzen verruimd")
        warning_texts.append("; ".join(reasons) or None)
    diagnostics["warning"] = pd.Series(warning_texts, dtype=object)  # None, not NaN, where nothing is noted
    diagnostics = diagnostics[["district_code", "n", "trimmed", "deff", "n_eff", "converged", "iterations",
                               "collapsed", "warning"]]
    bounds = pd.DataFrame({"district_code": labels.astype(object), "bound_low": row_low, "bound_high": row_high,
                           "widened": [d in chosen for d in range(nd)]})
    weights = frame[["respondent_pid", "source_row", "district_code", "base_weight", "weight"]].copy()
    return WeightingResult(design=raked, weights=weights, diagnostics=diagnostics, bounds=bounds)
