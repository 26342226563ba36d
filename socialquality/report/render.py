"""Render the trend report: ``index.html``, one page per district, figures and ``rapport.xlsx``.

:func:`render_report` is a pure function of :class:`ReportInputs` (aggregates only, never
microdata): it writes files under ``out_dir`` and returns their paths. Privacy rules (suppression
below the minimum number of respondents, feedback shares below five answers) are enforced here
whatever the inputs hold; see :mod:`socialquality.report.data`.

Scales: survey shares are proportions 0-1 in ``district_indicators`` and ``changes`` (shown as
% and %-punt); register percentages are 0-100 as CBS publishes them; effects of percent
indicators follow ``ReportInputs.effect_scale``. Layout and wording of the pages live in the
Jinja2 templates in ``reports/templates`` (see docs/reports.md).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from socialquality.effects.verdict import interval_decimals
from socialquality.i18n import N_, _, install_jinja, language, ngettext
from socialquality.report import (breakdown_view, charts, data, excel, significance, similar_view, small_areas, svgmap,
                                  trend_views)
from socialquality.report.text import (
    DASH,
    change_label,
    change_unit,
    effect_label,
    fmt_change,
    fmt_change_interval,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_value,
    fmt_datetime,
    fmt_interval,
    fmt_year,
    is_missing,
    join_words,
    kind_name,
    method_long,
    method_short,
    plural,
    sphere_name,
    verdict_class,
)

TEMPLATE_ENV = "SOCIALQUALITY_REPORT_TEMPLATES"
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"
FIGURES = "figuren"
DISTRICT_DIR = "wijken"


@dataclass
class ReportInputs:
    municipality_code: str
    municipality_name: str
    waves: list[str]
    latest_wave: str
    base_wave: str
    districts: pd.DataFrame
    catalogue: pd.DataFrame
    conditions: dict[str, str]
    district_indicators: pd.DataFrame
    changes: pd.DataFrame
    composite_index: pd.DataFrame
    index_decomposition: pd.DataFrame
    register_indicators: pd.DataFrame
    effects: pd.DataFrame
    chain: pd.DataFrame
    quality: pd.DataFrame
    method_breaks: list[dict]
    geojson_path: Path | None
    minimum_respondents: int
    lineage: dict
    # optional extras (all have defaults, so callers passing only the fields above keep working)
    #: event-time coefficients: intervention_id, district_code ("" pooled), indicator_id, event_time,
    #: estimate, ci_low, ci_high (same scale as `effects`)
    event_study: pd.DataFrame | None = None
    #: intervention_id, district_code, start (ISO date); default: first year in `chain`
    intervention_sites: pd.DataFrame | None = None
    #: intervention_id, name, kind, sphere, goal, mechanism (from surveys/interventions.yaml)
    intervention_info: pd.DataFrame | None = None
    #: scale of effects of percent indicators: "proportion" (0-1, like district_indicators) or "points"
    effect_scale: str = "proportion"
    #: small-area figures (table small_area_estimates), their models (small_area_models), the buurten
    #: (buurt_code, district_code, buurt_name, population) and the buurt boundaries (GeoJSON)
    small_areas: pd.DataFrame | None = None
    small_area_models: pd.DataFrame | None = None
    buurten: pd.DataFrame | None = None
    buurt_geojson_path: Path | None = None
    #: costs per intervention and year and the derived cost measures (socialquality.costs); with
    #: or without them every intervention gets its one-page chain (interventies/<anchor>.html)
    intervention_costs: pd.DataFrame | None = None
    cost_measures: pd.DataFrame | None = None
    #: relative link from the report folder to the audit page (audit/index.html), when there is one
    audit_href: str | None = None
    #: CBS register figures per district (table area_covariates: level, area_code, covariate, value), for
    #: "vergelijkbare wijken" (socialquality.similar); None: no such block
    district_covariates: pd.DataFrame | None = None
    #: headline indicators by age group and sex (table district_breakdowns, socialquality.breakdowns)
    breakdowns: pd.DataFrame | None = None
    #: the weighting diagnostics per district and wave (table weighting_diagnostics); the data-quality
    #: paragraph names the districts where weighting hurts precision (socialquality.weighting_check)
    weighting_diagnostics: pd.DataFrame | None = None


@dataclass
class ReportOutputs:
    html_path: Path
    excel_path: Path
    figure_paths: list[Path] = field(default_factory=list)
    district_pages: list[Path] = field(default_factory=list)


def interventions_frames(register: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(intervention_info, intervention_sites) from :func:`socialquality.catalogue.load_register`."""
    def text(i: Any, key: str) -> str:  # name, goal, mechanism in the report's language (register `*_en`)
        return i.text(key) if hasattr(i, "text") else getattr(i, key)

    info = pd.DataFrame([{"intervention_id": i.id, "name": text(i, "name"), "kind": i.kind, "sphere": i.sphere or "",
                          "goal": text(i, "goal"), "mechanism": text(i, "mechanism")} for i in register],
                        columns=data.INFO_COLUMNS)
    sites = pd.DataFrame([{"intervention_id": i.id, "district_code": s.district, "start": s.start.isoformat()}
                          for i in register for s in i.sites], columns=data.SITE_COLUMNS)
    return info, sites


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_") or "x"


def _verdict(verdict: str, text: str | None = None, kind: str = "change") -> dict:
    label = change_label(verdict) if kind == "change" else effect_label(verdict)
    return {"cls": verdict_class(verdict), "label": text or label, "code": verdict}


LINEAGE_LABELS = {
    "run_id": N_("Run-id (Dagster)"),
    "git_commit": N_("Versie van de programmatuur (git-commit)"),
    "generated_at": N_("Gemaakt op"),
    "codebook": N_("Codeboek"),
    "codebooks": N_("Codeboeken"),
    "codebook_versions": N_("Versies van de codeboeken"),
    "codebook_checksums": N_("Controlegetallen van de codeboeken"),
    "catalogue_version": N_("Versie van de indicatorenlijst"),
    "files": N_("Geleverde bestanden (controlegetal)"),
}


def _lineage_label(key: str) -> str:
    return _(LINEAGE_LABELS[key]) if key in LINEAGE_LABELS else key


