"""When does weighting really hurt? The threshold of the ``weighting_stable`` check.

The weighting diagnostics note every adjustment the raking made (age groups collapsed, trimming
bounds widened). In the demo city such a note is present in 96 of 99 districts in every wave, so a
check that warns on any note carries no signal. The check warns for a district only when the
weighting hurts precision or threatens bias in a way a reader of the figures would care about:

* the raking did not converge (the weights do not reproduce the population: bias), or
* the design effect of the weights exceeds :data:`MAX_DEFF` = 2.0 -- the weights halve the
  effective sample size, so the margins are at least 41% wider than those of an unweighted sample
  of the same size (Kish's rule of thumb for a weighting that needs a closer look), or
* the effective sample size falls below the publication minimum while the number of respondents is
  above it -- the weighting alone makes the district's figures much less certain than the
  suppression rule assumes.

The audit page shows the distribution of the design effects per wave next to this check, and the
districts it warns for. :func:`wave_weighting_warnings` gives those warnings of one wave as data
(with a sentence in the current language from :func:`weighting_sentence`) for the report's
data-quality paragraph.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from socialquality.i18n import _, fmt_number, ngettext

MAX_DEFF = 2.0

#: reason codes of a weighting warning
NOT_CONVERGED, HIGH_DEFF, LOW_N_EFF = "not_converged", "high_deff", "low_n_eff"
WARNING_COLUMNS = ["wave", "district_code", "district_name", "n", "n_eff", "deff", "converged", "reasons", "reason"]


def _reason_text(code: str, deff: float, n_eff: float, minimum: int) -> str:
    if code == NOT_CONVERGED:
        return _("weging niet geconvergeerd")
    if code == HIGH_DEFF:
        return _("design-effect %(deff)s boven %(max)s", deff=fmt_number(deff, 2), max=fmt_number(MAX_DEFF, 1))
    return _("effectieve n %(n_eff)s onder het minimum %(minimum)s", n_eff=fmt_number(n_eff, 1), minimum=minimum)


def weighting_warnings(diagnostics: pd.DataFrame, minimum_respondents: int = 30,
                       names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every district-wave whose weighting deserves a warning, as data.

    Columns: wave, district_code, district_name, n, n_eff, deff, converged, ``reasons`` (a tuple of
    codes: ``not_converged``, ``high_deff``, ``low_n_eff``) and ``reason`` (the same in words, in
    the current language). Sorted by wave and design effect, worst first.
    """
    if diagnostics is None or diagnostics.empty:
        return pd.DataFrame(columns=WARNING_COLUMNS)
    d = diagnostics.reset_index(drop=True)
    deff = pd.to_numeric(d["deff"], errors="coerce")
    n = pd.to_numeric(d["n"], errors="coerce")
    n_eff = pd.to_numeric(d["n_eff"], errors="coerce")
    converged = d["converged"].astype(bool) if "converged" in d else pd.Series(True, index=d.index)
    rows = []
    for i in d.index:
        codes = []
        if not converged[i]:
            codes.append(NOT_CONVERGED)
        if deff[i] > MAX_DEFF:
            codes.append(HIGH_DEFF)
        if n[i] >= minimum_respondents and n_eff[i] < minimum_respondents:
            codes.append(LOW_N_EFF)
        if not codes:
            continue
        code = str(d.at[i, "district_code"])
        rows.append({"wave": str(d.at[i, "wave"]) if "wave" in d else "", "district_code": code,
                     "district_name": (names or {}).get(code) or code, "n": n[i], "n_eff": n_eff[i], "deff": deff[i],
                     "converged": bool(converged[i]), "reasons": tuple(codes),
                     "reason": "; ".join(_reason_text(c, deff[i], n_eff[i], minimum_respondents) for c in codes)})
    out = pd.DataFrame(rows, columns=WARNING_COLUMNS)
    return out.sort_values(["wave", "deff"], ascending=[True, False], kind="stable").reset_index(drop=True)


