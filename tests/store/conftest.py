"""Every store test runs on each database pykatib supports: SQLite, PostgreSQL and MariaDB.

PostgreSQL (127.0.0.1:5432, trust auth, database ``test``) and MariaDB (127.0.0.1:3306, root
with no password, database ``test``) run on the development and CI machines; a test for a
server that does not answer is skipped with the reason. Each test starts from an empty database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.exc import OperationalError

from pykatib.store import Store

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


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = SERVERS[request.param]
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except OperationalError as exc:
        pytest.skip(f"{request.param} is not reachable at {url}: {exc.orig}")
    empty(url)
    yield url
    empty(url)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    yield s
    s.close()
