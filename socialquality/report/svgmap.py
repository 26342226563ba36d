"""Interactive district maps as inline SVG: they open from a file or an intranet share, no internet.

No JavaScript library is needed: the boundaries (the same GeoJSON as the PNG maps of
:mod:`socialquality.report.maps`) become SVG paths, each district a link to its page with an
accessible name ("Landlust: index 98,7, marge 96,3 tot 101,3, n = 212") that a small inline
script shows as a tooltip on hover or keyboard focus. All themes share one colour scale (the index
has 100 = the city in the base year everywhere), so one legend describes every map; districts
without a figure are hatched. The static PNG stays for print and Excel.
"""

from __future__ import annotations

import html
import math
from typing import Iterable

import numpy as np
from matplotlib.path import Path as MplPath

from socialquality.i18n import _, fmt_number

LOW, MID, HIGH = (0xB3, 0x58, 0x06), (0xF7, 0xF7, 0xF7), (0x54, 0x27, 0x88)  # PuOr ends, as the PNG maps
NODATA = "#d9d9d9"


def _mix(a: tuple, b: tuple, t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    return "#%02x%02x%02x" % tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def colour(value: float, centre: float, span: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NODATA
    t = (value - centre) / span if span > 0 else 0.0
    return _mix(MID, HIGH, t) if t >= 0 else _mix(MID, LOW, -t)


def _frame(districts: Iterable, width: float) -> tuple:
    verts = np.vstack([d.path.vertices for d in districts])
    lat0 = math.radians(float(np.nanmean(verts[:, 1])))
    kx = math.cos(lat0)
    x0, x1 = float(verts[:, 0].min()) * kx, float(verts[:, 0].max()) * kx
    y0, y1 = float(verts[:, 1].min()), float(verts[:, 1].max())
    scale = width / (x1 - x0)
    return kx, x0, y1, scale, (y1 - y0) * scale


def _d(path: MplPath, kx: float, x0: float, y1: float, scale: float) -> str:
    out, last = [], None
    for (x, y), code in zip(path.vertices, path.codes if path.codes is not None else
                            [MplPath.MOVETO] + [MplPath.LINETO] * (len(path.vertices) - 1)):
        if code == MplPath.CLOSEPOLY:
            out.append("Z")
            last = None
            continue
        px, py = round((x * kx - x0) * scale, 1), round((y1 - y) * scale, 1)
        if (px, py) == last:
            continue
        out.append(("M" if code == MplPath.MOVETO else "L") + f"{px:g} {py:g}")
        last = (px, py)
    return "".join(out)


def district_map(districts, figures: dict[str, dict], *, map_id: str, label: str, href: str = "{code}.html",
                 centre: float = 100.0, span: float = 10.0, highlight: str | None = None,
                 width: float = 600.0) -> str:
    """One SVG map. ``figures``: code -> {"value": float | nan, "tip": str}. With ``highlight`` the
    map is a locator map: that district in the brand colour, the others light."""
    kx, x0, y1, scale, height = _frame(districts, width)
    e = html.escape
    parts = [f'<svg class="map" id="{e(map_id)}" viewBox="0 0 {width:g} {height:.0f}" role="group" '
             f'aria-label="{e(label)}">',
             '<defs><pattern id="{0}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/>'
             '<line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/></pattern></defs>'.format(e(map_id))]
    for d in districts:
        fig = figures.get(d.code, {})
        value = fig.get("value", math.nan)
        if highlight is not None:
            fill = "#1f3a5f" if d.code == highlight else "#e4e8ee"
        else:
            fill = colour(value, centre, span) if not (value is None or math.isnan(value)) else f"url(#{e(map_id)}-hatch)"
        tip = fig.get("tip") or d.name
        path = f'<path d="{_d(d.path, kx, x0, y1, scale)}" fill="{fill}" stroke="#ffffff" stroke-width="0.8"/>'
        if d.code not in figures:  # not in the report (no page): drawn for orientation only
            parts.append(path.replace("<path ", '<path aria-hidden="true" ', 1))
            continue
        link = fig.get("href", href.format(code=d.code))
        parts.append(f'<a class="area" href="{e(link)}" aria-label="{e(tip)}" data-tip="{e(tip)}">{path}</a>')
    parts.append("</svg>")
    return "".join(parts)


def legend(centre: float = 100.0, span: float = 10.0, unit: str = "index") -> str:
    """One legend for all maps of one measure: five steps plus 'geen cijfer'."""
    steps = [centre - span, centre - span / 2, centre, centre + span / 2, centre + span]
    cells = "".join(
        f'<span class="swatch" style="background:{colour(v, centre, span)}"></span>'
        f'<span class="lab">{("≤ " if i == 0 else "≥ " if i == 4 else "")}{fmt_number(v, 0 if v == int(v) else 1)}</span>'
        for i, v in enumerate(steps))
    no_figure = html.escape(_("geen cijfer (te weinig respondenten)"))
    return (f'<p class="map-legend"><span class="note">{html.escape(unit)}:</span> {cells}'
            f'<span class="swatch hatch"></span><span class="lab">{no_figure}</span></p>')
