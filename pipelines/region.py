"""Many municipalities in one installation: one code location per municipality, one Dagster instance.

A region file (YAML) lists the municipalities and their configuration files::

    municipalities:
      GM0363: /config/GM0363.yaml     # each with its own landing folder and warehouse database
      GM0518: /config/GM0518.yaml
    sensors: running                  # optional: start the landing sensors by default

`SOCIALQUALITY_REGION` names the file. `python -m pipelines.region workspace` writes the
workspace (one location per municipality, `module_name: pipelines.region`, `attribute:` the
code); Dagster then loads each location through this module's `__getattr__`. Every asset key is
prefixed with the municipality code, every run is tagged `socialquality/municipality=<code>`
(the QueuedRunCoordinator in deploy/dagster.yaml runs one run per municipality at a time and
different municipalities side by side), and each municipality keeps its own warehouse, audit
trail and reports. The survey waves are one shared dynamic partition set ("wave"): a wave is a
survey round of the region; a municipality without a file for it has it unmaterialised.
The regional overview (`socialquality region-report --region <file>`, socialquality/report/regional.py)
reads the published figures of all; a region file may name the region (`name:`) and its language
(`language: nl|en`).
"""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from pathlib import Path

import yaml

CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")


@lru_cache(maxsize=None)
def load_region(path: str | None = None) -> dict:
    path = path or os.environ.get("SOCIALQUALITY_REGION")
    if not path:
        raise RuntimeError("set SOCIALQUALITY_REGION to the region file (pipelines/region.py)")
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    municipalities = raw.get("municipalities")
    if not isinstance(municipalities, dict) or not municipalities:
        raise RuntimeError(f"{path}: `municipalities` must map codes to configuration files")
    base = Path(path).resolve().parent
    resolved = {}
    for code, config in municipalities.items():
        if not CODE.match(str(code)):
            raise RuntimeError(f"{path}: {code!r} is not a valid municipality code (letters, digits, _)")
        config_path = Path(config)
        resolved[str(code)] = str(config_path if config_path.is_absolute() else base / config_path)
    language = str(raw.get("language") or "nl")
    if language not in ("nl", "en"):
        raise RuntimeError(f"{path}: language must be nl or en, got {language!r}")
    return {"municipalities": resolved, "sensors_running": raw.get("sensors") == "running",
            "name": raw.get("name"), "language": language}


def definitions_for(code: str, region_path: str | None = None):
    from pipelines.definitions import build_definitions

    region = load_region(region_path)
    if code not in region["municipalities"]:
        raise AttributeError(f"municipality {code!r} is not in the region file")
    return build_definitions(region["municipalities"][code], prefix=code,
                             sensors_running=region["sensors_running"])


def region_report(region_path: str, out: str | None = None, language: str | None = None) -> Path:
    """Write the regional overview (socialquality.report.regional) over every municipality of the
    region file; default folder: `regio/` next to the region file. Returns the page."""
    from socialquality.i18n import use_language
    from socialquality.monitor import Monitor
    from socialquality.report.regional import render_regional, summarise_municipality

    region = load_region(region_path)
    language = language or region["language"]
    with use_language(language):  # the summaries hold texts (notes, dates) in the page's language
        summaries = [summarise_municipality(Monitor.from_config(config), code)
                     for code, config in region["municipalities"].items()]
    folder = Path(out) if out else Path(region_path).resolve().parent / "regio"
    return render_regional(summaries, folder, title=region["name"], language=language)


def workspace(region_path: str | None = None, working_directory: str | None = None) -> str:
    region = load_region(region_path)
    entries = [{"python_module": {"module_name": "pipelines.region", "attribute": code, "location_name": code,
                                  **({"working_directory": working_directory} if working_directory else {})}}
               for code in region["municipalities"]]
    return yaml.safe_dump({"load_from": entries}, sort_keys=False)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return definitions_for(name)


if __name__ == "__main__":
    if sys.argv[1:2] != ["workspace"]:
        sys.exit("usage: python -m pipelines.region workspace [working_directory]")
    print(workspace(working_directory=sys.argv[2] if len(sys.argv) > 2 else None), end="")
