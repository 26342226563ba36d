"""The trend charts of the report pages: the index per theme over the waves, as inline SVG plus the
same figures as a table (for screen readers and for copying).

:func:`respondents` gives the number of respondents per district and wave (the largest n over the
district's indicators in that wave: the people who answered the survey there); :func:`trend_charts`
gives one chart per theme for an area (a district, compared with the city, or the city itself).
All charts of one area share one y-scale so the themes can be compared at a glance. Method breaks
are drawn only on the themes whose questions they touch (a break without ``conditions`` concerns
every theme).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from socialquality.i18n import DASH, _, fmt_number, is_missing
from socialquality.report import svgchart


def respondents(district_indicators: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(district_code, wave) -> respondents (largest n over the indicators)."""
    if district_indicators is None or district_indicators.empty:
        return {}
    g = district_indicators.groupby(["district_code", "wave"])["n"].max()
    return {(str(d), str(w)): float(n) for (d, w), n in g.items() if not is_missing(n)}


def _series(m: Any, area: str, condition: str, name: str, n: dict) -> svgchart.ChartSeries:
    points = {}
    for w, (v, lo, hi) in m.index_series(area, condition).items():
        if is_missing(v):
            continue
        points[w] = svgchart.ChartPoint(float(v), float(lo) if not is_missing(lo) else float("nan"),
                                        float(hi) if not is_missing(hi) else float("nan"), n.get((area, w)))
    return svgchart.ChartSeries(name, points)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "x"


def condition_breaks(m: Any, condition: str) -> list[str]:
    """The waves of the method breaks that concern this theme."""
    return [str(b["wave"]) for b in m.breaks if not b.get("conditions") or condition in b["conditions"]]


def trend_charts(m: Any, area: str, n: dict[tuple[str, str], float], *, id_prefix: str = "trend") -> list[dict]:
    """One chart per theme for `area` (district or city); a district is compared with the city."""
    is_city = area == m.city
    area_name = m.names.get(area, area)
    city_name = m.names.get(m.city, m.city)
    mains = {c: _series(m, area, c, area_name, n) for c in m.conditions}
    comps = {c: (None if is_city else _series(m, m.city, c, city_name, n)) for c in m.conditions}
    lo, hi = svgchart.value_range(list(mains.values()) + [s for s in comps.values() if s is not None])
    charts = []
    for c, cond_name in m.conditions.items():
        main, comp = mains[c], comps[c]
        title = _("%(theme)s in %(area)s per meting: index met marge (95%%-interval)", theme=cond_name,
                  area=area_name)
        svg = svgchart.trend_svg(m.waves, main, chart_id=f"{id_prefix}-{_slug(c)}", title=title,
                                 measure=_("index"), comparison=comp, breaks=condition_breaks(m, c),
                                 y_range=(lo, hi), reference=100.0)
        rows = []
        breaks = set(condition_breaks(m, c))
        for w in m.waves:
            p = main.points.get(w)
            q = comp.points.get(w) if comp is not None else None
            rows.append({
                "wave": w,
                "value": fmt_number(p.value, 1) if p is not None else DASH,
                "interval": _("%(low)s tot %(high)s", low=fmt_number(p.low, 1), high=fmt_number(p.high, 1))
                if p is not None and not is_missing(p.low) and not is_missing(p.high) else DASH,
                "n": fmt_number(p.n, 0) if p is not None and p.n is not None else DASH,
                "city": fmt_number(q.value, 1) if q is not None else DASH,
                "break": w in breaks,
            })
        charts.append({"id": c, "name": cond_name, "svg": svg, "rows": rows, "compare": comp is not None,
                       "area": area_name, "city": city_name})
    return charts
