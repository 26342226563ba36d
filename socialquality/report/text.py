"""Texts and numbers of the report in the configured language (issue 10).

Everything a reader sees as a number passes through :func:`fmt_num` (Babel CLDR formatting from
:mod:`socialquality.i18n`: nl "1.234,5", en "1,234.5", a real minus sign U+2212) and a missing or
suppressed number becomes :data:`DASH` ("–"). Labels are Dutch msgids marked with :func:`N_` and
translated where they are shown; lists are joined with Babel's CLDR list patterns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_datetime
from babel.lists import format_list

from socialquality.i18n import DASH, LOCALES, MINUS, N_, _, fmt_number, fmt_percent, is_missing, language, ngettext

__all__ = [
    "DASH", "MINUS", "UNIT_PERCENT", "UNIT_SCORE", "UNIT_KM", "is_missing", "fmt_num", "fmt_int", "fmt_pct",
    "display_factor", "fmt_value", "fmt_interval", "change_unit", "fmt_change", "fmt_change_interval",
    "CHANGE_VERDICTS", "EFFECT_VERDICTS", "SIGNIFICANT", "verdict_class", "change_label", "effect_label",
    "METHOD_NAMES", "METHOD_SHORT", "KIND_NAMES", "SPHERE_NAMES", "COMPARED_TO", "plural", "join_words", "join_nl",
    "fmt_year", "fmt_datetime", "method_short", "method_long", "kind_name", "sphere_name",
]

UNIT_PERCENT = "percent"
UNIT_SCORE = "score"
UNIT_KM = "km"


def fmt_num(x: Any, decimals: int = 1, *, sign: bool = False) -> str:
    """A number in the report's language: nl 1234.56 -> "1.234,6", en "1,234.6"; −0.04 -> "0,0"."""
    return fmt_number(x, decimals, sign=sign)


def fmt_int(x: Any) -> str:
    return fmt_num(x, 0)


def fmt_year(x: Any) -> str:
    """A year as written: 2019, never "2.019"."""
    if is_missing(x):
        return DASH
    return str(int(round(float(x))))


def fmt_pct(p: Any, decimals: int = 1) -> str:
    """A proportion 0-1 as a percentage: nl 0.423 -> "42,3%", en "42.3%"."""
    return fmt_percent(p, decimals)


def fmt_datetime(value: Any) -> str:
    """A moment in the report's language: nl "12 maart 2025, 14:03", en "12 March 2025, 14:03"."""
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return format_datetime(t, "d MMMM y, HH:mm", locale=LOCALES[language()])


def display_factor(unit: str) -> float:
    """Survey shares are proportions 0-1 in the inputs; they are shown as percentages."""
    return 100.0 if unit == UNIT_PERCENT else 1.0


def fmt_value(x: Any, unit: str, decimals: int = 1) -> str:
    """A level of an indicator: percent -> "42,3%", score -> "6,8", km -> "0,9 km"."""
    if is_missing(x):
        return DASH
    if unit == UNIT_PERCENT:
        return fmt_pct(x, decimals)
    if unit == UNIT_KM:
        return fmt_num(x, decimals) + " km"
    return fmt_num(x, decimals)


def fmt_interval(lo: Any, hi: Any, unit: str, decimals: int = 1, *, factor: float | None = None) -> str:
    """nl "40,1 tot 44,5%", en "40.1 to 44.5%"; a dash when either bound is missing."""
    if is_missing(lo) or is_missing(hi):
        return DASH
    f = display_factor(unit) if factor is None else factor
    suffix = {UNIT_PERCENT: "%", UNIT_KM: " km"}.get(unit, "")
    return _("%(low)s tot %(high)s", low=fmt_num(float(lo) * f, decimals), high=fmt_num(float(hi) * f, decimals)) \
        + suffix


def change_unit(unit: str, *, short: bool = False) -> str:
    if unit == UNIT_PERCENT:
        return _("%-punt") if short else _("procentpunt")
    if unit == UNIT_KM:
        return "km"
    return _("punt")


def fmt_change(x: Any, unit: str, decimals: int = 1, *, factor: float | None = None, short: bool = True) -> str:
    """A difference: percent (as proportions) -> nl "+2,1 %-punt", en "+2.1 pp"; score -> "−0,3 punt"."""
    if is_missing(x):
        return DASH
    f = display_factor(unit) if factor is None else factor
    return f"{fmt_num(float(x) * f, decimals, sign=True)} {change_unit(unit, short=short)}"


