"""The answers of each loaded delivery as a columnar Parquet file, with a pointer in the warehouse.

Why (docs/architecture.md, "Microdata storage"): a wave of 1,000,000 respondents x 60 items is
60 million rows in a long `answers` table; inserting and reading them back row by row through a
database driver dominated the pipeline (minutes, gigabytes of Python objects). The same answers
as one Parquet file (one column per item, zstd) are written in about a second and read back --
only the columns a stage needs -- in well under a second, on SQLite and PostgreSQL alike.

Guarantees kept:

* atomic replacement: the file is named after its receipt and written completely (temporary
  name, fsync, rename) *before* the warehouse transaction that records the receipt, the
  respondents and the pointer row `answer_files` commits. Readers follow the pointer, so they
  see the old file or the new one, never a mix; a failed load leaves the old pointer and file;
* integrity: the pointer holds the file's SHA-256 and row count, checked on every read;
* nothing lost: a superseded file is deleted only at the next load of the same wave, once no
  committed pointer refers to it (so a rolled-back load can never delete the live file).

Auditors keep SQL access: `microdata_sql_views()` gives `CREATE VIEW` statements for DuckDB
(`read_parquet` on the pointed files), see docs/audit.md.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, and_, delete, insert, select

from socialquality.landing import sha256_of
from socialquality.warehouse import schema as s

KEYS = ["respondent_pid", "source_row"]


class MicrodataError(RuntimeError):
    """The answers file of a wave is missing or does not match its pointer."""



def wave_dir(root: Path, survey: str, wave: str) -> Path:
    return Path(root) / survey / wave


def write_answers(connection: Connection, root: Path, survey: str, wave: str, receipt_id: int,
                  frame: pd.DataFrame, items: list[str]) -> int:
    """Write the answers (KEYS + item columns) of one receipt and point the wave at them.

    Runs inside the caller's transaction (`connection`): the pointer row only becomes visible
    when the receipt does. Returns the number of rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = wave_dir(root, survey, wave)
    folder.mkdir(parents=True, exist_ok=True)
    committed = {int(r) for r in connection.execute(
        select(s.answer_files.c.receipt_id).where(s.answer_files.c.survey == survey)).scalars()}
    # files of earlier loads that no committed pointer refers to any more (superseded or
    # orphaned by a failed load): safe to delete now
    for old in folder.glob("receipt-*.parquet"):
        try:
            number = int(old.stem.split("-", 1)[1])
        except ValueError:
            continue
        if number not in committed and number != receipt_id:
            old.unlink(missing_ok=True)
    columns = {"respondent_pid": frame["respondent_pid"].astype("string").to_numpy(dtype=object),
               "source_row": frame["source_row"].to_numpy(dtype="int64")}
    for item in items:
        columns[item] = pd.to_numeric(frame[item], errors="coerce").to_numpy(dtype="float64", na_value=float("nan"))
    table = pa.table(columns)
    target = folder / f"receipt-{receipt_id}.parquet"
    temporary = folder / f".receipt-{receipt_id}.parquet.tmp"
    pq.write_table(table, temporary, compression="zstd", row_group_size=256_000)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    connection.execute(delete(s.answer_files).where(and_(s.answer_files.c.survey == survey,
                                                         s.answer_files.c.wave == wave)))
    connection.execute(insert(s.answer_files), [{
        "survey": survey, "wave": wave, "receipt_id": int(receipt_id), "path": str(target.resolve()),
        "rows": len(frame), "items": len(items), "sha256": sha256_of(target),
        "written_at": dt.datetime.now(dt.timezone.utc)}])
    return len(frame)


def answer_file(connection: Connection, survey: str, wave: str) -> dict | None:
    row = connection.execute(select(s.answer_files).where(and_(
        s.answer_files.c.survey == survey, s.answer_files.c.wave == wave))).mappings().first()
    return dict(row) if row is not None else None


def read_answers(connection: Connection, survey: str, wave: str,
                 items: list[str] | None = None) -> pd.DataFrame | None:
    """KEYS + item columns of the wave's loaded delivery (None when the wave has no answers file).

    `items` restricts the columns read (columnar: the others are not touched); unknown items
    are left out. Raises MicrodataError when the file is missing or its checksum differs."""
    import pyarrow.parquet as pq

    pointer = answer_file(connection, survey, wave)
    if pointer is None:
        return None
    path = Path(pointer["path"])
    if not path.is_file():
        raise MicrodataError(f"answers file of {survey} wave {wave} is missing: {path} "
                             "(restore it from the backup or load the delivery again)")
    if sha256_of(path) != pointer["sha256"]:
        raise MicrodataError(f"answers file of {survey} wave {wave} was changed after loading: {path}")
    parquet = pq.ParquetFile(path)
    available = parquet.schema_arrow.names
    columns = None if items is None else KEYS + [i for i in items if i in available and i not in KEYS]
    frame = parquet.read(columns=columns).to_pandas()
    if len(frame) != pointer["rows"]:
        raise MicrodataError(f"answers file of {survey} wave {wave} has {len(frame)} rows, "
                             f"{pointer['rows']} were loaded")
    return frame


def microdata_sql_views(engine: Engine) -> list[str]:
    """`CREATE VIEW` statements for DuckDB: one view `answers_<survey>_<wave>` per loaded wave
    and a long view `answers` (survey, wave, respondent_pid, source_row, item_id, value) with
    the layout of the former warehouse table, for auditors' SQL."""
    with engine.connect() as connection:
        pointers = connection.execute(select(s.answer_files)).mappings().all()
    statements, parts = [], []
    for p in pointers:
        name = f"answers_{p['survey']}_{p['wave']}".replace("-", "_")
        path = str(p["path"]).replace("'", "''")
        statements.append(f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{path}')")
        parts.append(f"SELECT '{p['survey']}' AS survey, '{p['wave']}' AS wave, respondent_pid, source_row, "
                     f"item_id, value FROM (UNPIVOT INCLUDE NULLS \"{name}\" ON COLUMNS(* EXCLUDE (respondent_pid, source_row)) "
                     "INTO NAME item_id VALUE value)")
    if parts:
        statements.append("CREATE OR REPLACE VIEW answers AS " + " UNION ALL ".join(parts))
    return statements


def write_weighted_wave(root: Path, survey: str, wave: str, key: str, frame: pd.DataFrame) -> Path:
    """Keep a wave's scored, weighted rows for the next stage (`weighted-<key>.parquet`).

    A derived cache next to the answers files, so that the estimation stage -- in its own process
    under Dagster's multiprocess executor -- does not read the wave back from the warehouse, score
    it and rake it a second time. `key` identifies the state it was computed from (rows, codebook,
    catalogue, margins, code); earlier cache files of the wave are deleted. Written completely
    under a temporary name and renamed, so a reader sees a whole file or none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = wave_dir(root, survey, wave)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("weighted-*.parquet"):
        if old.name != f"weighted-{key}.parquet":
            old.unlink(missing_ok=True)
    target = folder / f"weighted-{key}.parquet"
    temporary = folder / f".weighted-{key}.parquet.tmp"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), temporary, compression="zstd",
                   row_group_size=256_000)
    os.replace(temporary, target)
    return target


def read_weighted_wave(root: Path, survey: str, wave: str, key: str, rows: int) -> pd.DataFrame | None:
    """The cache written by `write_weighted_wave` for this `key`, or None (absent, or not `rows` rows)."""
    import pyarrow.parquet as pq

    path = wave_dir(root, survey, wave) / f"weighted-{key}.parquet"
    if not path.is_file():
        return None
    frame = pq.read_table(path).to_pandas()
    return frame if len(frame) == rows else None
