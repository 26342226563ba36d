"""Plain-language verdicts on effect estimates: one sentence set per intervention and indicator.

The sentences are in the current language of :mod:`socialquality.i18n` (Dutch msgids, English in
the catalogue; numbers in the locale's format with a real minus sign): the pipeline calls the
verdicts inside ``use_language(settings.language)``. :func:`verdict` (alias :func:`verdict_nl`,
the historical name) accepts any result (an :class:`~socialquality.effects.choose.InterventionAnalysis`
from the pipeline, or a single estimator's result) and writes: the headline sentence (effect,
interval, comparison), the minimum detectable effect in the indicator's units, and the warnings
that always show (one district, small cohorts, sites left out, pre-trends, supporting analyses
that disagree). :func:`verdict_code` gives the matching code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from babel.lists import format_list

from socialquality.effects._common import FEW_TREATED_NOTE
from socialquality.effects.att_gt import AggregateResult, AttGtResult, pretrend_test
from socialquality.effects.choose import SMALL_COHORT, InterventionAnalysis
from socialquality.effects.did import DidResult
from socialquality.effects.its import ItsResult
from socialquality.effects.known_variance import PanelDidResult, minimum_detectable_effect
from socialquality.i18n import LOCALES, _, fmt_number, language, ngettext

__all__ = ["Headline", "headline", "verdict_code", "verdict", "verdict_nl", "nl_number", "interval_decimals", "district_name"]


def nl_number(x: float, decimals: int = 1) -> str:
    """A number in the current language's format (kept name; see :func:`socialquality.i18n.fmt_number`)."""
    return fmt_number(x, decimals)


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
            return Headline(False, reason_nl=_("Geen uitspraak mogelijk: het effect kon niet worden geschat."))
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
    return (_("p < %(value)s", value=fmt_number(0.001, 3)) if p < 0.001
            else _("p = %(value)s", value=fmt_number(p, 3)))


def _wijken(n: int) -> str:
    return ngettext("%(num)s wijk", "%(num)s wijken", n)


def _about(n: float) -> int:
    step = 10 if n >= 100 else 5
    return max(step, int(round(n / step) * step))


def _interval_name(alpha: float) -> str:
    level = 100 * (1 - alpha)
    return _("%(level)s%%-interval", level=fmt_number(level, 0 if float(level).is_integer() else 1))


def _main_sentence(h: Headline, label: str, unit: str, event: str, decimals: int) -> tuple[str, int]:
    pct = _interval_name(h.alpha)
    d = interval_decimals(h.lower, h.upper, decimals, h.effect if h.significant else 0.0, h.mde)
    if h.design in ("did", "staggered_did"):
        compared = (" " + _("vergeleken met %(n)s andere wijken", n=h.n_comparison) if h.n_comparison
                    else " " + _("vergeleken met de vergelijkingswijken"))
    elif h.design == "staggered":
        compared = " " + _("vergeleken met de overige wijken")
    else:
        compared = " " + _("ten opzichte van de trend van vóór de start")
    if not h.significant:
        text = _("Er is geen effect van %(event)s op %(label)s aangetoond: de geschatte verandering is "
                 "%(effect)s %(unit)s%(compared)s, met een %(interval)s van %(low)s tot %(high)s %(unit)s; "
                 "dat interval omvat nul.", event=event, label=label, effect=fmt_number(h.effect, d), unit=unit,
                 compared=compared, interval=pct, low=fmt_number(h.lower, d), high=fmt_number(h.upper, d))
    else:
        values = dict(label=label, event=event, effect=fmt_number(abs(h.effect), d), unit=unit, compared=compared,
                      interval=pct)
        if h.effect > 0:
            values.update(low=fmt_number(h.lower, d), high=fmt_number(h.upper, d))
            text = ngettext("In de wijk nam %(label)s na %(event)s toe met %(effect)s %(unit)s%(compared)s "
                            "(%(interval)s: %(low)s tot %(high)s).",
                            "In de %(num)s wijken nam %(label)s na %(event)s toe met %(effect)s %(unit)s%(compared)s "
                            "(%(interval)s: %(low)s tot %(high)s).", h.n_treated, **values)
        else:
            values.update(low=fmt_number(-h.upper, d), high=fmt_number(-h.lower, d))
            text = ngettext("In de wijk nam %(label)s na %(event)s af met %(effect)s %(unit)s%(compared)s "
                            "(%(interval)s: %(low)s tot %(high)s).",
                            "In de %(num)s wijken nam %(label)s na %(event)s af met %(effect)s %(unit)s%(compared)s "
                            "(%(interval)s: %(low)s tot %(high)s).", h.n_treated, **values)
        if not h.pretrend_warning:
            text += " " + _NOT_CHANCE()
    return text, d


