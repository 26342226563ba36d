"""Figures of the report (matplotlib, Agg backend: no screen needed).

Colour rule: green and red mean "significantly better / worse" and are used for nothing else;
lines and bands are blue, comparisons grey, maps purple/orange.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from socialquality.i18n import _  # noqa: E402
from socialquality.report.text import fmt_num, is_missing, verdict_class  # noqa: E402

BRAND = "#1f3a5f"  # dark blue: headings, the main line
LINE = "#2b6cb0"
BAND = "#90b4e0"
CITY = "#6b6b6b"
GREEN = "#1b7f3b"
RED = "#b42318"
GREY = "#8a8a8a"
GREY_NODATA = "#d9d9d9"
VERDICT_COLOURS = {"better": GREEN, "worse": RED, "neutral": GREY}
# distinguishable series colours without green or red (those carry meaning)
SERIES = ["#2b6cb0", "#dd8452", "#7b4fa0", "#8c564b", "#d16ba5", "#17a2b8", "#1f3a5f", "#c9a227"]
DPI = 110

plt.rcParams.update({
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlecolor": BRAND,
    "axes.titlelocation": "left",
    "savefig.facecolor": "white",
    "svg.hashsalt": "socialquality",
})


def nl_formatter(decimals: int = 0) -> FuncFormatter:
    return FuncFormatter(lambda v, _pos: fmt_num(v, decimals))


def nl_ticks(ax) -> None:
    """Y tick labels with as many decimals as the tick step needs (0.5 steps: "99,5", not "100")."""
    ticks = [t for t in ax.get_yticks() if math.isfinite(t)]
    decimals = 0 if all(abs(t - round(t)) < 1e-9 for t in ticks) else 1
    ax.yaxis.set_major_formatter(nl_formatter(decimals))


def save(fig, path: Path, *, tight: bool = True) -> Path:
    """PNG next to the report; tight=False when the layout is already fixed (saves a second draw)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight" if tight else None, metadata={"Software": None})
    plt.close(fig)
    return path


def wave_positions(waves: Sequence[str]) -> dict[str, float]:
    """Waves that are years are placed on a time axis; other labels are equally spaced."""
    try:
        return {w: float(int(str(w))) for w in waves}
    except ValueError:
        return {w: float(i) for i, w in enumerate(waves)}


def _break_x(wave: str, pos: dict[str, float], waves: Sequence[str]) -> float | None:
    if wave not in pos:
        return None
    i = list(waves).index(wave)
    if i == 0:
        step = (pos[waves[1]] - pos[waves[0]]) if len(waves) > 1 else 1.0
        return pos[wave] - step / 2
    return (pos[waves[i - 1]] + pos[wave]) / 2


def _wave_axis(ax, waves: Sequence[str], pos: dict[str, float]) -> None:
    ax.set_xticks([pos[w] for w in waves])
    ax.set_xticklabels(list(waves))
    if len(waves) > 1:
        span = pos[waves[-1]] - pos[waves[0]]
        ax.set_xlim(pos[waves[0]] - 0.08 * span - 0.3, pos[waves[-1]] + 0.08 * span + 0.3)


def _series(ax, waves, pos, values: dict[str, tuple[float, float, float]], *, colour=LINE, band=BAND,
            label=None, annotate=False, dashed=False) -> None:
    xs = [pos[w] for w in waves]
    est = [values.get(w, (math.nan,) * 3)[0] for w in waves]
    lo = [values.get(w, (math.nan,) * 3)[1] for w in waves]
    hi = [values.get(w, (math.nan,) * 3)[2] for w in waves]
    est = [math.nan if is_missing(v) else float(v) for v in est]
    lo = [math.nan if is_missing(v) else float(v) for v in lo]
    hi = [math.nan if is_missing(v) else float(v) for v in hi]
    if band is not None:
        ax.fill_between(xs, lo, hi, color=band, alpha=0.35, linewidth=0,
                        label=_("95%-interval") if label and not dashed else None)
        # isolated points (neighbours missing) get an error bar so their interval stays visible
        for i, x in enumerate(xs):
            left = i > 0 and not math.isnan(lo[i - 1])
            right = i < len(xs) - 1 and not math.isnan(lo[i + 1])
            if not math.isnan(lo[i]) and not left and not right:
                ax.plot([x, x], [lo[i], hi[i]], color=band, linewidth=4, alpha=0.6, solid_capstyle="butt")
    ax.plot(xs, est, color=colour, marker="o", markersize=4, linewidth=2 if not dashed else 1.3,
            linestyle="--" if dashed else "-", label=label)
    if annotate:
        for x, v in zip(xs, est):
            if not math.isnan(v):
                ax.annotate(fmt_num(v, 1), (x, v), textcoords="offset points", xytext=(0, 7), ha="center",
                            fontsize=8, color=colour)


def _breaks(ax, breaks: list[dict], waves, pos, *, label: bool = True) -> None:
    for b in breaks:
        x = _break_x(str(b.get("wave", "")), pos, waves)
        if x is None:
            continue
        ax.axvline(x, color="#444444", linestyle=(0, (4, 3)), linewidth=1)
        if label:
            ax.text(x, 1.0, " " + _("trendbreuk"), transform=ax.get_xaxis_transform(), fontsize=8, color="#444444",
                    va="top", ha="left")


