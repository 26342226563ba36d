"""Plain-Dutch verdicts on effect estimates: one sentence set per intervention and indicator.

:func:`verdict_nl` accepts any result (an :class:`~socialquality.effects.choose.InterventionAnalysis`
from the pipeline, or a single estimator's result) and writes: the headline sentence (effect,
interval, comparison), the minimum detectable effect in the indicator's units, and the warnings
that always show (one district, small cohorts, sites left out, pre-trends, supporting analyses
that disagree). :func:`verdict_code` gives the matching code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from socialquality.effects._common import FEW_TREATED_NOTE
from socialquality.effects.att_gt import AggregateResult, AttGtResult, pretrend_test
from socialquality.effects.choose import SMALL_COHORT, InterventionAnalysis
from socialquality.effects.did import DidResult
from socialquality.effects.its import ItsResult
from socialquality.effects.known_variance import PanelDidResult, minimum_detectable_effect

__all__ = ["Headline", "headline", "verdict_code", "verdict_nl", "nl_number", "interval_decimals", "district_name"]


def _nl_num(x: float, decimals: int = 1) -> str:
    s = f"{x:.{decimals}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s.replace(".", ",")


nl_number = _nl_num


def interval_decimals(lower: float, upper: float, decimals: int = 1, *others: float, max_decimals: int = 4) -> int:
    """Decimals so that an interval that excludes 0 never shows 0 as a bound (nor a nonzero
    effect or detectable effect as 0): "-0,8 tot -0,03", never "-0,8 tot 0,0"."""
    d = decimals
    significant = math.isfinite(lower) and math.isfinite(upper) and (lower > 0 or upper < 0)
    while d < max_decimals:
        vals = ([lower, upper] if significant else []) + [v for v in others if math.isfinite(v) and v != 0]
        if all(round(abs(v), d) > 0 for v in vals):
            break
        d += 1
    return d


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
    se: float = float("nan")
    df: float = float("nan")
    n_comparison: int = 0
    mean_n: float = float("nan")
    pretrend_p: float = float("nan")

    @property
    def mde(self) -> float:
        return minimum_detectable_effect(self.se, self.df, self.alpha)

    @property
    def significant(self) -> bool:
        return bool(self.estimable and math.isfinite(self.lower) and math.isfinite(self.upper)
                    and not (self.lower <= 0 <= self.upper))


def headline(result: Any, alpha: float | None = None) -> Headline:
    """The headline effect of any result (what verdicts speak of): estimate and interval."""
    if isinstance(result, InterventionAnalysis):
        h = headline(result.headline, alpha)
        if not math.isfinite(h.mean_n):
            h.mean_n = result.mean_n
        return h
    if isinstance(result, PanelDidResult):
        a = result.alpha if alpha is None else alpha
        if not result.estimable:
            return Headline(False, reason_nl=result.reason_nl)
        lo, hi = result.conf_int(a).loc["att"]
        pt = result.pretrend
        warn = pt is not None and pt.rejects(0.05)
        return Headline(True, result.att, float(lo), float(hi), a, None, warn,
                        "did" if result.design == "common" else "staggered_did", result.n_treated, result.se,
                        result.df, result.n_comparison, result.mean_n,
                        pt.pvalue if pt is not None and pt.estimable else float("nan"))
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
        return Headline(True, result.overall_att, float(lo), float(hi), a, None, warn, "staggered", n_tr,
                        result.overall_se, float("inf"))
    if isinstance(result, ItsResult):
        a = result.alpha if alpha is None else alpha
        if not result.estimable:
            return Headline(False, reason_nl=result.reason_nl)
        lo, hi = result.conf_int(a).loc["level_change"]
        df = float(result.df_resid) if result.distribution == "t" and result.df_resid > 0 else float("inf")
        return Headline(True, result.level_change, float(lo), float(hi), a, None, False, "its", 1,
                        result.level_change_se, df)
    if isinstance(result, DidResult):
        a = result.alpha if alpha is None else alpha
        if not result.estimable:
            return Headline(False, reason_nl=result.reason_nl)
        lo, hi = result.conf_int(a).loc["att"]
        warn = result.pretrend is not None and result.pretrend.rejects(0.05)
        return Headline(True, result.att, float(lo), float(hi), a, None, warn, "did", result.n_treated, result.se,
                        result.df, result.n_comparison)
    raise TypeError(f"no verdict for {type(result).__name__}")


def verdict_code(result: Any, higher_is_better: bool = True) -> str:
    """'improved' | 'worsened' | 'no_significant_change' | 'not_estimable'.

    Significant = the (1 - alpha) interval of the headline effect excludes 0.
    """
    h = headline(result)
    if not h.estimable or not (math.isfinite(h.lower) and math.isfinite(h.upper)):
        return "not_estimable"
    if h.lower <= 0 <= h.upper:
        return "no_significant_change"
    up = h.effect > 0
    return "improved" if up == higher_is_better else "worsened"


def _p(p: float) -> str:
    return "p < 0,001" if p < 0.001 else f"p = {_nl_num(p, 3)}"


def _wijken(n: int) -> str:
    return "1 wijk" if n == 1 else f"{n} wijken"


def _about(n: float) -> int:
    step = 10 if n >= 100 else 5
    return max(step, int(round(n / step) * step))


def _main_sentence(h: Headline, label: str, unit: str, event: str, decimals: int) -> tuple[str, int]:
    pct = f"{100 * (1 - h.alpha):g}".replace(".", ",") + "%-interval"
    d = interval_decimals(h.lower, h.upper, decimals, h.effect if h.significant else 0.0, h.mde)
    many = h.n_treated > 1
    waar = f"In de {h.n_treated} wijken" if many else "In de wijk"
    if h.design in ("did", "staggered_did"):
        vergeleken = (f" vergeleken met {h.n_comparison} andere wijken" if h.n_comparison
                      else " vergeleken met de vergelijkingswijken")
    elif h.design == "staggered":
        vergeleken = " vergeleken met de overige wijken"
    else:
        vergeleken = " ten opzichte van de trend van vóór de start"
    if not h.significant:
        text = (f"Er is geen effect van {event} op {label} aangetoond: de geschatte verandering is "
                f"{_nl_num(h.effect, d)} {unit}{vergeleken}, met een {pct} van {_nl_num(h.lower, d)} tot "
                f"{_nl_num(h.upper, d)} {unit}; dat interval omvat nul.")
    else:
        if h.effect > 0:
            richting, lo, hi = "toe", h.lower, h.upper
        else:
            richting, lo, hi = "af", -h.upper, -h.lower
        text = (f"{waar} nam {label} na {event} {richting} met {_nl_num(abs(h.effect), d)} {unit}{vergeleken} "
                f"({pct}: {_nl_num(lo, d)} tot {_nl_num(hi, d)}).")
        if not h.pretrend_warning:
            text += " Dit is waarschijnlijk geen toeval."
    return text, d


def _mde_sentence(h: Headline, unit: str, d: int) -> str:
    mde = h.mde
    if not math.isfinite(mde):
        return ""
    resp = f" en ongeveer {_about(h.mean_n)} respondenten per wijk per meting" if math.isfinite(h.mean_n) else ""
    if h.significant:
        return f"Met {_wijken(h.n_treated)}{resp} waren effecten vanaf ongeveer {_nl_num(mde, d)} {unit} aan te tonen."
    return (f"Met {_wijken(h.n_treated)}{resp} was een effect kleiner dan {_nl_num(mde, d)} {unit} niet aan te "
            "tonen; dat er geen effect was, volgt hier dus niet uit.")


def _pretrend_sentence(h: Headline, event: str) -> str:
    wie = "liepen deze wijken" if h.n_treated > 1 else "liep de wijk"
    p = f" (toets op gelijke trends: {_p(h.pretrend_p)})" if math.isfinite(h.pretrend_p) else ""
    if h.significant:
        return (f"Let op: vóór de start {wie} al anders dan de vergelijkingswijken{p}; het verschil kan "
                f"(deels) daardoor komen en is dus niet zeker een gevolg van {event}.")
    return f"Let op: vóór de start {wie} al anders dan de vergelijkingswijken{p}; ook deze schatting is daardoor onzeker."


def _name(names: Mapping[Any, str] | None, unit: Any) -> str:
    """A district's name for the text; its code when the name is missing."""
    name = names.get(unit) if names else None
    if name is None or (isinstance(name, float) and math.isnan(name)) or not str(name).strip():
        return str(unit)
    return str(name)


