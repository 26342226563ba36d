"""Shared fixtures: throw-away PostgreSQL databases on the test server.

The server is the one at 127.0.0.1:5432 (trust auth). SOCIALQUALITY_TEST_POSTGRES_URL names another
maintenance database (a URL), or is `skip` to leave PostgreSQL out.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest

DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_server():
    """An AUTOCOMMIT engine on the maintenance database; skips when the server cannot be reached."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("SOCIALQUALITY_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if server == "skip":
        pytest.skip("PostgreSQL tests switched off (SOCIALQUALITY_TEST_POSTGRES_URL=skip)")
    url = make_url(server)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: skip
        admin.dispose()
        pytest.skip(f"PostgreSQL server at {url.render_as_string(hide_password=True)} unreachable: "
                    f"{str(exc).strip().splitlines()[0]}")
    yield admin
    admin.dispose()


@contextmanager
def _fresh_database(admin) -> Iterator[str]:
    from sqlalchemy import text

    name = f"sq_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    with _fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def postgres_module_url(postgres_server) -> Iterator[str]:
    """One new, empty PostgreSQL database for a whole test module (the module cleans up between tests)."""
    with _fresh_database(postgres_server) as url:
        yield url
