"""The lean reader: the store's read queries for the CLI's ``get``, ``describe`` and ``logs``,
which must answer in a tenth of a second, with no SQLAlchemy and no pydantic models (importing
them takes longer than the whole command should).

It reads SQLite through the stdlib driver, PostgreSQL through libpq and MySQL or MariaDB
through PyMySQL, with one set of SQL and one mapping of rows to Katib's JSON
(:mod:`pykatib.store.reader.queries`), and answers what :class:`~pykatib.store.sql.Store`
answers. :func:`open_reader` answers ``None`` for anything it does not read as the store would:
a database or driver it does not stand in for, an in-memory SQLite, a file that does not exist
yet, a database it cannot reach or that is not at the newest schema. The caller then opens the
full store, which creates or migrates it, or words the error.
"""

from __future__ import annotations

from pykatib.store.reader.connect import connect
from pykatib.store.reader.queries import REVISION, Reader, ReadError, newest_revision


def open_reader(url: str) -> Reader | None:
    """A reader of the store at ``url``, or None when only the full store can read it."""
    try:
        conn = connect(url)
    except ReadError:
        return None
    if conn is None:
        return None
    try:
        rows = conn.rows(REVISION)
    except ReadError:  # no alembic_version: a new database, or the first release's
        rows = []
    if not rows or rows[0][0] != newest_revision():
        conn.close()
        return None
    return Reader(conn)


__all__ = ["Reader", "open_reader"]