district_name = _name


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " en " + parts[-1]


def _time(t: float) -> str:
    return f"{t:g}"


def _warnings(a: InterventionAnalysis, h: Headline, event: str, unit: str, d: int,
              names: Mapping[Any, str] | None) -> list[str]:
    out = []
    did = a.did
    if a.method == "its":
        out.append("Er waren geen bruikbare vergelijkingswijken: het oordeel rust alleen op het verloop in de wijk "
                   "zelf, en een verandering in de hele stad is daarin niet van het effect te onderscheiden.")
    elif h.estimable and h.n_treated == 1:
        out.append(f"Het oordeel rust op één wijk: wat in die wijk tegelijk met {event} veranderde, is niet van "
                   "het effect te onderscheiden.")
    if a.method == "staggered_did" and len(did.cohorts) > 1:
        small = {g: u for g, u in did.cohorts.items() if len(u) < SMALL_COHORT}
        if small:
            groups = _join([f"{_time(g)}: {_wijken(len(u))}" for g, u in did.cohorts.items()])
            out.append(f"Let op: de wijken begonnen in kleine groepen ({groups}); het oordeel gaat over alle "
                       "wijken samen, niet over één startjaar.")
    if did.left_out:
        total = len(a.starts)
        parts = [f"{_name(names, u)}: {did.left_out_nl.get(u, r)}" for u, r in did.left_out.items()]
        if a.method != "its":
            out.append(f"Niet meegeteld: {len(did.left_out)} van de {total} wijken ({'; '.join(parts)}).")
    if h.pretrend_warning:
        out.append(_pretrend_sentence(h, event))
    elif a.method in ("did", "staggered_did") and did.pretrend is not None and not did.pretrend.estimable:
        out.append("Of de wijken vóór de start gelijk opliepen met de vergelijkingswijken, kon niet worden "
                   "getoetst (te weinig metingen vóór de start).")
    out.extend(_disagreement(a, h, unit, d, names))
    return out


