"""One writer per installation: the run lock (issue 9, finding 8).

`socialquality run` (and every Dagster run through the `monitor` resource) holds the lock of its
warehouse for as long as it writes. A second run stops at once with one line that names the
holder. The lock is released when the holder ends, also when it is killed (kill -9):

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated connection;
- SQLite and others: an exclusive `flock` on `<warehouse file>.lock` (or on
  `<dagster_home>/socialquality.lock` for a non-file database).

Who holds it (host, process, since, what) is written to table `run_lock` for the message.
Re-entrant within one process: the CLI takes it, and the Dagster runs it executes in-process
take it again without blocking.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from socialquality.errors import SocialQualityError

LOCK_NAME = "writer"
_HELD: dict[str, list] = {}  # lock key -> [count, release callable]


class RunLockBusy(SocialQualityError):
    """Another run of this installation is writing."""


def _lock_file(url: str, fallback_dir: Path) -> Path:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///"):] + ".lock")
    fallback_dir.mkdir(parents=True, exist_ok=True)
    return fallback_dir / "socialquality.lock"


def _holder_text(what: str) -> str:
    return f"{what} (pid {os.getpid()} on {socket.gethostname()})"


def _record_holder(engine, holder: str) -> None:
    from sqlalchemy import delete

    from socialquality.warehouse import schema as s

    try:
        with engine.begin() as connection:
            connection.execute(delete(s.run_lock).where(s.run_lock.c.name == LOCK_NAME))
            connection.execute(s.run_lock.insert().values(name=LOCK_NAME, holder=holder[:256],
                                                          acquired_at=dt.datetime.now(dt.timezone.utc)))
    except Exception:  # noqa: BLE001 - informational only; the lock itself is held
        pass


def _current_holder(engine) -> str:
    from socialquality.warehouse import schema as s
    from socialquality.warehouse.store import read_table

    try:
        rows = read_table(engine, s.run_lock)
    except Exception:  # noqa: BLE001
        return "another run"
    if rows.empty:
        return "another run"
    row = rows.iloc[0]
    return f"{row['holder']}, since {str(row['acquired_at'])[:19]} UTC"


def _busy(engine) -> RunLockBusy:
    return RunLockBusy(f"another run is writing to this installation's warehouse: {_current_holder(engine)}; "
                       "wait for it to finish (one writer at a time), then run again")


@contextmanager
def installation_lock(engine, url: str, fallback_dir: Path, what: str = "socialquality run") -> Iterator[None]:
    """Hold the installation's writer lock (see the module docstring); RunLockBusy when taken."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()
    held = _HELD.get(key)
    if held is not None:
        held[0] += 1
        try:
            yield
        finally:
            held[0] -= 1
        return
    if url.startswith("postgresql"):
        from sqlalchemy import text

        number = int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True)
        connection = engine.connect()
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": number}).scalar()
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not got:
            connection.close()
            raise _busy(engine)

        def release() -> None:
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": number})
                connection.commit()
            finally:
                connection.close()
    else:
        import fcntl

        path = _lock_file(url, fallback_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise _busy(engine) from None

        def release() -> None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            finally:
                handle.close()
    _HELD[key] = [1, release]
    _record_holder(engine, _holder_text(what))
    try:
        yield
    finally:
        _HELD.pop(key, None)
        release()
