"""Breakdowns by age group and sex (method: :mod:`socialquality.breakdowns`) on the district page,
in the workbook (sheet "Uitsplitsingen") and so in the open-data CSV/Parquet.

Whatever the inputs hold, a cell with fewer respondents than the report's minimum shows no number
(the privacy rule of :mod:`socialquality.report.data`). The age groups are whatever bands the
table holds, ordered by their lower bound (:func:`socialquality.agebands.parse_band`).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from socialquality.agebands import parse_band
from socialquality.breakdowns import BREAKDOWN_COLUMNS
from socialquality.i18n import DASH, N_, _, fmt_number, fmt_percent, is_missing

SEX_LABELS = {"m": N_("mannen"), "v": N_("vrouwen")}


def guard(frame: pd.DataFrame | None, minimum: int) -> pd.DataFrame:
    """The breakdowns with every cell below `minimum` respondents blanked and marked suppressed."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=BREAKDOWN_COLUMNS)
    df = frame.reindex(columns=BREAKDOWN_COLUMNS).copy()
    df["district_code"] = df["district_code"].astype(str)
    df["wave"] = df["wave"].astype(str)
    df["level"] = df["level"].astype(str)
    n = pd.to_numeric(df["n"], errors="coerce")
    small = n.isna() | (n < minimum) | df["suppressed"].fillna(False).astype(bool)
    df["suppressed"] = small
    for column in ("estimate", "se", "ci_low", "ci_high"):
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
        df.loc[small, column] = math.nan
    return df


def level_label(dimension: str, level: str) -> str:
    if dimension == "sex":
        return _(SEX_LABELS[level]) if level in SEX_LABELS else level
    band = parse_band(level)
    if band is not None and math.isinf(band.high):
        return _("%(low)s jaar en ouder", low=band.low)
    return _("%(band)s jaar", band=level)


def _level_order(dimension: str, level: str) -> tuple:
    if dimension == "sex":
        return (1, list(SEX_LABELS).index(level) if level in SEX_LABELS else 9, level)
    band = parse_band(level)
    return (0, band.low if band is not None else 999, level)


class Breakdowns:
    """Look-ups of a report's breakdowns (latest wave on the pages; every wave in the workbook)."""

    def __init__(self, m: Any, frame: pd.DataFrame | None):
        self.m = m
        self.table = guard(frame, m.min_n)
        levels = self.table[["dimension", "level"]].drop_duplicates().to_records(index=False)
        self.columns = sorted(((str(d), str(lv)) for d, lv in levels), key=lambda x: _level_order(*x))
        self._map = {(r["district_code"], r["indicator_id"], r["dimension"], r["level"], r["wave"]): r
                     for r in self.table.to_dict("records")}

    def _value(self, indicator: str, value: Any) -> str:
        return fmt_percent(value, 1) if self.m.unit(indicator) == "percent" else fmt_number(value, 1)

    def for_district(self, district: str) -> dict | None:
        m = self.m
        latest = self.table[(self.table["district_code"] == district) & (self.table["wave"] == m.latest)]
        if latest.empty:
            return None
        indicators = [i for i in m.cat if i in set(latest["indicator_id"])]
        columns = [c for c in self.columns if ((latest["dimension"] == c[0]) & (latest["level"] == c[1])).any()]
        rows = []
        any_suppressed = False
        for ind in indicators:
            cells = []
            for dim, lev in columns:
                r = self._map.get((district, ind, dim, lev, m.latest))
                if r is None or r["suppressed"] or is_missing(r["estimate"]):
                    any_suppressed = any_suppressed or r is not None
                    cells.append({"value": DASH, "interval": "", "n": fmt_number(r["n"], 0) if r is not None else "",
                                  "suppressed": r is not None})
                    continue
                cells.append({"value": self._value(ind, r["estimate"]),
                              "interval": _("%(low)s tot %(high)s", low=self._value(ind, r["ci_low"]),
                                            high=self._value(ind, r["ci_high"])),
                              "n": fmt_number(r["n"], 0), "suppressed": False})
            rows.append({"label": m.label(ind), "cells": cells})
        groups = []
        for dim in ("age_group", "sex"):
            span = sum(1 for c in columns if c[0] == dim)
            if span:
                groups.append({"label": _("Leeftijd") if dim == "age_group" else _("Geslacht"), "span": span})
        return {"groups": groups, "columns": [level_label(d, lv) for d, lv in columns], "rows": rows,
                "any_suppressed": any_suppressed,
                "reason": _("minder dan %(n)s respondenten in deze groep", n=m.min_n)}


def add_sheet(wb: Any, m: Any, table_writer: Any, formats: dict[str, str]) -> None:
    """Sheet "Uitsplitsingen": every breakdown cell of every wave (empty with the reason when suppressed)."""
    b = Breakdowns(m, getattr(m.inputs, "breakdowns", None))
    if b.table.empty:
        return
    order = {w: k for k, w in enumerate(m.waves)}
    ind_order = {i: k for k, i in enumerate(m.cat)}
    t = b.table[b.table["wave"].isin(order)].copy()
    t["_o"] = [(order[w], 0 if d == m.city else 1, m.names.get(d, d).lower(), ind_order.get(i, 999),
                _level_order(dim, lev)) for w, d, i, dim, lev in
               zip(t["wave"], t["district_code"], t["indicator_id"], t["dimension"], t["level"])]
    rows = []
    percent_rows = []
    for r in t.sort_values("_o").to_dict("records"):
        unit = m.unit(r["indicator_id"])
        blank = bool(r["suppressed"]) or is_missing(r["estimate"])
        rows.append([r["wave"], m.names.get(r["district_code"], r["district_code"]), r["district_code"],
                     m.label(r["indicator_id"]),
                     _("Leeftijd") if r["dimension"] == "age_group" else _("Geslacht"),
                     level_label(r["dimension"], r["level"]),
                     DASH if blank else float(r["estimate"]), DASH if blank else float(r["ci_low"]),
                     DASH if blank else float(r["ci_high"]), int(r["n"]) if not is_missing(r["n"]) else DASH])
        if unit == "percent":
            percent_rows.append(len(rows) + 1)
    ws = wb.create_sheet(_("Uitsplitsingen"))
    table_writer(ws, [_("Meting"), _("Wijk"), _("Wijkcode"), _("Indicator"), _("Uitsplitsing"), _("Groep"),
                      _("Cijfer"), _("Ondergrens (95%)"), _("Bovengrens (95%)"), _("n")], rows,
                 {10: formats["int"]}, freeze="D2")
    for row in percent_rows:
        for col in (7, 8, 9):
            cell = ws.cell(row=row, column=col)
            cell.number_format = formats["percent"] if isinstance(cell.value, float) else cell.number_format
    for row in range(2, len(rows) + 2):
        for col in (7, 8, 9):
            cell = ws.cell(row=row, column=col)
            if isinstance(cell.value, float) and row not in percent_rows:
                cell.number_format = formats["score"]
