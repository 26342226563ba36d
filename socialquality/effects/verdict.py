"""Plain-Dutch verdicts on effect estimates."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from socialquality.effects._common import FEW_TREATED_NOTE
from socialquality.effects.att_gt import AggregateResult, AttGtResult, pretrend_test
from socialquality.effects.did import DidResult
from socialquality.effects.its import ItsResult


# --------------------------------------------------------------------------
# plain-Dutch verdicts
# --------------------------------------------------------------------------


def _nl_num(x: float, decimals: int = 1) -> str:
    s = f"{x:.{decimals}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s.replace(".", ",")


@dataclass
class Headline:
    """The one effect a verdict is about, with its interval (see :func:`headline`)."""

    estimable: bool
    effect: float = float("nan")
    lower: float = float("nan")
    upper: float = float("nan")
    alpha: float = 0.05
    reason_nl: str | None = None
    pretrend_warning: bool = False
    design: str = ""
    n_treated: int = 1


def headline(result: Any, alpha: float | None = None) -> Headline:
    """The headline effect of any result (what verdicts speak of): estimate and interval."""
    if isinstance(result, AttGtResult):
        # the group-weighted overall ATT (did's aggte(type = "group")), the
        # summary Callaway & Sant'Anna recommend; "simple" overweights early groups
        return headline(result.aggregate("group"), alpha)
    if isinstance(result, AggregateResult):
        a = result.alpha if alpha is None else alpha
        if not result.estimable:
            return Headline(False, reason_nl="Geen uitspraak mogelijk: het effect kon niet worden geschat.")
        lo, hi = result.conf_int(a).loc["overall"]
        warn = False
        if result.parent is not None:
            warn = pretrend_test(result.parent).rejects(0.05)
        n_tr = int((result.parent.unit_groups > 0).sum()) if result.parent is not None else 2
        return Headline(True, result.overall_att, float(lo), float(hi), a, None, warn, "staggered", n_tr)
    if isinstance(result, ItsResult):
        a = result.alpha if alpha is None else alpha
        if not result.estimable:
            return Headline(False, reason_nl=result.reason_nl)
        lo, hi = result.conf_int(a).loc["level_change"]
        return Headline(True, result.level_change, float(lo), float(hi), a, None, False, "its")
    if isinstance(result, DidResult):
        a = result.alpha if alpha is None else alpha
        if not result.estimable:
            return Headline(False, reason_nl=result.reason_nl)
        lo, hi = result.conf_int(a).loc["att"]
        warn = result.pretrend is not None and result.pretrend.rejects(0.05)
        return Headline(True, result.att, float(lo), float(hi), a, None, warn, "did", result.n_treated)
    raise TypeError(f"no verdict for {type(result).__name__}")


def verdict_code(result: Any, higher_is_better: bool = True) -> str:
    """'improved' | 'worsened' | 'no_significant_change' | 'not_estimable'.

    Significant = the (1 - alpha) interval of the headline effect excludes 0
    (staggered: group-weighted overall ATT; ITS: level change; DiD: overall ATT).
    """
    h = headline(result)
    if not h.estimable or not (math.isfinite(h.lower) and math.isfinite(h.upper)):
        return "not_estimable"
    if h.lower <= 0 <= h.upper:
        return "no_significant_change"
    up = h.effect > 0
    return "improved" if up == higher_is_better else "worsened"


def verdict_nl(
    result: Any,
    indicator_label: str,
    higher_is_better: bool = True,
    *,
    unit: str = "procentpunt",
    decimals: int = 1,
    event: str = "de start van het programma",
) -> str:
    """A plain-Dutch sentence on the effect, with Dutch decimal commas.

    ``event`` names what happened, e.g. "de sluiting van het buurthuis" for a closure.

    ``unit`` is the unit of the indicator's scale ("procentpunt" for shares,
    e.g. "punt" for a score).  ``higher_is_better`` only matters for
    :func:`verdict_code`; the sentence states the direction of change.
    """
    h = headline(result)
    if not h.estimable or not (math.isfinite(h.lower) and math.isfinite(h.upper)):
        return h.reason_nl or "Geen uitspraak mogelijk: het effect kon niet worden geschat."
    pct = f"{100 * (1 - h.alpha):g}".replace(".", ",") + "%-interval"
    waar = {
        "its": "In de wijk",
        "did": "In de wijk" if h.n_treated == 1 else "In de betrokken wijken",
        "staggered": "In de betrokken wijken",
    }[h.design]
    vergeleken = {
        "its": " ten opzichte van de trend van vóór de start",
        "did": " vergeleken met de vergelijkingswijken",
        "staggered": " vergeleken met de overige wijken",
    }[h.design]
    if h.lower <= 0 <= h.upper:
        text = (
            f"We kunnen niet zeggen of {indicator_label} na {event} veranderde: "
            f"het {pct} ({_nl_num(h.lower, decimals)} tot {_nl_num(h.upper, decimals)}) omvat nul."
        )
    else:
        if h.effect > 0:
            richting, lo, hi = "toe", h.lower, h.upper
        else:
            richting, lo, hi = "af", -h.upper, -h.lower
        text = (
            f"{waar} nam {indicator_label} na {event} {richting} met "
            f"{_nl_num(abs(h.effect), decimals)} {unit}{vergeleken} ({pct}: {_nl_num(lo, decimals)} tot "
            f"{_nl_num(hi, decimals)}). Dit is waarschijnlijk geen toeval."
        )
    if h.pretrend_warning:
        text += " Let op: de wijken liepen vóór de start al uiteen; het effect is onzeker."
    if h.design in ("did", "staggered") and 1 < h.n_treated < FEW_TREATED_NOTE:
        text += (f" Het oordeel rust op {h.n_treated} wijken; met zo weinig wijken is de onzekerheid zelf "
                 "onzeker.")
    return text
