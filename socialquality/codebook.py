"""Survey codebooks: the declarative description of a questionnaire (docs/codebook.md).

A codebook is a YAML file that a research department edits. `load_codebook` validates it against
`schemas/codebook.schema.json` and against the cross-references a schema cannot express (an item
naming an unknown answer scale, a scale naming an unknown item), and returns a `Codebook`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from socialquality.errors import CodebookError

SCHEMA_DIR = Path(__file__).parent / "schemas"
AGE_GROUPS: tuple[str, ...] = ("15-24", "25-44", "45-64", "65+")


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    """YAML gives dates and integer keys; JSON Schema wants strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CodebookError(path, "file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CodebookError(path, f"invalid YAML: {problem}", where) from None
    except UnicodeDecodeError:
        raise CodebookError(path, "not UTF-8 text") from None
    except ValueError as exc:  # a value YAML reads as a date but is none, e.g. 2021-02-30
        raise CodebookError(path, f"invalid date ({exc})", _bad_date_line(path)) from None


def _bad_date_line(path: Path) -> str | None:
    import re

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for year, month, day in re.findall(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", line):
            try:
                dt.date(int(year), int(month), int(day))
            except ValueError:
                return f"line {number}"
    return None


def validate_against_schema(document: Any, schema_name: str, path: str | Path) -> dict[str, Any]:
    """Validate `document` and raise one CodebookError naming the first problem (best match)."""
    import jsonschema

    data = _jsonable(document)
    if not isinstance(data, dict):
        raise CodebookError(path, "expected a mapping at the top level")
    validator = jsonschema.Draft202012Validator(load_schema(schema_name), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        location = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise CodebookError(path, schema_message(error), location)
    return data


def schema_problems(document: Any, schema_name: str) -> list[tuple[str, str]]:
    """Every schema violation of a document as (location, message), for `socialquality check`."""
    import jsonschema

    data = _jsonable(document)
    if not isinstance(data, dict):
        return [("(top level)", "expected a mapping at the top level")]
    validator = jsonschema.Draft202012Validator(load_schema(schema_name), format_checker=jsonschema.FormatChecker())
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        if error.validator in ("oneOf", "anyOf") and error.context:
            error = jsonschema.exceptions.best_match(error.context)
        found.append(("/".join(str(p) for p in error.absolute_path) or "(top level)", schema_message(error)))
    return found


PATTERN_HINTS = {
    "^[a-z][a-z0-9_]*$": "lower-case letters, digits and '_', starting with a letter (e.g. eenzaam_65plus)",
    "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$": "letters, digits, '_', '-' and '.', starting with a letter or digit, "
                                          "at most 64 characters (e.g. closure-cc)",
    "^WK[0-9]{6}$": "a CBS district code: WK followed by six digits (e.g. WK051828)",
    "^GM[0-9]{4}$": "a CBS municipality code: GM followed by four digits (e.g. GM0518)",
}


def schema_message(error: Any) -> str:
    """A schema error in words a research department can act on."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted((error.schema.get("properties") or {}).keys())
        unknown = sorted(set(error.instance) - set(allowed))
        if unknown and allowed:
            return (f"unknown key(s) {', '.join(repr(k) for k in unknown)}: they would do nothing; "
                    f"allowed here: {', '.join(allowed)}")
    if error.validator == "pattern" and error.validator_value in PATTERN_HINTS:
        return f"{error.instance!r} is not allowed here: write {PATTERN_HINTS[error.validator_value]}"
    return error.message


@dataclass(frozen=True)
class AnswerScale:
    id: str
    codes: dict[int, str] = field(default_factory=dict)
    missing: dict[int, str] = field(default_factory=dict)
    value_range: tuple[float, float] | None = None
    # a range written with whole numbers ([0, 10]) takes whole numbers only; [0.0, 24.0] takes fractions
    whole: bool = True

    def is_valid(self, value: float) -> bool:
        if self.value_range is not None:
            return self.value_range[0] <= value <= self.value_range[1]
        return int(value) == value and int(value) in self.codes

    @property
    def bounds(self) -> tuple[float, float]:
        if self.value_range is not None:
            return self.value_range
        return float(min(self.codes)), float(max(self.codes))


@dataclass(frozen=True)
class Item:
    id: str
    text_nl: str
    type: str  # categorical | numeric | text
    scale: AnswerScale | None
    aliases: tuple[str, ...] = ()
    recode: dict[str, dict[int, int]] = field(default_factory=dict)
    reverse: bool = False
    introduced: str | None = None
    dropped: str | None = None
    required: bool = True
    text_en: str | None = None  # the wording in English (`text_en`), shown in English reports

    @property
    def text(self) -> str:
        """The question's wording in the language of the texts being produced (socialquality.i18n)."""
        from socialquality.i18n import localised

        return localised(self.text_nl, self.text_en)

    def asked_in(self, wave: str, wave_order: list[str]) -> bool:
        position = wave_order.index(wave)
        if self.introduced is not None and position < wave_order.index(self.introduced):
            return False
        if self.dropped is not None and position >= wave_order.index(self.dropped):
            return False
        return True


@dataclass(frozen=True)
class Wave:
    id: str
    fieldwork_start: dt.date | None = None
    fieldwork_end: dt.date | None = None
    mode: str | None = None


@dataclass(frozen=True)
class MethodBreak:
    wave: str
    description_nl: str
    items: tuple[str, ...] = ()  # empty = the whole questionnaire
    description_en: str | None = None

    @property
    def description(self) -> str:
        from socialquality.i18n import localised

        return localised(self.description_nl, self.description_en)


@dataclass(frozen=True)
class ScaleSpec:
    id: str
    method: str
    items: Any  # mapping of role -> item id, or a list of item ids (method-specific)
    codes: dict[str, Any] = field(default_factory=dict)
    min_valid: int | None = None
    reverse: tuple[str, ...] = ()  # generic methods: items scored the other way round
    rescale: tuple[float, float] | None = None  # generic methods: the score's range after rescaling

    def item_ids(self) -> list[str]:
        def flatten(value: Any) -> list[str]:
            if isinstance(value, str):
                return [value]
            if isinstance(value, dict):
                return [i for v in value.values() for i in flatten(v)]
            return [i for v in value for i in flatten(v)]

        return flatten(self.items)


@dataclass(frozen=True)
class Codebook:
    survey: str
    title: str
    version: int
    kind: str
    path: str
    checksum: str
    municipality: str | None
    minimum_age: int | None
    respondent_id_column: str
    district_column: str
    sex_column: str | None
    sex_codes: dict[Any, str]  # delivered code (whole number or text) -> m | v | x
    sex_missing: tuple[Any, ...]
    age_column: str | None
    age_min: float | None
    age_max: float | None
    age_group_column: str | None
    age_group_codes: dict[Any, str]  # delivered code (whole number or text) -> band label ("18-34", "75+")
    duration_column: str | None
    duration_unit: str
    speeder_below_min: float | None
    drop_columns: tuple[str, ...]
    waves: tuple[Wave, ...]
    method_breaks: tuple[MethodBreak, ...]
    answer_scales: dict[str, AnswerScale]
    items: dict[str, Item]
    grids: dict[str, tuple[str, ...]]
    scales: tuple[ScaleSpec, ...]
    intervention: str | None = None
    age_group_missing: tuple[Any, ...] = ()

    @property
    def age_group_labels(self) -> list[str]:
        """The band labels the normalised `age_group` column may hold (ordered by age)."""
        from socialquality.agebands import sorted_bands

        if self.age_group_column and self.age_group_codes:
            return [b.label for b in sorted_bands(set(self.age_group_codes.values()))]
        return list(AGE_GROUPS)

    @property
    def age_bands(self):
        """The survey's age bands when ages are only known in bands (None: ages in years are delivered)."""
        from socialquality.agebands import sorted_bands

        if self.age_column:
            return None
        if self.age_group_column and self.age_group_codes:
            return sorted_bands(set(self.age_group_codes.values()))
        return None
    buurt_column: str | None = None  # the respondent's CBS buurt code (optional; small-area figures)

    @property
    def wave_ids(self) -> list[str]:
        return [w.id for w in self.waves]

    def wave(self, wave_id: str) -> Wave:
        for wave in self.waves:
            if wave.id == wave_id:
                return wave
        raise KeyError(f"wave {wave_id!r} is not in codebook {self.survey} ({self.path})")

    def items_asked(self, wave_id: str) -> list[Item]:
        order = self.wave_ids
        return [i for i in self.items.values() if i.asked_in(wave_id, order)]

    def background_columns(self) -> dict[str, str]:
        """Delivered column name -> role, for the design/background variables."""
        roles = {self.respondent_id_column: "respondent_id", self.district_column: "district"}
        for column, role in (
            (self.buurt_column, "buurt"),
            (self.sex_column, "sex"),
            (self.age_column, "age"),
            (self.age_group_column, "age_group"),
            (self.duration_column, "duration"),
        ):
            if column:
                roles[column] = role
        return roles

    def breaks_between(self, wave_a: str, wave_b: str, item_ids: list[str] | None = None) -> list[MethodBreak]:
        """Method breaks that lie between two waves (for the given items, or any)."""
        order = self.wave_ids
        low, high = sorted((order.index(wave_a), order.index(wave_b)))
        found = []
        for brk in self.method_breaks:
            if low < order.index(brk.wave) <= high:
                if not brk.items or item_ids is None or set(brk.items) & set(item_ids):
                    found.append(brk)
        return found


def _int_keys(mapping: dict[Any, Any] | None, path: Path, where: str) -> dict[int, Any]:
    result: dict[int, Any] = {}
    for key, value in (mapping or {}).items():
        try:
            result[int(key)] = value
        except (TypeError, ValueError):
            raise CodebookError(path, f"code {key!r} is not a whole number", where) from None
    return result


def _codes(mapping: dict[Any, Any] | None) -> dict[Any, Any]:
    """Background codes as delivered: whole numbers stay numbers, anything else is text (`m`, `65+`)."""
    result: dict[Any, Any] = {}
    for key, value in (mapping or {}).items():
        text = str(key).strip()
        result[int(text) if re.fullmatch(r"-?\d+", text) else text] = value
    return result


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def load_codebook(path: str | Path) -> Codebook:
    """Read, validate and return a codebook; raises CodebookError naming the file and place."""
    path = Path(path)
    raw = read_yaml(path)
    validate_against_schema(raw, "codebook.schema.json", path)
    checksum = hashlib.sha256(path.read_bytes()).hexdigest()

    scales_raw = raw.get("answer_scales", {}) or {}
    answer_scales: dict[str, AnswerScale] = {}
    for scale_id, spec in scales_raw.items():
        where = f"answer_scales/{scale_id}"
        value_range = tuple(float(v) for v in spec["range"]) if "range" in spec else None
        if value_range and value_range[0] > value_range[1]:
            raise CodebookError(path, "range must be [low, high]", where)
        answer_scales[scale_id] = AnswerScale(
            id=scale_id,
            codes=_int_keys(spec.get("codes"), path, where + "/codes"),
            missing=_int_keys(spec.get("missing"), path, where + "/missing"),
            value_range=value_range,  # type: ignore[arg-type]
            whole="range" not in spec or all(isinstance(v, int) and not isinstance(v, bool) for v in spec["range"]),
        )

    waves = tuple(
        Wave(
            id=str(w["id"]),
            fieldwork_start=_as_date((w.get("fieldwork") or {}).get("start")),
            fieldwork_end=_as_date((w.get("fieldwork") or {}).get("end")),
            mode=w.get("mode"),
        )
        for w in raw["waves"]
    )
    wave_ids = [w.id for w in waves]
    if len(set(wave_ids)) != len(wave_ids):
        raise CodebookError(path, "wave ids must be unique", "waves")
    for wave in waves:
        if wave.fieldwork_start and wave.fieldwork_end and wave.fieldwork_start > wave.fieldwork_end:
            raise CodebookError(path, f"fieldwork of wave {wave.id} ends before it starts", "waves")

    items: dict[str, Item] = {}
    seen_columns: dict[str, str] = {}
    for index, spec in enumerate(raw["items"]):
        where = f"items/{index} ({spec['id']})"
        if spec["id"] in items:
            raise CodebookError(path, f"duplicate item id {spec['id']!r}", where)
        item_type = spec.get("type") or ("text" if "scale" not in spec else "categorical")
        scale = None
        if item_type != "text":
            if "scale" not in spec:
                raise CodebookError(path, "a non-text item needs an answer `scale`", where)
            if spec["scale"] not in answer_scales:
                raise CodebookError(path, f"unknown answer scale {spec['scale']!r}", where)
            scale = answer_scales[spec["scale"]]
            if scale.value_range is not None:
                item_type = "numeric"
        for name in [spec["id"], *spec.get("aliases", [])]:
            key = name.lower()
            if key in seen_columns:
                raise CodebookError(path, f"column name {name!r} also used by item {seen_columns[key]!r}", where)
            seen_columns[key] = spec["id"]
        recode = {}
        for wave_id, mapping in (spec.get("recode") or {}).items():
            if str(wave_id) not in wave_ids:
                raise CodebookError(path, f"recode names unknown wave {wave_id!r}", where)
            recode[str(wave_id)] = _int_keys(mapping, path, where + "/recode")
        for key in ("introduced", "dropped"):
            if spec.get(key) is not None and str(spec[key]) not in wave_ids:
                raise CodebookError(path, f"{key} names unknown wave {spec[key]!r}", where)
        items[spec["id"]] = Item(
            id=spec["id"],
            text_nl=spec["text"],
            text_en=spec.get("text_en"),
            type=item_type,
            scale=scale,
            aliases=tuple(spec.get("aliases", [])),
            recode=recode,
            reverse=bool(spec.get("reverse", False)),
            introduced=str(spec["introduced"]) if spec.get("introduced") else None,
            dropped=str(spec["dropped"]) if spec.get("dropped") else None,
            required=bool(spec.get("required", item_type != "text")),
        )

    grids = {}
    for grid in raw.get("grids", []) or []:
        unknown = [i for i in grid["items"] if i not in items]
        if unknown:
            raise CodebookError(path, f"grid names unknown items {unknown}", f"grids/{grid['id']}")
        grids[grid["id"]] = tuple(grid["items"])

    scales = []
    for spec in raw.get("scales", []) or []:
        scale_spec = ScaleSpec(
            id=spec["id"],
            method=spec["method"],
            items=spec["items"],
            codes=dict(spec.get("codes") or {}),
            min_valid=spec.get("min_valid"),
            reverse=tuple(spec.get("reverse") or ()),
            rescale=tuple(float(v) for v in spec["rescale"]) if spec.get("rescale") else None,  # type: ignore[arg-type]
        )
        unknown = [i for i in scale_spec.item_ids() if i not in items]
        if unknown:
            raise CodebookError(path, f"scale names unknown items {unknown}", f"scales/{spec['id']}")
        where = f"scales/{spec['id']}"
        if scale_spec.method in ("mean", "sum"):
            if not isinstance(spec["items"], list) or len(spec["items"]) < 1:
                raise CodebookError(path, f"method {scale_spec.method} needs `items` as a list of item ids", where)
            not_listed = [i for i in scale_spec.reverse if i not in spec["items"]]
            if not_listed:
                raise CodebookError(path, f"reverse names items that are not in the scale: {not_listed}", where)
            no_scale = [i for i in spec["items"] if items[i].scale is None]
            if no_scale:
                raise CodebookError(path, f"items without an answer scale cannot be scored: {no_scale}", where)
            if scale_spec.min_valid is not None and scale_spec.min_valid > len(spec["items"]):
                raise CodebookError(path, f"min_valid {scale_spec.min_valid} is more than the "
                                          f"{len(spec['items'])} items", where)
            if scale_spec.rescale and scale_spec.rescale[0] >= scale_spec.rescale[1]:
                raise CodebookError(path, "rescale must be [low, high]", where)
        elif scale_spec.reverse or scale_spec.rescale:
            raise CodebookError(path, f"reverse/rescale are settings of the generic methods mean and sum, "
                                      f"not of {scale_spec.method}", where)
        scales.append(scale_spec)

    breaks = []
    for brk in raw.get("method_breaks", []) or []:
        if str(brk["wave"]) not in wave_ids:
            raise CodebookError(path, f"method break names unknown wave {brk['wave']!r}", "method_breaks")
        unknown = [i for i in brk.get("items", []) if i not in items]
        if unknown:
            raise CodebookError(path, f"method break names unknown items {unknown}", "method_breaks")
        breaks.append(MethodBreak(wave=str(brk["wave"]), description_nl=brk["description"],
                                  description_en=brk.get("description_en"), items=tuple(brk.get("items", []))))

    sex = raw.get("sex") or {}
    age = raw.get("age") or {}
    age_group = raw.get("age_group") or {}
    duration = raw.get("duration") or {}
    background = [raw["respondent_id"]["column"], raw["district"]["column"], sex.get("column"), age.get("column"),
                  age_group.get("column"), duration.get("column"), (raw.get("neighbourhood") or {}).get("column")]
    for column in filter(None, background):
        if column.lower() in seen_columns:
            raise CodebookError(path, f"background column {column!r} is also an item name")

    if age_group.get("codes"):
        from socialquality.agebands import sorted_bands

        try:
            sorted_bands(set(age_group["codes"].values()))
        except ValueError as error:
            raise CodebookError(path, str(error), "age_group/codes") from None
    if age.get("column") and age_group.get("column") and age.get("column") == age_group.get("column"):
        raise CodebookError(path, "age and age_group name the same column", "age_group/column")

    return Codebook(
        survey=raw["survey"],
        title=raw["title"],
        version=int(raw["version"]),
        kind=raw.get("kind", "resident_survey"),
        path=str(path),
        checksum=checksum,
        municipality=raw.get("municipality"),
        minimum_age=raw.get("minimum_age"),
        respondent_id_column=raw["respondent_id"]["column"],
        district_column=raw["district"]["column"],
        sex_column=sex.get("column"),
        sex_codes=_codes(sex.get("codes")),
        sex_missing=tuple(_codes({m: None for m in sex.get("missing", [])})),
        age_column=age.get("column"),
        age_min=age.get("min"),
        age_max=age.get("max"),
        age_group_column=age_group.get("column"),
        age_group_codes=_codes(age_group.get("codes")),
        age_group_missing=tuple(_codes({m: None for m in age_group.get("missing", [])})),
        duration_column=duration.get("column"),
        duration_unit=duration.get("unit", "minutes"),
        speeder_below_min=duration.get("speeder_below"),
        drop_columns=tuple(raw.get("drop_columns", [])),
        waves=waves,
        method_breaks=tuple(breaks),
        answer_scales=answer_scales,
        items=items,
        grids=grids,
        scales=tuple(scales),
        intervention=raw.get("intervention"),
        buurt_column=(raw.get("neighbourhood") or {}).get("column"),
    )


def age_group_of(age: float) -> str | None:
    """CBS age group of a respondent (the survey population starts at 15)."""
    if age != age:  # NaN
        return None
    if age < 25:
        return "15-24"
    if age < 45:
        return "25-44"
    if age < 65:
        return "45-64"
    return "65+"