def _kind(lower: float, upper: float, effect: float) -> str:
    if lower <= 0 <= upper:
        return "ns"
    return "up" if effect > 0 else "down"


def _disagreement(a: InterventionAnalysis, h: Headline, unit: str, d: int,
                  names: Mapping[Any, str] | None) -> list[str]:
    """Supporting analyses that point another way than the headline, said in plain Dutch."""
    if a.method not in ("did", "staggered_did") or not h.estimable:
        return []
    head = _kind(h.lower, h.upper, h.effect)
    head_nl = {"ns": "geen effect aantoont", "up": "een toename laat zien", "down": "een afname laat zien"}[head]
    off = []
    for site, its in a.its.items():
        if not its.estimable:
            continue
        lo, hi = its.conf_int(its.alpha).loc["level_change"]
        kind = _kind(float(lo), float(hi), its.level_change)
        # a site's own series disagrees when it is significant another way, or, for a single site,
        # when it is not significant while the comparison is (one question, two answers)
        if kind == head or (kind == "ns" and len(a.starts) > 1):
            continue
        dd = max(d, interval_decimals(float(lo), float(hi), d))
        desc = {"ns": "laat geen aantoonbare verandering zien", "up": "wijst op een toename",
                "down": "wijst op een afname"}[kind]
        off.append(f"{_name(names, site)} {desc} ({_nl_num(its.level_change, dd)} {unit}, interval "
                   f"{_nl_num(float(lo), dd)} tot {_nl_num(float(hi), dd)})")
    if not off:
        return []
    shown = off[:3]
    more = f" (en bij nog {_wijken(len(off) - 3)})" if len(off) > 3 else ""
    own = "De tijdreeks van de wijk zelf" if len(a.its) == 1 else "Het verloop in de wijk zelf"
    return [f"{own} geeft een ander beeld: {_join(shown)}{more}, terwijl de vergelijking met andere wijken "
            f"{head_nl}. Een tijdreeks van één wijk ziet een verandering in de hele stad aan voor een effect; "
            "daarom telt de vergelijking met andere wijken als oordeel."]


