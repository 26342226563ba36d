"""One configuration: a YAML file plus environment overrides, checked before anything runs.

Every input and output location comes from here, so one installation can serve another
municipality's folder. Problems stop with one line that says what to fix (ConfigError).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from socialquality.errors import ConfigError

PATH_KEYS = (
    "codebooks",
    "indicators",
    "interventions",
    "expectations",
    "population",
    "boundaries",
    "landing",
    "feedback",
    "reports",
    "audit",
    "dagster_home",
)
# Inputs that must exist before a run; outputs are created.
INPUT_PATHS = ("codebooks", "indicators", "interventions", "expectations", "population", "landing")
OPTIONAL_INPUTS = ("boundaries", "feedback")
# Paths that may be left out: the CBS KWB file for the register indicators when the population
# comes from a plain table (docs/new-municipality.md).
OPTIONAL_PATH_KEYS = ("register_figures",)
TOP_KEYS = {
    "municipality",
    "municipality_name",
    "demo",
    "survey",
    "feedback_survey",
    "paths",
    "warehouse_url",
    "weighting",
    "population_year",
    "language",
}
WEIGHTING_KEYS = {"trim_bounds", "min_cell"}
ENV_PREFIX = "SOCIALQUALITY_"


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one installation."""

    config_path: Path
    municipality: str
    municipality_name: str
    survey: str
    feedback_survey: str | None
    demo: bool
    warehouse_url: str
    paths: dict[str, Path]
    trim_bounds: tuple[float, float] = (0.3, 3.0)
    min_cell: int = 5
    language: str = "nl"  # language of reports, audit pages and verdicts: nl | en (socialquality.i18n)
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, key: str) -> Path:
        return self.paths[key]

    @property
    def codebook_path(self) -> Path:
        return self.paths["codebooks"] / f"{self.survey}.yaml"

    @property
    def feedback_codebook_path(self) -> Path | None:
        if not self.feedback_survey:
            return None
        return self.paths["codebooks"] / f"{self.feedback_survey}.yaml"


def _project_root_for(config_path: Path) -> Path:
    """Relative paths are resolved against the folder holding `config/` (or the file's folder)."""
    folder = config_path.resolve().parent
    return folder.parent if folder.name == "config" else folder


