"""Alembic's entry point: migrate the connection that :mod:`pykatib.store.migrate` hands over.

Run from the ``alembic`` command line instead (a developer writing a new revision), it opens the
``sqlalchemy.url`` of the config it was given.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from pykatib.store.schema import metadata


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is not None:
    _migrate(_connection)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url") or "").connect() as own:
        _migrate(own)