def verdict_nl(
    result: Any,
    indicator_label: str,
    higher_is_better: bool = True,
    *,
    unit: str = "procentpunt",
    decimals: int = 1,
    event: str = "de start van het programma",
    names: Mapping[Any, str] | None = None,
    supporting: bool = False,
) -> str:
    """The plain-Dutch verdict, with Dutch decimal commas.

    ``event`` names what happened, e.g. "de sluiting van het buurthuis" for a closure; ``unit``
    is the unit of the indicator's scale ("procentpunt" for shares, "punt" for a score);
    ``names`` maps district codes to names for the warnings. ``higher_is_better`` only matters
    for :func:`verdict_code`; the sentence states the direction of change. Every estimable
    verdict carries the minimum detectable effect (80% power, two-sided test at alpha).
    ``supporting=True`` marks a site's own analysis (not the verdict): the text says so and leaves
    out the warnings that belong to the verdict.
    """
    if supporting:
        text = verdict_nl(result, indicator_label, higher_is_better, unit=unit, decimals=decimals, event=event,
                          names=names)
        one = f" Het oordeel rust op één wijk: wat in die wijk tegelijk met {event} veranderde, is niet van het " \
              "effect te onderscheiden."
        text = text.replace(one, "").replace(" Dit is waarschijnlijk geen toeval.", "")
        return "Ondersteunende analyse van alleen deze wijk (niet het oordeel): " + text[:1].lower() + text[1:]
    h = headline(result)
    if not h.estimable or not (math.isfinite(h.lower) and math.isfinite(h.upper)):
        text = h.reason_nl or "Geen uitspraak mogelijk: het effect kon niet worden geschat."
        if isinstance(result, InterventionAnalysis) and result.did.left_out:
            parts = [f"{_name(names, u)}: {result.did.left_out_nl.get(u, r)}" for u, r in result.did.left_out.items()]
            text += f" Niet meegeteld: {len(result.did.left_out)} van de {len(result.starts)} wijken ({'; '.join(parts)})."
        return text
    text, d = _main_sentence(h, indicator_label, unit, event, decimals)
    parts = [text]
    mde = _mde_sentence(h, unit, d)
    if mde:
        parts.append(mde)
    if isinstance(result, InterventionAnalysis):
        parts.extend(_warnings(result, h, event, unit, d, names))
    else:
        if h.pretrend_warning:
            parts.append(_pretrend_sentence(h, event))
        if h.design in ("did", "staggered_did", "staggered") and h.n_treated == 1:
            parts.append(f"Het oordeel rust op één wijk: wat in die wijk tegelijk met {event} veranderde, is niet "
                         "van het effect te onderscheiden.")
        elif h.design == "staggered" and 1 < h.n_treated < FEW_TREATED_NOTE:
            parts.append(f"Het oordeel rust op {h.n_treated} wijken; met zo weinig wijken is ook de marge zelf "
                         "maar een ruwe schatting.")
    return " ".join(parts)

