"""Tidy and guard the report inputs before anything is drawn or written.

The privacy rules are enforced here, once, so that every output (HTML, figures, Excel) works from
the guarded frames:

* a district figure with ``suppressed`` True -- or with fewer than ``minimum_respondents``
  respondents -- loses its estimate, standard error and interval, whatever the input held;
* a change whose current or reference figure is suppressed loses its number (otherwise the
  suppressed figure could be recovered as "other wave minus change") and becomes not comparable;
* an index contribution of a suppressed indicator loses its number;
* participants' feedback (shares and mean satisfaction) is dropped when fewer than
  :data:`MIN_FEEDBACK` participants answered.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable

import numpy as np
import pandas as pd

MIN_FEEDBACK = 5

DISTRICT_INDICATOR_COLUMNS = ["wave", "district_code", "indicator_id", "estimate", "se", "ci_low", "ci_high",
                              "n", "n_eff", "deff", "suppressed"]
CHANGE_COLUMNS = ["district_code", "indicator_id", "wave", "compared_to", "reference_wave", "change", "ci_low",
                  "ci_high", "p_value", "p_adjusted", "verdict", "method_break"]
INDEX_COLUMNS = ["wave", "district_code", "condition", "index", "ci_low", "ci_high", "n_indicators"]
DECOMPOSITION_COLUMNS = ["wave", "district_code", "condition", "indicator_id", "contribution"]
REGISTER_COLUMNS = ["district_code", "indicator_id", "value", "year"]
EFFECT_COLUMNS = ["intervention_id", "intervention_name", "kind", "district_code", "indicator_id", "method",
                  "estimate", "se", "ci_low", "ci_high", "estimable", "verdict_code", "verdict_nl",
                  "pretrend_warning", "role", "mde"]
CHAIN_COLUMNS = ["intervention_id", "district_code", "year", "sessions_planned", "sessions_held", "participants",
                 "target_population", "reach", "feedback_n", "share_more_contacts", "share_attributed_to_activity",
                 "mean_satisfaction"]
QUALITY_COLUMNS = ["wave", "received", "clean", "quarantined", "blocked", "blocked_reason"]
CATALOGUE_COLUMNS = ["indicator_id", "label", "unit", "condition", "direction", "kind", "in_index"]
DISTRICT_COLUMNS = ["district_code", "district_name", "population"]
EVENT_STUDY_COLUMNS = ["intervention_id", "district_code", "indicator_id", "event_time", "estimate", "ci_low",
                       "ci_high"]
SITE_COLUMNS = ["intervention_id", "district_code", "start"]
INFO_COLUMNS = ["intervention_id", "name", "kind", "sphere", "goal", "mechanism"]

NUMERIC = {"estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "change", "p_value", "p_adjusted", "index",
           "n_indicators", "contribution", "value", "sessions_planned", "sessions_held", "participants",
           "target_population", "reach", "feedback_n", "share_more_contacts", "share_attributed_to_activity",
           "mean_satisfaction", "received", "clean", "quarantined", "population", "event_time", "mde"}
BOOLEAN = {"suppressed", "method_break", "estimable", "pretrend_warning", "blocked", "in_index"}
STRINGS = {"wave", "district_code", "indicator_id", "condition", "reference_wave", "intervention_id",
           "compared_to", "verdict", "verdict_code", "method", "kind", "unit", "direction", "role"}


def to_bool(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "ja", "t", "y"}
    try:
        if isinstance(value, float) and np.isnan(value):
            return False
    except TypeError:
        return False
    return bool(value)


def to_str(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        if value.is_integer():  # a year read as a number: 2021.0 -> "2021"
            return str(int(value))
    return str(value)


def tidy(frame: pd.DataFrame | None, columns: Iterable[str]) -> pd.DataFrame:
    """A copy with every expected column present and plain dtypes (float, bool, str)."""
    columns = list(columns)
    df = pd.DataFrame(columns=columns) if frame is None else frame.copy()
    df = df.reset_index(drop=True)
    for col in columns:
        if col not in df.columns:
            df[col] = np.nan if col in NUMERIC else (False if col in BOOLEAN else "")
    for col in df.columns:
        if col in NUMERIC:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        elif col in BOOLEAN:
            df[col] = pd.Series([to_bool(v) for v in df[col]], index=df.index, dtype=bool)
        elif col in STRINGS:
            df[col] = pd.Series([to_str(v) for v in df[col]], index=df.index, dtype=object)
    return df


def guard_district_indicators(df: pd.DataFrame, minimum_respondents: int) -> pd.DataFrame:
    df = tidy(df, DISTRICT_INDICATOR_COLUMNS)
    too_few = df["n"].notna() & (df["n"] < minimum_respondents)
    df["suppressed"] = df["suppressed"] | too_few
    for col in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
        df.loc[df["suppressed"], col] = np.nan
    return df


def suppressed_keys(di: pd.DataFrame) -> set[tuple[str, str, str]]:
    rows = di.loc[di["suppressed"], ["district_code", "indicator_id", "wave"]]
    return set(map(tuple, rows.itertuples(index=False, name=None)))


def guard_changes(df: pd.DataFrame, suppressed: set[tuple[str, str, str]]) -> pd.DataFrame:
    df = tidy(df, CHANGE_COLUMNS)
    hit = [((d, i, w) in suppressed) or ((d, i, r) in suppressed)
           for d, i, w, r in zip(df["district_code"], df["indicator_id"], df["wave"], df["reference_wave"])]
    hit = pd.Series(hit, index=df.index, dtype=bool)
    df["suppressed"] = hit
    for col in ("change", "ci_low", "ci_high", "p_value", "p_adjusted"):
        df.loc[hit, col] = np.nan
    df.loc[hit, "verdict"] = "not_comparable"
    return df


def guard_decomposition(df: pd.DataFrame, suppressed: set[tuple[str, str, str]], waves: list[str]) -> pd.DataFrame:
    df = tidy(df, DECOMPOSITION_COLUMNS)
    previous = {w: waves[i - 1] for i, w in enumerate(waves) if i > 0}
    hit = [((d, i, w) in suppressed) or ((d, i, previous.get(w, "")) in suppressed)
           for d, i, w in zip(df["district_code"], df["indicator_id"], df["wave"])]
    df.loc[pd.Series(hit, index=df.index, dtype=bool), "contribution"] = np.nan
    return df


def guard_chain(df: pd.DataFrame) -> pd.DataFrame:
    df = tidy(df, CHAIN_COLUMNS)
    few = ~(df["feedback_n"] >= MIN_FEEDBACK)
    df["feedback_suppressed"] = few
    for col in ("share_more_contacts", "share_attributed_to_activity", "mean_satisfaction"):
        df.loc[few, col] = np.nan
    # reach recomputed where it is missing but both parts are known
    missing = df["reach"].isna() & df["participants"].notna() & (df["target_population"] > 0)
    df.loc[missing, "reach"] = df.loc[missing, "participants"] / df.loc[missing, "target_population"]
    return df


def check_effect_scale(effects: pd.DataFrame, catalogue: pd.DataFrame, scale: str) -> None:
    """Warn when effects of percent indicators look like percentage points but were declared proportions."""
    if scale != "proportion" or effects.empty:
        return
    percent = set(catalogue.loc[catalogue["unit"] == "percent", "indicator_id"])
    sub = effects[effects["indicator_id"].isin(percent)]
    values = pd.concat([sub["estimate"], sub["ci_low"], sub["ci_high"]]).abs()
    if (values > 1.0).any():
        warnings.warn(
            "effects of percent indicators exceed 1 in absolute value: are they in percentage points? "
            "Set ReportInputs.effect_scale='points' if so.", stacklevel=3)
