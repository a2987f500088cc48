"""Every store test runs on each database pykatib supports: SQLite, PostgreSQL and MariaDB.

PostgreSQL (127.0.0.1:5432, trust auth, database ``test``) and MariaDB (127.0.0.1:3306, root
with no password, database ``test``) run on the development and CI machines; a test for a
server that does not answer is skipped with the reason. Each test starts from an empty database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import KINDS, empty_database

from pykatib.store import Store


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database."""
    yield from empty_database(request.param, tmp_path / "store.db")


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    yield s
    s.close()
