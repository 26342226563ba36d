"""The indicator catalogue (surveys/indicators.yaml) and the intervention register
(surveys/interventions.yaml): declarative files, validated with clear messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socialquality.codebook import Codebook, read_yaml, validate_against_schema
from socialquality.errors import CodebookError
from socialquality.i18n import N_, localised

#: the four conditions of social quality (Dutch msgids; English from the message catalogue)
CONDITION_NAMES = {
    "socio_economic_security": N_("Sociaal-economische zekerheid"),
    "social_inclusion": N_("Sociale inclusie"),
    "social_cohesion": N_("Sociale cohesie"),
    "social_empowerment": N_("Sociale empowerment"),
}


class LocalisedNames(Mapping[str, str]):
    """Names by id in the language of the texts being produced (read at use, not at load)."""

    def __init__(self, nl: Mapping[str, str], en: Mapping[str, str] | None = None):
        self.nl = dict(nl)
        self.en = dict(en or {})

    def __getitem__(self, key: str) -> str:
        return localised(self.nl[key], self.en.get(key))

    def __iter__(self) -> Iterator[str]:
        return iter(self.nl)

    def __len__(self) -> int:
        return len(self.nl)

    def __repr__(self) -> str:
        return f"LocalisedNames({self.nl!r}, en={self.en!r})"


@dataclass(frozen=True)
class Indicator:
    id: str
    label_nl: str
    unit: str
    source: str
    statistic: str  # mean | share
    values: tuple[float, ...]
    direction: str
    condition: str
    age_min: float | None = None
    age_max: float | None = None
    sex: str | None = None
    in_index: bool = True
    index_weight: float = 1.0
    label_en: str | None = None

    @property
    def label(self) -> str:
        """The label in the language of the texts being produced (socialquality.i18n)."""
        return localised(self.label_nl, self.label_en)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_is_better"


@dataclass(frozen=True)
class RegisterIndicator:
    id: str
    label_nl: str
    unit: str
    cbs_field: str
    direction: str
    condition: str
    denominator_field: str | None = None
    label_en: str | None = None

    @property
    def label(self) -> str:
        return localised(self.label_nl, self.label_en)


@dataclass(frozen=True)
class Catalogue:
    version: int
    survey: str
    base_wave: str
    minimum_respondents: int
    conditions: Mapping[str, str]  # LocalisedNames: id -> name in the current language
    indicators: tuple[Indicator, ...]
    register: tuple[RegisterIndicator, ...]
    path: str

    def indicator(self, indicator_id: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(indicator_id)


def load_catalogue(path: str | Path, codebook: Codebook | None = None,
                   derived_columns: set[str] | None = None) -> Catalogue:
    """Read and validate the catalogue; with a codebook, sources must be items or scale columns."""
    path = Path(path)
    raw = validate_against_schema(read_yaml(path), "indicators.schema.json", path)
    indicators = []
    seen: set[str] = set()
    for index, spec in enumerate(raw["indicators"]):
        if spec["id"] in seen:
            raise CodebookError(path, f"duplicate indicator id {spec['id']!r}", f"indicators/{index}")
        seen.add(spec["id"])
        target = spec.get("target_group") or {}
        indicators.append(Indicator(
            id=spec["id"], label_nl=spec["label"], label_en=spec.get("label_en"), unit=spec.get("unit", "percent"),
            source=spec["source"],
            statistic=spec["statistic"], values=tuple(float(v) for v in spec.get("values", [])),
            direction=spec["direction"], condition=spec["condition"],
            age_min=target.get("age_min"), age_max=target.get("age_max"), sex=target.get("sex"),
            in_index=bool(spec.get("in_index", True)), index_weight=float(spec.get("index_weight", 1.0)),
        ))
    if codebook is not None:
        if raw["survey"] != codebook.survey:
            raise CodebookError(path, f"catalogue is for survey {raw['survey']!r}, codebook is {codebook.survey!r}")
        if raw["base_wave"] not in codebook.wave_ids:
            raise CodebookError(path, f"base_wave {raw['base_wave']!r} is not a wave of {codebook.survey}", "base_wave")
        known = set(codebook.items) | (derived_columns or set())
        for index, indicator in enumerate(indicators):
            if indicator.source not in known:
                raise CodebookError(
                    path, f"source {indicator.source!r} is neither an item nor a derived scale column of "
                    f"{codebook.survey}", f"indicators/{index} ({indicator.id})")
            problem = target_group_problem(indicator, codebook)
            if problem:
                raise CodebookError(path, problem, f"indicators/{index} ({indicator.id})")
    register = tuple(
        RegisterIndicator(id=s["id"], label_nl=s["label"], label_en=s.get("label_en"), unit=s.get("unit", "percent"),
                          cbs_field=s["cbs_field"], direction=s["direction"], condition=s["condition"],
                          denominator_field=s.get("denominator_field"))
        for s in raw.get("register_indicators", []) or []
    )
    return Catalogue(
        version=int(raw["version"]), survey=raw["survey"], base_wave=str(raw["base_wave"]),
        minimum_respondents=int(raw.get("minimum_respondents", 30)),
        conditions=LocalisedNames({**CONDITION_NAMES, **(raw.get("conditions") or {})}, raw.get("conditions_en")),
        indicators=tuple(indicators), register=register, path=str(path),
    )


def target_group_problem(indicator: Indicator, codebook: Codebook) -> str | None:
    """Why the indicator's target group cannot be formed from what the survey delivers (None: it can)."""
    from socialquality.agebands import target_group_problem as band_problem

    if indicator.sex is not None and not codebook.sex_column:
        return f"target group sex {indicator.sex!r} needs a sex column in codebook {codebook.survey}"
    if indicator.age_min is None and indicator.age_max is None:
        return None
    if not codebook.age_column and not codebook.age_group_column:
        return f"target group by age needs `age` or `age_group` in codebook {codebook.survey}"
    return band_problem(indicator.age_min, indicator.age_max, codebook.age_bands)


