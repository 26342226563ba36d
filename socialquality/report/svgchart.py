"""Interactive trend charts as inline SVG: hover or keyboard focus shows wave, value, margin and n.

A plain function of the figures (no JavaScript chart library, no matplotlib): one chart is a few
kilobytes of SVG, so a report with thousands of districts renders its district pages in seconds
instead of drawing a PNG per district (~1 CPU-second each). What the chart shows:

- the main series (a district, or the city on the index page) as a line with its 95% interval as a
  band (an isolated point gets a vertical bar), and optionally a comparison series (the city) as a
  grey dashed line;
- one focusable point per wave of the main series (``tabindex="0"``, accessible name = the tip
  text; a 24 px target) whose ``data-tip`` a small inline script shows as a tooltip, the same way
  as the district maps (``.chart-box`` / ``.chart-tip``);
- method breaks as a dashed vertical line between the waves, only on the charts whose questions
  the break touches (the caller passes the breaks that concern this chart);
- y-axis ticks at "nice" steps whose labels get as many decimals as needed to stay distinct
  (never "100, 100, 100" for 99,5 / 100 / 100,5).

Everything a reader sees goes through :mod:`socialquality.i18n`; the same numbers are given as a
table by the template (``_trend_svg.html.j2``) for screen readers and for copying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from markupsafe import Markup, escape

from socialquality.i18n import _, fmt_number, is_missing

MAIN, BAND, OTHER, BREAK = "#1f4e79", "#9ec3e6", "#6b6b6b", "#444444"


@dataclass(frozen=True)
class ChartPoint:
    value: float
    low: float = math.nan
    high: float = math.nan
    n: float | None = None


@dataclass
class ChartSeries:
    name: str
    points: dict[str, ChartPoint] = field(default_factory=dict)


def wave_positions(waves: Sequence[str]) -> dict[str, float]:
    """Waves that are years are placed on a time axis; other labels are equally spaced."""
    try:
        return {w: float(int(str(w))) for w in waves}
    except ValueError:
        return {w: float(i) for i, w in enumerate(waves)}


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Ticks at 1, 2, 2.5 or 5 times a power of ten covering [low, high], about `target` of them."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0
    raw = (high - low) / max(target - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1.0, 2.0, 2.5, 5.0, 10.0) if s * power >= raw - 1e-12)
    start = math.floor(low / step + 1e-9) * step
    ticks, t = [], start
    while t <= high + step * 0.5 and len(ticks) < 50:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < high - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Locale-formatted labels with the fewest decimals that keep every label distinct."""
    for decimals in range(0, 6):
        labels = [fmt_number(t, decimals) for t in ticks]
        if len(set(labels)) == len(labels) and all(abs(round(t, decimals) - t) < 1e-9 for t in ticks):
            return labels
    return [fmt_number(t, 6) for t in ticks]


def value_range(series: Sequence[ChartSeries]) -> tuple[float, float]:
    """Smallest and largest value or interval bound over the series (nan, nan when empty)."""
    values = [float(v) for s in series for p in s.points.values() for v in (p.value, p.low, p.high)
              if not is_missing(v)]
    return (min(values), max(values)) if values else (math.nan, math.nan)


def _f(x: float) -> str:
    """Whole units: the viewBox scales them, and no coordinate can be mistaken for a figure."""
    return str(int(round(x)))


def point_tip(wave: str, point: ChartPoint, *, measure: str, decimals: int = 1,
              comparison: tuple[str, ChartPoint | None] | None = None) -> str:
    """"2023: index 101,2 (marge 98,0 tot 104,3), n = 240; stad 100,4" (the tooltip and accessible name)."""
    text = _("%(wave)s: %(measure)s %(value)s", wave=wave, measure=measure, value=fmt_number(point.value, decimals))
    if not is_missing(point.low) and not is_missing(point.high):
        text += " " + _("(marge %(low)s tot %(high)s)", low=fmt_number(point.low, decimals),
                        high=fmt_number(point.high, decimals))
    if point.n is not None and not is_missing(point.n):
        text += ", " + _("n = %(n)s", n=fmt_number(point.n, 0))
    if comparison is not None and comparison[1] is not None and not is_missing(comparison[1].value):
        text += "; " + _("%(name)s: %(value)s", name=comparison[0], value=fmt_number(comparison[1].value, decimals))
    return text


