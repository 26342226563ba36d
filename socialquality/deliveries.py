"""Which files of a wave folder make up the delivery to load (docs/operations.md, section 3).

A wave folder can hold several files: corrected versions of one delivery, a delivery in parts
(`levering_deel1.csv`, `levering_deel2.csv`), and an optional delivery manifest. `plan_delivery`
decides, without reading the data, which files are loaded together and what happens to every
other file, so that every file in the folder gets a receipt:

- with a manifest (`manifest.yaml`, `.yml` or `.json` in the wave folder), the delivery is exactly
  the files it lists; a listed file that is absent, or whose sha256 differs from the manifest, stops
  the delivery with an explicit error; after reading, each file must have the rows the manifest
  declares. Files in the folder that the manifest does not list are `not_used`.
- without a manifest, the newest file decides. When its name marks a part (`deel1`, `deel 2`,
  `part3`, `dl2`, optionally `van 3` / `of 3`), every file with the same name apart from the part
  number belongs to the delivery; the parts must run 1..n without a gap (and up to the declared
  total), otherwise the delivery stops with an explicit error. Of two versions of one part, the
  newer is used. Other files are earlier deliveries (`superseded` when they were loaded, else
  `not_used`).
- a symbolic link or other non-regular entry is `rejected` without being read (socialquality.landing).

`row_count_hold` is the row-count expectation: a new delivery with far fewer rows than the loaded
one it would replace is held for review unless a manifest declares its rows or a person accepted it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from socialquality.landing import MANIFEST_NAMES, SUPPORTED, LandedFile, wave_files

# A new delivery with fewer than this share of the rows of the delivery it replaces is held.
MIN_ROW_SHARE = 0.8
_PART = re.compile(
    r"(?i)(?:^|(?<=[_\-\s.]))(?:deel|part|dl)[_\-\s]?(?P<n>\d{1,3})"
    r"(?:[_\-\s]?(?:van|of|v)[_\-\s]?(?P<total>\d{1,3}))?(?=$|[_\-\s.])")


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    rows: int | None = None
    sha256: str | None = None


@dataclass
class DeliveryPlan:
    wave: str
    use: list[LandedFile] = field(default_factory=list)  # loaded together (parts in order)
    older: list[LandedFile] = field(default_factory=list)  # earlier deliveries / files not in the manifest
    refused: list[LandedFile] = field(default_factory=list)  # symlinks, non-regular entries, unsupported types
    manifest: dict[str, ManifestEntry] | None = None
    error: str | None = None  # the delivery cannot be loaded as a whole (missing part, manifest mismatch)
    newest: LandedFile | None = None

    @property
    def parts(self) -> bool:
        return len(self.use) > 1


def part_of(name: str) -> tuple[str, int, int | None] | None:
    """(group key, part number, declared total) when a file name marks a part, else None."""
    stem = Path(name).stem
    found = None
    for found in _PART.finditer(stem):
        pass
    if found is None:
        return None
    key = (stem[: found.start()] + "#" + stem[found.end():] + Path(name).suffix).casefold()
    total = int(found.group("total")) if found.group("total") else None
    return key, int(found.group("n")), total


def read_manifest(folder: Path) -> dict[str, ManifestEntry] | None:
    """The wave folder's manifest, or None. Raises ValueError with a one-line reason when invalid."""
    for name in MANIFEST_NAMES:
        path = folder / name
        if path.is_symlink():
            raise ValueError(f"{name} is a symbolic link; the manifest must be a regular file")
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
        except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{name} is not valid {'JSON' if name.endswith('.json') else 'YAML'}: "
                             f"{str(exc).splitlines()[0]}") from None
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, list) or not files:
            raise ValueError(f"{name} must hold `files:` with at least one entry (name, rows, sha256)")
        entries: dict[str, ManifestEntry] = {}
        for position, entry in enumerate(files, start=1):
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
                raise ValueError(f"{name}: entry {position} needs a file `name`")
            rows = entry.get("rows")
            if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
                raise ValueError(f"{name}: `rows` of {entry['name']!r} must be a whole number >= 0")
            checksum = entry.get("sha256")
            if checksum is not None and not (isinstance(checksum, str) and re.fullmatch(r"[0-9a-fA-F]{64}", checksum)):
                raise ValueError(f"{name}: `sha256` of {entry['name']!r} must be 64 hexadecimal characters")
            if "/" in entry["name"] or "\\" in entry["name"]:
                raise ValueError(f"{name}: {entry['name']!r} must be a file name in the wave folder, not a path")
            entries[entry["name"]] = ManifestEntry(entry["name"], rows, checksum.lower() if checksum else None)
        return entries
    return None


