"""Choropleth maps of districts with matplotlib only (no GIS libraries).

Boundaries come from a GeoJSON FeatureCollection in WGS84 with properties ``statcode`` (CBS wijk
code) and ``statnaam``. Polygons with holes are drawn as compound paths; districts without a
figure (suppressed or not in the data) are hatched grey.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib

from socialquality.i18n import N_, _

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.patches import Patch, PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

from socialquality.report.charts import BRAND, GREY_NODATA, nl_formatter, save  # noqa: E402

MAP_SOURCE = N_("Kaart: CBS/PDOK Wijk- en Buurtkaart 2019 (Bron: CBS, CC BY 4.0)")


@dataclass(frozen=True)
class District:
    code: str
    name: str
    path: MplPath


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _ring(coords: list, ccw: bool) -> np.ndarray:
    ring = np.asarray(coords, dtype=float)[:, :2]
    if len(ring) and not np.array_equal(ring[0], ring[-1]):
        ring = np.vstack([ring, ring[:1]])
    if (_signed_area(ring) > 0) != ccw:
        ring = ring[::-1]
    return ring


def _polygon_path(polygons: list[list]) -> MplPath:
    """Rings of (multi)polygons -> one compound path: exteriors counter-clockwise, holes clockwise."""
    vertices, codes = [], []
    for polygon in polygons:
        for k, coords in enumerate(polygon):
            if len(coords) < 3:
                continue
            ring = _ring(coords, ccw=(k == 0))
            vertices.append(ring)
            c = np.full(len(ring), MplPath.LINETO, dtype=np.uint8)
            c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            codes.append(c)
    return MplPath(np.vstack(vertices), np.concatenate(codes))


@lru_cache(maxsize=4)
def _load(path_str: str, mtime: float) -> tuple[District, ...]:
    with open(path_str, encoding="utf-8") as fh:
        data = json.load(fh)
    out = []
    for feature in data.get("features", []):
        geom = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        if geom.get("type") == "Polygon":
            polygons = [geom["coordinates"]]
        elif geom.get("type") == "MultiPolygon":
            polygons = geom["coordinates"]
        else:
            continue
        code = str(props.get("statcode", "")).strip().upper()
        out.append(District(code, str(props.get("statnaam", code)), _polygon_path(polygons)))
    return tuple(out)


def load_districts(path: Path) -> tuple[District, ...]:
    path = Path(path)
    return _load(str(path.resolve()), path.stat().st_mtime)


def choropleth(
    boundaries: tuple[District, ...],
    values: dict[str, float],
    out_path: Path,
    *,
    known: set[str],
    legend_label: str,
    center: float = 100.0,
    title: str | None = None,
    outside_label: str | None = None,
) -> Path:
    """Fill each district by its value (diverging colours around `center`).

    `known` are the districts of the report; a known district without a value is suppressed
    ("te weinig respondenten"), a district outside the data gets the same hatch ("geen gegevens").
    """
    finite = [v for v in values.values() if v is not None and math.isfinite(v)]
    half = max([abs(v - center) for v in finite] + [5.0])
    half = math.ceil(half / 5.0) * 5.0
    norm = TwoSlopeNorm(vcenter=center, vmin=center - half, vmax=center + half)
    cmap = plt.get_cmap("PuOr")  # orange below the city base, purple above: no green/red

    all_xy = np.vstack([d.path.vertices for d in boundaries])
    mid_lat = float(np.mean(all_xy[:, 1]))
    aspect = 1.0 / math.cos(math.radians(mid_lat))
    span_x = float(np.ptp(all_xy[:, 0])) or 1.0
    span_y = float(np.ptp(all_xy[:, 1])) * aspect or 1.0
    width = 7.2
    fig, ax = plt.subplots(figsize=(width, min(max(width * 0.85 * span_y / span_x, 3.0), 8.0) + 0.5))
    suppressed_seen = outside_seen = False
    for d in boundaries:
        v = values.get(d.code)
        if v is not None and math.isfinite(v):
            patch = PathPatch(d.path, facecolor=cmap(norm(v)), edgecolor="#555555", linewidth=0.6)
        else:
            if d.code in known:
                suppressed_seen = True
                patch = PathPatch(d.path, facecolor=GREY_NODATA, edgecolor="#8c8c8c", hatch="////",
                                  linewidth=0.5)
            else:
                outside_seen = True
                patch = PathPatch(d.path, facecolor="#f2f2f2", edgecolor="#bdbdbd", hatch="....",
                                  linewidth=0.4)
        ax.add_patch(patch)
    ax.set_xlim(all_xy[:, 0].min(), all_xy[:, 0].max())
    ax.set_ylim(all_xy[:, 1].min(), all_xy[:, 1].max())
    ax.set_aspect(aspect)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11, color=BRAND, loc="left")

    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    cbar = fig.colorbar(sm, ax=ax, shrink=0.7, pad=0.02)
    cbar.set_label(legend_label, fontsize=9)
    cbar.set_ticks(np.linspace(center - half, center + half, 5))
    cbar.ax.yaxis.set_major_formatter(nl_formatter(0 if half % 2 == 0 else 1))
    cbar.ax.tick_params(labelsize=8)
    handles = []
    if suppressed_seen:
        handles.append(Patch(facecolor=GREY_NODATA, edgecolor="#8c8c8c", hatch="////",
                             label=_("te weinig respondenten") + " (–)"))
    if outside_seen:
        handles.append(Patch(facecolor="#f2f2f2", edgecolor="#bdbdbd", hatch="....", label=outside_label or _("geen gegevens")))
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=8, frameon=True, framealpha=0.9)
    ax.text(0.0, -0.02, _(MAP_SOURCE), transform=ax.transAxes, fontsize=7, color="#555555", va="top")
    return save(fig, out_path)