def trend_svg(waves: Sequence[str], main: ChartSeries, *, chart_id: str, title: str, measure: str = "index",
              comparison: ChartSeries | None = None, breaks: Sequence[str] = (),
              y_range: tuple[float, float] | None = None, reference: float | None = None,
              width: int = 340, height: int = 200, decimals: int = 1) -> Markup:
    """One trend chart as an inline ``<svg>`` (safe markup: every text is escaped).

    ``breaks`` are the waves at which a method break concerning this chart starts (the dashed
    line is drawn between that wave and the one before). ``y_range`` lets small multiples share
    one scale; ``reference`` draws a faint horizontal line (e.g. 100 = the city in the base year).
    """
    waves = [str(w) for w in waves]
    pos = wave_positions(waves)
    left, right, top, bottom = 44, 12, 22, 26
    pw, ph = width - left - right, height - top - bottom
    lo, hi = y_range if y_range is not None else value_range([main] + ([comparison] if comparison else []))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = (reference - 5, reference + 5) if reference is not None else (0.0, 1.0)
    ticks = nice_ticks(lo, hi)
    y0, y1 = ticks[0], ticks[-1]
    if len(waves) > 1:
        x_lo, x_hi = pos[waves[0]], pos[waves[-1]]
    else:
        x_lo, x_hi = (pos[waves[0]] - 1, pos[waves[0]] + 1) if waves else (0.0, 1.0)
    pad = 0.06 * (x_hi - x_lo)
    x_lo, x_hi = x_lo - pad, x_hi + pad

    def X(w: str) -> float:
        return left + (pos[w] - x_lo) / (x_hi - x_lo) * pw

    def Y(v: float) -> float:
        return top + (y1 - float(v)) / (y1 - y0) * ph

    e = escape
    cid = e(chart_id)
    out = [f'<svg class="trend" id="{cid}" viewBox="0 0 {width} {height}" role="group" '
           f'aria-labelledby="{cid}-t"><title id="{cid}-t">{e(title)}</title>']
    # grid and axes (decorative: the numbers are in the points' names and in the table)
    grid = ['<g aria-hidden="true" class="axes">']
    for t, label in zip(ticks, tick_labels(ticks)):
        y = Y(t)
        grid.append(f'<line x1="{left}" x2="{left + pw}" y1="{_f(y)}" y2="{_f(y)}" stroke="#e3e3e3"/>'
                    f'<text x="{left - 5}" y="{_f(y + 3.5)}" text-anchor="end">{e(label)}</text>')
    if reference is not None and y0 <= reference <= y1:
        grid.append(f'<line x1="{left}" x2="{left + pw}" y1="{_f(Y(reference))}" y2="{_f(Y(reference))}" '
                    f'stroke="#9a9a9a" stroke-width="1"/>')
    step = max(1, math.ceil(len(waves) / max(pw // 44, 1)))  # thin the labels when waves are dense
    for i, w in enumerate(waves):
        if i % step == 0 or i == len(waves) - 1:
            grid.append(f'<text x="{_f(X(w))}" y="{height - 8}" text-anchor="middle">{e(w)}</text>')
    for b in breaks:
        if b not in pos:
            continue
        i = waves.index(b)
        xb = X(b) - (X(b) - X(waves[i - 1])) / 2 if i > 0 else X(b) - pw * 0.04
        grid.append(f'<line class="brk" x1="{_f(xb)}" x2="{_f(xb)}" y1="{top - 4}" y2="{top + ph}" stroke="{BREAK}" '
                    f'stroke-dasharray="4 3"/><text class="brk" x="{_f(xb + 3)}" y="{top - 8}">'
                    f'{e(_("trendbreuk"))}</text>')
    grid.append("</g>")
    out.extend(grid)

    def runs(series: ChartSeries, attr: str) -> list[list[str]]:
        """Consecutive waves with a value (a missing wave breaks the line and the band)."""
        out_runs, cur = [], []
        for w in waves:
            p = series.points.get(w)
            if p is not None and not is_missing(getattr(p, attr)):
                cur.append(w)
            elif cur:
                out_runs.append(cur)
                cur = []
        if cur:
            out_runs.append(cur)
        return out_runs

    lines = ['<g aria-hidden="true">']
    for run in runs(main, "low"):
        pts = [main.points[w] for w in run if not is_missing(main.points[w].high)]
        if len(run) == 1 or len(pts) < len(run):
            for w in run:
                p = main.points[w]
                if not is_missing(p.high):
                    lines.append(f'<line x1="{_f(X(w))}" x2="{_f(X(w))}" y1="{_f(Y(p.low))}" y2="{_f(Y(p.high))}" '
                                 f'stroke="{BAND}" stroke-width="6"/>')
            continue
        upper = " ".join(f"{_f(X(w))},{_f(Y(main.points[w].high))}" for w in run)
        lower = " ".join(f"{_f(X(w))},{_f(Y(main.points[w].low))}" for w in reversed(run))
        lines.append(f'<polygon class="band" points="{upper} {lower}" fill="{BAND}" fill-opacity="0.55"/>')
    if comparison is not None:
        for run in runs(comparison, "value"):
            pts = " ".join(f"{_f(X(w))},{_f(Y(comparison.points[w].value))}" for w in run)
            lines.append(f'<polyline points="{pts}" fill="none" stroke="{OTHER}" stroke-width="1.5" '
                         f'stroke-dasharray="5 3"/>')
    for run in runs(main, "value"):
        pts = " ".join(f"{_f(X(w))},{_f(Y(main.points[w].value))}" for w in run)
        lines.append(f'<polyline points="{pts}" fill="none" stroke="{MAIN}" stroke-width="2.2"/>')
    lines.append("</g>")
    out.extend(lines)

    for w in waves:
        p = main.points.get(w)
        if p is None or is_missing(p.value):
            continue
        comp = (comparison.name, comparison.points.get(w)) if comparison is not None else None
        tip = point_tip(w, p, measure=measure, decimals=decimals, comparison=comp)
        x, y = _f(X(w)), _f(Y(p.value))
        out.append(f'<g class="pt" tabindex="0" role="img" aria-label="{e(tip)}" data-tip="{e(tip)}">'
                   f'<circle cx="{x}" cy="{y}" r="12" fill="transparent"/>'
                   f'<circle class="dot" cx="{x}" cy="{y}" r="3.6" fill="{MAIN}" stroke="#fff" stroke-width="1"/></g>')
    out.append("</svg>")
    return Markup("".join(out))