def plan_delivery(landing_dir: Path, wave: str) -> DeliveryPlan:
    entries = wave_files(landing_dir, wave)
    plan = DeliveryPlan(wave=wave, newest=entries[-1] if entries else None)
    readable = []
    for entry in entries:
        if entry.problem is not None or entry.path.suffix.lower() not in SUPPORTED:
            plan.refused.append(entry)
        else:
            readable.append(entry)
    if plan.newest is not None and plan.newest.problem is not None and plan.newest.path == landing_dir / wave:
        return plan  # a symlinked wave folder: nothing else to look at
    try:
        plan.manifest = read_manifest(landing_dir / wave)
    except ValueError as error:
        plan.error = f"delivery manifest: {error}"
        plan.older = readable
        return plan
    if plan.manifest is not None:
        by_name = {f.path.name: f for f in entries}
        missing = [n for n in plan.manifest if n not in by_name]
        if missing:
            plan.error = (f"the delivery manifest lists {', '.join(map(repr, missing))}, which "
                          f"{'is' if len(missing) == 1 else 'are'} not in the wave folder: incomplete delivery")
        for name, entry in plan.manifest.items():
            landed = by_name.get(name)
            if landed is None:
                continue
            if landed in plan.refused:
                plan.error = plan.error or f"{name} (listed in the manifest) cannot be read: {landed.problem or 'unsupported type'}"
                continue
            if entry.sha256 and entry.sha256 != landed.checksum:
                plan.error = plan.error or (f"{name}: its sha256 {landed.checksum[:12]}… differs from the manifest's "
                                            f"{entry.sha256[:12]}… (a changed or incomplete copy)")
            plan.use.append(landed)
        plan.older = [f for f in readable if f.path.name not in plan.manifest]
        plan.use.sort(key=lambda f: list(plan.manifest).index(f.path.name))
        return plan
    if not readable:
        return plan
    newest = entries[-1]
    if newest.problem is not None or newest.path.suffix.lower() not in SUPPORTED:
        plan.older = readable  # the newest entry is refused: the delivery fails, nothing else is loaded
        plan.error = None
        return plan
    marker = part_of(newest.path.name)
    if marker is None:
        plan.use = [newest]
        plan.older = [f for f in readable if f is not newest]
        return plan
    key = marker[0]
    parts: dict[int, LandedFile] = {}
    totals = set()
    for landed in readable:  # oldest first: a newer version of a part replaces the older one
        found = part_of(landed.path.name)
        if found is not None and found[0] == key:
            if found[1] in parts:
                plan.older.append(parts[found[1]])
            parts[found[1]] = landed
            if found[2] is not None:
                totals.add(found[2])
        else:
            plan.older.append(landed)
    numbers = sorted(parts)
    expected = max([*numbers, *totals])
    gaps = [n for n in range(1, expected + 1) if n not in parts]
    if len(totals) > 1:
        plan.error = f"the parts of {newest.path.name} declare different totals ({', '.join(map(str, sorted(totals)))})"
    elif gaps:
        plan.error = (f"multi-part delivery {newest.path.name}: part(s) {', '.join(map(str, gaps))} of {expected} "
                      f"missing (found part(s) {', '.join(map(str, numbers))}); the wave is not loaded until "
                      "every part has landed")
    plan.use = [parts[n] for n in numbers]
    return plan


def row_count_hold(new_rows: int, loaded_rows: int | None) -> str | None:
    """Why a delivery with `new_rows` rows is held for review instead of replacing the loaded
    delivery of `loaded_rows` rows (None: not held)."""
    if loaded_rows is None or loaded_rows <= 0 or new_rows >= MIN_ROW_SHARE * loaded_rows:
        return None
    return (f"held for review: {new_rows:,} rows against {loaded_rows:,} in the delivery it would replace "
            f"({new_rows / loaded_rows:.0%}; at least {MIN_ROW_SHARE:.0%} expected). A partial or cut-off copy? "
            "The loaded delivery stays published. If the new delivery is right, declare its rows in a "
            "manifest.yaml or run `socialquality accept --wave W --by NAME --reason TEXT`").replace(",", ".")


def describe(plan: DeliveryPlan) -> dict[str, Any]:
    return {"use": [f.path.name for f in plan.use], "older": [f.path.name for f in plan.older],
            "refused": [f.path.name for f in plan.refused], "manifest": plan.manifest is not None,
            "error": plan.error}
