"""socialquality.trends.compare_waves gives exactly the figures of the loop version in indicators.

(The index, socialquality.indicators.composite_index, is checked against the delta method written out in
tests/test_composite_index.py.)

The trend stage uses the column-wise versions (issue 12: the per-indicator selections and the
per-district Python calls cost minutes at 3,400 districts x 10 waves); the loop versions in
socialquality.indicators are the reference here. The frames are synthetic and cover what the loops
handle case by case: suppressed figures, a district missing in a wave, zero standard errors (equal
and unequal estimates), a method break, covariances given in both orders and non-finite ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialquality import indicators as reference
from socialquality import trends
from socialquality.monitor import Monitor
from tests.support import ROOT


@pytest.fixture(scope="module")
def demo():
    return Monitor.from_config(ROOT / "config" / "demo.yaml", check_inputs=False)


def _frames(monitor: Monitor, seed: int, districts: int = 40):
    rng = np.random.default_rng(seed)
    city = monitor.settings.municipality
    waves = monitor.codebook.wave_ids
    codes = [city] + [f"WK{9000 + i}" for i in range(districts)]
    rows = []
    for wave in waves:
        for code in codes:
            if code == codes[3] and wave == waves[2]:
                continue  # a district without figures in one wave
            for indicator in monitor.catalogue.indicators:
                estimate = float(rng.uniform(0.1, 0.9))
                se = float(rng.uniform(0.01, 0.08))
                if code == codes[5]:
                    se = 0.0  # e.g. a census district: zero sampling error
                    estimate = 0.5 if wave in waves[:2] else estimate
                n = int(rng.integers(10, 300))
                rows.append({"survey": "s", "wave": wave, "district_code": code, "indicator_id": indicator.id,
                             "estimate": estimate, "se": se, "ci_low": estimate - 2 * se,
                             "ci_high": estimate + 2 * se, "n": n, "suppressed": bool(rng.random() < 0.08)})
    indicators = pd.DataFrame(rows)
    by_condition: dict[str, list[str]] = {}
    for indicator in monitor.catalogue.indicators:
        by_condition.setdefault(indicator.condition, []).append(indicator.id)
    cov_rows = []
    for wave in waves:
        for code in codes:
            for ids in by_condition.values():
                for j in range(len(ids)):
                    for k in range(j + 1, len(ids)):
                        a, b = (ids[j], ids[k]) if rng.random() < 0.5 else (ids[k], ids[j])
                        cov = float(rng.normal(0, 2e-4))
                        if rng.random() < 0.05:
                            cov = float("nan")
                        cov_rows.append({"survey": "s", "wave": wave, "district_code": code, "indicator_a": a,
                                         "indicator_b": b, "cov": cov})
    covariances = pd.DataFrame(cov_rows)
    return indicators, covariances, waves


@pytest.mark.parametrize("seed", [1, 2])
def test_changes_equal_the_reference_loop(demo: Monitor, seed: int) -> None:
    indicators, covariances, waves = _frames(demo, seed)
    assert demo.codebook.method_breaks, "the demo codebook has a method break to cover"
    old = reference.compare_waves(indicators, demo.catalogue, demo.codebook, waves)
    new = trends.compare_waves(indicators, demo.catalogue, demo.codebook, waves)
    key = ["district_code", "indicator_id", "wave", "compared_to"]
    assert len(new) == len(old) > 0
    assert set(new["verdict"]) >= {"not_comparable", "no_significant_change"}
    pd.testing.assert_frame_equal(new.sort_values(key).reset_index(drop=True),
                                  old.sort_values(key).reset_index(drop=True), check_dtype=False)


def test_grouped_bh_matches_bh_per_group() -> None:
    rng = np.random.default_rng(7)
    p = pd.Series(rng.uniform(0, 0.2, 200))
    p[rng.random(200) < 0.1] = np.nan
    groups = pd.Series(rng.integers(0, 5, 200))
    adjusted = trends.grouped_bh(p, [groups])
    for g in range(5):
        mask = groups == g
        expected = reference._bh_adjust(p[mask])
        np.testing.assert_allclose(adjusted[mask].to_numpy(), expected.to_numpy())
