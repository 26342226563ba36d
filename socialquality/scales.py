"""Derived scales with their published scoring rules (docs/data-contracts.md, section 2).

Input is a frame of normalised responses: item columns hold answer codes in the **current**
codebook coding as floats, NA = missing (`weet niet` / `geen antwoord` are already NA). Reverse
items are *not* pre-reversed: the direction of each item comes from the scale spec (roles such as
`negative` / `positive`) or, for the cohesion statements, from `reverse: true` in the codebook.

Every scoring function is pure and vectorised (numpy on whole columns, no row loops), takes
columns (pd.Series, numpy arrays or lists; `None` = an item not asked: all missing) and returns a
DataFrame with *unprefixed* columns (`total`, `category`, ...); `score_scales` dispatches on
`ScaleSpec.method` and adds them as `<scale id>_<column>`.

Common conventions
- A value that is not a valid answer code of the scale (e.g. an out-of-range code that the quality
  stage should have quarantined, or a leftover missing code such as 8/9/98/99) counts as missing.
- Totals and 0/1 flags are float64 with NaN for missing; categories are pandas `str` with NA.

Scoring rules and the choices made where the literature leaves room
-------------------------------------------------------------------
De Jong Gierveld, 6 items (De Jong Gierveld & Van Tilburg 2006, Research on Aging 28(5); the
SPSS syntax in the *Manual of the Loneliness Scale*, De Jong Gierveld & Van Tilburg 1999, updated
online version, section "A short scale"):
    negative items (emptiness, miss_people, rejected): "yes" or "more or less" = 1, "no" = 0;
    positive items (rely_on, trust, close): "no" or "more or less" = 1, "yes" = 0.
    total = number of lonely answers among the *valid* items; missing when more than 1 of the 6
    items is missing (the manual's `count ... if (mlones>1) lones=-1`). So with exactly one
    missing item the total is the count over the 5 answered items: no imputation, exactly as the
    manual's syntax does. Emotional (negative items) and social (positive items) subscales 0-3
    are missing when *any* of their 3 items is missing (manual: `if (mlones>0)`).
    category: 0-1 not_lonely, 2-4 moderate, 5-6 severe; lonely = total >= 2, severe = total >= 5.
De Jong Gierveld, 11 items (De Jong Gierveld & Kamphuis 1985; cut-offs Van Tilburg & De Jong
Gierveld 1999; manual section "Processing the scale data"): same dichotomisation (6 negative =
emotional, 5 positive = social items), total 0-11 = count of lonely answers among valid items,
    missing when more than 2 of the 11 items are missing (our reading of the manual's syntax,
    `if (mlone>2)`); subscales missing when more than 1 of their items is missing.
    category: 0-2 not_lonely, 3-8 moderate, 9-11 severe; lonely = total >= 3, severe >= 9.
CBS social cohesion (Veiligheidsmonitor / Sociale samenhang statements):
    each statement is scored 0-4 in the *cohesive* direction: for a normal statement
    "helemaal mee eens" = 4 ... "helemaal mee oneens" = 0; for a `reverse: true` statement
    ("de mensen kennen elkaar nauwelijks") the other way round. score = mean of the valid item
    scores x 2.5, a 0-10 score; with all 5 CBS statements answered this equals sum / 2, the CBS
    0-10 scale score. Missing when fewer than `min_valid` items are valid (default: all items but
    one). An item not asked in a wave (codebook `introduced` / `dropped`) simply counts as missing,
    so with `min_valid: 4` the four-statement editions are scored on their four statements.
    The item set differs between editions: compare scores across waves only with the same items
    (the codebook version is stored with every figure).
Cantril ladder (Gallup Life Evaluation Index): now and future 0-10; thriving = now >= 7 and
    future >= 8; suffering = now <= 4 and future <= 4; otherwise struggling. Missing when either
    is missing.
Pearlin mastery (Pearlin & Schooler 1978; Dutch 5-point version as in the GGD Gezondheidsmonitor,
"regie over eigen leven"): every item is scored 1-5 so that a higher score means *more* mastery
    (a negatively worded item such as "ik heb weinig controle ..." scores 5 for "helemaal mee
    oneens"; the two positively worded items score 5 for "helemaal mee eens"). total 7-35;
    low = total 7-19. Missing when fewer than `min_valid` items are valid (default 7: all). When
    the spec allows missing items the total is prorated: sum of valid item scores x 7 / number of
    valid items, rounded half up to a whole number so that the published integer cut-off 19/20
    applies unchanged (e.g. six items summing to 17 give 17 x 7 / 6 = 19.83 -> 20, not low).
Digital skills: a simplification of Eurostat's Digital Skills Indicator 2.0 (DigComp 2.0). DSI 2.0
    uses 5 areas with counts of activities; here 4 domains (information, communication,
    problem_solving, software) are each asked as one question: "can do independently" = above
    basic (2), "with help" = basic (1), "cannot" = none (0). level: above_basic when all four
    domains are above basic; basic when all four are at least basic (not all above); low when
    some but not all domains are at least basic; none when no domain is. Missing when any domain
    is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import numpy as np
import pandas as pd

from socialquality.codebook import Codebook, ScaleSpec
from socialquality.errors import CodebookError

Column = Union[pd.Series, np.ndarray, Sequence[float], None]

LONELINESS_CODES: dict[str, float] = {"yes": 1, "more_or_less": 2, "no": 3}
AGREE_CODES: dict[str, float] = {"strongly_agree": 1, "strongly_disagree": 5}
DIGITAL_CODES: dict[str, float] = {"independent": 1, "with_help": 2, "cannot": 3}

DJG6_NEGATIVE_ROLES = ("emptiness", "miss_people", "rejected")
DJG6_POSITIVE_ROLES = ("rely_on", "trust", "close")
# Item order of the 6-item scale as published (manual / CBS): emptiness, rely_on, trust,
# miss_people, close, rejected -> positive items at positions 2, 3, 5.
DJG6_POSITIVE_POSITIONS = (1, 2, 4)
# Item order of the 11-item scale as published: positive items at positions 1, 4, 7, 8, 11.
DJG11_POSITIVE_POSITIONS = (0, 3, 6, 7, 10)
DIGITAL_DOMAINS = ("information", "communication", "problem_solving", "software")

LONELINESS_CATEGORIES = ("not_lonely", "moderate", "severe")
CANTRIL_CATEGORIES = ("thriving", "struggling", "suffering")
DIGITAL_LEVELS = ("none", "low", "basic", "above_basic")


# ----------------------------------------------------------------------------- helpers
def _length_and_index(columns: Sequence[Column]) -> tuple[int, pd.Index]:
    for column in columns:
        if isinstance(column, pd.Series):
            return len(column), column.index
    for column in columns:
        if column is not None:
            n = len(column)
            return n, pd.RangeIndex(n)
    raise ValueError("at least one item column must be given (not None)")


def _as_float(column: Column, n: int) -> np.ndarray:
    """Answer codes as a float64 array (NaN = missing); None = item not asked (all missing)."""
    if column is None:
        return np.full(n, np.nan)
    if isinstance(column, pd.Series):
        if not (pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype)):
            column = pd.to_numeric(column, errors="coerce")
        values = column.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = np.asarray(column)
        if values.dtype.kind not in "fiub":
            values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        values = values.astype("float64", copy=False)
    if len(values) != n:
        raise ValueError(f"item columns differ in length ({len(values)} vs {n})")
    return values


def _valid_codes(values: np.ndarray, codes: Sequence[float]) -> np.ndarray:
    """Values that are one of `codes`, NaN otherwise."""
    return np.where(np.isin(values, np.asarray(codes, dtype="float64")), values, np.nan)


def _labels(index_codes: np.ndarray, labels: Sequence[str], index: pd.Index) -> pd.Series:
    """Category labels from integer codes (-1 = missing) as a pandas `str` column."""
    table = np.array([None, *labels], dtype=object)
    return pd.Series(table[index_codes + 1], index=index, dtype="str")


def _flag(condition: np.ndarray, missing: np.ndarray) -> np.ndarray:
    return np.where(missing, np.nan, condition.astype("float64"))


def _round_half_up(values: np.ndarray) -> np.ndarray:
    # The tiny epsilon absorbs binary representation error (e.g. 19.4999999 for 19.5).
    return np.floor(values + 0.5 + 1e-9)


_YAML_BOOL_KEYS = {True: "yes", False: "no"}


def _check_codes(codes: Mapping[str, Any] | None, default: Mapping[str, float], what: str) -> dict[str, float]:
    merged = dict(default)
    for key, value in (codes or {}).items():
        # YAML 1.1 (PyYAML) reads unquoted `yes` / `no` keys as booleans.
        key = _YAML_BOOL_KEYS.get(key, key) if isinstance(key, bool) else key
        if key not in default:
            raise ValueError(f"{what}: unknown code role {key!r} (expected {sorted(default)})")
        merged[key] = float(value)
    return merged


# ----------------------------------------------------------------------------- loneliness
def _loneliness(
    negative: Sequence[Column],
    positive: Sequence[Column],
    codes: Mapping[str, Any] | None,
    *,
    max_missing_total: int,
    max_missing_subscale: int,
    lonely_from: int,
    severe_from: int,
    what: str,
) -> pd.DataFrame:
    c = _check_codes(codes, LONELINESS_CODES, what)
    n, index = _length_and_index([*negative, *positive])
    allowed = (c["yes"], c["more_or_less"], c["no"])

    def item_scores(columns: Sequence[Column], lonely_answers: tuple[float, float]) -> np.ndarray:
        scores = np.empty((n, len(columns)), dtype="float64")
        for j, column in enumerate(columns):
            values = _valid_codes(_as_float(column, n), allowed)
            scores[:, j] = np.where(np.isnan(values), np.nan, np.isin(values, lonely_answers).astype("float64"))
        return scores

    neg = item_scores(negative, (c["yes"], c["more_or_less"]))
    pos = item_scores(positive, (c["no"], c["more_or_less"]))

    def subscale(scores: np.ndarray) -> np.ndarray:
        n_missing = np.isnan(scores).sum(axis=1)
        return np.where(n_missing > max_missing_subscale, np.nan, np.nansum(scores, axis=1))

    both = np.concatenate([neg, pos], axis=1)
    total_missing = np.isnan(both).sum(axis=1) > max_missing_total
    total = np.where(total_missing, np.nan, np.nansum(both, axis=1))
    category = np.where(total_missing, -1, np.where(total >= severe_from, 2, np.where(total >= lonely_from, 1, 0)))
    return pd.DataFrame(
        {
            "total": total,
            "emotional": subscale(neg),
            "social": subscale(pos),
            "category": _labels(category, LONELINESS_CATEGORIES, index),
            "lonely": _flag(total >= lonely_from, total_missing),
            "severe": _flag(total >= severe_from, total_missing),
        },
        index=index,
    )


def dejong_gierveld_6(
    emptiness: Column,
    miss_people: Column,
    rejected: Column,
    rely_on: Column,
    trust: Column,
    close: Column,
    *,
    codes: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """6-item De Jong Gierveld loneliness scale: columns total, emotional, social, category,
    lonely, severe. `codes` maps yes / more_or_less / no to answer codes (default 1 / 2 / 3).
    Total = count of lonely answers among valid items, missing if more than 1 item is missing;
    subscales missing if any of their items is missing (see the module docstring)."""
    return _loneliness(
        [emptiness, miss_people, rejected],
        [rely_on, trust, close],
        codes,
        max_missing_total=1,
        max_missing_subscale=0,
        lonely_from=2,
        severe_from=5,
        what="dejong_gierveld_6",
    )


def dejong_gierveld_11(
    negative: Sequence[Column],
    positive: Sequence[Column],
    *,
    codes: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """11-item De Jong Gierveld scale: `negative` = the 6 emotional items, `positive` = the 5
    social items. Total 0-11 (missing if more than 2 items missing), emotional 0-6 and social 0-5
    (missing if more than 1 of their items is missing); lonely >= 3, severe >= 9."""
    if len(negative) != 6 or len(positive) != 5:
        raise ValueError(f"dejong_gierveld_11 needs 6 negative and 5 positive items, got {len(negative)} and {len(positive)}")
    return _loneliness(
        negative,
        positive,
        codes,
        max_missing_total=2,
        max_missing_subscale=1,
        lonely_from=3,
        severe_from=9,
        what="dejong_gierveld_11",
    )


# ----------------------------------------------------------------------------- cohesion
def cbs_social_cohesion(
    items: Sequence[Column],
    reverse: Sequence[bool],
    *,
    min_valid: int | None = None,
    codes: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """CBS social cohesion 0-10 (column `score`): each statement scored 0-4 in the cohesive
    direction (`reverse[i]` = True for a negatively worded statement), score = mean of valid item
    scores x 2.5, missing when fewer than `min_valid` (default len(items) - 1) items are valid."""
    if len(items) != len(reverse):
        raise ValueError("cbs_social_cohesion: `items` and `reverse` differ in length")
    if not items:
        raise ValueError("cbs_social_cohesion needs at least one item")
    c = _check_codes(codes, AGREE_CODES, "cbs_social_cohesion")
    agree, disagree = c["strongly_agree"], c["strongly_disagree"]
    if agree == disagree:
        raise ValueError("cbs_social_cohesion: strongly_agree and strongly_disagree must differ")
    n, index = _length_and_index(items)
    lo, hi = sorted((agree, disagree))
    allowed = np.arange(lo, hi + 1)
    steps = abs(disagree - agree)
    scores = np.empty((n, len(items)), dtype="float64")
    for j, (column, rev) in enumerate(zip(items, reverse)):
        values = _valid_codes(_as_float(column, n), allowed)
        toward_disagree = (values - agree) / (disagree - agree) * steps  # 0 = strongly agree
        scores[:, j] = (toward_disagree if rev else steps - toward_disagree) * 4.0 / steps
    need = len(items) - 1 if min_valid is None else int(min_valid)
    n_valid = (~np.isnan(scores)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.nansum(scores, axis=1) / n_valid * 2.5
    score = np.where((n_valid >= max(need, 1)), score, np.nan)
    return pd.DataFrame({"score": score}, index=index)


# ----------------------------------------------------------------------------- Cantril
def cantril(now: Column, future: Column) -> pd.DataFrame:
    """Cantril ladder: columns now, future, category (thriving / struggling / suffering),
    thriving, suffering. Values outside 0-10 count as missing; missing when either is missing."""
    n, index = _length_and_index([now, future])
    a = _as_float(now, n)
    b = _as_float(future, n)
    a = np.where((a >= 0) & (a <= 10), a, np.nan)
    b = np.where((b >= 0) & (b <= 10), b, np.nan)
    missing = np.isnan(a) | np.isnan(b)
    thriving = (a >= 7) & (b >= 8)
    suffering = (a <= 4) & (b <= 4)
    category = np.where(missing, -1, np.where(thriving, 0, np.where(suffering, 2, 1)))
    return pd.DataFrame(
        {
            "now": a,
            "future": b,
            "category": _labels(category, CANTRIL_CATEGORIES, index),
            "thriving": _flag(thriving, missing),
            "suffering": _flag(suffering, missing),
        },
        index=index,
    )


# ----------------------------------------------------------------------------- Pearlin
def pearlin_mastery(
    negative: Sequence[Column],
    positive: Sequence[Column],
    *,
    min_valid: int | None = None,
    codes: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Pearlin mastery: columns total (7-35, higher = more mastery) and low (1 if 7-19).
    `negative` = negatively worded items (5 in the standard scale), `positive` = positively
    worded items (2). Missing when fewer than `min_valid` (default 7) items are valid; otherwise
    prorated (sum x 7 / valid items, rounded half up)."""
    n_items = len(negative) + len(positive)
    if n_items != 7:
        raise ValueError(f"pearlin_mastery needs 7 items, got {n_items}")
    c = _check_codes(codes, AGREE_CODES, "pearlin_mastery")
    agree, disagree = c["strongly_agree"], c["strongly_disagree"]
    if abs(disagree - agree) != 4:
        raise ValueError("pearlin_mastery: answers must run over 5 codes (strongly_agree .. strongly_disagree)")
    n, index = _length_and_index([*negative, *positive])
    lo, hi = sorted((agree, disagree))
    allowed = np.arange(lo, hi + 1)
    scores = np.empty((n, n_items), dtype="float64")
    for j, column in enumerate([*negative, *positive]):
        values = _valid_codes(_as_float(column, n), allowed)
        toward_disagree = (values - agree) / (disagree - agree) * 4  # 0 = strongly agree
        negative_item = j < len(negative)
        scores[:, j] = 1 + toward_disagree if negative_item else 5 - toward_disagree
    need = 7 if min_valid is None else int(min_valid)
    n_valid = (~np.isnan(scores)).sum(axis=1)
    missing = n_valid < max(need, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.nansum(scores, axis=1) * 7 / n_valid
    total = np.where(missing, np.nan, np.where(n_valid == 7, total, _round_half_up(total)))
    return pd.DataFrame({"total": total, "low": _flag(total <= 19, missing)}, index=index)


# ----------------------------------------------------------------------------- digital skills
def digital_skills(
    information: Column,
    communication: Column,
    problem_solving: Column,
    software: Column,
    *,
    codes: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Simplified DSI: columns level (none / low / basic / above_basic), basic_or_above,
    above_basic. `codes` maps independent / with_help / cannot (default 1 / 2 / 3)."""
    c = _check_codes(codes, DIGITAL_CODES, "digital_skills")
    columns = [information, communication, problem_solving, software]
    n, index = _length_and_index(columns)
    domain = np.empty((n, 4), dtype="float64")
    for j, column in enumerate(columns):
        values = _as_float(column, n)
        domain[:, j] = np.select(
            [values == c["independent"], values == c["with_help"], values == c["cannot"]], [2.0, 1.0, 0.0], np.nan
        )
    missing = np.isnan(domain).any(axis=1)
    all_above = (domain == 2).all(axis=1)
    at_least_basic = domain >= 1
    all_basic = at_least_basic.all(axis=1)
    some_basic = at_least_basic.any(axis=1)
    level = np.where(missing, -1, np.where(all_above, 3, np.where(all_basic, 2, np.where(some_basic, 1, 0))))
    return pd.DataFrame(
        {
            "level": _labels(level, DIGITAL_LEVELS, index),
            "basic_or_above": _flag(level >= 2, missing),
            "above_basic": _flag(level == 3, missing),
        },
        index=index,
    )


# ----------------------------------------------------------------------------- dispatch
SCALE_COLUMNS: dict[str, tuple[str, ...]] = {
    "dejong_gierveld_6": ("total", "emotional", "social", "category", "lonely", "severe"),
    "dejong_gierveld_11": ("total", "emotional", "social", "category", "lonely", "severe"),
    "cbs_social_cohesion": ("score",),
    "cantril": ("now", "future", "category", "thriving", "suffering"),
    "pearlin_mastery": ("total", "low"),
    "digital_skills": ("level", "basic_or_above", "above_basic"),
    "mean": ("score", "n_valid"),
    "sum": ("score", "n_valid"),
}


def generic_scale(columns: Sequence[Column], bounds: Sequence[tuple[float, float]], reverse: Sequence[bool], *,
                  method: str = "mean", min_valid: int | None = None,
                  rescale: tuple[float, float] | None = None, valid: Sequence[Sequence[float] | None] = ()
                  ) -> pd.DataFrame:
    """A municipality's own scale: the mean or sum of items (columns `score`, `n_valid`).

    Each item's answer is first made to run the same way: a reverse item's value x becomes
    low + high - x (low/high = its answer scale's lowest and highest code). A value that is not a
    valid code (`valid`, per item: allowed codes; None = any value within the bounds) counts as missing.
    mean: the mean of the valid items. sum: the sum of the valid items, prorated to all items
    (sum x k / valid) when some are missing, so that a missing item does not lower the score.
    Missing when fewer than `min_valid` items are valid (default: all items). rescale [a, b]: the
    score's possible range (for mean: the items' common range; for sum: k times it) is mapped
    linearly onto [a, b], e.g. a 1-5 agree scale onto 0-10."""
    n, index = _length_and_index(columns)
    k = len(columns)
    if k == 0:
        raise ValueError("a scale needs at least one item")
    values = np.full((n, k), np.nan)
    lows, highs = [], []
    for j, (column, (low, high), rev) in enumerate(zip(columns, bounds, reverse)):
        x = _as_float(column, n)
        allowed = valid[j] if j < len(valid) else None
        x = _valid_codes(x, allowed) if allowed is not None else np.where((x >= low) & (x <= high), x, np.nan)
        values[:, j] = (low + high - x) if rev else x
        lows.append(low)
        highs.append(high)
    n_valid = np.sum(~np.isnan(values), axis=1).astype("float64")
    need = k if min_valid is None else min_valid
    enough = n_valid >= need
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=1) / n_valid
    if method == "mean":
        score = mean
        low, high = float(np.mean(lows)), float(np.mean(highs))
    elif method == "sum":
        score = mean * k
        low, high = float(np.sum(lows)), float(np.sum(highs))
    else:
        raise ValueError(f"unknown generic method {method!r} (mean or sum)")
    if rescale is not None:
        if high == low:
            raise ValueError("cannot rescale: the items' answer range is a single value")
        score = rescale[0] + (score - low) * (rescale[1] - rescale[0]) / (high - low)
    score = np.where(enough, score, np.nan)
    return pd.DataFrame({"score": score, "n_valid": n_valid}, index=index)


def _score_generic(s: "_Spec") -> pd.DataFrame:
    ids = [s.spec.items] if isinstance(s.spec.items, str) else list(s.spec.items)
    bounds, reverse, valid = [], [], []
    for item_id in ids:
        item = s.codebook.items[item_id]
        if item.scale is None:
            raise s.fail(f"item {item_id} has no answer scale")
        bounds.append(item.scale.bounds)
        reverse.append(item_id in s.spec.reverse or item.reverse)
        valid.append(None if item.scale.value_range is not None else sorted(float(c) for c in item.scale.codes))
    return s.call(generic_scale, s.columns(ids), bounds, reverse, method=s.spec.method,
                  min_valid=s.spec.min_valid, rescale=s.spec.rescale, valid=valid)


def scale_columns(spec: ScaleSpec) -> list[str]:
    """The derived column names `score_scales` adds for one scale spec."""
    return [f"{spec.id}_{name}" for name in SCALE_COLUMNS[spec.method]]


class _Spec:
    """Resolves a ScaleSpec's items to columns of the response frame (absent = None)."""

    def __init__(self, spec: ScaleSpec, responses: pd.DataFrame, codebook: Codebook):
        self.spec = spec
        self.responses = responses
        self.codebook = codebook

    def fail(self, message: str) -> CodebookError:
        return CodebookError(self.codebook.path, f"scale {self.spec.id!r} ({self.spec.method}): {message}", f"scales/{self.spec.id}")

    def column(self, item_id: str) -> pd.Series | None:
        return self.responses[item_id] if item_id in self.responses.columns else None

    def columns(self, item_ids: Sequence[str]) -> list[pd.Series | None]:
        return [self.column(i) for i in item_ids]

    def mapping(self) -> dict[str, Any]:
        if not isinstance(self.spec.items, Mapping):
            raise self.fail("`items` must be a mapping of role -> item id")
        return dict(self.spec.items)

    def role_list(self, *names: str) -> list[str] | None:
        """Item ids under the first present role name (a list or a single id)."""
        items = self.spec.items
        if not isinstance(items, Mapping):
            return None
        for name in names:
            if name in items:
                value = items[name]
                return [value] if isinstance(value, str) else list(value)
        return None

    def call(self, function: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> pd.DataFrame:
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            raise self.fail(str(exc)) from None


def _score_djg6(s: _Spec) -> pd.DataFrame:
    items = s.spec.items
    if isinstance(items, Mapping) and all(role in items for role in (*DJG6_NEGATIVE_ROLES, *DJG6_POSITIVE_ROLES)):
        kwargs = {role: s.column(items[role]) for role in (*DJG6_NEGATIVE_ROLES, *DJG6_POSITIVE_ROLES)}
        return s.call(dejong_gierveld_6, **kwargs, codes=s.spec.codes)
    negative = s.role_list("negative", "emotional")
    positive = s.role_list("positive", "social")
    if negative is None and isinstance(items, (list, tuple)) and len(items) == 6:
        positive = [items[i] for i in DJG6_POSITIVE_POSITIONS]
        negative = [items[i] for i in range(6) if i not in DJG6_POSITIVE_POSITIONS]
    if negative is None or positive is None or len(negative) != 3 or len(positive) != 3:
        raise s.fail(
            "`items` must name the roles " + ", ".join((*DJG6_NEGATIVE_ROLES, *DJG6_POSITIVE_ROLES))
            + " (or negative: [3 items], positive: [3 items])"
        )
    (e, m, r), (ro, t, c) = s.columns(negative), s.columns(positive)
    return s.call(dejong_gierveld_6, e, m, r, ro, t, c, codes=s.spec.codes)


def _score_djg11(s: _Spec) -> pd.DataFrame:
    items = s.spec.items
    negative = s.role_list("negative", "emotional")
    positive = s.role_list("positive", "social")
    if negative is None and isinstance(items, (list, tuple)) and len(items) == 11:
        positive = [items[i] for i in DJG11_POSITIVE_POSITIONS]
        negative = [items[i] for i in range(11) if i not in DJG11_POSITIVE_POSITIONS]
    if negative is None or positive is None:
        raise s.fail("`items` must be negative: [6 items], positive: [5 items] (or the 11 items in published order)")
    return s.call(dejong_gierveld_11, s.columns(negative), s.columns(positive), codes=s.spec.codes)


def _score_cohesion(s: _Spec) -> pd.DataFrame:
    items = s.spec.items
    if isinstance(items, Mapping):
        normal = s.role_list("positive") or []
        reversed_ = s.role_list("negative", "reversed") or []
        ids, reverse = [*normal, *reversed_], [False] * len(normal) + [True] * len(reversed_)
    else:
        ids = [items] if isinstance(items, str) else list(items)
        reverse = [s.codebook.items[i].reverse for i in ids]
    if not ids:
        raise s.fail("`items` must list the cohesion statements")
    return s.call(cbs_social_cohesion, s.columns(ids), reverse, min_valid=s.spec.min_valid, codes=s.spec.codes)


def _score_cantril(s: _Spec) -> pd.DataFrame:
    items = s.mapping()
    if "now" not in items or "future" not in items:
        raise s.fail("`items` must name the roles now and future")
    return s.call(cantril, s.column(items["now"]), s.column(items["future"]))


def _score_pearlin(s: _Spec) -> pd.DataFrame:
    negative = s.role_list("negative")
    positive = s.role_list("positive")
    if negative is None or positive is None:
        raise s.fail("`items` must be negative: [items], positive: [items] (7 items in all)")
    return s.call(
        pearlin_mastery, s.columns(negative), s.columns(positive), min_valid=s.spec.min_valid, codes=s.spec.codes
    )


def _score_digital(s: _Spec) -> pd.DataFrame:
    items = s.mapping()
    absent = [d for d in DIGITAL_DOMAINS if d not in items]
    if absent:
        raise s.fail(f"`items` must name the domains {', '.join(DIGITAL_DOMAINS)} (missing: {', '.join(absent)})")
    return s.call(digital_skills, *(s.column(items[d]) for d in DIGITAL_DOMAINS), codes=s.spec.codes)


SCORERS: dict[str, Callable[[_Spec], pd.DataFrame]] = {
    "dejong_gierveld_6": _score_djg6,
    "dejong_gierveld_11": _score_djg11,
    "cbs_social_cohesion": _score_cohesion,
    "cantril": _score_cantril,
    "pearlin_mastery": _score_pearlin,
    "digital_skills": _score_digital,
    "mean": _score_generic,
    "sum": _score_generic,
}


def score_scale(responses: pd.DataFrame, spec: ScaleSpec, codebook: Codebook) -> pd.DataFrame:
    """The derived columns of one scale spec, prefixed with the scale id, on the responses' index."""
    if spec.method not in SCORERS:
        raise CodebookError(codebook.path, f"unknown scale method {spec.method!r}", f"scales/{spec.id}")
    result = SCORERS[spec.method](_Spec(spec, responses, codebook))
    result.index = responses.index
    return result.rename(columns=lambda name: f"{spec.id}_{name}")


def score_scales(responses: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """A copy of `responses` with the derived columns of every scale in `codebook.scales`.

    Items that are absent from the frame (not asked in the wave) count as missing. Existing
    derived columns of the same name are replaced (re-scoring is idempotent)."""
    if not codebook.scales:
        return responses.copy()
    parts = [score_scale(responses, spec, codebook) for spec in codebook.scales]
    derived = pd.concat(parts, axis=1)
    base = responses.drop(columns=[c for c in derived.columns if c in responses.columns])
    return pd.concat([base, derived], axis=1)
