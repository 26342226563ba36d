"""Breakdowns by age group and sex (method: :mod:`socialquality.breakdowns`) on the district page,
in the workbook (sheet "Uitsplitsingen") and so in the open-data CSV/Parquet.

Whatever the inputs hold, a cell with fewer respondents than the report's minimum shows no number
(the privacy rule of :mod:`socialquality.report.data`). The age groups are whatever bands the
table holds, ordered by their lower bound (:func:`socialquality.agebands.parse_band`).
"""

from __future__ import annotations

import math
from pathlib import Path
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
        latest = self.table[self.table["wave"] == m.latest]
        self._latest = {code: g for code, g in latest.groupby("district_code", sort=False)}  # one pass, not one per district

    def _value(self, indicator: str, value: Any) -> str:
        return fmt_percent(value, 1) if self.m.unit(indicator) == "percent" else fmt_number(value, 1)

    def for_district(self, district: str) -> dict | None:
        m = self.m
        latest = self._latest.get(district)
        if latest is None or latest.empty:
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


def _headers() -> list[str]:
    return [_("Meting"), _("Wijk"), _("Wijkcode"), _("Indicator"), _("Uitsplitsing"), _("Groep"), _("Cijfer"),
            _("Ondergrens (95%)"), _("Bovengrens (95%)"), _("n")]


def table_rows(m: Any, b: Breakdowns, waves: list[str]) -> tuple[list[list[Any]], list[bool]]:
    """One row per cell of `waves` (city first, then the districts by name), ``DASH`` where suppressed;
    and per row whether the indicator is a percentage (stored as a proportion 0-1)."""
    order = {w: k for k, w in enumerate(waves)}
    ind_order = {i: k for k, i in enumerate(m.cat)}
    t = b.table[b.table["wave"].isin(order)].copy()
    if t.empty:
        return [], []
    t["_o"] = [(order[w], 0 if d == m.city else 1, m.names.get(d, d).lower(), ind_order.get(i, 999),
                _level_order(dim, lev)) for w, d, i, dim, lev in
               zip(t["wave"], t["district_code"], t["indicator_id"], t["dimension"], t["level"])]
    rows, percent = [], []
    for r in t.sort_values("_o").to_dict("records"):
        blank = bool(r["suppressed"]) or is_missing(r["estimate"])
        wave = int(r["wave"]) if str(r["wave"]).isdigit() else r["wave"]
        rows.append([wave, m.names.get(r["district_code"], r["district_code"]), r["district_code"],
                     m.label(r["indicator_id"]),
                     _("Leeftijd") if r["dimension"] == "age_group" else _("Geslacht"),
                     level_label(r["dimension"], r["level"]),
                     DASH if blank else float(r["estimate"]), DASH if blank else float(r["ci_low"]),
                     DASH if blank else float(r["ci_high"]), int(r["n"]) if not is_missing(r["n"]) else DASH])
        percent.append(m.unit(r["indicator_id"]) == "percent")
    return rows, percent


def excel_sheets(m: Any, formats: dict[str, str]) -> list[Any]:
    """Sheet "Uitsplitsingen": the cells of the latest wave (empty with the reason when suppressed).

    Only the latest wave: every wave of every district would exceed what a workbook can hold for a
    large municipality (and triples the time to write it); all waves are in the open data
    (:func:`write_open_data`)."""
    from socialquality.report.excel import Sheet

    b = Breakdowns(m, getattr(m.inputs, "breakdowns", None))
    rows, percent = table_rows(m, b, [m.latest])
    if not rows:
        return []
    per_row = [formats["percent"] if p else formats["score"] for p in percent]
    return [Sheet(_("Uitsplitsingen"), _headers(), rows, {10: formats["int"]},
                  row_formats={7: per_row, 8: per_row, 9: per_row}, freeze="D2", wave_columns={1},
                  empty_reason=_("minder dan %(n)s respondenten", n=m.min_n))]


def write_open_data(m: Any, frame: pd.DataFrame | None, out_dir: Path) -> list[Path]:
    """``uitsplitsingen_alle_metingen.csv|.parquet``: the cells of every wave, the same columns as the
    sheet; suppressed cells empty with the reason in "Waarom leeg"."""
    b = Breakdowns(m, frame)
    rows, _percent = table_rows(m, b, m.waves)
    if not rows:
        return []
    reason = _("minder dan %(n)s respondenten", n=m.min_n)
    data = pd.DataFrame([[None if v == DASH else v for v in row] + [reason if row[6] == DASH else None]
                         for row in rows], columns=_headers() + [_("Waarom leeg")])
    for column in data.columns[6:9]:
        data[column] = pd.to_numeric(data[column], errors="coerce").astype(float)
    data[data.columns[9]] = pd.to_numeric(data[data.columns[9]], errors="coerce").astype("Int64")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "uitsplitsingen_alle_metingen"
    data.to_csv(out_dir / f"{stem}.csv", index=False)
    data.astype({data.columns[0]: str}).to_parquet(out_dir / f"{stem}.parquet", index=False)
    return [out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"]
