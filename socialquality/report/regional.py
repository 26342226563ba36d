"""The regional overview (issue 12): one page over every municipality of an installation.

A region (``pipelines/region.py``: a file that maps municipality codes to configuration files)
runs each municipality with its own warehouse, reports and audit page. This module reads the
*published* figures of each warehouse -- never microdata -- and writes one HTML page listing, per
municipality: the latest published wave, the publication status (report written or not, a newer
wave blocked or still in progress), the city-wide composite index of every condition with its
95% interval, the city-wide survey indicators of that condition (estimate and interval;
suppressed below the minimum n), the districts whose index differs significantly from their own
city (the test of the trend report: ``significance.versus_city``, BH across the districts), and
links to the municipality's trend report and audit page.

Indices are relative to each city's own base (100 = the city in its base wave), so the page
compares districts with their own city, not cities with each other.

Plain functions, no Dagster: :func:`summarise_municipality` (warehouse -> summary) and
:func:`render_regional` (summaries -> ``index.html``). The command is
``socialquality region-report --region region.yaml --out <folder>`` (docs/operations.md §12).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from socialquality.i18n import N_, _, fmt_date, fmt_number, fmt_percent, install_jinja, is_missing, use_language

TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"
TEMPLATE = "regional.html.j2"


@dataclass
class IndicatorFigure:
    label: str
    estimate: str
    interval: str
    n: int | None
    suppressed: bool


@dataclass
class ConditionSummary:
    condition: str
    label: str
    index: str
    interval: str
    higher: list[str] = field(default_factory=list)  # district names, significantly above their city
    lower: list[str] = field(default_factory=list)
    tested: int = 0  # districts with a test
    indicators: list[IndicatorFigure] = field(default_factory=list)


@dataclass
class MunicipalitySummary:
    code: str
    name: str
    survey: str
    latest_wave: str | None  # the latest usable (published) wave
    status: str  # published | not_rendered | none
    notes: list[str]  # newer waves blocked or in progress, in the reader's language
    districts: int
    report_path: Path
    audit_path: Path
    conditions: list[ConditionSummary]
    base_wave: str | None = None
    minimum_respondents: int = 30
    report_generated: str | None = None


def _interval(low: Any, high: Any, percent: bool) -> str:
    if is_missing(low) or is_missing(high):
        return "\u2013"
    fmt = fmt_percent if percent else fmt_number
    return f"{fmt(low)} \u2013 {fmt(high)}"


def summarise_municipality(monitor: Any, code: str | None = None) -> MunicipalitySummary:
    """Read one municipality's published figures (a :class:`socialquality.monitor.Monitor`)."""
    from socialquality.report import data, significance
    from socialquality.warehouse import schema as s
    from socialquality.warehouse.store import read_table

    settings, codebook, catalogue = monitor.settings, monitor.codebook, monitor.catalogue
    engine = monitor.engine
    survey = codebook.survey
    order = {w: i for i, w in enumerate(codebook.wave_ids)}
    status = read_table(engine, s.wave_status, survey=survey)
    usable = sorted(status.loc[status["status"] == "usable", "wave"], key=lambda w: order.get(w, -1))
    latest = usable[-1] if usable else None
    notes: list[str] = []
    newer = status[status["wave"].map(lambda w: latest is None or order.get(w, -1) > order.get(latest, -1))]
    for row in sorted(newer.itertuples(), key=lambda r: order.get(r.wave, -1)):
        if row.status == "blocked":
            notes.append(_("Meting %(wave)s is geblokkeerd en niet gepubliceerd.", wave=row.wave))
        elif row.status == "failed":
            notes.append(_("Meting %(wave)s is vastgelopen en niet gepubliceerd.", wave=row.wave))
        else:  # received: a (new) file waits for its checks
            notes.append(_("Meting %(wave)s is ontvangen en nog niet gecontroleerd.", wave=row.wave))
    districts = read_table(engine, s.districts)
    city = settings.municipality
    names = dict(zip(districts["district_code"], districts["district_name"])) if not districts.empty else {}
    population = {str(k): float(v) for k, v in zip(districts["district_code"], districts["population"])
                  if not is_missing(v)} if not districts.empty else {}
    report_path = settings.path("reports") / "index.html"
    audit_path = settings.path("audit") / "index.html"
    report_generated = None
    if report_path.is_file():
        report_generated = fmt_date(dt.datetime.fromtimestamp(report_path.stat().st_mtime, dt.timezone.utc))
    conditions: list[ConditionSummary] = []
    if latest is not None:
        index = read_table(engine, s.composite_index, wave=latest)
        di = read_table(engine, s.district_indicators, survey=survey, wave=latest)
        raw_n = di.groupby("district_code")["n"].max() if not di.empty else pd.Series(dtype=float)
        di = data.guard_district_indicators(di, catalogue.minimum_respondents)
        # a district below the minimum n is neither shown nor named as different from its city
        small = set(raw_n[raw_n < catalogue.minimum_respondents].index)
        index = index[~index["district_code"].isin(small)]
        tests = significance.versus_city(index, key="condition", value="index", city=city, population=population)
        for condition, label in catalogue.conditions.items():
            row = index[(index["district_code"] == city) & (index["condition"] == condition)]
            value = row.iloc[0] if len(row) else None
            mine = tests[tests["condition"] == condition]
            summary = ConditionSummary(
                condition=condition, label=label,
                index=fmt_number(value["index"]) if value is not None else "\u2013",
                interval=_interval(value["ci_low"], value["ci_high"], False) if value is not None else "\u2013",
                higher=sorted(names.get(d, d) for d in mine.loc[mine["vs_city"] == "higher", "district_code"]),
                lower=sorted(names.get(d, d) for d in mine.loc[mine["vs_city"] == "lower", "district_code"]),
                tested=int(mine["vs_city"].notna().sum()))
            for indicator in catalogue.indicators:
                if indicator.condition != condition:
                    continue
                fig = di[(di["district_code"] == city) & (di["indicator_id"] == indicator.id)]
                percent = indicator.unit == "percent"
                if fig.empty:
                    continue
                r = fig.iloc[0]
                suppressed = bool(r["suppressed"]) or is_missing(r["estimate"])
                summary.indicators.append(IndicatorFigure(
                    label=indicator.label,
                    estimate="\u2013" if suppressed else (fmt_percent(r["estimate"]) if percent
                                                          else fmt_number(r["estimate"])),
                    interval="\u2013" if suppressed else _interval(r["ci_low"], r["ci_high"], percent),
                    n=None if is_missing(r["n"]) else int(r["n"]), suppressed=suppressed))
            conditions.append(summary)
    return MunicipalitySummary(
        code=code or city, name=settings.municipality_name, survey=codebook.title, latest_wave=latest,
        status=("none" if latest is None else "published" if report_path.is_file() else "not_rendered"),
        notes=notes, districts=int((districts["district_code"] != city).sum()) if not districts.empty else 0,
        report_path=report_path, audit_path=audit_path, conditions=conditions,
        base_wave=(catalogue.base_wave if catalogue.base_wave in usable else usable[0]) if usable else None, report_generated=report_generated,
        minimum_respondents=int(catalogue.minimum_respondents))


STATUS_TEXT = {
    "published": N_("gepubliceerd"),
    "not_rendered": N_("cijfers berekend, rapport nog niet geschreven"),
    "none": N_("nog geen bruikbare meting"),
}


def render_regional(summaries: list[MunicipalitySummary], out_dir: Path, *, title: str | None = None,
                    language: str = "nl", generated_at: dt.datetime | None = None,
                    template_dir: Path | None = None) -> Path:
    """Write ``<out_dir>/index.html``; links to each municipality's pages are relative to it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir or TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    install_jinja(env)

    def href(path: Path) -> str | None:
        return Path(os.path.relpath(path, out_dir)).as_posix() if path.is_file() else None

    with use_language(language):
        rows = [{
            "m": m, "anchor": f"gm-{m.code}".lower(),
            "status": _(STATUS_TEXT[m.status]),
            "report_href": href(m.report_path), "audit_href": href(m.audit_path),
        } for m in summaries]
        html = env.get_template(TEMPLATE).render(
            title=title or _("Regionaal overzicht sociale kwaliteit"), rows=rows, lang=language,
            generated=fmt_date(generated_at or dt.datetime.now(dt.timezone.utc)),
            published=sum(m.status == "published" for m in summaries))
    path = out_dir / "index.html"
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path
