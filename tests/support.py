"""Helpers for tests that run the pipeline: a configuration in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def write_config(folder: Path, *, landing: Path, feedback: Path, database_url: str | None = None,
                 **overrides) -> Path:
    """A configuration like config/demo.yaml whose inputs are the repo's files and whose data and
    outputs live in `folder` (absolute paths, so the file can sit anywhere)."""
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text(encoding="utf-8"))
    paths = config["paths"]
    for key in ("codebooks", "indicators", "interventions", "expectations", "population", "boundaries"):
        paths[key] = str(ROOT / paths[key])
    paths.update(landing=str(landing), feedback=str(feedback), reports=str(folder / "reports"),
                 audit=str(folder / "audit"), dagster_home=str(folder / "dagster_home"))
    config["warehouse_url"] = database_url or f"sqlite:///{folder / 'warehouse.sqlite'}"
    config.update(overrides)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
