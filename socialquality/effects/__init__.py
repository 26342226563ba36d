"""Estimating the effect of interventions on district indicators.

The package is split by idea:

* :mod:`~socialquality.effects.known_variance` -- the pipeline's estimator: difference-in-differences
  on district-wave survey estimates whose residual variance is the known sampling variance plus a
  district-by-wave variance component estimated from the comparison districts (common start and
  staggered starts, unbalanced panels, t reference with Satterthwaite degrees of freedom).
* :mod:`~socialquality.effects.choose` -- the hierarchy that picks one headline design per
  intervention and indicator (:func:`analyse_intervention`), supporting evidence and warnings.
* :mod:`~socialquality.effects.att_gt` -- Callaway & Sant'Anna (2021) group-time effects with the
  multiplier bootstrap (reproduces R ``did``; for analysts, not used for verdicts with few districts).
* :mod:`~socialquality.effects.its` -- interrupted time series on one district.
* :mod:`~socialquality.effects.did` -- common-start event study with pooled, cluster-robust and
  wild-bootstrap inference (the latter two refused with too few treated districts).
* :mod:`~socialquality.effects.verdict` -- plain-Dutch verdicts, codes and the minimum detectable effect.
* :mod:`~socialquality.effects.simulation` -- the generator of district panels used by the
  simulation study (``benchmarks/sim_effects.py``) and its quick version in the tests.

Methods, formulas and the simulation table: ``docs/methods_effects.md``.
The package depends only on numpy, pandas and scipy (never on dagster).
"""

from socialquality.effects._common import FEW_TREATED, FEW_TREATED_NOTE, PretrendResult
from socialquality.effects.choose import InterventionAnalysis, analyse_intervention, refused_methods
from socialquality.effects.known_variance import PanelDidResult, minimum_detectable_effect, panel_did
from socialquality.effects.att_gt import AggregateResult, AttGtResult, att_gt, pretrend_test
from socialquality.effects.did import DidResult, did_event_study
from socialquality.effects.its import ItsResult, interrupted_time_series
from socialquality.effects.verdict import Headline, district_name, headline, verdict, verdict_code, verdict_nl

__all__ = [
    "FEW_TREATED",
    "FEW_TREATED_NOTE",
    "AggregateResult",
    "AttGtResult",
    "DidResult",
    "Headline",
    "InterventionAnalysis",
    "ItsResult",
    "PanelDidResult",
    "PretrendResult",
    "analyse_intervention",
    "att_gt",
    "did_event_study",
    "district_name",
    "headline",
    "interrupted_time_series",
    "minimum_detectable_effect",
    "panel_did",
    "pretrend_test",
    "refused_methods",
    "verdict_code",
    "verdict",
    "verdict_nl",
]