def load_settings(
    config_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    check_inputs: bool = True,
) -> Settings:
    """Read the config file (or SOCIALQUALITY_CONFIG) and apply environment overrides."""
    env = dict(os.environ if environ is None else environ)
    if config_path is None:
        config_path = env.get(ENV_PREFIX + "CONFIG")
    if config_path is None:
        raise ConfigError("no configuration: pass --config FILE or set SOCIALQUALITY_CONFIG")
    config_path = Path(config_path)
    if not config_path.is_file():
        raise ConfigError(f"configuration file {config_path} does not exist")
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{config_path}: invalid YAML{where} ({problem})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{config_path}: not UTF-8 text") from None
    except ValueError as exc:  # a value YAML reads as a date but is none, e.g. 2021-02-30
        raise ConfigError(f"{config_path}: invalid date ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping of settings")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{config_path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(TOP_KEYS))}")
    raw_paths = raw.get("paths") or {}
    if not isinstance(raw_paths, dict):
        raise ConfigError(f"{config_path}: paths must be a mapping of name: location")
    unknown = sorted(set(raw_paths) - set(PATH_KEYS) - set(OPTIONAL_PATH_KEYS))
    if unknown:
        raise ConfigError(f"{config_path}: unknown key(s) under paths: {', '.join(unknown)}; "
                          f"allowed: {', '.join(PATH_KEYS + OPTIONAL_PATH_KEYS)}")
    weighting = raw.get("weighting") or {}
    if not isinstance(weighting, dict):
        raise ConfigError(f"{config_path}: weighting must be a mapping (trim_bounds, min_cell)")
    unknown = sorted(set(weighting) - WEIGHTING_KEYS)
    if unknown:
        raise ConfigError(f"{config_path}: unknown key(s) under weighting: {', '.join(unknown)}")
    for key in ("municipality", "survey"):
        if not raw.get(key):
            raise ConfigError(f"{config_path}: `{key}` is required")

    root = _project_root_for(config_path)
    paths: dict[str, Path] = {}
    for key in PATH_KEYS:
        value = env.get(ENV_PREFIX + key.upper()) or raw_paths.get(key)
        if value is None:
            raise ConfigError(f"{config_path}: paths.{key} is not set (or set {ENV_PREFIX}{key.upper()})")
        if not isinstance(value, str):
            raise ConfigError(f"{config_path}: paths.{key} must be a file or folder name, got {value!r}")
        path = Path(value).expanduser()
        paths[key] = path if path.is_absolute() else (root / path)
    for key in OPTIONAL_PATH_KEYS:
        value = env.get(ENV_PREFIX + key.upper()) or raw_paths.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise ConfigError(f"{config_path}: paths.{key} must be a file name, got {value!r}")
            path = Path(value).expanduser()
            paths[key] = path if path.is_absolute() else (root / path)
    population_year = raw.get("population_year")
    if population_year is not None and not (isinstance(population_year, int) and 1900 < population_year < 2200):
        raise ConfigError(f"{config_path}: population_year must be a year such as 2019, got {population_year!r}")

    url = env.get(ENV_PREFIX + "DATABASE_URL") or raw.get("warehouse_url")
    if not url:
        raise ConfigError(f"{config_path}: warehouse_url is not set (or set {ENV_PREFIX}DATABASE_URL)")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        # relative SQLite paths follow the same rule as the other paths
        url = "sqlite:///" + str(root / url[len("sqlite:///"):])

    bounds = weighting.get("trim_bounds", [0.3, 3.0])
    numbers = isinstance(bounds, list) and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
    if not (numbers and len(bounds) == 2 and 0 < bounds[0] < 1 < bounds[1]):
        raise ConfigError(f"{config_path}: weighting.trim_bounds must be [low < 1, high > 1], got {bounds!r}")
    min_cell = weighting.get("min_cell", 5)
    if not (isinstance(min_cell, int) and not isinstance(min_cell, bool) and min_cell >= 0):
        raise ConfigError(f"{config_path}: weighting.min_cell must be a whole number >= 0, got {min_cell!r}")

    language = env.get(ENV_PREFIX + "LANGUAGE") or raw.get("language") or "nl"
    if language not in ("nl", "en"):
        raise ConfigError(f"{config_path}: language must be nl or en, got {language!r}")

    settings = Settings(
        config_path=config_path.resolve(),
        municipality=str(raw["municipality"]),
        municipality_name=str(raw.get("municipality_name") or raw["municipality"]),
        survey=str(raw["survey"]),
        feedback_survey=raw.get("feedback_survey"),
        demo=bool(raw.get("demo", False)),
        warehouse_url=url,
        paths=paths,
        trim_bounds=(float(bounds[0]), float(bounds[1])),
        min_cell=min_cell,
        language=language,
        extra={"population_year": population_year} if population_year is not None else {},
    )
    if check_inputs:
        check_settings(settings)
    return settings


def check_settings(settings: Settings) -> None:
    """Inputs exist; raise one ConfigError naming the first missing one and how to set it."""
    for key in INPUT_PATHS:
        path = settings.paths[key]
        if not path.exists():
            raise ConfigError(
                f"paths.{key} = {path} does not exist (set it in {settings.config_path.name} "
                f"or {ENV_PREFIX}{key.upper()})"
            )
    if not settings.codebook_path.is_file():
        raise ConfigError(f"codebook for survey {settings.survey!r} not found: {settings.codebook_path}")


def check_database(url: str) -> None:
    """Connect once so an unreachable warehouse fails early with one line."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

    from socialquality.warehouse import driver_url

    try:
        engine = create_engine(driver_url(url))
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(f"warehouse URL {redact_url(url)} is not a valid SQLAlchemy URL ({_scrub(str(exc), url)})") from None
    except ImportError as exc:
        raise ConfigError(f"warehouse URL {redact_url(url)} needs a database driver that is not installed "
                          f"({_scrub(str(exc), url)})") from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise ConfigError(f"cannot reach the warehouse at {redact_url(url)}: {_scrub(reason, url)}") from None
    except SQLAlchemyError as exc:
        raise ConfigError(f"cannot use the warehouse at {redact_url(url)}: {_scrub(str(exc).splitlines()[0], url)}") from None
    finally:
        engine.dispose()


_PASSWORD = re.compile(r"(://[^:/@]*:)(.*)@")  # greedy: up to the last '@' (an unencoded '@' in a password)


def redact_url(url: str) -> str:
    """Hide a password in a database URL before it goes into a message. A password holding an
    unencoded '@' is hidden whole (up to the last '@'), not cut at its first '@'."""
    return _PASSWORD.sub(r"\1***@", url)


def _scrub(message: str, url: str) -> str:
    """A driver's error message without any piece of the URL's password."""
    found = _PASSWORD.search(url)
    if not found or not found.group(2):
        return message
    password = found.group(2)
    for piece in sorted({password, *password.split("@"), *password.split(":")}, key=len, reverse=True):
        if len(piece) >= 3:
            message = message.replace(piece, "***")
    return message
