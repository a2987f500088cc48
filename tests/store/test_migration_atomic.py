"""A migration interrupted half-way leaves nothing half made (SQLite: Python's driver begins no
transaction before DDL, so without an explicit one a `pykatib run` SIGKILLed while creating a new
database left tables missing under a revision that claimed them; found by the crash soak test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from pykatib.store import Store, migrate


def test_an_upgrade_that_fails_half_way_leaves_an_empty_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic.operations import Operations

    url = f"sqlite:///{tmp_path / 'pykatib.db'}"
    real_add_column = Operations.add_column

    def killed(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed during the second revision")

    monkeypatch.setattr(Operations, "add_column", killed)  # 0002 adds columns: 0001 is done
    engine = create_engine(url)
    with pytest.raises(RuntimeError, match="killed"):
        migrate.upgrade_engine(engine)
    assert inspect(engine).get_table_names() == []  # neither 0001's tables nor its revision
    engine.dispose()

    monkeypatch.setattr(Operations, "add_column", real_add_column)
    store = Store(url)  # the next start migrates from scratch
    assert store.list_experiments(None) == []
    store.close()
