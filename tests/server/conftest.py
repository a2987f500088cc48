"""A real ``pykatib server`` (a subprocess on a free port of 127.0.0.1), real kubectl pointed at
it by a kubeconfig of the test's own, and raw HTTP with httpx (helpers in
``tests/pykatib_server.py``: test modules import them from there, since several folders have a
module named ``conftest``).

The main flow runs on SQLite, PostgreSQL (127.0.0.1:5432, trust, database ``test``) and MariaDB
(127.0.0.1:3306, root without password, database ``test``); a database server that does not
answer is skipped with the reason, as in ``tests/store``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import KINDS, empty_database
from pykatib_server import Server, start_server


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from empty_database(request.param, tmp_path / "server.db")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[Server]:
    """A server on SQLite, stopped after the test."""
    s = start_server(tmp_path, sqlite_url)
    yield s
    s.stop()
