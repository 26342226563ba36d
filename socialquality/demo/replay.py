"""A delivered demo wave as the pipeline's clean, scored rows, without the warehouse.

Validation scripts and tests that compare estimates with the demo's truth (benchmarks/validate_sae.py,
tests/test_demo_statistics.py, tests/test_effects_demo.py) start from the same rows the pipeline
would estimate on: the file normalised, the rows the quality stage sets aside dropped (a district
that is not in the population, an age under the codebook's minimum, a later duplicate of a
respondent), then scales scored and indicator variables added.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from socialquality.indicators import add_indicator_variables
from socialquality.normalise import normalise_file
from socialquality.scales import score_scales


def clean_scored_wave(path: str | Path, codebook: Any, catalogue: Any, wave: str, districts: set[str],
                      key: bytes) -> pd.DataFrame:
    """The wave's rows as the pipeline would estimate on them (see the module doc)."""
    frame = normalise_file(path, codebook, wave, key).frame
    keep = frame["district_code"].isin(districts) & (frame["age"] >= codebook.minimum_age)
    frame = frame[keep]
    frame = frame[~frame["respondent_pid"].duplicated(keep="first")].reset_index(drop=True)
    return add_indicator_variables(score_scales(frame, codebook), catalogue)