@dataclass(frozen=True)
class Site:
    district: str
    start: dt.date
    end: dt.date | None = None


@dataclass(frozen=True)
class Intervention:
    id: str
    name: str
    kind: str
    sphere: str | None
    mechanism: str
    goal: str
    age_min: float | None
    indicators: tuple[str, ...]
    sites: tuple[Site, ...]
    activity: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    feedback_survey: str | None = None
    #: per year: year, budget, actual (programme) or saving (closure), funding_source, note
    costs: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    #: the English texts of name, goal and mechanism (`name_en`, ... in the register); None: Dutch only
    english: dict[str, str] = field(default_factory=dict)

    def text(self, key: str) -> str:
        """name, goal or mechanism in the language of the texts being produced."""
        return localised(getattr(self, key), self.english.get(key))


def load_register(path: str | Path, catalogue: Catalogue | None = None,
                  known_districts: set[str] | None = None) -> list[Intervention]:
    path = Path(path)
    raw = validate_against_schema(read_yaml(path), "interventions.schema.json", path)
    result = []
    for index, spec in enumerate(raw["interventions"]):
        where = f"interventions/{index} ({spec['id']})"
        if catalogue is not None:
            known = {i.id for i in catalogue.indicators}
            unknown = [i for i in spec["indicators"] if i not in known]
            if unknown:
                raise CodebookError(path, f"unknown indicators {unknown} (not in {Path(catalogue.path).name})", where)
        sites = []
        for site in spec["sites"]:
            if known_districts is not None and site["district"] not in known_districts:
                raise CodebookError(path, f"district {site['district']} is not a district of the population figures", where)
            sites.append(Site(district=site["district"], start=dt.date.fromisoformat(str(site["start"])),
                              end=dt.date.fromisoformat(str(site["end"])) if site.get("end") else None))
        from socialquality.costs import check_cost_records

        costs = check_cost_records(spec, path, where)
        result.append(Intervention(
            id=spec["id"], name=spec["name"], kind=spec["kind"], sphere=spec.get("sphere"),
            mechanism=spec.get("mechanism", ""), goal=spec.get("goal", ""),
            age_min=(spec.get("target_group") or {}).get("age_min"), indicators=tuple(spec["indicators"]),
            sites=tuple(sites), activity=tuple(spec.get("activity", []) or []),
            feedback_survey=spec.get("feedback_survey"), costs=costs,
            english={k: spec[f"{k}_en"] for k in ("name", "goal", "mechanism") if spec.get(f"{k}_en")},
        ))
    ids = [i.id for i in result]
    if len(ids) != len(set(ids)):
        raise CodebookError(path, "intervention ids must be unique")
    return result
