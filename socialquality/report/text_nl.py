"""Plain-Dutch text for the report: number formatting, verdict labels, method names.

Everything a reader sees as a number passes through :func:`fmt_num` (decimal comma, thousands
point, a real minus sign) and a missing or suppressed number becomes :data:`DASH` ("–").
"""

from __future__ import annotations

import math
from typing import Any

DASH = "–"  # en dash: "no figure" (suppressed, unknown or not applicable)
MINUS = "\u2212"

UNIT_PERCENT = "percent"
UNIT_SCORE = "score"
UNIT_KM = "km"


def is_missing(x: Any) -> bool:
    """True for None, NaN, pd.NA, NaT and non-numbers."""
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def fmt_num(x: Any, decimals: int = 1, *, sign: bool = False) -> str:
    """Dutch number: 1234.56 -> "1.234,6"; -0.04 -> "0,0"; sign=True gives "+2,1" / "−2,1"."""
    if is_missing(x):
        return DASH
    value = float(x)
    text = f"{abs(value):,.{decimals}f}"
    text = text.translate(str.maketrans({",": ".", ".": ","}))
    is_zero = float(f"{abs(value):.{decimals}f}") == 0.0
    if value < 0 and not is_zero:
        return MINUS + text
    if sign and not is_zero:
        return "+" + text
    return text


def fmt_int(x: Any) -> str:
    return fmt_num(x, 0)


def fmt_pct(p: Any, decimals: int = 1) -> str:
    """A proportion 0-1 as a Dutch percentage: 0.423 -> "42,3%"."""
    if is_missing(p):
        return DASH
    return fmt_num(100.0 * float(p), decimals) + "%"


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
    """"40,1 tot 44,5%"; a dash when either bound is missing."""
    if is_missing(lo) or is_missing(hi):
        return DASH
    f = display_factor(unit) if factor is None else factor
    suffix = {UNIT_PERCENT: "%", UNIT_KM: " km"}.get(unit, "")
    return f"{fmt_num(float(lo) * f, decimals)} tot {fmt_num(float(hi) * f, decimals)}{suffix}"


def change_unit(unit: str, *, short: bool = False) -> str:
    if unit == UNIT_PERCENT:
        return "%-punt" if short else "procentpunt"
    if unit == UNIT_KM:
        return "km"
    return "punt"


def fmt_change(x: Any, unit: str, decimals: int = 1, *, factor: float | None = None, short: bool = True) -> str:
    """A difference: percent (as proportions) -> "+2,1 %-punt"; score -> "−0,3 punt"."""
    if is_missing(x):
        return DASH
    f = display_factor(unit) if factor is None else factor
    return f"{fmt_num(float(x) * f, decimals, sign=True)} {change_unit(unit, short=short)}"


def fmt_change_interval(lo: Any, hi: Any, unit: str, decimals: int = 1, *, factor: float | None = None) -> str:
    if is_missing(lo) or is_missing(hi):
        return DASH
    f = display_factor(unit) if factor is None else factor
    return f"{fmt_num(float(lo) * f, decimals, sign=True)} tot {fmt_num(float(hi) * f, decimals, sign=True)}"


# ---------------------------------------------------------------------------
# verdicts and their colours (CBS Brede Welvaart rule: green/red only when significant)
# ---------------------------------------------------------------------------

#: Change verdicts (table `changes`) -> (css class, short Dutch label).
CHANGE_VERDICTS = {
    "improved": ("better", "beter"),
    "worsened": ("worse", "slechter"),
    "no_significant_change": ("neutral", "geen aantoonbare verandering"),
    "not_comparable": ("neutral", "niet te vergelijken"),
}
#: Effect verdicts (table `effects`, socialquality.effects.verdict_code).
EFFECT_VERDICTS = {
    "improved": ("better", "aantoonbaar effect, gunstig"),
    "worsened": ("worse", "aantoonbaar effect, ongunstig"),
    "no_significant_change": ("neutral", "geen aantoonbaar effect"),
    "not_estimable": ("neutral", "geen uitspraak mogelijk"),
}
SIGNIFICANT = {"improved", "worsened"}


def verdict_class(verdict: Any) -> str:
    """'better' | 'worse' only for a significant verdict, 'neutral' (grey) otherwise."""
    if verdict == "improved":
        return "better"
    if verdict == "worsened":
        return "worse"
    return "neutral"


def change_label(verdict: Any) -> str:
    return CHANGE_VERDICTS.get(str(verdict), ("neutral", "onbekend"))[1]


def effect_label(verdict: Any) -> str:
    return EFFECT_VERDICTS.get(str(verdict), ("neutral", "geen uitspraak mogelijk"))[1]


METHOD_NAMES = {
    "its": "onderbroken tijdreeks (de wijk vergeleken met haar eigen trend van vóór de start)",
    "did": "verschil-in-verschillen (de wijk vergeleken met vergelijkbare wijken zonder de interventie)",
    "staggered_did": "verschil-in-verschillen met gespreide start (wijken zonder de interventie als vergelijking)",
}
METHOD_SHORT = {
    "its": "tijdreeks",
    "did": "verschil-in-verschillen",
    "staggered_did": "gespreide start",
}
KIND_NAMES = {"programme": "programma", "closure": "sluiting van een voorziening"}
SPHERE_NAMES = {"personal": "persoonlijk", "communal": "gemeenschap", "institutional": "instituties"}
COMPARED_TO = {"previous": "vorige meting", "base": "basisjaar"}


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def join_nl(items: list[str]) -> str:
    """["a", "b", "c"] -> "a, b en c"."""
    items = [i for i in items if i]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " en " + items[-1]
