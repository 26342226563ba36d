"""Survey-specific rules that are not native GX expectations, vectorised with pandas/numpy.

Row rules return positions (0-based row numbers of the frame as passed, i.e. after
``reset_index``) so the runner can turn them into quarantine records. Dataset rules return plain
numbers and tables. None of these functions look at anything but the columns they name.

Which rule quarantines a row and which only flags it is decided in the suite/custom files (their
``severity``) and documented in docs/audit.md; this module only finds the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RowHits:
    """Rows that fail a row rule: positions, the failing value (as text) and an optional partner row."""

    positions: np.ndarray
    values: np.ndarray  # object array of str
    partner: np.ndarray | None = None  # position of the row this one repeats (duplicates), else None

    @classmethod
    def empty(cls) -> "RowHits":
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=object), None)

    def __len__(self) -> int:
        return int(len(self.positions))


def as_text(values: pd.Series | np.ndarray) -> np.ndarray:
    """Values as short strings for the quarantine `value` column: 7.0 -> "7", NaN -> ""."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
    if len(series) == 0:
        return np.empty(0, dtype=object)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(str).to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(series.dtype):
        arr = series.to_numpy(dtype=float, na_value=np.nan)
        out = np.full(len(arr), "", dtype=object)
        finite = np.isfinite(arr)
        whole = finite & (arr == np.round(arr)) & (np.abs(arr) < 1e15)
        out[whole] = arr[whole].astype(np.int64).astype(str)
        other = finite & ~whole
        out[other] = [format(v, "g") for v in arr[other]]
        out[np.isinf(arr)] = [str(v) for v in arr[np.isinf(arr)]]
        return out
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").to_numpy(dtype=object)
    return series.astype(object).where(series.notna(), "").astype(str).to_numpy(dtype=object)


def straightlining(frame: pd.DataFrame, items: list[str], min_answered: int) -> RowHits:
    """Rows with the same answer code on every non-missing item of a grid (>= min_answered answered).

    The value is the repeated code. Items absent from the frame are ignored (the caller passes the
    grid items asked in the wave).
    """
    items = [i for i in items if i in frame.columns]
    if len(items) < min_answered or len(frame) == 0:
        return RowHits.empty()
    arr = frame[items].to_numpy(dtype=float, na_value=np.nan)
    answered = ~np.isnan(arr)
    count = answered.sum(axis=1)
    high = np.where(answered, arr, -np.inf).max(axis=1)
    low = np.where(answered, arr, np.inf).min(axis=1)
    hit = (count >= min_answered) & (high == low)
    positions = np.flatnonzero(hit)
    return RowHits(positions, as_text(high[positions]))


def later_duplicates(ids: pd.Series) -> RowHits:
    """Later copies of a non-missing id: the first delivered row is kept, the others are hits.

    `partner` is the position of the first occurrence; the value is the id itself.
    """
    ids = ids.reset_index(drop=True)
    present = ids.notna().to_numpy()
    later = ids.duplicated(keep="first").to_numpy() & present
    positions = np.flatnonzero(later)
    if len(positions) == 0:
        return RowHits.empty()
    first = pd.Series(np.arange(len(ids)), dtype=np.int64)[present].groupby(ids[present], sort=False).transform("min")
    partner = first.reindex(positions).to_numpy(dtype=np.int64)
    return RowHits(positions, as_text(ids.iloc[positions]), partner)