def trend_chart(waves: Sequence[str], values: dict[str, tuple[float, float, float]], breaks: list[dict],
                out_path: Path, *, ylabel: str, reference: float | None = 100.0,
                reference_label: str | None = None) -> Path:
    """City index over the waves with its 95% band; method breaks as dashed vertical lines."""
    pos = wave_positions(waves)
    fig, ax = plt.subplots(figsize=(6.6, 3.0))
    if reference is not None:
        ax.axhline(reference, color=CITY, linewidth=0.8, linestyle=":")
        # the reference is named in the y-axis label, not on the line (a note there overlapped data labels)
    _series(ax, waves, pos, values, label=_("stad"), annotate=True)
    _breaks(ax, breaks, waves, pos)
    _wave_axis(ax, waves, pos)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.25)
    nl_ticks(ax)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    return save(fig, out_path)


def intervention_chart(
    *,
    title_left: str,
    left_series: list[tuple[str, list[tuple[float, float, float, float]]]],
    start_x: float | None,
    left_xlabel: str,
    left_ylabel: str,
    forest: list[tuple[str, float, float, float, str, bool]],
    forest_xlabel: str,
    out_path: Path,
    zero_line_left: bool = False,
) -> Path:
    """Left: the course around the start (event-study coefficients or the district's own figures),
    right: the estimated effects with their 95% intervals, green/red only when significant.

    left_series: (label, [(x, estimate, lo, hi), ...]); forest: (label, est, lo, hi, verdict, estimable).
    """
    has_left = any(points for _, points in left_series)
    ncols = 2 if has_left else 1
    height = max(2.6, 0.42 * len(forest) + 1.3)
    fig, axes = plt.subplots(1, ncols, figsize=(9.6 if has_left else 5.4, height), squeeze=False)
    if has_left:
        ax = axes[0, 0]
        many = len(left_series) > 1
        for k, (label, points) in enumerate(left_series):
            if not points:
                continue
            colour = SERIES[k % len(SERIES)]
            offset = (k - (len(left_series) - 1) / 2) * 0.06 if many else 0.0
            xs = [p[0] + offset for p in points]
            ys = [p[1] for p in points]
            err_lo = [max(p[1] - p[2], 0) if not (math.isnan(p[2]) or math.isnan(p[1])) else 0 for p in points]
            err_hi = [max(p[3] - p[1], 0) if not (math.isnan(p[3]) or math.isnan(p[1])) else 0 for p in points]
            ax.errorbar(xs, ys, yerr=[err_lo, err_hi], color=colour, marker="o", markersize=4, capsize=2,
                        linewidth=1.2, elinewidth=0.9, label=label)
        if start_x is not None:
            ax.axvspan(ax.get_xlim()[0], start_x, color="#f0f0f0", zorder=0)
            ax.axvline(start_x, color="#444444", linestyle=(0, (4, 3)), linewidth=1)
            ax.text(start_x, 1.0, " " + _("start"), transform=ax.get_xaxis_transform(), fontsize=8, va="top")
            ax.text(start_x, 0.93, _("vóór de start") + " ", transform=ax.get_xaxis_transform(), fontsize=7.5,
                    color="#666666", ha="right", va="top")
        if zero_line_left:
            ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set_title(title_left)
        ax.set_xlabel(left_xlabel)
        ax.set_ylabel(left_ylabel)
        ax.xaxis.set_major_formatter(nl_formatter(0))
        ax.yaxis.set_major_formatter(nl_formatter(1 if not zero_line_left else 1))
        ax.grid(axis="y", color="#eeeeee", linewidth=0.6)
        if many or left_series[0][0]:
            ax.legend(fontsize=7.5, frameon=False, loc="best")
    ax = axes[0, -1]
    ys = list(range(len(forest)))[::-1]
    for y, (label, est, lo, hi, verdict, estimable) in zip(ys, forest):
        colour = VERDICT_COLOURS[verdict_class(verdict)]
        if not estimable or is_missing(est):
            ax.text(0, y, _("geen schatting mogelijk"), va="center", ha="center", fontsize=8, color=GREY)
            continue
        if not (is_missing(lo) or is_missing(hi)):
            ax.plot([lo, hi], [y, y], color=colour, linewidth=2.2, solid_capstyle="round")
        ax.plot([est], [y], marker="D" if label == _("alle wijken samen") else "o", color=colour, markersize=6)
    ax.axvline(0, color="#444444", linewidth=0.9)
    ax.set_yticks(ys)
    ax.set_yticklabels([f[0] for f in forest])
    ax.set_ylim(-0.7, len(forest) - 0.3)
    ax.set_title(_("Geschat effect (95%-interval)"))
    ax.set_xlabel(forest_xlabel)
    ax.xaxis.set_major_formatter(nl_formatter(1))
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    xmin, xmax = ax.get_xlim()
    m = max(abs(xmin), abs(xmax), 1e-9)
    ax.set_xlim(-m * 1.05, m * 1.05)
    fig.tight_layout()
    return save(fig, out_path)
