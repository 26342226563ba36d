"""The landing folder: <landing>/<survey>/<wave>/<file>. Files are known by their checksum.

Only regular files directly inside a real wave folder are read. A symbolic link (to a file or as
the wave folder itself) is listed with a `problem` and never followed: its target is not read and
its checksum is that of the link's name, not of the target's content. Hidden files (`.name`) and
Office lock files (`~$name`) are no deliveries and are not listed; `manifest.yaml` / `.yml` /
`.json` is the delivery manifest (socialquality.deliveries), not a data file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".sav": "sav", ".zsav": "sav",
             ".dta": "dta", ".parquet": "parquet", ".pq": "parquet"}
MANIFEST_NAMES = ("manifest.yaml", "manifest.yml", "manifest.json")


@dataclass(frozen=True)
class LandedFile:
    path: Path
    wave: str
    checksum: str
    size_bytes: int
    received_at: dt.datetime  # modification time: when the file landed
    problem: str | None = None  # why the entry cannot be read at all (a symlink, not a regular file)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _name_checksum(kind: str, name: str) -> str:
    """A stand-in checksum for an entry whose content is not read (64 hex characters)."""
    return hashlib.sha256(f"{kind}:{name}".encode("utf-8", errors="replace")).hexdigest()


def _refused(path: Path, wave: str, problem: str, kind: str) -> LandedFile:
    info = path.lstat()
    return LandedFile(path=path, wave=wave, checksum=_name_checksum(kind, path.name), size_bytes=0,
                      received_at=dt.datetime.fromtimestamp(info.st_mtime, tz=dt.timezone.utc), problem=problem)


def wave_files(landing_dir: Path, wave: str) -> list[LandedFile]:
    """All entries of a wave folder, oldest first. A symlinked wave folder gives one refused entry
    (its content is not listed); a symlinked file or a non-regular file is a refused entry."""
    folder = landing_dir / wave
    if folder.is_symlink():
        return [_refused(folder, wave, "the wave folder is a symbolic link; landing files must be regular files "
                                       "inside the landing folder (the link was not followed)", "symlink-folder")]
    if not folder.is_dir():
        return []
    files = []
    for path in folder.iterdir():
        if path.name.startswith((".", "~$")) or path.name.lower() in MANIFEST_NAMES:
            continue
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            files.append(_refused(path, wave, "a symbolic link, not a regular file; landing files must be regular "
                                              "files inside the landing folder (the link was not followed)", "symlink"))
            continue
        if stat.S_ISDIR(info.st_mode):
            continue  # sub-folders are not part of a delivery
        if not stat.S_ISREG(info.st_mode):
            files.append(_refused(path, wave, "not a regular file (a device, pipe or socket)", "special"))
            continue
        files.append(LandedFile(path=path, wave=wave, checksum=_checksum_no_follow(path), size_bytes=info.st_size,
                                received_at=dt.datetime.fromtimestamp(info.st_mtime, tz=dt.timezone.utc)))
    return sorted(files, key=lambda f: (f.received_at, f.path.name))


def _checksum_no_follow(path: Path) -> str:
    """sha256 of a regular file, opened without following a symlink swapped in since the listing."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags)
    digest = hashlib.sha256()
    with os.fdopen(descriptor, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def landing_fingerprints(landing_dir: Path, waves: list[str]) -> dict[str, list[str]]:
    """{wave: sorted distinct checksums} for every wave folder with files (what the sensor
    compares). Distinct: a copy of a file already there (same content, other name) changes nothing."""
    result = {}
    for wave in waves:
        files = wave_files(landing_dir, wave)
        if files:
            checksums = {f.checksum for f in files}
            for name in MANIFEST_NAMES:  # a manifest landing after the files changes the delivery
                manifest = landing_dir / wave / name
                if manifest.is_file() and not manifest.is_symlink():
                    checksums.add("manifest:" + sha256_of(manifest)[:55])
            result[wave] = sorted(checksums)
    return result
