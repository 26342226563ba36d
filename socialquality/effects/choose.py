"""One analysis per intervention and indicator: the hierarchy that picks the headline design.

:func:`analyse_intervention` is what the pipeline (``stages.estimate_effects``) and the
simulation study (``benchmarks/sim_effects.py``) both call. The hierarchy (docs/methods_effects.md,
section 1):

1. **Comparison with other districts** (:func:`~socialquality.effects.known_variance.panel_did`,
   ``did`` for a common start, ``staggered_did`` for staggered starts) whenever at least
   ``MIN_COMPARISON`` comparison districts have figures and at least one site has a figure before
   and after its start. It is calibrated for any number of sites, one included.
2. **The district's own time series** (interrupted time series) when there is a single site and
   no usable comparison districts. It cannot tell a city-wide change from an effect: the verdict
   says so.
3. Otherwise no verdict, with the reason.

The other analyses (each site's own time series, each site's comparison with other districts)
are kept as supporting evidence; the verdict says in plain Dutch when they point another way.
Methods that cannot work with few treated districts are not used by the pipeline: cluster-robust
standard errors need about 10 treated districts, the wild cluster bootstrap about 5, and the
Callaway & Sant'Anna multiplier bootstrap gives a cohort of one district no variance of its own
(see :func:`refused_methods`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from socialquality.effects.its import interrupted_time_series
from socialquality.effects.known_variance import MIN_COMPARISON, PanelDidResult, panel_did

__all__ = ["InterventionAnalysis", "analyse_intervention", "refused_methods", "SMALL_COHORT"]

#: Staggered cohorts with fewer districts than this get a warning (as R did warns on small groups).
SMALL_COHORT = 5


@dataclass
class InterventionAnalysis:
    """The headline result of one intervention on one indicator, with its supporting evidence."""

    method: str  # "did" | "staggered_did" | "its" | "none"
    headline: Any  # PanelDidResult | ItsResult
    did: PanelDidResult
    its_results: dict | None = None  # site -> ItsResult (computed on first use, see `its`)
    starts: dict = field(default_factory=dict)
    choice: str = ""  # why this design (English, for the log and the warehouse details)
    mean_n: float = float("nan")  # mean respondents per site and wave (when the panel has n)
    panel: pd.DataFrame | None = field(default=None, repr=False)
    alpha: float = 0.05
    its_min_pre: int = 3
    its_min_post: int = 2

    @property
    def estimable(self) -> bool:
        return bool(getattr(self.headline, "estimable", False))

    @property
    def its(self) -> dict:
        """Each site's own time series (supporting evidence), fitted when first asked for: the
        headline does not need them unless there is one site and no comparison."""
        if self.its_results is None:
            self.its_results = _its_per_site(self.panel, self.starts, self.alpha, self.its_min_pre, self.its_min_post)
        return self.its_results


def _its_per_site(panel: pd.DataFrame | None, starts: Mapping[Any, float], alpha: float, min_pre: int,
                  min_post: int) -> dict:
    out = {}
    if panel is None:
        return out
    for site, start in starts.items():
        series = panel[panel["unit"] == site].sort_values("time")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[site] = interrupted_time_series(series, start, min_pre=min_pre, min_post=min_post, alpha=alpha)
    return out


def refused_methods(n_treated: int) -> dict[str, str]:
    """Inference methods the pipeline does not use for ``n_treated`` treated districts, with the reason."""
    out = {}
    if n_treated < 10:
        out["cluster"] = (f"cluster-robust standard errors need about 10 treated districts; there are {n_treated} "
                          "(false-positive rates of 20-35% with 2-3)")
    if n_treated < 5:
        out["wild"] = (f"the wild cluster bootstrap needs about 5 treated districts; there are {n_treated} "
                       "(with 2 its p-value cannot fall below about 0.06)")
    out["att_gt_bootstrap"] = ("the multiplier bootstrap of att_gt gives a cohort of one district an influence "
                               "function of 0, so that district's own variability never enters the SE")
    return out


def analyse_intervention(
    panel: pd.DataFrame,
    starts: Mapping[Any, float],
    comparison_units: Sequence[Any] | None = None,
    *,
    alpha: float = 0.05,
    its_min_pre: int = 3,
    its_min_post: int = 2,
    min_comparison: int = MIN_COMPARISON,
    with_its: bool = True,
) -> InterventionAnalysis:
    """Estimate one intervention on one indicator by the hierarchy in the module docstring.

    ``panel``: unit, time, estimate, se (and optionally n) per district and wave; ``starts``:
    site -> first post time; ``comparison_units``: districts never treated (default: all others).
    """
    starts = {u: float(g) for u, g in starts.items()}
    did = panel_did(panel, starts, comparison_units, alpha=alpha, min_comparison=min_comparison)
    mean_n = float("nan")
    if "n" in panel.columns:
        site_n = pd.to_numeric(panel.loc[panel["unit"].isin(list(starts)) & panel["estimate"].notna(), "n"],
                               errors="coerce").dropna()
        mean_n = float(site_n.mean()) if len(site_n) else float("nan")

    def analysis(method: str, head: Any, choice: str) -> InterventionAnalysis:
        return InterventionAnalysis(method, head, did, None, starts, choice, mean_n, panel if with_its else None,
                                    alpha, its_min_pre, its_min_post)

    if did.estimable:
        method = "did" if len(set(starts.values())) == 1 else "staggered_did"
        return analysis(method, did, f"comparison with {did.n_comparison} districts, known sampling variance + "
                                     f"district variance from the comparison districts ({did.n_treated} site(s))")
    if len(starts) == 1 and with_its:
        result = analysis("none", did, f"not estimable: {did.reason}")
        only = result.its[next(iter(starts))]
        if only.estimable:
            result.method, result.headline = "its", only
            result.choice = f"no comparison possible ({did.reason}); the district's own time series"
        return result
    return analysis("none", did, f"not estimable: {did.reason}")
