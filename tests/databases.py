"""The databases tests run on: SQLite, and the PostgreSQL and MariaDB servers of these machines.

PostgreSQL (127.0.0.1:5432, trust auth, database ``test``) and MariaDB (127.0.0.1:3306, root
with no password, database ``test``) run on the development and CI machines; a test for a
server that does not answer is skipped with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

KINDS = ["sqlite", "postgresql", "mariadb"]
SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


def empty(url: str) -> None:
    """Drop every table of the database at ``url`` (Alembic's version table included)."""
    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()


def empty_database(kind: str, sqlite_file: Path) -> Iterator[str]:
    """For a fixture: the URL of an empty database of ``kind``, emptied again afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    url = SERVERS[kind]
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except OperationalError as exc:
        pytest.skip(f"{kind} is not reachable at {url}: {exc.orig}")
    empty(url)
    yield url
    empty(url)


def own_database(kind: str, sqlite_file: Path, prefix: str = "pykatib") -> Iterator[str]:
    """For a fixture: the URL of a new database of ``kind`` of its own, created and dropped
    afterwards (not the shared ``test`` one, which other test runs on the same servers empty at
    any time)."""
    if kind == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    server = SERVERS[kind]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"{kind} is not reachable at {server}: {exc.orig}")
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name}{force}")
        admin.dispose()
