"""Reads and writes of the warehouse. Every write that replaces a wave's data happens in one
transaction, so a failed run leaves the earlier results intact."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, and_, delete, insert, select, update
from sqlalchemy.engine import Engine

from socialquality.warehouse import schema as s
from socialquality.warehouse.microdata import read_answers

BATCH = 50_000
# A delivered row without a respondent id is stored under this placeholder (the key cannot be
# empty) and read back as missing, so the quality rule `respondent_id_present` sets it aside.
MISSING_PID_PREFIX = "missing-id:row-"


def storable_pids(pids: pd.Series, source_rows: pd.Series) -> pd.Series:
    placeholders = MISSING_PID_PREFIX + source_rows.astype(str)
    return pids.astype("string").where(pids.notna(), placeholders)


def _clean(value: Any) -> Any:
    """Python scalars for the DB driver: NaN/NA -> None, numpy -> builtin."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def records(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
    columns = list(columns) if columns is not None else list(frame.columns)
    values = frame[columns].astype(object).to_numpy()
    return [{c: _clean(v) for c, v in zip(columns, row)} for row in values]


def insert_frame(connection: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Bulk insert the frame's columns that the table has; returns the number of rows.

    On SQLite the rows go straight to the driver's executemany (a wave has hundreds of thousands
    of answer rows; SQLAlchemy's per-row processing would cost seconds). Elsewhere SQLAlchemy's
    batched "insertmanyvalues" is used."""
    if frame.empty:
        return 0
    columns = [c for c in frame.columns if c in table.c]
    if connection.dialect.name == "sqlite":
        placeholders = ", ".join("?" for _ in columns)
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({placeholders})'
        for start in range(0, len(frame), BATCH):
            connection.exec_driver_sql(sql, _tuples(frame.iloc[start:start + BATCH], columns))
        return len(frame)
    if connection.dialect.name == "postgresql" and len(frame) >= COPY_MIN_ROWS:
        return _copy_frame(connection, table, frame, columns)
    for start in range(0, len(frame), BATCH):
        connection.execute(insert(table), records(frame.iloc[start:start + BATCH], columns))
    return len(frame)


COPY_MIN_ROWS = 1_000
_NULL = "\\N"


def _copy_frame(connection: Connection, table: Table, frame: pd.DataFrame, columns: list[str]) -> int:
    """PostgreSQL bulk load with COPY FROM STDIN (CSV), in the caller's transaction: an order of
    magnitude faster than INSERT for the hundreds of thousands of respondent rows of a wave.
    Values are prepared per column type first, so a value that does not fit fails before COPY."""
    import csv
    import io

    from sqlalchemy import Boolean, DateTime, Integer

    prepared = {}
    for column in columns:
        values = frame[column]
        kind = table.c[column].type
        if isinstance(kind, Integer):
            prepared[column] = pd.to_numeric(values, errors="raise").astype("Int64")
        elif isinstance(kind, Boolean):
            prepared[column] = values.astype("boolean")
        elif isinstance(kind, DateTime):
            prepared[column] = pd.to_datetime(values, utc=True).map(lambda v: None if pd.isna(v) else v.isoformat())
        else:
            prepared[column] = values
    buffer = io.StringIO()
    pd.DataFrame(prepared).to_csv(buffer, index=False, header=False, na_rep=_NULL, quoting=csv.QUOTE_MINIMAL)
    buffer.seek(0)
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.copy_expert(f'COPY "{table.name}" ({names}) FROM STDIN WITH (FORMAT csv, NULL \'{_NULL}\')', buffer)
    finally:
        cursor.close()
    return len(frame)


def _tuples(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Rows as tuples of plain Python values (NaN/NA -> None), built column by column."""
    converted = []
    for column in columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            converted.append([None if pd.isna(v) else bool(v) for v in values.astype(object)])
        elif pd.api.types.is_integer_dtype(values):  # also nullable Int64 with <NA>
            converted.append([None if pd.isna(v) else int(v) for v in values.astype(object)])
        elif pd.api.types.is_float_dtype(values):
            array = values.to_numpy(dtype=float)
            converted.append([None if v != v else v for v in array.tolist()])
        elif pd.api.types.is_string_dtype(values) or values.dtype == object:
            objects = values.astype(object)
            if values.dtype == object and not values.map(lambda v: isinstance(v, (str, type(None)))).all():
                converted.append([_clean(v) for v in objects.tolist()])  # mixed objects: convert each
            else:
                converted.append(objects.where(values.notna(), None).tolist())
        else:
            converted.append([_clean(v) for v in values.astype(object).tolist()])
    return list(zip(*converted))


def delete_where(connection: Connection, table: Table, **match: Any) -> None:
    conditions = [table.c[k] == v for k, v in match.items()]
    connection.execute(delete(table).where(and_(*conditions)) if conditions else delete(table))


def replace_rows(connection: Connection, table: Table, frame: pd.DataFrame, **match: Any) -> int:
    delete_where(connection, table, **match)
    return insert_frame(connection, table, frame)


def read_table(engine_or_connection: Engine | Connection, table: Table, **match: Any) -> pd.DataFrame:
    query = select(table)
    for key, value in match.items():
        if isinstance(value, (list, tuple, set)):
            query = query.where(table.c[key].in_(list(value)))
        else:
            query = query.where(table.c[key] == value)
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.connect() as connection:
            return _frame(connection.execute(query))
    return _frame(engine_or_connection.execute(query))


def fetch_frame(connection: Connection, query: Any) -> pd.DataFrame:
    """A large SELECT through the driver's own cursor (SQLAlchemy's row processing costs seconds
    on the hundreds of thousands of answer rows of a wave). Bound values are rendered by the
    dialect as literals, so this works on SQLite and PostgreSQL alike."""
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return pd.DataFrame(columns=names)
    return pd.DataFrame.from_records(rows, columns=names)


def _frame(result: Any) -> pd.DataFrame:
    """A result as a DataFrame, built column by column (much faster than from Row objects)."""
    names = list(result.keys())
    rows = result.fetchall()
    if not rows:
        return pd.DataFrame(columns=names)
    columns = list(zip(*rows))
    return pd.DataFrame({name: list(values) for name, values in zip(names, columns)})


# --- Waves -------------------------------------------------------------------------------------

def wave_responses(engine: Engine, survey: str, wave: str, statuses: tuple[str, ...] = ("clean", "released"),
                   items: list[str] | None = None) -> pd.DataFrame:
    """The respondents of a wave with their answers as columns (the normalised-responses contract)."""
    with engine.connect() as connection:
        people = fetch_frame(connection, select(s.respondents).where(and_(
            s.respondents.c.survey == survey, s.respondents.c.wave == wave)))
        if statuses:
            people = people[people["status"].isin(statuses)]
        wide = read_answers(connection, survey, wave, items)
        if wide is None:  # a wave loaded before issue 12: answers in the long table
            query = select(s.answers).where(and_(s.answers.c.survey == survey, s.answers.c.wave == wave))
            long = fetch_frame(connection, query)
            # pivot, not pivot_table(dropna=False): that one fills in every respondent_pid x source_row pair
            wide = long.pivot(index=["respondent_pid", "source_row"], columns="item_id", values="value") \
                .reset_index() if not long.empty else None
        receipts = read_table(connection, s.file_receipts, survey=survey, wave=wave)
    if people.empty:
        return people
    missing_id = people["respondent_pid"].str.startswith(MISSING_PID_PREFIX)
    if wide is not None and len(wide.columns) > 2:
        frame = people.merge(wide, on=["respondent_pid", "source_row"], how="left")
    else:
        frame = people
    names = dict(zip(receipts["id"], receipts["file_name"]))
    frame["source_file"] = frame["receipt_id"].map(names)
    if missing_id.any():
        frame["respondent_pid"] = frame["respondent_pid"].mask(frame["respondent_pid"].str.startswith(MISSING_PID_PREFIX))
    for item in items or []:
        if item not in frame.columns:
            frame[item] = np.nan
    return frame.sort_values("source_row").reset_index(drop=True)


def usable_waves(engine: Engine, survey: str) -> list[str]:
    status = read_table(engine, s.wave_status, survey=survey)
    return sorted(status.loc[status["status"] == "usable", "wave"].tolist())


def set_wave_status(connection: Connection, survey: str, wave: str, status: str, reason: str | None,
                    run_id: str) -> None:
    delete_where(connection, s.wave_status, survey=survey, wave=wave)
    connection.execute(insert(s.wave_status), [{
        "survey": survey, "wave": wave, "status": status, "reason": reason, "run_id": run_id,
        "updated_at": pd.Timestamp.now(tz="UTC").to_pydatetime(),
    }])


def release_quarantined(engine: Engine, quarantine_id: int, released_by: str, reason: str) -> None:
    """A person releases a quarantined row: recorded with who, when and why; the row becomes usable
    at the next run of its wave's indicators (status 'released')."""
    if not (released_by or "").strip() or not (reason or "").strip():
        raise ValueError("a release needs the name of the person and a reason")
    with engine.begin() as connection:
        row = connection.execute(select(s.quarantine).where(s.quarantine.c.id == quarantine_id)).mappings().first()
        if row is None:
            raise ValueError(f"no quarantine record with id {quarantine_id}")
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        same_row = and_(s.quarantine.c.survey == row["survey"], s.quarantine.c.wave == row["wave"],
                        s.quarantine.c.source_row == row["source_row"],
                        s.quarantine.c.source_file == row["source_file"])
        connection.execute(update(s.quarantine).where(same_row).values(
            released_by=released_by, released_at=now, release_reason=reason))
        connection.execute(update(s.respondents).where(and_(
            s.respondents.c.survey == row["survey"], s.respondents.c.wave == row["wave"],
            s.respondents.c.source_row == row["source_row"],
        )).values(status="released"))
