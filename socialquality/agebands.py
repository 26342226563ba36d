"""Age bands: labels such as `18-34` or `75+`, how survey bands meet population bands, and
whether a target group (`age_min`, `age_max`) can be formed from them (docs/codebook.md).

A band is written `LOW-HIGH` (both ages included, whole years) or `LOW+` (LOW and older). The
survey's bands (codebook `age_group`, or `age` in years) and the population table's bands need
not be the same: weighting uses the finest bands that both can express (the *common bands*: a
boundary is kept when it is a boundary of both). E.g. survey 18-34/35-54/55-74/75+ against
population 18-34/35-54/55-64/65-74/75+ gives 18-34/35-54/55-74/75+; against the CBS bands
15-24/25-44/45-64/65+ it gives one band (no common boundary), and age is then not weighted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

_BAND = re.compile(r"^\s*(\d{1,3})\s*(?:-\s*(\d{1,3})|\+|\s*(?:jaar\s*)?(?:en|of)\s*(?:ouder|meer)(?:\s*jaar)?)\s*$",
                   re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Band:
    low: int
    high: float  # inclusive; math.inf for `LOW+`

    @property
    def label(self) -> str:
        return f"{self.low}+" if math.isinf(self.high) else f"{self.low}-{int(self.high)}"

    def contains(self, age: float) -> bool:
        return self.low <= age <= self.high

    def within(self, low: float | None, high: float | None) -> bool:
        """The whole band lies inside [low, high] (None = open)."""
        return (low is None or self.low >= low) and (high is None or self.high <= high)

    def outside(self, low: float | None, high: float | None) -> bool:
        """No age of the band lies inside [low, high]."""
        return (low is not None and self.high < low) or (high is not None and self.low > high)


def parse_band(label: object) -> Band | None:
    """`18-34` -> Band(18, 34); `75+` / `75 en ouder` -> Band(75, inf); anything else -> None."""
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return None
    found = _BAND.match(str(label))
    if not found:
        return None
    low = int(found.group(1))
    high = float(found.group(2)) if found.group(2) else math.inf
    if high < low:
        return None
    return Band(low, high)


def sorted_bands(labels: Iterable[str]) -> list[Band]:
    """Parsed, de-duplicated and ordered; raises ValueError naming a label that is not a band or overlaps."""
    bands = []
    for label in labels:
        band = parse_band(label)
        if band is None:
            raise ValueError(f"{label!r} is not an age band (write e.g. '18-34' or '75+')")
        bands.append(band)
    bands = sorted(set(bands))
    for first, second in zip(bands, bands[1:]):
        if second.low <= first.high:
            raise ValueError(f"age bands {first.label} and {second.label} overlap")
    return bands


def common_bands(survey: Sequence[Band] | None, population: Sequence[Band]) -> dict[str, str]:
    """Population band label -> the label of the (possibly merged) band used for weighting.

    `survey` None means ages in whole years (every population boundary can be used)."""
    population = sorted(population)
    if survey is None:
        keep = {b.low for b in population}
    else:
        keep = {b.low for b in survey} & {b.low for b in population}
    groups: list[list[Band]] = []
    for band in population:
        if not groups or band.low in keep:
            groups.append([band])
        else:
            groups[-1].append(band)
    mapping = {}
    for group in groups:
        label = group[0].label if len(group) == 1 else Band(group[0].low, group[-1].high).label
        for band in group:
            mapping[band.label] = label
    return mapping


def assign_bands(age: pd.Series, survey_band: pd.Series, targets: Sequence[Band]) -> pd.Series:
    """Each respondent's target band (label) from the age in years, else from the survey band
    (the target band that holds the survey band's lowest age); NA when neither is known or the
    age lies outside every target band."""
    targets = sorted(targets)
    ages = pd.to_numeric(age, errors="coerce").to_numpy(dtype=float)
    if survey_band is not None:  # parse each distinct label once, not once per respondent
        codes, labels = pd.factorize(survey_band, use_na_sentinel=True)
        parsed = [parse_band(label) for label in labels]
        low_of = np.array([b.low if b is not None else np.nan for b in parsed] + [np.nan],
                          dtype=float)  # the last slot: missing band (code -1)
        lows = low_of[codes]
    else:
        lows = np.full(len(ages), np.nan)
    point = np.where(np.isnan(ages), lows, ages)
    result = np.full(len(point), None, dtype=object)
    for band in targets:
        inside = (point >= band.low) & (point <= band.high)
        result[inside] = band.label
    # the youngest population band may start above the survey's minimum age (e.g. 15+ vs 16+) or below it
    first = targets[0] if targets else None
    if first is not None:
        below = ~np.isnan(point) & (point < first.low)
        result[below] = None
    return pd.Series(result, index=age.index, dtype="object")


def target_group_problem(age_min: float | None, age_max: float | None, bands: Sequence[Band] | None) -> str | None:
    """Why a target group cannot be formed from age bands (None: it can, or ages are in years)."""
    if bands is None or (age_min is None and age_max is None):
        return None
    straddling = [b.label for b in bands if not b.within(age_min, age_max) and not b.outside(age_min, age_max)]
    if not straddling:
        return None
    possible_min = ", ".join(str(b.low) for b in bands)
    return (f"target group age {age_min if age_min is not None else ''}-{age_max if age_max is not None else ''} "
            f"cannot be formed from the age bands {', '.join(b.label for b in bands)}: band(s) "
            f"{', '.join(straddling)} lie partly inside it (age_min can be one of {possible_min})")


def share_at_or_above(label: str, age_min: float) -> float:
    """The share of a band's people aged `age_min` or older, with ages evenly spread within the band
    (an open band `75+` counts wholly when it starts at or above `age_min`, else from 10 years wide)."""
    band = parse_band(label)
    if band is None:
        return float("nan")
    if band.low >= age_min:
        return 1.0
    high = band.high if not math.isinf(band.high) else band.low + 9
    if high < age_min:
        return 0.0
    return (high - age_min + 1) / (high - band.low + 1)
