"""`socialquality check --config FILE`: validate a whole installation without running it.

Every problem is collected and listed at once (an error stops a run; a warning does not but
changes what the report can show): the configuration, the codebook, catalogue and register
(schema and cross-references, target groups that the survey's age bands cannot form), the
population table (format, year, age bands against the survey's), the register figures, the
boundaries, every landed file (columns, background codes, districts) and the decisions still
open in REVIEW.md. Nothing is written to the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass
class Problem:
    severity: str  # error | warning
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7} {self.where}: {self.message}"


def check_installation(config_path: str | Path) -> list[Problem]:
    from socialquality.codebook import load_codebook, read_yaml, schema_problems
    from socialquality.config import INPUT_PATHS, load_settings
    from socialquality.errors import SocialQualityError

    problems: list[Problem] = []

    def error(where: str, message: str) -> None:
        problems.append(Problem("error", where, message))

    def warning(where: str, message: str) -> None:
        problems.append(Problem("warning", where, message))

    try:
        settings = load_settings(config_path, check_inputs=False)
    except SocialQualityError as exc:
        error(str(config_path), str(exc))
        return problems
    config_name = settings.config_path.name
    for key in INPUT_PATHS:
        if not settings.paths[key].exists():
            error(config_name, f"paths.{key} = {settings.paths[key]} does not exist")
    if not settings.demo:
        from socialquality.privacy import pseudonymisation_key

        try:
            pseudonymisation_key(demo=False)
        except SocialQualityError as exc:
            error("environment", str(exc))
    if not settings.warehouse_url.startswith("sqlite"):
        from socialquality.config import check_database

        try:
            check_database(settings.warehouse_url)
        except SocialQualityError as exc:
            error(config_name, str(exc))

    def declarative(path: Path, schema: str) -> bool:
        """Schema problems of one YAML file, all of them; True when the file is schema-valid."""
        try:
            document = read_yaml(path)
        except SocialQualityError as exc:
            error(str(path), str(exc))
            return False
        found = schema_problems(document, schema)
        for location, message in found:
            error(f"{path} at {location}", message)
        return not found

    codebook = catalogue = None
    if settings.codebook_path.is_file() and declarative(settings.codebook_path, "codebook.schema.json"):
        try:
            codebook = load_codebook(settings.codebook_path)
        except SocialQualityError as exc:
            error(str(settings.codebook_path), str(exc))
    elif not settings.codebook_path.is_file():
        error(config_name, f"codebook for survey {settings.survey!r} not found: {settings.codebook_path}")

    catalogue_path = settings.path("indicators")
    if catalogue_path.is_file() and declarative(catalogue_path, "indicators.schema.json") and codebook is not None:
        from socialquality.catalogue import load_catalogue
        from socialquality.scales import scale_columns

        try:
            derived = {c for spec in codebook.scales for c in scale_columns(spec)}
            catalogue = load_catalogue(catalogue_path, codebook, derived)
        except SocialQualityError as exc:
            error(str(catalogue_path), str(exc))

    figures = None
    population = settings.path("population")
    if population.is_file():
        from socialquality.population_table import read_population

        try:
            figures = read_population(population, settings.municipality, settings.extra.get("population_year"))
        except (SocialQualityError, ValueError) as exc:
            error(str(population), str(exc))
    districts = set(figures.districts["district_code"]) if figures is not None else None

    register_path = settings.path("interventions")
    if register_path.is_file() and declarative(register_path, "interventions.schema.json") and catalogue is not None:
        from socialquality.catalogue import load_register

        try:
            register = load_register(register_path, catalogue, districts)
        except SocialQualityError as exc:
            error(str(register_path), str(exc))
        else:
            undated = [w.id for w in codebook.waves if w.fieldwork_start is None]
            if register and undated:
                warning(str(settings.codebook_path), f"wave(s) {', '.join(undated)} have no fieldwork dates: which "
                                                     "wave comes after an intervention's start is then guessed from "
                                                     "the wave id (add `fieldwork: {start: ..., end: ...}`)")

    if catalogue is not None and catalogue.register:
        from socialquality.population import read_kwb

        source = settings.paths.get("register_figures")
        kwb = None
        if source is not None:
            try:
                kwb = read_kwb(source)
            except SocialQualityError as exc:
                error(str(source), str(exc))
        elif figures is not None and figures.kind == "cbs_kwb":
            kwb = figures.kwb
        elif figures is not None:
            error(str(catalogue_path), "register_indicators need the CBS Kerncijfers file: set "
                                       "paths.register_figures, or remove register_indicators")
        if kwb is not None:
            for spec in catalogue.register:
                for field in filter(None, (spec.cbs_field, spec.denominator_field)):
                    if field not in kwb.columns:
                        error(str(catalogue_path), f"register indicator {spec.id}: CBS field {field!r} is not in "
                                                   "the register figures")

    if codebook is not None and figures is not None:
        from socialquality.weighting import weighting_bands

        survey_bands = None
        if codebook.age_group_column and codebook.age_group_codes:
            from socialquality.agebands import sorted_bands

            survey_bands = sorted_bands(set(codebook.age_group_codes.values()))
        try:
            mapping, order, note = weighting_bands(figures.margins, survey_bands)
            if note:
                warning(str(population), note.replace("leeftijd niet gewogen", "age will not be weighted"))
            elif survey_bands and len(order) < len(survey_bands):
                warning(str(population), "the survey's age bands are finer than the population's; weighting "
                                         f"uses {', '.join(order)}")
        except ValueError as exc:
            error(str(population), str(exc))
        if codebook.municipality and codebook.municipality != settings.municipality:
            error(str(settings.codebook_path), f"municipality {codebook.municipality} differs from the "
                                               f"configuration's {settings.municipality}")

    boundaries = settings.path("boundaries")
    if boundaries.is_file() and districts:
        from socialquality.report.maps import load_districts

        try:
            codes = {d.code for d in load_districts(boundaries)}
            absent = sorted(districts - codes)
            if absent:
                warning(str(boundaries), f"{len(absent)} district(s) of the population have no boundary "
                                         f"({', '.join(absent[:6])}); they are grey on the maps")
        except Exception as exc:  # noqa: BLE001 - any unreadable map is reported, not raised
            error(str(boundaries), f"not a readable GeoJSON file of districts: {exc}")
    elif not boundaries.is_file():
        warning(config_name, f"no boundaries at {boundaries}: the report will have no map")

    if codebook is not None:
        _check_landed(settings, codebook, districts, error, warning)

    from socialquality.installer import open_review_items

    root = settings.config_path.parent.parent if settings.config_path.parent.name == "config" \
        else settings.config_path.parent
    for item in open_review_items(root):
        error("REVIEW.md", f"open decision: {item}")
    return problems


def _check_landed(settings, codebook, districts, error, warning) -> None:
    from socialquality.errors import SocialQualityError
    from socialquality.landing import SUPPORTED, wave_files
    from socialquality.normalise import normalise_frame
    from socialquality.readers import match_columns, read_survey_file, survey_string_columns

    base = settings.path("landing") / codebook.survey
    if not base.is_dir():
        warning(str(base), "no landing folder for this survey yet (put files in <landing>/<survey>/<wave>/)")
        return
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        if folder.name not in codebook.wave_ids:
            error(str(folder), f"folder {folder.name!r} is not a wave of the codebook ({', '.join(codebook.wave_ids)})")
            continue
        files = [f for f in wave_files(base, folder.name) if f.path.suffix.lower() in SUPPORTED]
        if not files:
            warning(str(folder), "no delivered file in this wave folder")
            continue
        path = files[-1].path
        try:
            raw = read_survey_file(path, string_columns=survey_string_columns(codebook))
            match = match_columns(list(raw.frame.columns), codebook, folder.name)
            if match.missing_required:
                error(str(path), f"missing required columns for wave {folder.name}: {match.missing_required}")
                continue
            if match.conflicts:
                error(str(path), f"columns map to the same codebook name: {match.conflicts}")
                continue
            if match.unknown:
                warning(str(path), f"columns not in the codebook (not stored): {', '.join(map(str, match.unknown))}")
            result = normalise_frame(raw, codebook, folder.name, b"check-only-key-not-stored")
        except SocialQualityError as exc:
            error(str(path), str(exc))
            continue
        for problem in result.code_mismatches:
            warning(str(path), f"column {problem['column']!r}: value {problem['value']!r} in {problem['rows']} row(s) "
                               f"is not a code of the codebook ({', '.join(problem['expected'])}); those rows will "
                               "be set aside")
        for column, count in result.unparseable.items():
            warning(str(path), f"column {column!r}: {count} value(s) are not numbers; those rows will be set aside")
        if result.label_mismatches:
            shown = "; ".join(f"{m['column']} {m['code']}: file {m['file_label']!r} vs codebook {m['codebook_label']!r}"
                              for m in result.label_mismatches[:5])
            warning(str(path), f"{len(result.label_mismatches)} value label(s) differ from the codebook: {shown}")
        if districts is not None:
            codes = result.frame["district_code"].dropna()
            unknown = codes[~codes.isin(districts)]
            if not unknown.empty:
                counts = unknown.value_counts()
                warning(str(path), f"{len(unknown)} row(s) with a district code not in the population figures "
                                   f"({', '.join(f'{c}: {n}' for c, n in counts.head(5).items())}); they will be set "
                                   "aside")
        for column, role in (("sex", "sex"), ("age_group", "age")):
            blank = int(pd.isna(result.frame[column]).sum())
            if blank:
                warning(str(path), f"{blank} row(s) without {role}: weighted with their own share (docs/methods.md)")