def duplicate_answer_patterns(frame: pd.DataFrame, items: list[str], min_answered: int,
                              id_column: str = "respondent_pid") -> RowHits:
    """Later rows whose answers to all `items` equal an earlier row's, under another respondent id.

    Only rows with at least `min_answered` answers count (short or empty patterns repeat by chance).
    """
    items = [i for i in items if i in frame.columns]
    if not items or len(frame) == 0:
        return RowHits.empty()
    block = frame[items]
    enough = (block.notna().sum(axis=1) >= min_answered).to_numpy()
    if enough.sum() < 2:
        return RowHits.empty()
    hashes = pd.util.hash_pandas_object(block, index=False).to_numpy()
    candidates = pd.Series(hashes[enough], index=np.flatnonzero(enough))
    later = candidates.duplicated(keep="first")
    if not later.any():
        return RowHits.empty()
    first = pd.Series(candidates.index, index=candidates.index).groupby(candidates.to_numpy(), sort=False).transform("min")
    positions = later[later].index.to_numpy(dtype=np.int64)
    partner = first.loc[positions].to_numpy(dtype=np.int64)
    # Exact check (hash collisions) and "another respondent id" (same id = unique_respondent's job).
    same_answers = (block.iloc[positions].reset_index(drop=True)
                    .eq(block.iloc[partner].reset_index(drop=True))
                    | (block.iloc[positions].isna().reset_index(drop=True)
                       & block.iloc[partner].isna().reset_index(drop=True))).all(axis=1).to_numpy()
    if id_column in frame.columns:
        ids = frame[id_column].reset_index(drop=True)
        other_id = (ids.iloc[positions].to_numpy(dtype=object) != ids.iloc[partner].to_numpy(dtype=object))
    else:
        other_id = np.ones(len(positions), dtype=bool)
    keep = same_answers & other_id
    positions, partner = positions[keep], partner[keep]
    return RowHits(positions, np.full(len(positions), "", dtype=object), partner)


def respondents_per_district(districts: pd.Series, known_districts: set[str] | None = None) -> pd.Series:
    """Number of rows per district code, including known districts with none (sorted by code)."""
    counts = districts.dropna().astype(str).value_counts()
    if known_districts:
        counts = counts.reindex(sorted(set(counts.index) | set(known_districts)), fill_value=0)
    return counts.sort_index().astype(int)


def population_margins(population_shares: pd.DataFrame) -> pd.DataFrame:
    """Population shares as margins: columns dimension ("sex"/"age_group"), category, share.

    Accepts either that long format, or a joint table with columns sex, age_group and share (or
    population counts in a column `population`), which is summed to margins. Shares per dimension
    must add up to 1 (within 0.01).
    """
    table = population_shares.copy()
    if {"dimension", "category", "share"} <= set(table.columns):
        margins = table[["dimension", "category", "share"]].copy()
    else:
        weight = "share" if "share" in table.columns else "population" if "population" in table.columns else None
        dims = [d for d in ("sex", "age_group") if d in table.columns]
        if weight is None or not dims:
            raise ValueError("population_shares needs columns (dimension, category, share) or "
                             "(sex and/or age_group, share or population)")
        parts = []
        for dim in dims:
            part = table.groupby(dim, dropna=True)[weight].sum()
            parts.append(pd.DataFrame({"dimension": dim, "category": part.index.astype(str),
                                       "share": (part / part.sum()).to_numpy()}))
        margins = pd.concat(parts, ignore_index=True)
    margins["category"] = margins["category"].astype(str)
    margins["share"] = margins["share"].astype(float)
    totals = margins.groupby("dimension")["share"].sum()
    bad = totals[(totals - 1.0).abs() > 0.01]
    if len(bad):
        raise ValueError(f"population shares do not add up to 1 for: {', '.join(bad.index)}")
    return margins


def sample_composition(clean: pd.DataFrame, margins: pd.DataFrame, dimensions: list[str]) -> pd.DataFrame:
    """Sample share next to population share per category, in percentage points.

    Sample shares are unweighted and taken over respondents with a known value of the dimension.
    Columns: dimension, category, sample_n, sample_share, population_share, difference_pp.
    """
    rows = []
    for dim in dimensions:
        pop = margins[margins["dimension"] == dim]
        if dim not in clean.columns or pop.empty:
            continue
        counts = clean[dim].dropna().astype(str).value_counts()
        total = int(counts.sum())
        for category in sorted(set(pop["category"]) | set(counts.index)):
            n = int(counts.get(category, 0))
            share = n / total if total else np.nan
            pop_share = float(pop.loc[pop["category"] == category, "share"].sum())
            rows.append({"dimension": dim, "category": category, "sample_n": n,
                         "sample_share": share, "population_share": pop_share,
                         "difference_pp": (share - pop_share) * 100 if total else np.nan})
    return pd.DataFrame(rows, columns=["dimension", "category", "sample_n", "sample_share",
                                       "population_share", "difference_pp"])