def _NOT_CHANCE() -> str:
    return _("Dit is waarschijnlijk geen toeval.")


def _one_district(event: str) -> str:
    return _("Het oordeel rust op één wijk: wat in die wijk tegelijk met %(event)s veranderde, is niet van het "
             "effect te onderscheiden.", event=event)


def _mde_sentence(h: Headline, unit: str, d: int) -> str:
    mde = h.mde
    if not math.isfinite(mde):
        return ""
    resp = (" " + _("en ongeveer %(n)s respondenten per wijk per meting", n=fmt_number(_about(h.mean_n), 0))
            if math.isfinite(h.mean_n) else "")
    values = dict(districts=_wijken(h.n_treated), respondents=resp, mde=fmt_number(mde, d), unit=unit)
    if h.significant:
        return _("Met %(districts)s%(respondents)s waren effecten vanaf ongeveer %(mde)s %(unit)s aan te tonen.",
                 **values)
    return _("Met %(districts)s%(respondents)s was een effect kleiner dan %(mde)s %(unit)s niet aan te tonen; "
             "dat er geen effect was, volgt hier dus niet uit.", **values)


def _pretrend_sentence(h: Headline, event: str) -> str:
    test = (" " + _("(toets op gelijke trends: %(p)s)", p=_p(h.pretrend_p))) if math.isfinite(h.pretrend_p) else ""
    if h.significant:
        return ngettext("Let op: vóór de start liep de wijk al anders dan de vergelijkingswijken%(test)s; het "
                        "verschil kan (deels) daardoor komen en is dus niet zeker een gevolg van %(event)s.",
                        "Let op: vóór de start liepen deze wijken al anders dan de vergelijkingswijken%(test)s; het "
                        "verschil kan (deels) daardoor komen en is dus niet zeker een gevolg van %(event)s.",
                        h.n_treated, test=test, event=event)
    return ngettext("Let op: vóór de start liep de wijk al anders dan de vergelijkingswijken%(test)s; ook deze "
                    "schatting is daardoor onzeker.",
                    "Let op: vóór de start liepen deze wijken al anders dan de vergelijkingswijken%(test)s; ook deze "
                    "schatting is daardoor onzeker.", h.n_treated, test=test)


def _name(names: Mapping[Any, str] | None, unit: Any) -> str:
    """A district's name for the text; its code when the name is missing."""
    name = names.get(unit) if names else None
    if name is None or (isinstance(name, float) and math.isnan(name)) or not str(name).strip():
        return str(unit)
    return str(name)


district_name = _name


def _join(parts: list[str]) -> str:
    """"a, b en c" / "a, b and c" (CLDR list patterns of the current language)."""
    return format_list(parts, locale=LOCALES[language()])


def _time(t: float) -> str:
    return fmt_number(t, 0) if float(t).is_integer() and abs(t) < 1000 else f"{t:g}"


def _left_out(a: InterventionAnalysis, names: Mapping[Any, str] | None) -> str:
    did = a.did
    parts = [f"{_name(names, u)}: {did.left_out_nl.get(u, r)}" for u, r in did.left_out.items()]
    return _("Niet meegeteld: %(n)s van de %(total)s wijken (%(parts)s).", n=len(did.left_out),
             total=len(a.starts), parts="; ".join(parts))


def _warnings(a: InterventionAnalysis, h: Headline, event: str, unit: str, d: int,
              names: Mapping[Any, str] | None) -> list[str]:
    out = []
    did = a.did
    if a.method == "its":
        out.append(_("Er waren geen bruikbare vergelijkingswijken: het oordeel rust alleen op het verloop in de "
                     "wijk zelf, en een verandering in de hele stad is daarin niet van het effect te "
                     "onderscheiden."))
    elif h.estimable and h.n_treated == 1:
        out.append(_one_district(event))
    if a.method == "staggered_did" and len(did.cohorts) > 1:
        small = {g: u for g, u in did.cohorts.items() if len(u) < SMALL_COHORT}
        if small:
            groups = _join([_("%(year)s: %(districts)s", year=_time(g), districts=_wijken(len(u)))
                            for g, u in did.cohorts.items()])
            out.append(_("Let op: de wijken begonnen in kleine groepen (%(groups)s); het oordeel gaat over alle "
                         "wijken samen, niet over één startjaar.", groups=groups))
    if did.left_out and a.method != "its":
        out.append(_left_out(a, names))
    if h.pretrend_warning:
        out.append(_pretrend_sentence(h, event))
    elif a.method in ("did", "staggered_did") and did.pretrend is not None and not did.pretrend.estimable:
        out.append(_("Of de wijken vóór de start gelijk opliepen met de vergelijkingswijken, kon niet worden "
                     "getoetst (te weinig metingen vóór de start)."))
    out.extend(_disagreement(a, h, unit, d, names))
    return out