def fmt_change_interval(lo: Any, hi: Any, unit: str, decimals: int = 1, *, factor: float | None = None) -> str:
    if is_missing(lo) or is_missing(hi):
        return DASH
    f = display_factor(unit) if factor is None else factor
    return _("%(low)s tot %(high)s", low=fmt_num(float(lo) * f, decimals, sign=True),
             high=fmt_num(float(hi) * f, decimals, sign=True))


# ---------------------------------------------------------------------------
# verdicts and their colours (CBS Brede Welvaart rule: green/red only when significant)
# ---------------------------------------------------------------------------

#: Change verdicts (table `changes`) -> (css class, short label; a msgid).
CHANGE_VERDICTS = {
    "improved": ("better", N_("beter")),
    "worsened": ("worse", N_("slechter")),
    "no_significant_change": ("neutral", N_("geen aantoonbare verandering")),
    "not_comparable": ("neutral", N_("niet te vergelijken")),
}
#: Effect verdicts (table `effects`, socialquality.effects.verdict_code).
EFFECT_VERDICTS = {
    "improved": ("better", N_("aantoonbaar effect, gunstig")),
    "worsened": ("worse", N_("aantoonbaar effect, ongunstig")),
    "no_significant_change": ("neutral", N_("geen aantoonbaar effect")),
    "not_estimable": ("neutral", N_("geen uitspraak mogelijk")),
}
SIGNIFICANT = {"improved", "worsened"}
UNKNOWN = N_("onbekend")


def verdict_class(verdict: Any) -> str:
    """'better' | 'worse' only for a significant verdict, 'neutral' (grey) otherwise."""
    if verdict == "improved":
        return "better"
    if verdict == "worsened":
        return "worse"
    return "neutral"


def change_label(verdict: Any) -> str:
    return _(CHANGE_VERDICTS.get(str(verdict), ("neutral", UNKNOWN))[1])


def effect_label(verdict: Any) -> str:
    return _(EFFECT_VERDICTS.get(str(verdict), ("neutral", N_("geen uitspraak mogelijk")))[1])


#: method, kind and sphere names: msgids, translate with the functions below (or `_` where shown)
METHOD_NAMES = {
    "its": N_("onderbroken tijdreeks (de wijk vergeleken met haar eigen trend van vóór de start)"),
    "did": N_("verschil-in-verschillen (de wijk vergeleken met vergelijkbare wijken zonder de interventie)"),
    "staggered_did": N_("verschil-in-verschillen met gespreide start (wijken zonder de interventie als vergelijking)"),
}
METHOD_SHORT = {
    "its": N_("tijdreeks"),
    "did": N_("verschil-in-verschillen"),
    "staggered_did": N_("gespreide start"),
}
KIND_NAMES = {"programme": N_("programma"), "closure": N_("sluiting van een voorziening")}
SPHERE_NAMES = {"personal": N_("persoonlijk"), "communal": N_("gemeenschap"), "institutional": N_("instituties")}
COMPARED_TO = {"previous": N_("vorige meting"), "base": N_("basisjaar")}


def _named(table: dict[str, str], code: Any, unknown: str) -> str:
    code = "" if code is None or is_missing_text(code) else str(code)
    if code in table:
        return _(table[code])
    return _(unknown) if code else ""


def is_missing_text(x: Any) -> bool:
    return x is None or (isinstance(x, float) and x != x)


def method_short(code: Any) -> str:
    return _named(METHOD_SHORT, code, N_("andere methode"))


def method_long(code: Any) -> str:
    return _named(METHOD_NAMES, code, N_("andere methode"))


def kind_name(code: Any) -> str:
    return _named(KIND_NAMES, code, N_("interventie"))


def sphere_name(code: Any) -> str:
    return _named(SPHERE_NAMES, code, N_("overig domein"))


def plural(n: int, one: str, many: str) -> str:
    """"1 wijk" / "3 wijken": `one` and `many` are msgids with %(num)s (via ngettext)."""
    return ngettext(one, many, int(n))


def join_words(items: list[str]) -> str:
    """["a", "b", "c"] -> nl "a, b en c", en "a, b and c" (CLDR list patterns)."""
    items = [str(i) for i in items if i]
    if not items:
        return ""
    return format_list(items, locale=LOCALES[language()])


join_nl = join_words  # compatibility name