def wave_weighting_warnings(diagnostics: pd.DataFrame, wave: Any, minimum_respondents: int = 30,
                            names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The weighting warnings of one wave (see :func:`weighting_warnings`); ``diagnostics`` is the
    warehouse table ``weighting_diagnostics`` (all waves or one)."""
    if diagnostics is None or diagnostics.empty:
        return pd.DataFrame(columns=WARNING_COLUMNS)
    return weighting_warnings(diagnostics[diagnostics["wave"].astype(str) == str(wave)], minimum_respondents, names)


def weighting_sentence(warnings: pd.DataFrame, districts: int, wave: Any, shown: int = 5) -> str:
    """One sentence for a reader: "In meting 2023 vergroot de weging de onzekerheid sterk in 2 van de 99
    wijken: Noord (design-effect 2,60 boven 2,0) en Oost (...)." -- empty when there is no warning."""
    if warnings is None or warnings.empty:
        return ""
    items = [f"{r.district_name} ({r.reason})" for r in warnings.head(shown).itertuples()]
    from babel.lists import format_list

    from socialquality.i18n import LOCALES, language

    more = len(warnings) - shown
    listed = format_list(items + ([_("nog %(n)s andere", n=more)] if more > 0 else []), locale=LOCALES[language()])
    return ngettext("In meting %(wave)s vergroot de weging de onzekerheid sterk in %(num)s van de %(total)s wijken: "
                    "%(list)s.",
                    "In meting %(wave)s vergroot de weging de onzekerheid sterk in %(num)s van de %(total)s wijken: "
                    "%(list)s.", len(warnings), wave=wave, total=districts, list=listed)


def unstable_districts(diagnostics: pd.DataFrame, minimum_respondents: int = 30) -> pd.DataFrame:
    """The districts whose weighting deserves a warning, with a ``reason`` column (current language)."""
    return weighting_warnings(diagnostics, minimum_respondents)[["district_code", "reason"]]


def deff_distribution(diagnostics: pd.DataFrame, minimum_respondents: int = 30) -> pd.DataFrame:
    """Per wave: districts, design effect (min, median, 90th percentile, max), districts with an
    adjustment note (``adjusted``) and districts with a warning."""
    cols = ["wave", "districts", "deff_min", "deff_median", "deff_p90", "deff_max", "adjusted", "warnings"]
    if diagnostics is None or diagnostics.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for wave, g in diagnostics.groupby("wave"):
        deff = pd.to_numeric(g["deff"], errors="coerce")
        rows.append({"wave": str(wave), "districts": len(g), "deff_min": deff.min(), "deff_median": deff.median(),
                     "deff_p90": deff.quantile(0.9), "deff_max": deff.max(),
                     "adjusted": int(g["warning"].notna().sum()) if "warning" in g else 0,
                     "warnings": len(weighting_warnings(g, minimum_respondents))})
    return pd.DataFrame(rows, columns=cols)


def weight_distribution(weights: pd.DataFrame) -> pd.DataFrame:
    """Per wave: the spread of the respondents' weights relative to the mean weight in their own
    district (1 = an average respondent of the district; the spread within a district is what makes
    its design effect): minimum, 10th percentile, median, 90th percentile, maximum, and the ratio of
    the largest to the smallest. ``weights``: the warehouse table ``weights``."""
    cols = ["wave", "respondents", "w_min", "w_p10", "w_median", "w_p90", "w_max", "ratio"]
    if weights is None or weights.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for wave, g in weights.groupby("wave"):
        g = g.assign(weight=pd.to_numeric(g["weight"], errors="coerce"))
        g = g[g["weight"] > 0]
        if g.empty:
            continue
        w = g["weight"]
        rel = w / g.groupby("district_code")["weight"].transform("mean")
        rows.append({"wave": str(wave), "respondents": len(w), "w_min": rel.min(), "w_p10": rel.quantile(0.1),
                     "w_median": rel.median(), "w_p90": rel.quantile(0.9), "w_max": rel.max(),
                     "ratio": rel.max() / rel.min()})
    return pd.DataFrame(rows, columns=cols)