def _kind(lower: float, upper: float, effect: float) -> str:
    if lower <= 0 <= upper:
        return "ns"
    return "up" if effect > 0 else "down"


def _disagreement(a: InterventionAnalysis, h: Headline, unit: str, d: int,
                  names: Mapping[Any, str] | None) -> list[str]:
    """Supporting analyses that point another way than the headline, said in plain words."""
    if a.method not in ("did", "staggered_did") or not h.estimable:
        return []
    head = _kind(h.lower, h.upper, h.effect)
    head_text = {"ns": _("geen effect aantoont"), "up": _("een toename laat zien"),
                 "down": _("een afname laat zien")}[head]
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
        desc = {"ns": _("laat geen aantoonbare verandering zien"), "up": _("wijst op een toename"),
                "down": _("wijst op een afname")}[kind]
        off.append(_("%(name)s %(finding)s (%(effect)s %(unit)s, interval %(low)s tot %(high)s)",
                     name=_name(names, site), finding=desc, effect=fmt_number(its.level_change, dd), unit=unit,
                     low=fmt_number(float(lo), dd), high=fmt_number(float(hi), dd)))
    if not off:
        return []
    shown = off[:3]
    more = " " + _("(en bij nog %(districts)s)", districts=_wijken(len(off) - 3)) if len(off) > 3 else ""
    own = _("De tijdreeks van de wijk zelf") if len(a.its) == 1 else _("Het verloop in de wijk zelf")
    return [_("%(own)s geeft een ander beeld: %(findings)s%(more)s, terwijl de vergelijking met andere wijken "
              "%(headline)s. Een tijdreeks van één wijk ziet een verandering in de hele stad aan voor een effect; "
              "daarom telt de vergelijking met andere wijken als oordeel.",
              own=own, findings=_join(shown), more=more, headline=head_text)]


def verdict_nl(
    result: Any,
    indicator_label: str,
    higher_is_better: bool = True,
    *,
    unit: str | None = None,
    decimals: int = 1,
    event: str | None = None,
    names: Mapping[Any, str] | None = None,
    supporting: bool = False,
) -> str:
    """The plain-language verdict in the current language (Dutch: decimal commas).

    ``event`` names what happened, e.g. "de sluiting van het buurthuis" for a closure; ``unit``
    is the unit of the indicator's scale ("procentpunt" for shares, "punt" for a score);
    ``names`` maps district codes to names for the warnings. ``higher_is_better`` only matters
    for :func:`verdict_code`; the sentence states the direction of change. Every estimable
    verdict carries the minimum detectable effect (80% power, two-sided test at alpha).
    ``supporting=True`` marks a site's own analysis (not the verdict): the text says so and leaves
    out the warnings that belong to the verdict.
    """
    unit = _("procentpunt") if unit is None else unit
    event = _("de start van het programma") if event is None else event
    if supporting:
        text = verdict_nl(result, indicator_label, higher_is_better, unit=unit, decimals=decimals, event=event,
                          names=names)
        text = text.replace(" " + _one_district(event), "").replace(" " + _NOT_CHANCE(), "")
        return _("Ondersteunende analyse van alleen deze wijk (niet het oordeel): %(verdict)s",
                 verdict=text[:1].lower() + text[1:])
    h = headline(result)
    if not h.estimable or not (math.isfinite(h.lower) and math.isfinite(h.upper)):
        text = h.reason_nl or _("Geen uitspraak mogelijk: het effect kon niet worden geschat.")
        if isinstance(result, InterventionAnalysis) and result.did.left_out:
            text += " " + _left_out(result, names)
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
            parts.append(_one_district(event))
        elif h.design == "staggered" and 1 < h.n_treated < FEW_TREATED_NOTE:
            parts.append(_("Het oordeel rust op %(n)s wijken; met zo weinig wijken is ook de marge zelf maar een "
                           "ruwe schatting.", n=h.n_treated))
    return " ".join(parts)



verdict = verdict_nl
