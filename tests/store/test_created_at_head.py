"""A new store is made from the schema at once and stamped at HEAD, with no Alembic import
(a third of a fresh `pykatib run`'s start-up): it must hold exactly what the migrations make."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, inspect, text

from pykatib.store import Store
from pykatib.store.migrate import HEAD, revision, upgrade


def _schema(engine: Engine) -> dict[str, Any]:
    """Every table's columns (type, nullability, default), keys, indexes and constraints."""
    found = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in found.get_columns(table)
            ],
            "primary key": found.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in found.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
        }
    return schema


def _drop_everything(engine: Engine) -> None:
    tables = MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)


def test_a_new_store_has_the_tables_the_migrations_make(url: str) -> None:
    Store(url).close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert revision(conn) == HEAD
    made = _schema(engine)
    _drop_everything(engine)
    assert upgrade(url) == HEAD  # the migrations, from an empty database
    assert _schema(engine) == made
    engine.dispose()


def test_a_new_store_is_usable_and_reopens_without_migrating(url: str) -> None:
    store = Store(url)
    assert store.list_experiments(None) == []
    store.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
    Store(url).close()


def test_opening_a_new_store_imports_no_alembic(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from pykatib.store import Store\n"
        f"Store('sqlite:///{tmp_path}/new.db').close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
