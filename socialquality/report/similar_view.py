"""The "Vergelijkbare wijken" block of a district page (method: :mod:`socialquality.similar`).

For each district: its k most similar districts on the CBS register figures, their index per theme
in the latest wave side by side (figure and margin), and per theme the mark "hoger/lager dan
vergelijkbare wijken" only when the difference with their mean is significant after
Benjamini-Hochberg across the districts (otherwise "niet aantoonbaar anders").
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from babel.lists import format_list

from socialquality.i18n import DASH, LOCALES, N_, _, fmt_number, is_missing, language
from socialquality.similar import DEFAULT_K, nearest, profile, versus_similar

VARIABLE_LABELS = {
    "pct_15_24": N_("aandeel 15-24-jarigen"),
    "pct_65plus": N_("aandeel 65-plussers"),
    "pct_niet_westers": N_("aandeel met een niet-westerse migratieachtergrond"),
    "inkomen_per_inwoner": N_("gemiddeld inkomen per inwoner"),
    "pct_laag_inkomen": N_("aandeel huishoudens met een laag inkomen"),
    "pct_corporatie": N_("aandeel corporatiewoningen"),
    "pct_eenpersoons": N_("aandeel eenpersoonshuishoudens"),
    "log_dichtheid": N_("bevolkingsdichtheid"),
}
MARKS = {"higher": N_("hoger dan vergelijkbare wijken"), "lower": N_("lager dan vergelijkbare wijken"),
         "same": N_("niet aantoonbaar anders dan vergelijkbare wijken")}


class SimilarDistricts:
    """Neighbours and tests for every district of a report :class:`~socialquality.report.render.Model`."""

    def __init__(self, m: Any, covariates: pd.DataFrame | None, k: int = DEFAULT_K):
        self.m = m
        # districts without inhabitants (industrial estates, water) are nobody's "similar district"
        codes = [str(c) for c, pop in zip(m.districts["district_code"], m.districts["population"])
                 if str(c) != m.city and (is_missing(pop) or float(pop) > 0)]
        table = profile(covariates, codes)
        self.variables = list(table.columns)
        self.neighbours = nearest(table, k)
        self._by_district = {d: list(g.sort_values("rank")["similar_code"])
                             for d, g in self.neighbours.groupby("district_code")}
        latest = m.index[(m.index["wave"] == m.latest) & (m.index["district_code"] != m.city)]
        vs = versus_similar(latest, self.neighbours, key="condition", value="index")
        self._vs = {(r["district_code"], r["condition"]): r for r in vs.to_dict("records")}

    def for_district(self, district: str, href: str = "{code}.html") -> dict | None:
        similar = self._by_district.get(district)
        if not similar:
            return None
        m = self.m
        conditions = list(m.conditions)

        def cells(code: str) -> list[dict]:
            out = []
            for c in conditions:
                r = m.index_row(code, c, m.latest)
                has = r is not None and not is_missing(r["index"])
                out.append({"value": fmt_number(r["index"], 1) if has else DASH,
                            "interval": _("%(low)s tot %(high)s", low=fmt_number(r["ci_low"], 1),
                                          high=fmt_number(r["ci_high"], 1))
                            if has and not is_missing(r["ci_low"]) else ""})
            return out

        rows = [{"name": m.names.get(district, district), "href": None, "own": True, "cells": cells(district)}]
        rows += [{"name": m.names.get(c, c), "href": href.format(code=c), "own": False, "cells": cells(c)}
                 for c in similar]
        marks = []
        for c in conditions:
            r = self._vs.get((district, c))
            if r is None or r["vs_similar"] not in MARKS:
                marks.append({"theme": m.conditions[c], "code": "none", "detail": "",
                              "text": _("geen vergelijking (te weinig cijfers)")})
                continue
            marks.append({"theme": m.conditions[c], "code": r["vs_similar"], "text": _(MARKS[r["vs_similar"]]),
                          "detail": _("index %(own)s; gemiddelde van de vergelijkbare wijken %(mean)s",
                                      own=fmt_number(r["diff"] + r["similar_mean"], 1),
                                      mean=fmt_number(r["similar_mean"], 1))})
        return {"themes": [m.conditions[c] for c in conditions], "rows": rows, "marks": marks,
                "k": len(similar), "variables": format_list([_(VARIABLE_LABELS.get(v, v)) for v in self.variables],
                                                             locale=LOCALES[language()])}
