"""Microdata storage: the long `answers` table against one Parquet file per delivery (issue 12).

For ``--rows`` respondent rows x ``--items`` answer items (default 50,000 x 60 = 3,000,000 long
rows) on SQLite and PostgreSQL: write the answers and read the wave back as one row per
respondent (the `wave_responses` contract), (a) as the long table through the driver
(`insert_frame` + `fetch_frame` + pivot, the storage before issue 12) and (b) as the Parquet file
with its pointer row (`write_answers` + `read_answers`). Also (b) reading only 10 items.
Times scale linearly with rows; the per-million figures are extrapolated and labelled so.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_storage.py [--rows 50000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import and_, create_engine, insert, select, text

from socialquality.warehouse import make_engine, upgrade
from socialquality.warehouse import schema as s
from socialquality.warehouse.microdata import read_answers, write_answers
from socialquality.warehouse.store import fetch_frame, insert_frame

ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def wide_frame(rows: int, items: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"respondent_pid": [f"p{i:09d}" for i in range(rows)], "source_row": np.arange(1, rows + 1)})
    for j in range(items):
        values = rng.integers(1, 6, rows).astype(float)
        values[rng.random(rows) < 0.05] = np.nan
        frame[f"q{j:02d}"] = values
    return frame


def receipt(connection) -> int:
    now = dt.datetime.now(dt.timezone.utc)
    result = connection.execute(insert(s.file_receipts).values(
        survey="bench", wave="2025", file_name="x.csv", checksum=uuid.uuid4().hex, format="csv", size_bytes=1,
        received_at=now, recorded_at=now, rows=0, status="loaded"))
    return int(result.inserted_primary_key[0])


def measure(engine, frame: pd.DataFrame, items: list[str], folder: Path) -> dict[str, float]:
    out = {}
    long = frame.melt(id_vars=["respondent_pid", "source_row"], var_name="item_id", value_name="value")
    t0 = time.perf_counter()
    with engine.begin() as connection:
        insert_frame(connection, s.answers, long.assign(survey="bench", wave="2025"))
    out["long: write"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.connect() as connection:
        back = fetch_frame(connection, select(s.answers).where(and_(s.answers.c.survey == "bench",
                                                                     s.answers.c.wave == "2025")))
    back.pivot(index=["respondent_pid", "source_row"], columns="item_id", values="value").reset_index()
    out["long: read wave"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.begin() as connection:
        write_answers(connection, folder, "bench", "2025", receipt(connection), frame, items)
    out["parquet: write"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.connect() as connection:
        read_answers(connection, "bench", "2025")
    out["parquet: read wave"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.connect() as connection:
        read_answers(connection, "bench", "2025", items=items[:10])
    out["parquet: read 10 items"] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    frame = wide_frame(args.rows, args.items)
    items = [c for c in frame.columns if c.startswith("q")]
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores, shared); {args.rows:,} rows x {args.items} items "
          f"= {args.rows * args.items:,} answers")
    results = {}
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                engine = make_engine(f"sqlite:///{tmp}/w.sqlite")
                upgrade(engine)
                results[backend] = measure(engine, frame, items, Path(tmp) / "microdata")
                engine.dispose()
            else:
                name = f"sq_bench_{uuid.uuid4().hex[:10]}"
                admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                try:
                    engine = make_engine(ADMIN.rsplit("/", 1)[0] + "/" + name)
                    upgrade(engine)
                    results[backend] = measure(engine, frame, items, Path(tmp) / "microdata")
                    engine.dispose()
                finally:
                    with admin.connect() as connection:
                        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    table = pd.DataFrame(results)
    per_million = table * (1_000_000 / args.rows)
    print(table.round(2).to_string())
    print("\nextrapolated to 1,000,000 rows (linear):")
    print(per_million.round(1).to_string())


if __name__ == "__main__":
    main()