def _lineage_rows(lineage: dict) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any, label: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v, f"{label}: {k}" if label else _lineage_label(
                    str(k)))
        elif isinstance(value, (list, tuple)):
            rows.append((label, ", ".join(str(v) for v in value)))
        else:
            rows.append((label, fmt_datetime(value) if prefix == "generated_at" else str(value)))

    for key, value in (lineage or {}).items():
        walk(str(key), value, _lineage_label(str(key)))
    return rows


# ---------------------------------------------------------------------------
# the model: guarded frames plus look-ups shared by HTML, figures and Excel
# ---------------------------------------------------------------------------


class Model:
    def __init__(self, inputs: ReportInputs):
        self.inputs = inputs
        self.city = inputs.municipality_code
        self.waves = [str(w) for w in inputs.waves]
        self.latest = str(inputs.latest_wave)
        self.base = str(inputs.base_wave)
        i = self.waves.index(self.latest) if self.latest in self.waves else len(self.waves) - 1
        self.previous = self.waves[i - 1] if i > 0 else None
        self.min_n = int(inputs.minimum_respondents)

        self.catalogue = data.tidy(inputs.catalogue, data.CATALOGUE_COLUMNS)
        if inputs.catalogue is not None and "in_index" not in inputs.catalogue.columns:
            self.catalogue["in_index"] = True
        self.cat = {r["indicator_id"]: r for r in self.catalogue.to_dict("records")}
        self.conditions = dict(inputs.conditions)
        for cond in self.catalogue["condition"]:
            self.conditions.setdefault(cond, cond)

        self.districts = data.tidy(inputs.districts, data.DISTRICT_COLUMNS)
        self.districts["district_code"] = self.districts["district_code"].astype(str)
        self.districts = self.districts.sort_values("district_name", key=lambda s: s.str.lower()).reset_index(
            drop=True)
        self.names = dict(zip(self.districts["district_code"], self.districts["district_name"]))
        self.names.setdefault(self.city, inputs.municipality_name)

        self.di = data.guard_district_indicators(inputs.district_indicators, self.min_n)
        self.small_areas = small_areas.guard(inputs.small_areas, self.min_n)
        self.small_area_lookup = small_areas.lookup(self.small_areas)
        self.small_area_models = inputs.small_area_models
        self.buurt_names = dict(zip(inputs.buurten["buurt_code"], inputs.buurten["buurt_name"])) \
            if inputs.buurten is not None and not inputs.buurten.empty else {}
        self.suppressed = data.suppressed_keys(self.di)
        # intervals that agree with the badge (BH/FCR), computed on the whole family before guarding
        self.changes = data.guard_changes(
            significance.adjusted_change_intervals(data.tidy(inputs.changes, data.CHANGE_COLUMNS)), self.suppressed)
        self.changes.loc[self.changes["change"].isna(), ["ci_low_adj", "ci_high_adj"]] = math.nan
        self.index = data.tidy(inputs.composite_index, data.INDEX_COLUMNS)
        population = {str(k): float(v) for k, v in zip(self.districts["district_code"], self.districts["population"])
                      if not is_missing(v)}
        vs_ind = significance.versus_city(self.di, key="indicator_id", value="estimate", city=self.city,
                                          population=population)
        vs_idx = significance.versus_city(self.index, key="condition", value="index", city=self.city,
                                          population=population)
        self.vs_city = {(r["district_code"], r["indicator_id"], r["wave"]): r["vs_city"]
                        for r in vs_ind.to_dict("records")}
        self.vs_city.update({(r["district_code"], f"index:{r['condition']}", r["wave"]): r["vs_city"]
                             for r in vs_idx.to_dict("records")})
        self.decomp = data.guard_decomposition(inputs.index_decomposition, self.suppressed, self.waves)
        self.register = data.tidy(inputs.register_indicators, data.REGISTER_COLUMNS)
        self.effects = data.tidy(inputs.effects, data.EFFECT_COLUMNS)
        self.event_study = data.tidy(inputs.event_study, data.EVENT_STUDY_COLUMNS)
        self.chain = data.guard_chain(inputs.chain)
        self.quality = data.tidy(inputs.quality, data.QUALITY_COLUMNS)
        self.sites = data.tidy(inputs.intervention_sites, data.SITE_COLUMNS)
        self.info = data.tidy(inputs.intervention_info, data.INFO_COLUMNS)
        self.breaks = [dict(b) for b in (inputs.method_breaks or [])]
        for b in self.breaks:  # the themes a break touches, by name too (the district chart's panel titles)
            if b.get("conditions"):
                b["condition_names"] = [self.conditions.get(c, c) for c in b["conditions"]]
        for b in self.breaks:
            b["wave"] = str(b.get("wave", ""))
        if inputs.effect_scale not in ("proportion", "points"):
            raise ValueError("effect_scale must be 'proportion' or 'points'")
        self.effect_scale = inputs.effect_scale
        data.check_effect_scale(self.effects, self.catalogue, self.effect_scale)

        self._di_map = {(r["district_code"], r["indicator_id"], r["wave"]): r for r in self.di.to_dict("records")}
        self._index_map = {(r["district_code"], r["condition"], r["wave"]): r
                           for r in self.index.to_dict("records")}
        self._change_map = {(r["district_code"], r["indicator_id"], r["wave"], r["compared_to"]): r
                            for r in self.changes.to_dict("records")}

    # --- look-ups ---------------------------------------------------------
    def unit(self, indicator_id: str) -> str:
        return str(self.cat.get(indicator_id, {}).get("unit") or "percent")

    def label(self, indicator_id: str) -> str:
        return str(self.cat.get(indicator_id, {}).get("label") or indicator_id)

    def effect_factor(self, indicator_id: str) -> float:
        if self.unit(indicator_id) == "percent" and self.effect_scale == "proportion":
            return 100.0
        return 1.0

    def estimate(self, district: str, indicator: str, wave: str) -> dict | None:
        return self._di_map.get((district, indicator, wave))

    def index_row(self, district: str, condition: str, wave: str) -> dict | None:
        return self._index_map.get((district, condition, wave))

    def change(self, district: str, indicator: str, wave: str, compared_to: str) -> dict | None:
        return self._change_map.get((district, indicator, wave, compared_to))

    def index_series(self, district: str, condition: str) -> dict[str, tuple[float, float, float]]:
        out = {}
        for w in self.waves:
            r = self.index_row(district, condition, w)
            if r is not None:
                out[w] = (r["index"], r["ci_low"], r["ci_high"])
        return out

    def survey_indicators(self, condition: str, *, index_only: bool = False) -> list[str]:
        return [i for i, r in self.cat.items() if r["condition"] == condition and r["kind"] != "register"
                and (r["in_index"] or not index_only)]

    def index_change(self, district: str, condition: str, wave: str) -> dict | None:
        """A change of the composite index itself, when `changes` holds one (indicator_id = condition id
        or "index:<condition>")."""
        for key in (condition, f"index:{condition}"):
            r = self.change(district, key, wave, "previous")
            if r is not None:
                return r
        return None

    def start_years(self, intervention_id: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.sites[self.sites["intervention_id"] == intervention_id].to_dict("records"):
            try:
                out[r["district_code"]] = int(str(r["start"])[:4])
            except ValueError:
                pass
        ch = self.chain[self.chain["intervention_id"] == intervention_id]
        for d, g in ch.groupby("district_code"):
            if d not in out and g["year"].notna().any():
                out[d] = int(g["year"].min())
        return out


# ---------------------------------------------------------------------------
# context pieces
# ---------------------------------------------------------------------------


def _change_cell(m: Model, district: str, indicator: str, compared_to: str) -> dict:
    r = m.change(district, indicator, m.latest, compared_to)
    unit = m.unit(indicator)
    if r is None:
        return {"text": DASH, "interval": "", "verdict": None, "reference": "", "method_break": False}
    return {
        "text": fmt_change(r["change"], unit),
        # the printed margin is the FCR-adjusted one: it excludes 0 exactly when the badge is coloured
        "interval": fmt_change_interval(r.get("ci_low_adj"), r.get("ci_high_adj"), unit),
        "interval_95": fmt_change_interval(r["ci_low"], r["ci_high"], unit),
        "verdict": _verdict(r["verdict"]),
        "reference": r["reference_wave"],
        "method_break": bool(r["method_break"]),
        "suppressed": bool(r.get("suppressed", False)),
    }


VS_CITY_LABELS = {"higher": N_("hoger dan de stad"), "lower": N_("lager dan de stad"),
                  "same": N_("niet aantoonbaar anders dan de stad")}


def _vs_city(m: Model, district: str, key: str) -> dict | None:
    """The mark "significant hoger/lager dan de stad" (BH across the districts, like the changes)."""
    if district == m.city:
        return None
    v = m.vs_city.get((district, key, m.latest))
    if v not in VS_CITY_LABELS:  # no test (a figure missing or suppressed)
        return None
    return {"code": v, "label": _(VS_CITY_LABELS[v]), "sort": {"higher": 1, "same": 0, "lower": -1}[v]}


def _trend_rows(m: Model, area: str, condition: str) -> list[dict]:
    """The figures behind a trend chart, as a table (for screen readers and for copying)."""
    rows = []
    for w, (v, lo, hi) in m.index_series(area, condition).items():
        rows.append({"wave": w, "index": DASH if is_missing(v) else fmt_num(v, 1),
                     "interval": DASH if is_missing(v) else fmt_interval(lo, hi, "score"),
                     "break": any(str(b.get("wave")) == w for b in m.breaks)})
    return rows


def _indicator_rows(m: Model, district: str, condition: str) -> list[dict]:
    rows = []
    for ind in m.survey_indicators(condition):
        r = m.estimate(district, ind, m.latest)
        unit = m.unit(ind)
        suppressed = r is None or bool(r["suppressed"])
        rows.append({
            "id": ind,
            "label": m.label(ind),
            "in_index": bool(m.cat[ind]["in_index"]),
            "question": str(m.cat[ind].get("question") or "") if not is_missing(m.cat[ind].get("question")) else "",
            "direction": _("hoger is beter") if m.cat[ind]["direction"] == "higher_is_better" else _("lager is beter"),
            "value": DASH if suppressed else fmt_value(r["estimate"], unit),
            "interval": DASH if suppressed else fmt_interval(r["ci_low"], r["ci_high"], unit),
            "n": fmt_int(r["n"]) if r is not None else DASH,
            "suppressed": r is not None and bool(r["suppressed"]),
            "missing": r is None,
            "model": None,
            "vs_city": _vs_city(m, district, ind),
            "previous": _change_cell(m, district, ind, "previous"),
            "base": _change_cell(m, district, ind, "base"),
        })
        model = small_areas.model_figure(m, district, ind)
        if model is not None:  # the publication rule chose the model figure ("modelschatting")
            rows[-1].update(value=model["value"], interval=model["interval"], model=model["source"],
                            suppressed=False, missing=False)
    return rows


def _district_status(m: Model, district: str, condition: str) -> dict:
    """Verdict of a district on a condition since the previous wave: the index change when it is
    available, otherwise the significant changes of the condition's indicators."""
    ic = m.index_change(district, condition, m.latest)
    if ic is not None:
        v = ic["verdict"]
        chips = [_verdict(v, f"{change_label(v)} ({fmt_change(ic['change'], 'score')})"
                          if v in ("improved", "worsened") else None)]
        status = {"improved": "better", "worsened": "worse"}.get(v, "neutral")
        return {"status": status, "chips": chips, "level": "index"}
    chips, better, worse, any_row, comparable = [], 0, 0, False, False
    for ind in m.survey_indicators(condition, index_only=True):
        r = m.change(district, ind, m.latest, "previous")
        if r is None:
            continue
        any_row = True
        comparable = comparable or r["verdict"] != "not_comparable"
        if r["verdict"] == "improved":
            better += 1
            chips.append(_verdict("improved", _("beter: %(indicator)s", indicator=m.label(ind))))
        elif r["verdict"] == "worsened":
            worse += 1
            chips.append(_verdict("worsened", _("slechter: %(indicator)s", indicator=m.label(ind))))
    if not any_row:
        return {"status": "none", "chips": [], "level": "indicator"}
    if not chips:
        chips = [_verdict("no_significant_change" if comparable else "not_comparable")]
    status = "mixed" if better and worse else "better" if better else "worse" if worse else "neutral"
    return {"status": status, "chips": chips, "level": "indicator"}


def _condition_summary(m: Model, cond: str, statuses: dict[str, dict]) -> str:
    name = m.conditions[cond]
    n = len(statuses)
    if not n or all(s["status"] == "none" for s in statuses.values()) or m.previous is None:
        return _("%(theme)s: er is nog geen vergelijking met een vorige meting.", theme=name)
    better = [m.names[d] for d, s in statuses.items() if s["status"] in ("better", "mixed")]
    worse = [m.names[d] for d, s in statuses.items() if s["status"] in ("worse", "mixed")]
    ref = m.previous
    index_level = any(s["level"] == "index" for s in statuses.values())

    def names(lst: list[str]) -> str:
        return f" ({join_words(lst)})" if 0 < len(lst) <= 5 else ""

    if not better and not worse:
        return _("%(theme)s: sinds %(wave)s is in geen van de %(n)s wijken een verandering aangetoond; "
                 "verschillen vallen binnen de onzekerheidsmarges.", theme=name, wave=ref, n=n)
    if better:
        text = (_("%(theme)s: sinds %(wave)s is in %(k)s van de %(n)s wijken aantoonbaar verbeterd%(names)s",
                  theme=name, wave=ref, k=len(better), n=n, names=names(better)) if index_level else
                _("%(theme)s: sinds %(wave)s is in %(k)s van de %(n)s wijken minstens één indicator aantoonbaar "
                  "verbeterd%(names)s", theme=name, wave=ref, k=len(better), n=n, names=names(better)))
        if worse:
            text += (ngettext(" en in %(num)s wijk aantoonbaar verslechterd%(names)s",
                              " en in %(num)s wijken aantoonbaar verslechterd%(names)s", len(worse),
                              names=names(worse)) if index_level else
                     ngettext(" en in %(num)s wijk minstens één indicator aantoonbaar verslechterd%(names)s",
                              " en in %(num)s wijken minstens één indicator aantoonbaar verslechterd%(names)s",
                              len(worse), names=names(worse)))
    else:
        text = (_("%(theme)s: sinds %(wave)s is in %(k)s van de %(n)s wijken aantoonbaar verslechterd%(names)s",
                  theme=name, wave=ref, k=len(worse), n=n, names=names(worse)) if index_level else
                _("%(theme)s: sinds %(wave)s is in %(k)s van de %(n)s wijken minstens één indicator aantoonbaar "
                  "verslechterd%(names)s", theme=name, wave=ref, k=len(worse), n=n, names=names(worse)))
    rest = n - len(set(better) | set(worse))
    if rest:
        text += ngettext("; in de andere wijk is geen verandering aangetoond",
                         "; in de andere %(num)s wijken is geen verandering aangetoond", rest)
    return text + "."


def _effect_where(m: Model, district: str) -> str:
    return _("alle wijken samen") if not district else m.names.get(district, district)


def _effect_role(r: dict) -> str:
    """headline (the one verdict of an intervention and indicator) or supporting; older tables lack
    the column: there the pooled row is the headline."""
    return r.get("role") or ("headline" if not r["district_code"] else "supporting")


def _interval_digits(r: dict, f: float) -> int:
    """Enough decimals that an interval excluding 0 never shows 0 as a bound."""
    lo, hi = r["ci_low"], r["ci_high"]
    if is_missing(lo) or is_missing(hi):
        return 1
    return interval_decimals(float(lo) * f, float(hi) * f, 1, float(r["estimate"]) * f if not is_missing(
        r["estimate"]) else 0.0)


def _effect_rows(m: Model, eff: pd.DataFrame) -> list[dict]:
    rows = []
    for r in eff.to_dict("records"):
        ind = r["indicator_id"]
        unit = m.unit(ind)
        f = m.effect_factor(ind)
        estimable = bool(r["estimable"]) and not is_missing(r["estimate"])
        digits = _interval_digits(r, f) if estimable else 1
        rows.append({
            "role": _effect_role(r),
            "indicator": m.label(ind),
            "where": _effect_where(m, r["district_code"]),
            "district_code": r["district_code"],
            "method": method_short(r["method"]),
            "method_long": method_long(r["method"]),
            "estimate": fmt_change(r["estimate"], unit, digits, factor=f) if estimable else DASH,
            "interval": fmt_change_interval(r["ci_low"], r["ci_high"], unit, digits, factor=f) if estimable else DASH,
            "verdict": _verdict(r["verdict_code"] if estimable else "not_estimable", kind="effect"),
            "verdict_nl": str(r["verdict_nl"] or ""),
            "pretrend_warning": bool(r["pretrend_warning"]),
        })
    return rows


def _chain_rows(m: Model, ch: pd.DataFrame, eff: pd.DataFrame) -> list[dict]:
    rows = []
    for r in ch.sort_values(["district_code", "year"]).to_dict("records"):
        held, planned = r["sessions_held"], r["sessions_planned"]
        delivered = DASH
        if not is_missing(held):
            delivered = _("%(held)s van %(planned)s", held=fmt_int(held), planned=fmt_int(planned)) \
                if not is_missing(planned) else fmt_int(held)
            if not is_missing(planned) and planned > 0:
                delivered += f" ({fmt_pct(held / planned, 0)})"
        reach = DASH
        if not is_missing(r["participants"]):
            reach = _("%(n)s deelnemers", n=fmt_int(r["participants"]))
            if not is_missing(r["target_population"]):
                reach = _("%(n)s deelnemers van %(target)s in de doelgroep", n=fmt_int(r["participants"]),
                          target=fmt_int(r["target_population"]))
            if not is_missing(r["reach"]):
                reach += f" ({fmt_pct(r['reach'])})"
        d_eff = eff[eff["district_code"] == r["district_code"]]
        if (d_eff["method"] == "did").any():  # the site's own comparison with other districts (supporting evidence)
            d_eff = d_eff[d_eff["method"] == "did"]
        effects = [{"indicator": e["indicator"], "estimate": e["estimate"], "interval": e["interval"],
                    "verdict": e["verdict"], "method": e["method"]} for e in _effect_rows(m, d_eff)]
        rows.append({
            "district": m.names.get(r["district_code"], r["district_code"]),
            "district_code": r["district_code"],
            "year": fmt_year(r["year"]),
            "delivered": delivered,
            "reach": reach,
            "feedback_n": fmt_int(r["feedback_n"]),
            "feedback_suppressed": bool(r["feedback_suppressed"]),
            "more_contacts": fmt_pct(r["share_more_contacts"], 0),
            "attributed": fmt_pct(r["share_attributed_to_activity"], 0),
            "satisfaction": fmt_num(r["mean_satisfaction"], 1),
            "effects": effects,
        })
    return rows


def _intervention_figure(m: Model, iv_id: str, indicator: str, eff: pd.DataFrame, out: Path) -> Path | None:
    unit = m.unit(indicator)
    f = m.effect_factor(indicator)
    sub = eff[eff["indicator_id"] == indicator]
    if sub.empty:
        return None
    forest = []
    pooled = sub[sub["district_code"] == ""]
    rest = sub[sub["district_code"] != ""]
    rest = rest.assign(_name=[m.names.get(d, d) for d in rest["district_code"]]).sort_values("_name")
    multi = sub.groupby("district_code")["method"].nunique().max() > 1
    for r in list(pooled.to_dict("records")) + list(rest.to_dict("records")):
        label = _effect_where(m, r["district_code"])
        if multi:
            label += f" ({method_short(r['method'])})"
        estimable = bool(r["estimable"]) and not is_missing(r["estimate"])
        forest.append((label, r["estimate"] * f, r["ci_low"] * f, r["ci_high"] * f,
                       r["verdict_code"] if estimable else "not_estimable", estimable))
    cu = change_unit(unit)
    es = m.event_study[(m.event_study["intervention_id"] == iv_id) & (m.event_study["indicator_id"] == indicator)]
    left: list[tuple[str, list]] = []
    start_x = None
    if not es.empty:
        for d, g in es.groupby("district_code", sort=False):
            g = g.sort_values("event_time")
            pts = [(float(t), e * f, lo * f, hi * f) for t, e, lo, hi in
                   zip(g["event_time"], g["estimate"], g["ci_low"], g["ci_high"])]
            left.append((_effect_where(m, d), pts))
        start_x = -0.5
        title_left, xlabel = _("Verschil per jaar rond de start"), _("jaren na de start (0 = startjaar)")
        ylabel, zero = _("verschil (%(unit)s)", unit=cu), True
    else:
        starts = m.start_years(iv_id)
        pos = charts.wave_positions(m.waves)
        aligned = bool(starts) and all(re.fullmatch(r"\d{4}", w) for w in m.waves)
        effect_districts = list(rest["district_code"].unique())
        if aligned:
            sites = [d for d in effect_districts if d in starts] or list(starts)
        else:
            sites = effect_districts
        disp = 100.0 if unit == "percent" else 1.0
        for d in sites[: len(charts.SERIES)]:
            pts = []
            for w in m.waves:
                r = m.estimate(d, indicator, w)
                if r is None or r["suppressed"] or is_missing(r["estimate"]):
                    continue
                x = (int(w) - starts[d]) if aligned else pos[w]
                pts.append((float(x), r["estimate"] * disp, r["ci_low"] * disp, r["ci_high"] * disp))
            left.append((m.names.get(d, d), pts))
        start_x = -0.5 if aligned else None
        title_left = _("Verloop in de wijk rond de start")
        xlabel = _("jaren na de start (0 = startjaar)") if aligned else _("meting")
        ylabel = {"percent": _("% (schatting)"), "km": "km"}.get(unit) or _("score (schatting)")
        zero = False
    return charts.intervention_chart(
        title_left=title_left, left_series=left, start_x=start_x, left_xlabel=xlabel, left_ylabel=ylabel,
        forest=forest, forest_xlabel=_("effect (%(unit)s)", unit=cu),
        out_path=out / f"interventie_{_slug(iv_id)}_{_slug(indicator)}.png", zero_line_left=zero)


def _interventions(m: Model, fig_dir: Path, figures: list[Path]) -> list[dict]:
    ids: list[str] = []
    for frame in (m.info, m.effects, m.chain, m.sites):
        for i in frame["intervention_id"]:
            if i and i not in ids:
                ids.append(i)
    out = []
    for iv in ids:
        info = m.info[m.info["intervention_id"] == iv]
        eff = m.effects[m.effects["intervention_id"] == iv]
        ch = m.chain[m.chain["intervention_id"] == iv]
        name = (info["name"].iloc[0] if not info.empty and info["name"].iloc[0] else
                eff["intervention_name"].iloc[0] if not eff.empty and eff["intervention_name"].iloc[0] else iv)
        kind = (info["kind"].iloc[0] if not info.empty and info["kind"].iloc[0] else
                eff["kind"].iloc[0] if not eff.empty else "")
        figs = []
        for ind in dict.fromkeys(eff["indicator_id"]):
            p = _intervention_figure(m, iv, ind, eff, fig_dir)
            if p is not None:
                figures.append(p)
                figs.append({"src": f"{FIGURES}/{p.name}", "name": p.name, "indicator": m.label(ind),
                             "alt": _("Geschat effect van %(intervention)s op %(indicator)s, met 95%%-intervallen",
                                      intervention=name, indicator=m.label(ind))})
        starts = m.start_years(iv)
        districts = list(dict.fromkeys(list(starts) + [d for d in eff["district_code"] if d] + list(
            ch["district_code"])))
        # one verdict per indicator (role "headline"); the sites' own analyses are supporting evidence
        eff_rows = _effect_rows(m, eff)
        headline = [e for e in eff_rows if e["role"] == "headline"] or eff_rows
        supporting = [e for e in eff_rows if e not in headline]
        out.append({
            "id": iv,
            "anchor": f"iv-{_slug(iv)}",
            "name": name,
            "kind": kind_name(kind),
            "is_closure": kind == "closure",
            "sphere": sphere_name(info["sphere"].iloc[0]) if not info.empty else "",
            "goal": info["goal"].iloc[0] if not info.empty else "",
            "mechanism": info["mechanism"].iloc[0] if not info.empty else "",
            "districts": [{"code": d, "name": m.names.get(d, d), "start": starts.get(d, "")} for d in districts],
            "chain": _chain_rows(m, ch, eff),
            "effects": eff_rows,
            "headline": headline,
            "supporting": supporting,
            "figures": figs,
        })
    return out


def _intervention_summary(ivs: list[dict]) -> list[str]:
    lines = []
    for iv in ivs:
        rows = iv["headline"]
        if not rows:
            lines.append(_("%(intervention)s: er zijn (nog) geen effecten geschat.", intervention=iv["name"]))
            continue
        sig = [r for r in rows if r["verdict"]["cls"] != "neutral"]
        if sig:
            parts = [f"{r['indicator']}, {r['where']}: {r['verdict_nl']}" for r in sig[:3]]
            more = len(rows) - len(sig)
            tail = (" " + ngettext("Bij %(num)s andere uitkomst is geen effect aangetoond.",
                                   "Bij %(num)s andere uitkomsten is geen effect aangetoond.", more)) if more else ""
            lines.append(f"{iv['name']}: " + " ".join(parts) + tail)
        else:
            first = rows[0]
            lines.append(ngettext(
                "%(intervention)s: op de %(num)s uitkomst is geen effect aangetoond. %(indicator)s, %(where)s: "
                "%(verdict)s",
                "%(intervention)s: op geen van de %(num)s uitkomsten is een effect aangetoond. Bijvoorbeeld "
                "%(indicator)s, %(where)s: %(verdict)s", len(rows), intervention=iv["name"],
                indicator=first["indicator"], where=first["where"], verdict=first["verdict_nl"]))
    return lines


def _quality(m: Model) -> tuple[list[dict], str]:
    rows = []
    tot_r = tot_c = tot_q = 0.0
    blocked = []
    for r in m.quality.to_dict("records"):
        rec, clean, quar = r["received"], r["clean"], r["quarantined"]
        unaccounted = (not r["blocked"] and not any(is_missing(x) for x in (rec, clean, quar))
                       and rec != clean + quar)
        rows.append({
            "wave": r["wave"],
            "received": fmt_int(rec), "clean": fmt_int(clean), "quarantined": fmt_int(quar),
            "share_clean": fmt_pct(clean / rec) if not r["blocked"] and not is_missing(rec) and rec > 0
            and not is_missing(clean) else DASH,
            "blocked": bool(r["blocked"]),
            "blocked_reason": str(r["blocked_reason"] or "") if r["blocked"] else "",
            "unaccounted": fmt_int(rec - clean - quar) if unaccounted else "",
        })
        if not r["blocked"]:
            tot_r += 0 if is_missing(rec) else rec
            tot_c += 0 if is_missing(clean) else clean
            tot_q += 0 if is_missing(quar) else quar
        else:
            blocked.append(r["wave"])
    if not rows:
        return rows, _("Er zijn geen gegevens over de kwaliteit van de leveringen meegegeven.")
    text = _("Van de %(received)s ontvangen antwoordrijen in de gebruikte metingen zijn er %(clean)s gebruikt en "
             "%(quarantined)s apart gezet omdat ze niet door de controles kwamen.", received=fmt_int(tot_r),
             clean=fmt_int(tot_c), quarantined=fmt_int(tot_q))
    if blocked:
        text += " " + ngettext("Meting %(waves)s is niet gebruikt: de levering is tegengehouden omdat ze niet door "
                               "de controles kwam.",
                               "Metingen %(waves)s zijn niet gebruikt: de leveringen zijn tegengehouden omdat ze "
                               "niet door de controles kwamen.", len(blocked), waves=join_words(blocked))
    weighting = _weighting_text(m)
    if weighting:
        text += " " + weighting
    return rows, text


def _weighting_text(m: Model) -> str:
    """The weighting warnings of the latest wave in one sentence (socialquality.weighting_check)."""
    from socialquality.weighting_check import wave_weighting_warnings, weighting_sentence

    diagnostics = getattr(m.inputs, "weighting_diagnostics", None)
    if diagnostics is None or diagnostics.empty:
        return ""
    warnings = wave_weighting_warnings(diagnostics, m.latest, m.min_n, m.names)
    districts = int((diagnostics["wave"].astype(str) == str(m.latest)).sum())
    return weighting_sentence(warnings, districts, m.latest)


def _break_notes(m: Model, breaks: list[dict] | None = None) -> list[str]:
    notes = []
    for b in (m.breaks if breaks is None else breaks):
        items = b.get("items") or []
        text = _("trendbreuk %(wave)s: %(description)s", wave=b["wave"],
                 description=b.get("description") or "").strip()
        questions = [str(q) for q in (b.get("questions") or []) if str(q).strip()]
        if questions:  # the wording, never the codebook's item ids
            text += " (" + _("vragen: %(questions)s", questions="; ".join(f"“{q}”" for q in questions)) + ")"
        elif items:
            text += " (" + ngettext("%(num)s vraag", "%(num)s vragen", len(items)) + ")"
        notes.append(text)
    return notes


# ---------------------------------------------------------------------------
# main entry
# ---------------------------------------------------------------------------


def _environment(template_dir: Path | None) -> jinja2.Environment:
    folder = Path(template_dir or os.environ.get(TEMPLATE_ENV) or DEFAULT_TEMPLATES)
    if not folder.is_dir():
        raise FileNotFoundError(f"report templates not found in {folder} (set {TEMPLATE_ENV})")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    install_jinja(env)
    env.filters["nl"] = fmt_num
    env.filters["pct"] = fmt_pct
    install_jinja(env)  # _(), ngettext and {% trans %} follow the language at render time
    return env


def render_report(inputs: ReportInputs, out_dir: Path, *, template_dir: Path | None = None) -> ReportOutputs:
    """Write index.html, wijken/<code>.html, figuren/*.png and rapport.xlsx under out_dir."""
    m = Model(inputs)
    out_dir = Path(out_dir)
    fig_dir = out_dir / FIGURES
    page_dir = out_dir / DISTRICT_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    page_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(template_dir)
    figures: list[Path] = []
    ylabel = _("index (100 = stad %(wave)s)", wave=m.base)
    boundaries = None
    if inputs.geojson_path is not None and Path(inputs.geojson_path).is_file():
        from socialquality.report import maps
        boundaries = maps.load_districts(Path(inputs.geojson_path))
    known = set(m.districts["district_code"])
    codes = list(m.districts["district_code"])
    break_notes = _break_notes(m)

    # --- one colour scale for every index map (100 = the city in the base year) ----------------------
    latest_idx = m.index[(m.index["wave"] == m.latest) & (m.index["district_code"] != m.city)]["index"].dropna()
    span = max(5.0, math.ceil(float((latest_idx - 100).abs().max()) / 5) * 5) if not latest_idx.empty else 10.0
    latest_n = m.di[m.di["wave"] == m.latest].groupby("district_code")["n"].max().to_dict()

    def map_figures(cond: str, prefix: str) -> dict[str, dict]:
        out = {}
        for d in codes:
            r = m.index_row(d, cond, m.latest)
            has = r is not None and not is_missing(r["index"])
            n = latest_n.get(d)
            n_text = f", n = {fmt_int(n)}" if n is not None and not is_missing(n) else ""
            tip = (_("%(district)s: index %(index)s, marge %(interval)s", district=m.names[d],
                     index=fmt_num(r["index"], 1), interval=fmt_interval(r["ci_low"], r["ci_high"], "score"))
                   + n_text if has
                   else _("%(district)s: geen cijfer (te weinig respondenten of geen gegevens)", district=m.names[d]))
            out[d] = {"value": float(r["index"]) if has else math.nan, "tip": tip,
                      "href": f"{prefix}{d}.html"}
        return out

    # --- conditions ---------------------------------------------------------
    respondents = trend_views.respondents(m.di)
    city_charts = {c["id"]: c for c in trend_views.trend_charts(m, m.city, respondents, id_prefix="stad")}
    conditions = []
    statuses_all: dict[str, dict[str, dict]] = {}
    for cond, cond_name in m.conditions.items():
        city_series = m.index_series(m.city, cond)
        cond_breaks = [b for b in m.breaks if not b.get("conditions") or cond in b["conditions"]]
        trend = charts.trend_chart(m.waves, city_series, cond_breaks, fig_dir / f"trend_{_slug(cond)}.png",
                                   ylabel=ylabel, reference_label=_("100 = stad in %(wave)s", wave=m.base))
        figures.append(trend)
        map_fig = None
        if boundaries is not None:
            values = {}
            for d in codes:
                r = m.index_row(d, cond, m.latest)
                values[d] = float(r["index"]) if r is not None and not is_missing(r["index"]) else math.nan
            p = maps.choropleth(boundaries, values, fig_dir / f"kaart_{_slug(cond)}.png", known=known,
                                legend_label=_("index %(wave)s (100 = stad %(base)s)", wave=m.latest, base=m.base))
            figures.append(p)
            map_fig = {"src": f"{FIGURES}/{p.name}", "name": p.name,
                       "svg": svgmap.district_map(boundaries, map_figures(cond, f"{DISTRICT_DIR}/"),
                                                  map_id=f"kaart-{_slug(cond)}", span=span,
                                                  label=_("Kaart: index %(theme)s per wijk in %(wave)s; kies een "
                                                          "wijk voor haar pagina", theme=cond_name, wave=m.latest))}
        statuses = {d: _district_status(m, d, cond) for d in codes}
        statuses_all[cond] = statuses
        rows = []
        for d in codes:
            r = m.index_row(d, cond, m.latest)
            has = r is not None and not is_missing(r["index"])
            rows.append({
                "code": d, "name": m.names[d], "href": f"{DISTRICT_DIR}/{d}.html",
                "index": fmt_num(r["index"], 1) if has else DASH,
                "interval": fmt_interval(r["ci_low"], r["ci_high"], "score") if has else DASH,
                "n_indicators": fmt_int(r["n_indicators"]) if r is not None else DASH,
                "status": statuses[d],
                "suppressed": not has,
                "sort_index": f"{float(r['index']):.3f}" if has else "",
                "vs_city": _vs_city(m, d, f"index:{cond}"),
            })
        city_latest = m.index_row(m.city, cond, m.latest)
        decomp = m.decomp[(m.decomp["district_code"] == m.city) & (m.decomp["condition"] == cond)
                          & (m.decomp["wave"] == m.latest)]
        conditions.append({
            "id": cond, "anchor": f"c-{_slug(cond)}", "name": cond_name,
            "trend": {"src": f"{FIGURES}/{trend.name}", "name": trend.name},
            "trend_chart": city_charts[cond],
            "trend_rows": _trend_rows(m, m.city, cond),
            "break_notes": _break_notes(m, cond_breaks),
            "map": map_fig,
            "city_index": fmt_num(city_latest["index"], 1) if city_latest is not None else DASH,
            "city_interval": fmt_interval(city_latest["ci_low"], city_latest["ci_high"], "score")
            if city_latest is not None else DASH,
            "index_indicators": [m.label(i) for i in m.survey_indicators(cond, index_only=True)],
            "city_rows": _indicator_rows(m, m.city, cond),
            "rows": rows,
            "summary": _condition_summary(m, cond, statuses),
            "decomposition": [{"label": m.label(r["indicator_id"]),
                               "value": fmt_num(r["contribution"], 1, sign=True)}
                              for r in decomp.to_dict("records")],
        })

    # --- interventions, quality ----------------------------------------------
    interventions = _interventions(m, fig_dir, figures)
    quality_rows, quality_text = _quality(m)

    common = {
        "audit_href": inputs.audit_href,
        "map_legend": svgmap.legend(100.0, span, _("index %(wave)s (100 = stad %(base)s)", wave=m.latest, base=m.base))
        if boundaries is not None else "",
        "municipality_name": inputs.municipality_name,
        "municipality_code": m.city,
        "waves": m.waves, "latest": m.latest, "previous": m.previous, "base": m.base,
        "minimum_respondents": m.min_n,
        "break_notes": break_notes,
        "lang": language(),
        "generated": fmt_datetime(inputs.lineage.get("generated_at", "")) if inputs.lineage and inputs.lineage.get(
            "generated_at") else "",
        # credit only what the report holds: no "kaart" without a map, no register figures without them
        "cbs_credit": join_words([part for part, present in (
            (_("Registercijfers"), not inputs.register_indicators.empty), (_("kaart"), boundaries is not None))
            if present]),
    }

    # --- district pages ------------------------------------------------------
    district_pages = []
    # interactive SVG trend charts (no PNG per district: svgchart draws them in milliseconds)
    similar = similar_view.SimilarDistricts(m, inputs.district_covariates)
    breakdown = breakdown_view.Breakdowns(m, inputs.breakdowns)
    # per-district look-ups made once (a filter of the whole table per district is quadratic: minutes at
    # a few thousand districts)
    latest_decomp = m.decomp[m.decomp["wave"] == m.latest]
    decomp_by = {key: g for key, g in latest_decomp.groupby(["district_code", "condition"], sort=False)}
    register_by = {key: g for key, g in m.register.groupby("district_code", sort=False)}
    city_register = m.register[m.register["district_code"] == m.city].drop_duplicates("indicator_id")
    city_register_value = dict(zip(city_register["indicator_id"], city_register["value"]))
    district_rows = {r["district_code"]: r for r in m.districts.to_dict("records")}
    no_rows = m.decomp.iloc[0:0]
    for d in codes:
        conds = []
        for c in m.conditions:
            r = m.index_row(d, c, m.latest)
            has = r is not None and not is_missing(r["index"])
            dec = decomp_by.get((d, c), no_rows)
            conds.append({
                "name": m.conditions[c],
                "index": fmt_num(r["index"], 1) if has else DASH,
                "interval": fmt_interval(r["ci_low"], r["ci_high"], "score") if has else DASH,
                "status": statuses_all[c][d],
                "vs_city": _vs_city(m, d, f"index:{c}"),
                "indicators": _indicator_rows(m, d, c),
                "decomposition": [{"label": m.label(x["indicator_id"]),
                                   "value": fmt_num(x["contribution"], 1, sign=True)}
                                  for x in dec.to_dict("records")],
            })
        reg = []
        own_register = register_by.get(d)
        for r in own_register.to_dict("records") if own_register is not None else []:
            ind = r["indicator_id"]
            unit = m.unit(ind)

            def reg_fmt(v: Any) -> str:
                if is_missing(v):
                    return DASH
                return fmt_num(v, 1) + ("%" if unit == "percent" else " km" if unit == "km" else "")

            reg.append({"label": m.label(ind), "value": reg_fmt(r["value"]),
                        "city": reg_fmt(city_register_value[ind]) if ind in city_register_value else DASH,
                        "year": fmt_year(r["year"])})
        ivs = []
        for iv in interventions:
            in_d = [c for c in iv["chain"] if c["district_code"] == d]
            effs = [e for e in iv["supporting"] if e["district_code"] == d]
            if in_d or effs or any(x["code"] == d for x in iv["districts"]):
                ivs.append({"name": iv["name"], "kind": iv["kind"], "anchor": iv["anchor"], "chain": in_d,
                            "effects": effs, "pooled": iv["headline"]})
        row = district_rows[d]
        page = env.get_template("wijk.html.j2").render(
            **common, root="../", code=d, name=m.names[d], population=fmt_int(row["population"]),
            trend_charts=trend_views.trend_charts(m, d, respondents), conditions=conds, register=reg,
            similar_districts=similar.for_district(d), breakdown=breakdown.for_district(d),
            interventions=ivs,
            locator=svgmap.district_map(boundaries, {c: {"tip": _("%(district)s (deze wijk)", district=m.names.get(c, c))
                                                         if c == d else m.names.get(c, c),
                                                         "href": f"{c}.html"} for c in codes},
                                        map_id="ligging", highlight=d, width=320,
                                        label=_("Ligging van %(district)s in de stad; kies een wijk voor haar "
                                                "pagina", district=m.names[d]))
            if boundaries is not None and d in {b.code for b in boundaries} else "")
        path = page_dir / f"{d}.html"
        path.write_text(page, encoding="utf-8")
        district_pages.append(path)

    # --- buurten.html (model-based figures for every buurt) ------------------------------
    buurt_page, buurt_figures = small_areas.render_buurt_page(
        m, env, out_dir, fig_dir, inputs.buurten, inputs.buurt_geojson_path, common)
    figures.extend(buurt_figures)

    # --- index.html ----------------------------------------------------------
    summary = {
        "intro": _("Dit rapport laat zien hoe het gaat met de sociale kwaliteit in de %(n)s wijken van "
                   "%(municipality)s, op basis van de bewonersenquête (%(waves)s). Alle cijfers zijn schattingen uit "
                   "een steekproef: bij elk cijfer staat een marge (95%%-interval). Groen of rood betekent een "
                   "aantoonbare verbetering of verslechtering; grijs betekent dat een verschil binnen de marge valt.",
                   n=len(codes), municipality=inputs.municipality_name, waves=join_words(m.waves)),
        "conditions": [c["summary"] for c in conditions],
        "interventions": _intervention_summary(interventions),
        "quality": quality_text,
    }
    html = env.get_template("index.html.j2").render(
        **common, root="", summary=summary, conditions=conditions, interventions=interventions,
        quality=quality_rows, quality_text=quality_text, lineage=_lineage_rows(inputs.lineage),
        breaks=m.breaks, has_map=boundaries is not None, buurt_page=buurt_page.name if buurt_page else None,
        districts=[{"code": d, "name": m.names[d], "href": f"{DISTRICT_DIR}/{d}.html"} for d in codes])
    html_path = out_dir / "index.html"
    html_path.write_text(html, encoding="utf-8")

    excel_path = excel.write_workbook(m, out_dir / "rapport.xlsx", open_data=out_dir / "open_data")
    breakdown_view.write_open_data(m, inputs.breakdowns, out_dir / "open_data")
    from socialquality.report.intervention_pages import render_intervention_pages

    render_intervention_pages(inputs, inputs.intervention_costs, inputs.cost_measures, out_dir,
                              template_dir=template_dir, interventions=interventions)
    return ReportOutputs(html_path=html_path, excel_path=excel_path, figure_paths=figures,
                         district_pages=district_pages)
