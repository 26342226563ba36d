"""The `Monitor`: one installation's settings, warehouse and declarative files, loaded once.

Stage functions (socialquality/stages.py) take a Monitor; the Dagster resource wraps one. It is
plain Python, so a notebook can do `Monitor.from_config("config/demo.yaml")` and call any stage.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine

from socialquality.catalogue import Catalogue, Intervention, load_catalogue, load_register
from socialquality.codebook import Codebook, load_codebook
from socialquality.config import Settings, check_database, load_settings


@dataclass
class Monitor:
    settings: Settings

    @classmethod
    def from_config(cls, config_path: str | Path | None = None, *, check_inputs: bool = True) -> "Monitor":
        return cls(load_settings(config_path, check_inputs=check_inputs))

    @cached_property
    def engine(self) -> Engine:
        from socialquality.warehouse import make_engine, upgrade

        url = self.settings.warehouse_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        check_database(url)  # one-line ConfigError for a bad URL, a missing driver or no server
        engine = make_engine(url)
        upgrade(engine)
        return engine

    @cached_property
    def codebook(self) -> Codebook:
        return load_codebook(self.settings.codebook_path)

    @cached_property
    def feedback_codebook(self) -> Codebook | None:
        path = self.settings.feedback_codebook_path
        return load_codebook(path) if path else None

    @cached_property
    def catalogue(self) -> Catalogue:
        from socialquality.scales import scale_columns

        derived = {column for spec in self.codebook.scales for column in scale_columns(spec)}
        return load_catalogue(self.settings.path("indicators"), self.codebook, derived)

    @cached_property
    def register(self) -> list[Intervention]:
        return load_register(self.settings.path("interventions"), self.catalogue)

    def microdata_dir(self) -> Path:
        """Where the answers files (Parquet, one per loaded delivery) are kept: the environment
        variable SOCIALQUALITY_MICRODATA, else `microdata/` next to the reports folder. With
        several workers (Kubernetes) this is a shared volume."""
        import os

        override = os.environ.get("SOCIALQUALITY_MICRODATA")
        return Path(override) if override else self.settings.path("reports").parent / "microdata"

    def landing_dir(self, survey: str | None = None) -> Path:
        return self.settings.path("landing") / (survey or self.settings.survey)

    def landed_waves(self) -> list[str]:
        """Waves of the codebook that have a folder with at least one file in the landing area."""
        base = self.landing_dir()
        if not base.is_dir():
            return []
        # a symlinked wave folder counts (its ingest refuses it with a receipt) but is not listed
        found = [p.name for p in base.iterdir()
                 if p.is_symlink() or (p.is_dir() and any(f.is_file() or f.is_symlink() for f in p.iterdir()))]
        return [w for w in self.codebook.wave_ids if w in found]

    def unknown_wave_folders(self) -> list[str]:
        base = self.landing_dir()
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in self.codebook.wave_ids)


def code_version() -> str:
    """The git commit of the code, or the package version outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                   text=True, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
            return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "package-" + version("socialquality")
    except PackageNotFoundError:
        return "unknown"


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
