"""Expectation suites as files: generated from the codebook, plus hand-written research rules.

Two files per survey live under ``expectations/`` (see expectations/README.md):

- ``generated/<survey>.json``: a Great Expectations (GX Core 1.x) ExpectationSuite in GX's own JSON,
  written by `write_generated_suite` from the codebook. Never edit it by hand: regenerate it with
  ``python -m socialquality.quality surveys/codebooks/<survey>.yaml``.
  The row rules that GX cannot express natively (straight-lining per grid) are declared in the
  suite's ``meta.socialquality.row_rules`` so that the file lists every generated rule.
- ``custom/<survey>.json``: the research department's rules in a small documented format
  (``socialquality.custom_rules/1``), never touched by regeneration.

Every expectation carries ``meta`` with our ``rule_id``, ``check_id``, ``column``, ``kind``
(row/dataset), ``severity`` (blocking_row / blocking_dataset / warning) and a Dutch and an English
description for auditors. GX's own ``severity`` field is set to ``critical`` for blocking rules and
``warning`` otherwise.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socialquality.codebook import AGE_GROUPS, Codebook
from socialquality.errors import CodebookError, ConfigError
from socialquality.quality.model import BLOCKING_DATASET, BLOCKING_ROW, DATASET, ROW, SEVERITIES, WARNING

SUITE_FORMAT_VERSION = 1
CUSTOM_FORMAT = "socialquality.custom_rules/1"
GENERATED_DIR = "generated"
CUSTOM_DIR = "custom"

# Columns of the normalised frame (docs/data-contracts.md section 1).
RESPONDENT = "respondent_pid"
WAVE = "wave"
DISTRICT = "district_code"
SEX = "sex"
AGE = "age"
AGE_GROUP = "age_group"
DURATION = "duration_min"
SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
INTERVIEW_DATE = "interview_date"  # optional: only some agencies deliver it

# Straight-lining: a grid is checked when it holds a reversed item (identical answers then
# contradict each other) or at least this many items; a respondent needs this many answers.
STRAIGHTLINING_MIN_ANSWERED = 4
STRAIGHTLINING_LONG_GRID = 6

GX_SEVERITY = {BLOCKING_ROW: "critical", BLOCKING_DATASET: "critical", WARNING: "warning"}


def suite_name(survey: str, part: str = "generated") -> str:
    return f"{survey}.{part}"


def generated_suite_path(expectations_dir: str | Path, survey: str) -> Path:
    return Path(expectations_dir) / GENERATED_DIR / f"{survey}.json"


def custom_rules_path(expectations_dir: str | Path, survey: str) -> Path:
    return Path(expectations_dir) / CUSTOM_DIR / f"{survey}.json"


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _codes(values: Any) -> str:
    return ", ".join(str(v) for v in values)


def _meta(
    rule_id: str,
    column: str | None,
    kind: str,
    severity: str,
    nl: str,
    en: str,
    *,
    check_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    meta = {
        "rule_id": rule_id,
        "check_id": check_id or (f"{rule_id}:{column}" if column else rule_id),
        "column": column,
        "kind": kind,
        "severity": severity,
        "description_nl": nl,
        "description_en": en,
    }
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def _expectation(type_: str, kwargs: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": meta, "severity": GX_SEVERITY[meta["severity"]]}


def _speeder_threshold_minutes(codebook: Codebook) -> float | None:
    if codebook.speeder_below_min is None or not codebook.duration_column:
        return None
    threshold = float(codebook.speeder_below_min)
    return threshold / 60.0 if codebook.duration_unit == "seconds" else threshold


def straightlining_rules(codebook: Codebook) -> list[dict[str, Any]]:
    """The straight-lining rule of every codebook grid (declared in the generated suite's meta)."""
    rules = []
    for grid_id, items in codebook.grids.items():
        reversed_items = [i for i in items if codebook.items[i].reverse]
        if reversed_items:
            eligible, reason = True, f"grid contains reversed item(s) {', '.join(reversed_items)}"
        elif len(items) >= STRAIGHTLINING_LONG_GRID:
            eligible, reason = True, f"grid has {len(items)} items (>= {STRAIGHTLINING_LONG_GRID})"
        else:
            eligible = False
            reason = (f"grid has no reversed item and only {len(items)} items "
                      f"(< {STRAIGHTLINING_LONG_GRID}): identical answers can be genuine")
        rules.append(
            {
                "rule_id": "straightlining",
                "check_id": f"straightlining:{grid_id}",
                "column": grid_id,
                "kind": ROW,
                "severity": BLOCKING_ROW,
                "engine": "pandas (socialquality.quality.rules.straightlining)",
                "items": list(items),
                "reversed_items": reversed_items,
                "min_answered": STRAIGHTLINING_MIN_ANSWERED,
                "enabled": eligible,
                "reason": reason,
                "description_nl": (
                    f"Rechtlijnig antwoorden op vragenblok {grid_id}: dezelfde antwoordcode op alle "
                    f"beantwoorde stellingen (minstens {STRAIGHTLINING_MIN_ANSWERED} beantwoord). "
                    "De rij gaat naar quarantaine."
                ),
                "description_en": (
                    f"Straight-lining on grid {grid_id}: the same answer code on every answered "
                    f"statement (at least {STRAIGHTLINING_MIN_ANSWERED} answered). The row is quarantined."
                ),
            }
        )
    return rules


def generate_suite(codebook: Codebook) -> dict[str, Any]:
    """The GX Core 1.x ExpectationSuite (as its JSON dict) that the codebook implies.

    Deterministic: the same codebook gives the same dict (no random ids), so the file's sha256
    identifies the rules that ran.
    """
    exps: list[dict[str, Any]] = []
    survey = codebook.survey

    # 1. Required columns (dataset level: a missing column means the file does not fit the codebook).
    required = [RESPONDENT, WAVE, DISTRICT, SOURCE_FILE, SOURCE_ROW]
    if codebook.sex_column:
        required.append(SEX)
    if codebook.age_column:
        required.append(AGE)
    if codebook.age_column or codebook.age_group_column:
        required.append(AGE_GROUP)
    if codebook.duration_column:
        required.append(DURATION)
    for column in required:
        exps.append(_expectation(
            "expect_column_to_exist", {"column": column},
            _meta("required_columns", column, DATASET, BLOCKING_DATASET,
                  f"Kolom {column} is aanwezig in de genormaliseerde gegevens (vaste kolom).",
                  f"Column {column} is present in the normalised data (fixed column)."),
        ))
    for item in codebook.items.values():
        if not item.required or item.type == "text":
            continue
        exps.append(_expectation(
            "expect_column_to_exist", {"column": item.id},
            _meta("required_columns", item.id, DATASET, BLOCKING_DATASET,
                  f"Vraag {item.id} is aanwezig in de gegevens (verplicht volgens het codeboek).",
                  f"Item {item.id} is present in the data (required by the codebook).",
                  item=item.id, introduced=item.introduced, dropped=item.dropped),
        ))

    # 2. Respondent identity.
    exps.append(_expectation(
        "expect_column_values_to_not_be_null", {"column": RESPONDENT},
        _meta("respondent_id_present", RESPONDENT, ROW, BLOCKING_ROW,
              "Elke rij heeft een (gepseudonimiseerd) respondentnummer; een rij zonder nummer gaat naar quarantaine.",
              "Every row has a (pseudonymised) respondent id; a row without one is quarantined."),
    ))
    exps.append(_expectation(
        "expect_column_values_to_be_unique", {"column": RESPONDENT},
        _meta("unique_respondent", RESPONDENT, ROW, BLOCKING_ROW,
              "Elke respondent komt één keer voor in de meting. Bij dubbelen blijft de eerst "
              "aangeleverde rij staan; latere kopieën gaan naar quarantaine.",
              "Each respondent appears once in the wave. Of duplicates the first delivered row is kept; "
              "later copies are quarantined.",
              keep="first", redact_values=True),
    ))

    # 3. District.
    exps.append(_expectation(
        "expect_column_values_to_not_be_null", {"column": DISTRICT},
        _meta("district_present", DISTRICT, ROW, BLOCKING_ROW,
              "Elke rij heeft een wijkcode; zonder wijk kan een antwoord niet worden gewogen of toegerekend.",
              "Every row has a district code; without it an answer cannot be weighted or attributed."),
    ))
    exps.append(_expectation(
        "expect_column_values_to_be_in_set",
        {"column": DISTRICT, "value_set": {"$PARAMETER": "known_districts"}},
        _meta("known_district", DISTRICT, ROW, BLOCKING_ROW,
              "De wijkcode is een bekende CBS-wijkcode van de gemeente (lijst wordt bij elke run meegegeven).",
              "The district code is a known CBS district code of the municipality (list passed at run time).",
              parameters=["known_districts"]),
    ))

    # 4. Background variables.
    if codebook.sex_column:
        sexes = sorted(set(codebook.sex_codes.values()))
        exps.append(_expectation(
            "expect_column_values_to_be_in_set", {"column": SEX, "value_set": sexes},
            _meta("allowed_codes", SEX, ROW, BLOCKING_ROW,
                  f"Geslacht is een van {_codes(sexes)} of ontbreekt.",
                  f"Sex is one of {_codes(sexes)} or missing."),
        ))
    if codebook.age_column:
        minimum = codebook.minimum_age if codebook.minimum_age is not None else codebook.age_min
        if minimum is not None:
            exps.append(_expectation(
                "expect_column_values_to_be_between", {"column": AGE, "min_value": float(minimum)},
                _meta("minimum_age", AGE, ROW, BLOCKING_ROW,
                      f"Onmogelijke combinatie: de respondent is jonger dan de minimumleeftijd van het onderzoek ({minimum}).",
                      f"Impossible combination: the respondent is younger than the survey's minimum age ({minimum})."),
            ))
        if codebook.age_max is not None:
            exps.append(_expectation(
                "expect_column_values_to_be_between", {"column": AGE, "max_value": float(codebook.age_max)},
                _meta("value_range", AGE, ROW, BLOCKING_ROW,
                      f"Leeftijd is niet hoger dan {codebook.age_max} (hogere waarden zijn invoerfouten).",
                      f"Age is at most {codebook.age_max} (higher values are entry errors)."),
            ))
    if codebook.age_column or codebook.age_group_column:
        exps.append(_expectation(
            "expect_column_values_to_be_in_set", {"column": AGE_GROUP, "value_set": codebook.age_group_labels},
            _meta("allowed_codes", AGE_GROUP, ROW, BLOCKING_ROW,
                  f"Leeftijdsgroep is een van {_codes(codebook.age_group_labels)} of ontbreekt.",
                  f"Age group is one of {_codes(codebook.age_group_labels)} or missing."),
        ))
    speeder = _speeder_threshold_minutes(codebook)
    if speeder is not None:
        exps.append(_expectation(
            "expect_column_values_to_be_between", {"column": DURATION, "min_value": speeder},
            _meta("speeder", DURATION, ROW, BLOCKING_ROW,
                  f"Te snel ingevuld: een interviewduur onder {speeder:g} minuten wijst op niet lezen. "
                  "De rij gaat naar quarantaine; ontbrekende duur wordt niet beoordeeld.",
                  f"Speeder: an interview shorter than {speeder:g} minutes indicates answers given "
                  "without reading. The row is quarantined; a missing duration is not judged.",
                  unit="minutes"),
        ))

    # 5. Answers: allowed codes and ranges per item (missing codes are NA after normalisation).
    for item in codebook.items.values():
        if item.type == "text" or item.scale is None:
            continue
        extra = {"item": item.id, "scale": item.scale.id, "question": item.text,
                 "introduced": item.introduced, "dropped": item.dropped}
        if item.scale.value_range is not None:
            low, high = item.scale.value_range
            exps.append(_expectation(
                "expect_column_values_to_be_between",
                {"column": item.id, "min_value": float(low), "max_value": float(high)},
                _meta("value_range", item.id, ROW, BLOCKING_ROW,
                      f"Antwoord op {item.id} ligt tussen {low:g} en {high:g} (of ontbreekt); anders gaat de rij naar quarantaine.",
                      f"The answer to {item.id} lies between {low:g} and {high:g} (or is missing); otherwise the row is quarantined.",
                      **extra),
            ))
        else:
            codes = sorted(item.scale.codes)
            exps.append(_expectation(
                "expect_column_values_to_be_in_set", {"column": item.id, "value_set": codes},
                _meta("allowed_codes", item.id, ROW, BLOCKING_ROW,
                      f"Antwoord op {item.id} is een code uit het codeboek ({_codes(codes)}) of ontbreekt; anders gaat de rij naar quarantaine.",
                      f"The answer to {item.id} is a codebook code ({_codes(codes)}) or missing; otherwise the row is quarantined.",
                      **extra),
            ))

    meta = {
        "socialquality": {
            "format_version": SUITE_FORMAT_VERSION,
            "survey": survey,
            "generated_from": Path(codebook.path).name,
            "codebook_version": codebook.version,
            "codebook_checksum": codebook.checksum,
            "generator": "socialquality.quality.suites.generate_suite",
            "do_not_edit": "Generated from the codebook; hand-written rules go in "
                           f"expectations/custom/{survey}.json.",
            "parameters": {"known_districts": "CBS district codes of the municipality, passed at run time"},
            "row_rules": straightlining_rules(codebook),
        }
    }
    return _through_gx({"name": suite_name(survey), "expectations": exps, "meta": meta,
                        "notes": f"Data-quality rules generated from codebook {survey} v{codebook.version}."})


def _through_gx(suite: dict[str, Any]) -> dict[str, Any]:
    """Build the suite with GX's classes and return GX's JSON (validates every expectation)."""
    from socialquality.quality.gx_adapter import suite_from_dict

    return suite_from_dict(suite).to_json_dict()


def suite_json_text(suite: dict[str, Any]) -> str:
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"


def write_generated_suite(codebook: Codebook, expectations_dir: str | Path) -> Path:
    """Write ``<expectations_dir>/generated/<survey>.json``; touches nothing else."""
    path = generated_suite_path(expectations_dir, codebook.survey)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = suite_json_text(generate_suite(codebook))
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def load_generated_suite(codebook: Codebook, expectations_dir: str | Path) -> tuple[dict[str, Any], Path]:
    """Read the generated suite and check that it was generated from this very codebook."""
    path = generated_suite_path(expectations_dir, codebook.survey)
    if not path.is_file():
        raise ConfigError(
            f"{path}: generated expectation suite not found; run "
            f"`python -m socialquality.quality {codebook.path} --expectations-dir {expectations_dir}`"
        )
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CodebookError(path, f"invalid JSON: {exc.msg}", f"line {exc.lineno}") from None
    info = (suite.get("meta") or {}).get("socialquality") or {}
    if info.get("format_version") != SUITE_FORMAT_VERSION or info.get("codebook_checksum") != codebook.checksum:
        raise ConfigError(
            f"{path}: the suite was generated from another version of codebook {codebook.survey} "
            f"(suite: v{info.get('codebook_version')} {str(info.get('codebook_checksum'))[:12]}, "
            f"codebook: v{codebook.version} {codebook.checksum[:12]}); regenerate it with "
            f"`python -m socialquality.quality {codebook.path} --expectations-dir {expectations_dir}`"
        )
    return suite, path


# ---------------------------------------------------------------------------------------------
# Hand-written rules (expectations/custom/<survey>.json)

@dataclass(frozen=True)
class CustomRuleType:
    kind: str
    severities: tuple[str, ...]
    default_severity: str
    defaults: dict[str, Any]
    description_nl: str
    description_en: str


CUSTOM_RULE_TYPES: dict[str, CustomRuleType] = {
    "min_respondents_per_district": CustomRuleType(
        DATASET, (WARNING, BLOCKING_DATASET), WARNING, {"minimum": 30},
        "Minimaal {minimum} bruikbare respondenten per wijk; cijfers van wijken daaronder worden onderdrukt.",
        "At least {minimum} clean respondents per district; figures of districts below are suppressed.",
    ),
    "max_missing_share": CustomRuleType(
        DATASET, (WARNING, BLOCKING_DATASET), WARNING, {"max_share": 0.20, "items": "*"},
        "Per vraag ontbreekt bij hoogstens {max_share:.0%} van de bruikbare respondenten het antwoord.",
        "Per item at most {max_share:.0%} of the clean respondents have no answer.",
    ),
    "fieldwork_dates": CustomRuleType(
        ROW, (WARNING, BLOCKING_ROW), WARNING, {"column": INTERVIEW_DATE, "grace_days": 0},
        "De interviewdatum valt binnen de veldwerkperiode van de meting (plus {grace_days} dagen). "
        "Alleen als de gegevens een interviewdatum bevatten.",
        "The interview date lies within the wave's fieldwork period (plus {grace_days} days). "
        "Only when the data carry an interview date.",
    ),
    "sample_composition": CustomRuleType(
        DATASET, (WARNING, BLOCKING_DATASET), WARNING, {"tolerance_pp": 15, "dimensions": [SEX, AGE_GROUP]},
        "De steekproef wijkt per leeftijdsgroep en geslacht hoogstens {tolerance_pp} procentpunt af van de "
        "bevolking (stad). Non-respons maakt de steekproef ouder; weging corrigeert dat, daarom alleen een waarschuwing.",
        "The sample's share per age group and sex is within {tolerance_pp} percentage points of the city "
        "population. Non-response makes samples older and weighting corrects it, hence a warning only.",
    ),
    "duplicate_answer_pattern": CustomRuleType(
        ROW, (WARNING, BLOCKING_ROW), WARNING, {"min_answered": 15},
        "Twee rijen met verschillende respondentnummers en exact dezelfde antwoorden op alle vragen "
        "(minstens {min_answered} beantwoord): mogelijk dubbel ingevoerd.",
        "Two rows with different respondent ids and exactly the same answers to all items "
        "(at least {min_answered} answered): possibly entered twice.",
    ),
    "max_quarantine_share": CustomRuleType(
        DATASET, (BLOCKING_DATASET, WARNING), BLOCKING_DATASET, {"max_share": 0.10},
        "Hoogstens {max_share:.0%} van de ontvangen rijen gaat naar quarantaine; meer wijst op een kapot "
        "bestand (verkeerd bestand, verschoven kolommen) en dan worden geen cijfers berekend.",
        "At most {max_share:.0%} of the received rows are quarantined; more suggests a broken file (wrong "
        "file, shifted columns) and then no figures are computed.",
    ),
    "min_clean_respondents": CustomRuleType(
        DATASET, (BLOCKING_DATASET, WARNING), BLOCKING_DATASET, {"minimum": 100},
        "De meting heeft minstens {minimum} bruikbare respondenten; anders worden geen cijfers berekend.",
        "The wave has at least {minimum} clean respondents; otherwise no figures are computed.",
    ),
}


@dataclass(frozen=True)
class CustomRule:
    rule_id: str
    kind: str
    severity: str
    params: dict[str, Any]
    description_nl: str
    description_en: str
    enabled: bool = True


@dataclass(frozen=True)
class CustomRules:
    survey: str
    path: str | None  # None: no file, built-in defaults used
    checksum: str
    rules: tuple[CustomRule, ...]
    gx_expectations: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def get(self, rule_id: str) -> CustomRule | None:
        for rule in self.rules:
            if rule.rule_id == rule_id and rule.enabled:
                return rule
        return None


def default_custom_document(survey: str) -> dict[str, Any]:
    """The built-in defaults, in the custom-file format (also a template for a new survey)."""
    return {
        "format": CUSTOM_FORMAT,
        "survey": survey,
        "rules": [{"rule_id": rid, "severity": t.default_severity, "params": dict(t.defaults)}
                  for rid, t in CUSTOM_RULE_TYPES.items()],
        "gx_expectations": [],
    }


def parse_custom_rules(document: Any, path: str | Path, survey: str, checksum: str) -> CustomRules:
    if not isinstance(document, dict):
        raise CodebookError(path, "expected a JSON object at the top level")
    if document.get("format") != CUSTOM_FORMAT:
        raise CodebookError(path, f"`format` must be {CUSTOM_FORMAT!r}", "format")
    if document.get("survey") != survey:
        raise CodebookError(path, f"`survey` is {document.get('survey')!r}, expected {survey!r}", "survey")
    unknown_top = set(document) - {"format", "survey", "description", "owner", "rules", "gx_expectations", "$comment"}
    if unknown_top:
        raise CodebookError(path, f"unknown key(s) {sorted(unknown_top)}")
    rules: list[CustomRule] = []
    seen: set[str] = set()
    for index, spec in enumerate(document.get("rules") or []):
        where = f"rules/{index}"
        if not isinstance(spec, dict) or "rule_id" not in spec:
            raise CodebookError(path, "a rule needs a `rule_id`", where)
        rule_id = spec["rule_id"]
        rule_type = CUSTOM_RULE_TYPES.get(rule_id)
        if rule_type is None:
            raise CodebookError(path, f"unknown rule_id {rule_id!r} (known: {', '.join(CUSTOM_RULE_TYPES)})", where)
        if rule_id in seen:
            raise CodebookError(path, f"rule {rule_id!r} appears twice", where)
        seen.add(rule_id)
        unknown = set(spec) - {"rule_id", "severity", "params", "enabled", "description_nl", "description_en", "$comment"}
        if unknown:
            raise CodebookError(path, f"unknown key(s) {sorted(unknown)}", where)
        severity = spec.get("severity", rule_type.default_severity)
        if severity not in rule_type.severities:
            raise CodebookError(path, f"severity {severity!r} not allowed for {rule_id} (allowed: "
                                      f"{', '.join(rule_type.severities)})", where)
        params = dict(rule_type.defaults)
        given = spec.get("params") or {}
        unknown = set(given) - set(rule_type.defaults)
        if unknown:
            raise CodebookError(path, f"unknown parameter(s) {sorted(unknown)} for {rule_id}", where + "/params")
        params.update(given)
        _check_params(rule_id, params, path, where + "/params")
        rules.append(CustomRule(
            rule_id=rule_id, kind=rule_type.kind, severity=severity, params=params,
            description_nl=spec.get("description_nl") or rule_type.description_nl.format(**params),
            description_en=spec.get("description_en") or rule_type.description_en.format(**params),
            enabled=bool(spec.get("enabled", True)),
        ))
    extras = []
    for index, spec in enumerate(document.get("gx_expectations") or []):
        where = f"gx_expectations/{index}"
        meta = (spec or {}).get("meta") or {}
        if not isinstance(spec, dict) or "type" not in spec or "kwargs" not in spec:
            raise CodebookError(path, "a GX expectation needs `type` and `kwargs`", where)
        if not meta.get("rule_id") or meta.get("severity") not in SEVERITIES or meta.get("kind") not in (ROW, DATASET):
            raise CodebookError(path, "meta needs rule_id, kind (row/dataset) and severity "
                                      f"({', '.join(SEVERITIES)})", where + "/meta")
        allowed = (BLOCKING_ROW, WARNING) if meta["kind"] == ROW else (BLOCKING_DATASET, WARNING)
        if meta["severity"] not in allowed:
            raise CodebookError(path, "a row rule has severity blocking_row or warning; a dataset rule "
                                      "blocking_dataset or warning", where + "/meta")
        spec = copy.deepcopy(spec)
        spec["meta"].setdefault("column", spec["kwargs"].get("column"))
        spec["meta"].setdefault("check_id", f"{meta['rule_id']}:{spec['kwargs'].get('column', index)}")
        spec["meta"].setdefault("description_nl", "")
        spec["meta"].setdefault("description_en", "")
        spec["severity"] = GX_SEVERITY[meta["severity"]]
        if spec["meta"]["check_id"] in {e["meta"]["check_id"] for e in extras} | set(CUSTOM_RULE_TYPES):
            raise CodebookError(path, f"check_id {spec['meta']['check_id']!r} is used twice; give meta.check_id",
                                where + "/meta")
        extras.append(spec)
    if extras:  # fail now, not during a run, when GX does not know an expectation
        from socialquality.quality.gx_adapter import suite_from_dict

        try:
            suite_from_dict({"name": "check", "expectations": extras})
        except Exception as exc:  # noqa: BLE001 - GX raises many kinds
            raise CodebookError(path, f"GX cannot read the expectations: {exc}", "gx_expectations") from None
    return CustomRules(survey=survey, path=str(path), checksum=checksum, rules=tuple(rules),
                       gx_expectations=tuple(extras))


def _check_params(rule_id: str, params: dict[str, Any], path: str | Path, where: str) -> None:
    def number(name: str, low: float, high: float | None = None) -> None:
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (high is not None and value > high):
            raise CodebookError(path, f"{name} must be a number in [{low}, {high if high is not None else 'inf'}]", where)

    if rule_id in ("max_missing_share", "max_quarantine_share"):
        number("max_share", 0.0, 1.0)
    if rule_id in ("min_respondents_per_district", "min_clean_respondents"):
        number("minimum", 0)
    if rule_id == "sample_composition":
        number("tolerance_pp", 0, 100)
        if not set(params["dimensions"]) <= {SEX, AGE_GROUP}:
            raise CodebookError(path, "dimensions must be among sex, age_group", where)
    if rule_id == "fieldwork_dates":
        number("grace_days", 0)
    if rule_id == "duplicate_answer_pattern":
        number("min_answered", 1)
    if rule_id == "max_missing_share" and params["items"] != "*" and not isinstance(params["items"], list):
        raise CodebookError(path, 'items must be "*" or a list of item ids', where)


def load_custom_rules(survey: str, expectations_dir: str | Path) -> CustomRules:
    """Read ``custom/<survey>.json``; without the file the built-in defaults apply (path None)."""
    path = custom_rules_path(expectations_dir, survey)
    if not path.is_file():
        document = default_custom_document(survey)
        checksum = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
        rules = parse_custom_rules(document, "<built-in defaults>", survey, checksum)
        return CustomRules(survey=survey, path=None, checksum=checksum, rules=rules.rules)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CodebookError(path, f"invalid JSON: {exc.msg}", f"line {exc.lineno}") from None
    return parse_custom_rules(document, path, survey, file_sha256(path))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m socialquality.quality CODEBOOK.yaml [...] [--expectations-dir DIR]``."""
    import argparse

    from socialquality.codebook import load_codebook

    parser = argparse.ArgumentParser(description="Generate the GX expectation suite of a codebook.")
    parser.add_argument("codebook", nargs="+", help="codebook YAML file(s)")
    parser.add_argument("--expectations-dir", default="expectations")
    args = parser.parse_args(argv)
    for codebook_path in args.codebook:
        path = write_generated_suite(load_codebook(codebook_path), args.expectations_dir)
        print(f"{path}  sha256={file_sha256(path)}")
    return 0

