"""Breakdowns of the headline indicators by age group and by sex, per district and for the city
(issue 10: "uitsplitsingen naar leeftijd en geslacht waar n het toelaat").

Domain estimates on the wave's raked design, with the same estimator as the district figures
(:meth:`socialquality.survey.SurveyDesign.mean`: the ratio estimator with the calibration-aware
linearisation variance, 95% Wald interval): the domain is district x age group or district x sex,
so the standard error accounts for the domain's random size.

* The age groups are the bands the weighting uses (``age_group`` of the design: the population
  figures' bands, brought onto the codebook's where the survey asks a band; see
  :func:`socialquality.weighting.weight_wave`), so another city with other bands gets its own
  breakdown -- nothing here names a band.
* Sex is the codebook's ``sex`` column (``m``/``v``); respondents without an age group or sex are
  left out of that breakdown (they are in the district figure).
* Headline indicators are the catalogue's index indicators (``in_index``).
* A cell with fewer than the catalogue's ``minimum_respondents`` (30) is kept as a row with no
  number and the reason (``suppressed``, ``suppression_reason``), so a reader sees that the cell
  exists but cannot be shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BREAKDOWN_COLUMNS = ["wave", "district_code", "indicator_id", "dimension", "level", "estimate", "se", "ci_low",
                     "ci_high", "n", "suppressed", "suppression_reason"]
DIMENSIONS = ("age_group", "sex")


def headline_indicators(catalogue: Any) -> list[Any]:
    """The indicators broken down: those in the composite index."""
    return [i for i in catalogue.indicators if getattr(i, "in_index", True)]


def estimate_breakdowns(design: Any, catalogue: Any, wave: str, municipality: str,
                        minimum_respondents: int | None = None,
                        dimensions: tuple[str, ...] = DIMENSIONS) -> pd.DataFrame:
    """Rows of :data:`BREAKDOWN_COLUMNS` for every district (and the city, ``district_code`` =
    `municipality`), headline indicator, dimension present in the design and level."""
    minimum = minimum_respondents if minimum_respondents is not None else catalogue.minimum_respondents
    data = design.data
    pieces = []
    for dimension in dimensions:
        if dimension not in data.columns or data[dimension].notna().sum() == 0:
            continue
        for indicator in headline_indicators(catalogue):
            variable = f"ind__{indicator.id}"
            if variable not in data.columns or data[variable].notna().sum() == 0:
                continue
            known = data[dimension].notna()
            by_district = design.mean(variable, by=["district_code", dimension])
            city = design.mean(variable, by=dimension)
            city.insert(0, "district_code", municipality)
            both = pd.concat([by_district, city], ignore_index=True)
            both = both[both[dimension].notna() & both[dimension].isin(set(data.loc[known, dimension]))]
            both = both.rename(columns={dimension: "level"})
            both.insert(0, "dimension", dimension)
            both.insert(0, "indicator_id", indicator.id)
            pieces.append(both)
    if not pieces:
        return pd.DataFrame(columns=BREAKDOWN_COLUMNS)
    result = pd.concat(pieces, ignore_index=True)
    result.insert(0, "wave", wave)
    result["level"] = result["level"].astype(str)
    result["n"] = result["n"].fillna(0).astype(int)
    small = result["n"] < minimum
    result["suppressed"] = small
    result["suppression_reason"] = np.where(small, f"minder dan {minimum} respondenten", None)
    for column in ("estimate", "se", "ci_low", "ci_high"):
        result.loc[small, column] = np.nan
    return result[BREAKDOWN_COLUMNS].reset_index(drop=True)
