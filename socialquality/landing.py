"""The landing folder: <landing>/<survey>/<wave>/<file>. Files are known by their checksum."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".sav": "sav", ".zsav": "sav",
             ".dta": "dta", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class LandedFile:
    path: Path
    wave: str
    checksum: str
    size_bytes: int
    received_at: dt.datetime  # modification time: when the file landed


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wave_files(landing_dir: Path, wave: str) -> list[LandedFile]:
    """All files of a wave, oldest first (the last one is the one to use). Hidden files are ignored."""
    folder = landing_dir / wave
    if not folder.is_dir():
        return []
    files = []
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith((".", "~$")):
            continue
        stat = path.stat()
        files.append(LandedFile(path=path, wave=wave, checksum=sha256_of(path), size_bytes=stat.st_size,
                                received_at=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.timezone.utc)))
    return sorted(files, key=lambda f: (f.received_at, f.path.name))


def landing_fingerprints(landing_dir: Path, waves: list[str]) -> dict[str, list[str]]:
    """{wave: sorted distinct checksums} for every wave folder with files (what the sensor
    compares). Distinct: a copy of a file already there (same content, other name) changes nothing."""
    result = {}
    for wave in waves:
        files = wave_files(landing_dir, wave)
        if files:
            result[wave] = sorted({f.checksum for f in files})
    return result
