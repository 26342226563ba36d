"""`socialquality init`: a new installation from a delivered wave and a population file.

Reads the delivery (SPSS .sav/.zsav with value labels, Stata .dta, Excel .xlsx, CSV/TSV, Parquet),
guesses which columns are the respondent id, district, sex, age (in years or in bands) and interview
duration, turns value labels into answer scales (codes, labels and missing codes), and writes an
installation folder (docs/new-municipality.md):

    <folder>/config/socialquality.yaml        the configuration (relative paths)
    <folder>/surveys/codebooks/<survey>.yaml  draft codebook
    <folder>/surveys/indicators.yaml          draft indicator catalogue
    <folder>/surveys/interventions.yaml       draft intervention register (empty, with an example)
    <folder>/data/                            the population file (and boundaries, CBS register figures)
    <folder>/landing/<survey>/<wave>/<file>   the delivered file, as the first wave
    <folder>/expectations/                    expectation suites (generated on the first run)
    <folder>/REVIEW.md                        every decision that still needs a person

An answers file (`--answers`) holds decisions made earlier (for the next wave, or a second
department following the same path): `codebook:` is laid over the draft codebook (mappings are
merged, lists replaced; `items:` is a mapping item id -> settings), `catalogue:` and
`interventions:` name files to use instead of the drafts, `config:` is laid over the configuration,
`confirmed:` lists the subjects of questions a person checked and left as drafted (e.g.
`codebook.background`). A question whose subject the answers settle is not asked again.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from socialquality.agebands import parse_band
from socialquality.errors import InputFileError, SocialQualityError

MISSING_LABEL = re.compile(
    r"weet (ik )?(het )?niet|geen antwoord|geen mening|n\.?v\.?t|niet van toepassing|onbekend|wil (ik )?niet|"
    r"zeg ik liever niet|don.?t know|no answer|refus|missing|ontbreekt|niet ingevuld|sysmis", re.IGNORECASE)
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "respondent_id": ("resp_id", "respid", "respondent", "respondent_id", "respondentnummer", "respnr", "id",
                      "volgnummer", "volgnr", "recordnr", "record_id", "uuid", "responseid", "response_id"),
    "district": ("wijkcode", "wijk", "wijk_code", "wijknr", "district", "district_code", "wk_code", "wkcode"),
    "sex": ("geslacht", "sekse", "sex", "gender", "gesl"),
    "age": ("leeftijd", "lft", "lftd", "age", "leeftijd_jaren", "leeftijdjaren"),
    "age_group": ("leeftijdsklasse", "lftklasse", "lft_klasse", "leeftijdsgroep", "leeftijdscategorie",
                  "lftcat", "agegroup", "age_group", "lftkl", "leeftijd_klasse", "leeftijdklasse"),
    "duration": ("duur", "duur_min", "duur_sec", "duration", "interviewduur", "invulduur", "duur_minuten"),
}
SEX_LABELS = {"m": "m", "man": "m", "mannelijk": "m", "male": "m", "jongen": "m", "v": "v", "vrouw": "v",
              "vrouwelijk": "v", "female": "v", "f": "v", "meisje": "v", "x": "x", "anders": "x", "non-binair": "x",
              "nonbinair": "x", "other": "x", "zeg ik liever niet": None, "onbekend": None}
DISTRICT_CODE = re.compile(r"^\s*WK\d{6}\s*$", re.IGNORECASE)
CBS_REGISTER = [
    {"id": "laag_inkomen", "label": "Huishoudens met een laag inkomen (CBS)", "unit": "percent",
     "cbs_field": "HuishoudensMetEenLaagInkomen", "direction": "higher_is_worse", "condition": "socio_economic_security"},
    {"id": "afstand_huisarts", "label": "Afstand tot huisartsenpraktijk, km (CBS)", "unit": "km",
     "cbs_field": "AfstandTotHuisartsenpraktijk", "direction": "higher_is_worse", "condition": "social_inclusion"},
    {"id": "eenpersoonshuishoudens", "label": "Eenpersoonshuishoudens (CBS, % van huishoudens)", "unit": "percent",
     "cbs_field": "Eenpersoonshuishoudens", "denominator_field": "HuishoudensTotaal", "direction": "higher_is_worse",
     "condition": "social_cohesion"},
]


@dataclass
class Question:
    subject: str  # the key an answers file settles it with, e.g. "codebook.waves"
    text: str


@dataclass
class InitResult:
    folder: Path
    config: Path
    codebook: Path
    questions: list[Question] = field(default_factory=list)


def _slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9_]+", "_", str(name).strip().lower()).strip("_")
    if not text or not text[0].isalpha():
        text = "v_" + text
    return text


def _key(value: Any) -> Any:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _distinct(values: pd.Series) -> list[Any]:
    present = values.dropna()
    if present.dtype == object or str(present.dtype) in ("string", "str"):
        present = present.astype(str).str.strip()
        present = present[present != ""]
    return sorted({_key(v) for v in present.tolist()}, key=lambda v: (isinstance(v, str), v))


def _is_number_column(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values.dropna().astype(str).str.strip()
    present = present[present != ""]
    return not present.empty and pd.to_numeric(present.str.replace(",", "."), errors="coerce").notna().all()


def _numbers(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    return pd.to_numeric(values.astype(str).str.strip().str.replace(",", "."), errors="coerce")


def _guess_roles(raw, identifier: Any) -> dict[str, str]:
    """Delivered column -> role, by name first and then by content."""
    frame = raw.frame
    roles: dict[str, str] = {}
    by_name = {str(c).strip().casefold(): c for c in frame.columns}
    for role, names in ROLE_NAMES.items():
        for name in names:
            if name in by_name and by_name[name] not in roles:
                roles[by_name[name]] = role
                break
    taken = set(roles.values())
    for column in frame.columns:
        if column in roles or identifier(column):
            continue
        values = frame[column].dropna()
        if values.empty:
            continue
        text = values.astype(str)
        if "district" not in taken and text.str.match(DISTRICT_CODE).mean() > 0.9:
            roles[column] = "district"
            taken.add("district")
        elif "age_group" not in taken and _band_share(values, raw.value_labels.get(column)) > 0.9:
            roles[column] = "age_group"
            taken.add("age_group")
    if "respondent_id" not in taken:
        for column in frame.columns:
            if column not in roles and frame[column].notna().all() and frame[column].is_unique \
                    and not pd.api.types.is_float_dtype(frame[column]):
                roles[column] = "respondent_id"
                break
    # a column named like age that holds bands is an age band column, and the other way round
    for column, role in list(roles.items()):
        if role == "age" and _band_share(frame[column].dropna(), raw.value_labels.get(column)) > 0.9:
            roles[column] = "age_group"
    return roles


def _band_share(values: pd.Series, labels: dict | None) -> float:
    if values.empty:
        return 0.0
    if labels:
        parsed = [parse_band(label) is not None for code, label in labels.items() if not MISSING_LABEL.search(label)]
        return float(np.mean(parsed)) if parsed else 0.0
    if _is_number_column(values):
        return 0.0
    text = values.astype(str).str.strip()
    text = text[text != ""]
    return float(text.map(lambda v: parse_band(v) is not None).mean()) if not text.empty else 0.0


def _background_codes(values: pd.Series, labels: dict | None, kind: str) -> tuple[dict, list, list]:
    """(codes, missing codes, doubtful values) for sex (-> m/v/x) or age_group (-> band labels).

    From value labels where the file has them, else from the values themselves. A value that is
    neither a recognisable label nor a missing label, or that is rare (fewer than 5 rows and 0.5 %),
    is left out of the codes (so that the quality rules set its rows aside) and returned as doubtful."""
    codes: dict = {}
    missing: list = []
    doubtful: list = []
    present = values.dropna()
    if present.dtype == object or str(present.dtype) in ("string", "str"):
        present = present.astype(str).str.strip()
        present = present[present != ""]
    counts = present.map(_key).value_counts()
    pairs = list(labels.items()) if labels else [(v, v) for v in counts.index]
    for code, label in pairs:
        code = _key(code)
        text = " ".join(str(label).split()).casefold()
        target = SEX_LABELS.get(text, "?") if kind == "sex" else (parse_band(label).label if parse_band(label) else "?")
        rows = int(counts.get(code, 0))
        if target is None or (target == "?" and MISSING_LABEL.search(text)):
            missing.append(code)
        elif target == "?" or (not labels and rows < 5 and rows < 0.005 * len(present)):
            doubtful.append(f"{code!s} ({rows} rows)")
        else:
            codes[code] = target
    if kind == "sex" and not labels and not codes and set(counts.index) <= {1, 2, 9}:
        codes = {1: "m", 2: "v"}  # the usual coding, to be confirmed
        missing = [9] if 9 in counts.index else []
        doubtful.append("no labels: 1 = m, 2 = v assumed")
    return codes, missing, doubtful


def _answer_scale(values: pd.Series, labels: dict | None, user_missing: list | None) -> tuple[dict, str | None]:
    """An answer scale for one item: ({codes|range, missing}, question or None)."""
    declared = {_key(m) for m in (user_missing or []) if not isinstance(m, tuple)}
    if labels:
        codes, missing = {}, {}
        for code, label in labels.items():
            code = _key(code)
            if code in declared or MISSING_LABEL.search(str(label)):
                missing[code] = str(label)
            else:
                codes[code] = str(label)
        numbers = _numbers(values).dropna()
        unlabelled = sorted({_key(v) for v in numbers if _key(v) not in codes and _key(v) not in missing})
        answers = numbers[~numbers.isin(list(missing))]
        if not codes or (unlabelled and len(codes) <= 2 and answers.nunique() > 5):  # a mark or ladder: labelled ends
            low, high = float(answers.min()), float(answers.max())
            spec = {"range": [low, high], "missing": missing} if missing else {"range": [low, high]}
            return spec, (f"a numeric answer ({low:g} to {high:g} in this file): check the range the question "
                          "allows and the missing codes")
        spec: dict[str, Any] = {"codes": codes}
        if missing:
            spec["missing"] = missing
        question = None
        if unlabelled:
            question = f"values {unlabelled} occur in the file but have no value label"
        return spec, question
    numbers = _numbers(values).dropna()
    distinct = sorted({_key(v) for v in numbers})
    if all(isinstance(v, int) for v in distinct) and 0 < len(distinct) <= 12:
        missing = {v: "ontbrekend (code controleren)" for v in distinct if v in (8, 9, 97, 98, 99) and
                   v > max([d for d in distinct if d not in (8, 9, 97, 98, 99)] or [0]) + 1}
        codes = {v: f"code {v} (label invullen)" for v in distinct if v not in missing}
        spec = {"codes": codes}
        if missing:
            spec["missing"] = missing
        return spec, "the file has no value labels: fill in the labels and check which codes mean missing"
    low, high = float(numbers.min()), float(numbers.max())
    missing = {}
    for code in (98, 99, 998, 999, 9998, 9999):
        if (numbers == code).any() and high >= code:
            missing[code] = "ontbrekend (code controleren)"
    if missing:
        high = float(numbers[~numbers.isin(list(missing))].max())
    return ({"range": [low, high], "missing": missing} if missing else {"range": [low, high]},
            "a numeric answer without labels: check the range and the missing codes")


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return overlay


def _answered(answers: dict, subject: str) -> bool:
    if subject in (answers.get("confirmed") or []):
        return True
    node: Any = answers
    for part in subject.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _guess_wave(path: Path) -> str:
    found = re.search(r"(?<!\d)(20\d\d)(?!\d)", path.name)
    return found.group(1) if found else "1"


def _draft_background(raw, by_role: dict[str, str], ask) -> dict[str, Any]:
    """Codebook entries for sex, age (years), age_group (bands), minimum_age and duration."""
    codebook: dict[str, Any] = {}
    if "sex" in by_role:
        column = by_role["sex"]
        codes, missing, doubtful = _background_codes(raw.frame[column], raw.value_labels.get(column), "sex")
        codebook["sex"] = {"column": column, "codes": codes or {1: "m", 2: "v"}}
        if missing:
            codebook["sex"]["missing"] = missing
        if doubtful or not codes:
            ask("codebook.sex", f"sex codes of column {column!r}: {codebook['sex']['codes']}, missing {missing}; "
                                f"not recognised (rows will be set aside unless you add them): {', '.join(doubtful)}")
    else:
        ask("codebook.sex", "no sex column found: without it the weighting uses age only")
    ages = None
    if "age" in by_role:
        column = by_role["age"]
        ages = _numbers(raw.frame[column])
        valid = ages[(ages >= 10) & (ages <= 110)]
        codebook["age"] = {"column": column, "min": int(valid.min()) if not valid.empty else 16, "max": 110}
    if "age_group" in by_role:
        column = by_role["age_group"]
        codes, missing, doubtful = _background_codes(raw.frame[column], raw.value_labels.get(column), "age_group")
        codebook["age_group"] = {"column": column, "codes": codes}
        if missing:
            codebook["age_group"]["missing"] = missing
        if doubtful:
            ask("codebook.age_group", f"age band codes of column {column!r}: {codes}, missing {missing}; not "
                                      f"recognised or rare (rows will be set aside unless you add them): "
                                      f"{', '.join(doubtful)}")
    if "age" not in by_role and "age_group" not in by_role:
        ask("codebook.age", "no age column (years or bands) found: without it the weighting uses sex only and "
                            "no target group by age can be formed")
    youngest = None
    if ages is not None and ages.notna().any():
        youngest = int(ages[ages >= 10].min()) if (ages >= 10).any() else None
    elif "age_group" in codebook and codebook["age_group"]["codes"]:
        youngest = min(parse_band(b).low for b in codebook["age_group"]["codes"].values())
    if youngest is not None:
        codebook["minimum_age"] = youngest
        ask("codebook.minimum_age", f"minimum_age {youngest} is the youngest age in the file: set the survey's "
                                    "real lower age limit (younger respondents are set aside)")
    if "duration" in by_role:
        column = by_role["duration"]
        unit = "seconds" if "sec" in column.casefold() or _numbers(raw.frame[column]).median() > 120 else "minutes"
        codebook["duration"] = {"column": column, "unit": unit}
        ask("codebook.duration", f"interview duration {column!r} read as {unit}: check the unit and set "
                                 "`speeder_below` (minutes) if speeders should be set aside")
    return codebook


def _draft_items(raw, skip: set[str], ask) -> tuple[dict[str, dict], list[dict]]:
    """Answer scales (identical label sets shared) and items from the remaining columns."""
    scales: dict[str, dict] = {}
    scale_keys: dict[str, str] = {}
    items: list[dict] = []
    for column in raw.frame.columns:
        if column in skip:
            continue
        values = raw.frame[column]
        item_id = _slug(column)
        text = raw.variable_labels.get(column) or f"{column} (vraagtekst invullen)"
        item: dict[str, Any] = {"id": item_id, "text": text}
        if item_id != str(column).strip().casefold():
            item["aliases"] = [str(column)]
        labels = raw.value_labels.get(column)
        if not labels and not _is_number_column(values):
            item["type"] = "text"
            items.append(item)
            ask(f"codebook.items.{item_id}", f"column {column!r} holds text: kept as a free-text item (redacted, "
                                              "not an indicator); if it holds answer codes as words, recode it")
            continue
        if values.dropna().empty:
            ask(f"codebook.items.{item_id}", f"column {column!r} is empty in this file: check whether it is asked")
        spec, question = _answer_scale(values, labels, raw.user_missing.get(column))
        key = yaml.safe_dump(spec, sort_keys=True)
        if key not in scale_keys:
            name = f"schaal{len(scales) + 1}_{item_id}"[:40]
            scale_keys[key] = name
            scales[name] = spec
            if question:
                ask(f"codebook.answer_scales.{name}", f"answer scale {name} (first used by {item_id}): {question}")
        item["scale"] = scale_keys[key]
        items.append(item)
    return scales, items


def draft_installation(wave_file: str | Path, population_file: str | Path, folder: str | Path, *,
                       survey: str | None = None, wave: str | None = None, municipality: str | None = None,
                       boundaries: str | Path | None = None, register_figures: str | Path | None = None,
                       answers_file: str | Path | None = None, force: bool = False) -> InitResult:
    """Write a new installation folder; returns the paths and the open questions."""
    from socialquality.population_table import read_population
    from socialquality.readers import is_direct_identifier, read_survey_file

    wave_file, population_file, folder = Path(wave_file), Path(population_file), Path(folder)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise SocialQualityError(f"{folder} is not empty: choose a new folder (or --force to write into it)")
    answers: dict = {}
    if answers_file is not None:
        answers = yaml.safe_load(Path(answers_file).read_text(encoding="utf-8")) or {}
        if not isinstance(answers, dict):
            raise SocialQualityError(f"{answers_file}: expected a mapping (codebook:, catalogue:, interventions:, config:)")
        unknown = sorted(set(answers) - {"codebook", "catalogue", "interventions", "config", "confirmed"})
        if unknown:
            raise SocialQualityError(f"{answers_file}: unknown key(s) {', '.join(unknown)}; "
                                     "allowed: codebook, catalogue, interventions, config, confirmed")
    raw = read_survey_file(wave_file)
    questions: list[Question] = []

    def ask(subject: str, text: str) -> None:
        if not _answered(answers, subject):
            questions.append(Question(subject, text))

    survey_id = _slug(survey or (answers.get("codebook") or {}).get("survey") or folder.name)
    wave_id = str(wave or _guess_wave(wave_file))
    identifiers = [c for c in raw.frame.columns if is_direct_identifier(c)]
    roles = _guess_roles(raw, lambda c: c in identifiers)
    overlay = answers.get("codebook") or {}
    for role in ROLE_NAMES:  # a column named in the answers wins over the guess
        named = (overlay.get(role) or {}).get("column") if isinstance(overlay.get(role), dict) else None
        if named:
            if named not in raw.frame.columns:
                raise SocialQualityError(f"{answers_file}: codebook.{role}.column {named!r} is not a column of "
                                         f"{wave_file.name}")
            roles = {c: r for c, r in roles.items() if r != role and c != named}
            roles[named] = role
    by_role = {role: column for column, role in roles.items()}

    codebook: dict[str, Any] = {"survey": survey_id, "title": f"Bewonersenquête {survey_id}", "version": 1}
    # municipality: from the district codes (WK + 4 digits of the municipality + 2 of the district)
    district_column = by_role.get("district")
    codes_found = raw.frame[district_column].dropna().astype(str).str.strip().str.upper() if district_column else None
    guessed_gm = None
    if codes_found is not None and codes_found.str.match(DISTRICT_CODE).any():
        prefixes = codes_found[codes_found.str.match(DISTRICT_CODE)].str[2:6].value_counts()
        guessed_gm = "GM" + prefixes.index[0]
    gm = municipality or (answers.get("config") or {}).get("municipality") or guessed_gm
    if gm is None:
        raise SocialQualityError("the municipality code cannot be guessed from the district codes: pass "
                                 "--municipality GMxxxx")
    if not municipality and not _answered(answers, "config.municipality"):
        ask("config.municipality", f"municipality {gm} was read from the district codes: confirm it "
                                   "(config/socialquality.yaml, `municipality`) and fill in `municipality_name`")
    codebook["municipality"] = gm

    if "respondent_id" not in by_role:
        raise SocialQualityError(f"{wave_file.name}: no respondent id column found (a column whose values are all "
                                 "different): name it in the answers file (codebook: respondent_id: {column: ...})")
    if district_column is None:
        raise SocialQualityError(f"{wave_file.name}: no district column found (values such as WK051801): name it "
                                 "in the answers file (codebook: district: {column: ...})")
    codebook["respondent_id"] = {"column": by_role["respondent_id"]}
    codebook["district"] = {"column": district_column, "code_system": "cbs_wijk"}
    guessed = ", ".join(f"{role} = {column!r}" for column, role in roles.items())
    ask("codebook.background", f"background columns were guessed: {guessed}; check them "
                               "(respondent_id, district, sex, age / age_group, duration in the codebook)")
    codebook.update(_draft_background(raw, by_role, ask))
    if identifiers:
        codebook["drop_columns"] = identifiers
    codebook["waves"] = [{"id": wave_id}]
    ask("codebook.waves", f"the file is wave {wave_id!r} (from its name): check the wave id and add the fieldwork "
                          "dates (`fieldwork: {start: YYYY-MM-DD, end: YYYY-MM-DD}`); the effect estimates need them")

    scales, items = _draft_items(raw, set(roles) | set(identifiers), ask)
    if not items:
        raise SocialQualityError(f"{wave_file.name}: no question columns left after the background columns")
    codebook["answer_scales"] = scales
    codebook["items"] = items
    ask("codebook.scales", "which items are worded negatively (`reverse: true`) and which items form a scale "
                           "(`scales:` with a published method, or the generic `mean` / `sum` with reverse items, "
                           "min_valid and rescale): only a person who knows the questionnaire can say")

    if overlay:
        item_overlay = overlay.get("items") or {}
        if not isinstance(item_overlay, dict):
            raise SocialQualityError(f"{answers_file}: codebook.items must be a mapping item id -> settings")
        known = {i["id"] for i in items}
        unknown = sorted(set(item_overlay) - known)
        if unknown:
            raise SocialQualityError(f"{answers_file}: codebook.items names unknown item(s) {unknown}; "
                                     f"the file's items are {sorted(known)}")
        codebook = _merge(codebook, {k: v for k, v in overlay.items() if k != "items"})
        codebook["items"] = [_merge(i, item_overlay.get(i["id"], {})) for i in items]
        dropped = [i for i, settings in item_overlay.items() if settings is None]
        codebook["items"] = [i for i in codebook["items"] if i.get("id") not in dropped]

    # population, boundaries, register figures
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    population_copy = data_dir / population_file.name
    shutil.copyfile(population_file, population_copy)
    config_overlay = answers.get("config") or {}
    try:
        figures = read_population(population_copy, gm, config_overlay.get("population_year"))
    except InputFileError as error:
        if "year of the population figures" in str(error):
            ask("config.population_year", "the year of the population figures is not in the file or its name: set "
                                          "`population_year:` in the configuration")
            figures = read_population(population_copy, gm, 2000)
        else:
            raise
    unknown_districts = sorted(set(codes_found) - set(figures.districts["district_code"])) \
        if codes_found is not None else []
    if unknown_districts:
        ask("population.districts", f"{len(unknown_districts)} district code(s) of the survey are not in the "
                                    f"population file ({', '.join(unknown_districts[:8])}): their rows will be set "
                                    "aside; check the codes or the population file")
    paths: dict[str, str] = {
        "codebooks": "surveys/codebooks", "indicators": "surveys/indicators.yaml",
        "interventions": "surveys/interventions.yaml", "expectations": "expectations",
        "population": f"data/{population_file.name}", "boundaries": "data/wijken.geojson",
        "landing": "landing", "feedback": "feedback", "reports": "var/reports", "audit": "var/audit",
        "dagster_home": "var/dagster_home",
    }
    if boundaries is not None:
        shutil.copyfile(boundaries, data_dir / "wijken.geojson")
    else:
        ask("config.paths.boundaries", "no district boundaries (GeoJSON) given: the report has no map; put one at "
                                       "data/wijken.geojson to get maps")
    register_available = figures.kind == "cbs_kwb"
    if register_figures is not None:
        shutil.copyfile(register_figures, data_dir / Path(register_figures).name)
        paths["register_figures"] = f"data/{Path(register_figures).name}"
        register_available = True
    elif not register_available:
        ask("config.paths.register_figures", "the population table is not a CBS file: to show CBS register "
                                             "figures (income, distances) set paths.register_figures to the CBS "
                                             "Kerncijfers wijken en buurten file")

    config: dict[str, Any] = {
        "municipality": gm, "municipality_name": gm, "demo": False, "survey": survey_id, "paths": paths,
        "warehouse_url": "sqlite:///var/warehouse.sqlite",
        "weighting": {"trim_bounds": [0.3, 3.0], "min_cell": 5},
    }
    config = _merge(config, config_overlay)
    ask("config.warehouse_url", "the warehouse is a SQLite file under var/: for production set `warehouse_url` "
                                "to the PostgreSQL database, and set SOCIALQUALITY_PSEUDONYM_KEY (a secret of at "
                                "least 16 characters) before the first run")

    # folders and files
    (folder / "config").mkdir(parents=True, exist_ok=True)
    (folder / "surveys" / "codebooks").mkdir(parents=True, exist_ok=True)
    (folder / "expectations" / "custom").mkdir(parents=True, exist_ok=True)
    (folder / "feedback").mkdir(parents=True, exist_ok=True)
    if wave_id not in [str(w.get("id")) for w in codebook.get("waves") or []]:
        raise SocialQualityError(f"wave {wave_id!r} of {wave_file.name} is not among the codebook's waves: "
                                 "pass --wave or list it under codebook: waves: in the answers file")
    landing = folder / "landing" / survey_id / wave_id
    landing.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wave_file, landing / wave_file.name)
    header = ("# Draft written by `socialquality init` from {source}. Open decisions: REVIEW.md.\n"
              "# Format: docs/codebook.md. Validate with `socialquality check --config config/socialquality.yaml`.\n")
    codebook_path = folder / "surveys" / "codebooks" / f"{survey_id}.yaml"
    _write_yaml(codebook_path, codebook, header.format(source=wave_file.name))
    config_path = folder / "config" / "socialquality.yaml"
    _write_yaml(config_path, config, header.format(source=wave_file.name))

    catalogue_path = folder / "surveys" / "indicators.yaml"
    if answers.get("catalogue"):
        shutil.copyfile(_relative(answers_file, answers["catalogue"]), catalogue_path)
    else:
        _write_yaml(catalogue_path, _draft_catalogue(codebook, register_available),
                    header.format(source=wave_file.name))
        ask("catalogue", "the draft catalogue has one indicator per question: choose the indicators, which answers "
                         "count (`values`), the direction, the condition of social quality, target groups "
                         "(e.g. `target_group: {age_min: 65}`) and `minimum_respondents`")
    register_path = folder / "surveys" / "interventions.yaml"
    if answers.get("interventions"):
        shutil.copyfile(_relative(answers_file, answers["interventions"]), register_path)
    else:
        register_path.write_text(REGISTER_DRAFT, encoding="utf-8")
        ask("interventions", "the intervention register is empty: list the programmes and closures, their districts "
                             "and start dates, and the indicators where their effect should show")
    _write_review(folder / "REVIEW.md", questions, wave_file.name)
    return InitResult(folder=folder, config=config_path, codebook=codebook_path, questions=questions)


def _relative(answers_file: Any, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else Path(answers_file).parent / path


def _draft_catalogue(codebook: dict, register: bool) -> dict:
    scales = codebook.get("answer_scales") or {}
    indicators = []
    for item in codebook["items"]:
        if item.get("type") == "text" or item.get("scale") not in scales:
            continue
        scale = scales[item["scale"]]
        entry: dict[str, Any] = {"id": item["id"][:60], "label": str(item["text"])[:80]}
        if "range" in scale:
            entry.update(unit="score", source=item["id"], statistic="mean")
        else:
            codes = sorted(scale["codes"], key=lambda c: (isinstance(c, str), c))
            if not codes or not all(isinstance(c, int) for c in codes):
                continue
            entry.update(unit="percent", source=item["id"], statistic="share", values=codes[:1])
        entry.update(direction="higher_is_better", condition="social_cohesion")
        indicators.append(entry)
    catalogue: dict[str, Any] = {"version": 1, "survey": codebook["survey"], "base_wave": codebook["waves"][0]["id"],
                                 "minimum_respondents": 30, "indicators": indicators}
    if register:
        catalogue["register_indicators"] = CBS_REGISTER
    return catalogue


REGISTER_DRAFT = """\
# Intervention register (docs/codebook.md#3-intervention-register). Example:
#  - id: sluiting-buurthuis-zuid        # letters, digits, '-', '_', '.'
#    name: Sluiting van buurthuis Zuid
#    kind: closure                      # programme | closure
#    indicators: [cohesie]              # catalogue ids where the effect should show
#    sites:
#      - {district: WK051801, start: 2022-01-01}
version: 1
interventions: []
"""


def _write_yaml(path: Path, document: dict, header: str) -> None:
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
    path.write_text(header + body, encoding="utf-8")


def _write_review(path: Path, questions: Iterable[Question], source: str) -> None:
    lines = [f"# Open decisions for this installation (from `socialquality init` on {source})", "",
             "Tick a box (`- [x]`) when the decision is made and the file is edited. "
             "`socialquality check` lists every box that is still open.", ""]
    lines += [f"- [ ] **{q.subject}**: {q.text}" for q in questions]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def open_review_items(folder: Path) -> list[str]:
    path = folder / "REVIEW.md"
    if not path.is_file():
        return []
    return [line[6:].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("- [ ] ")]
