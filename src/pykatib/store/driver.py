"""The control plane's hot statements, run through SQLite's own cursor.

On every reconcile step the store runs a handful of small statements (a trial's conditional
UPDATE, a new trial's INSERT, the experiment's status, the lease check, the events). Through
SQLAlchemy each costs an execution context, parameter processing and a result object: about
50 microseconds, several times what SQLite spends running it. Here a Core statement is compiled
once for SQLite and run with the driver's cursor, in the caller's transaction, its datetime
parameters put through the same conversion SQLAlchemy's SQLite ``DateTime`` applies (results
are the driver's: only statements whose columns need no conversion are run this way). On other
databases the statement runs through SQLAlchemy as before.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, Integer, String
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

_SQLITE = sqlite.dialect()
_DATETIME = sqlite.DATETIME().bind_processor(_SQLITE)


def execute(conn: Connection, stmt: ClauseElement, params: Mapping[str, Any]) -> Any:
    """Run ``stmt`` once; the driver's cursor on SQLite, else SQLAlchemy's result (both have
    ``rowcount``, ``fetchone()`` and ``fetchall()``)."""
    if conn.dialect.name != "sqlite":
        return conn.execute(stmt, dict(params))
    sql, names, fixed, times = _compiled(stmt)
    args = _args(params, names, fixed, times)
    try:
        return _dbapi(conn).execute(sql, args)
    except sqlite3.Error as err:  # as SQLAlchemy raises it: IntegrityError, OperationalError...
        raise DBAPIError.instance(sql, args, err, sqlite3.Error) from err


def execute_many(conn: Connection, stmt: ClauseElement, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``stmt`` once for each of ``rows`` (an executemany)."""
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, [dict(r) for r in rows])
        return
    sql, names, fixed, times = _compiled(stmt)
    args = [_args(row, names, fixed, times) for row in rows]
    try:
        _dbapi(conn).executemany(sql, args)
    except sqlite3.Error as err:
        raise DBAPIError.instance(sql, args, err, sqlite3.Error) from err


def inserted_id(conn: Connection, stmt: ClauseElement, params: Mapping[str, Any]) -> int:
    """Run the INSERT ``stmt``; the new row's primary key."""
    if conn.dialect.name != "sqlite":
        key = conn.execute(stmt, dict(params)).inserted_primary_key
        assert key is not None
        return int(key[0])
    return int(execute(conn, stmt, params).lastrowid)


def begin_immediate(conn: Connection) -> None:
    """Begin SQLite's IMMEDIATE transaction on ``conn`` (already begun for SQLAlchemy, which
    emits nothing of its own on SQLite), taking the database's write lock now."""
    try:
        _dbapi(conn).execute("BEGIN IMMEDIATE")
    except sqlite3.Error as err:  # a busy database: OperationalError, as SQLAlchemy raises it
        raise DBAPIError.instance("BEGIN IMMEDIATE", (), err, sqlite3.Error) from err


def _dbapi(conn: Connection) -> Any:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    return dbapi


@functools.cache
def _compiled(
    stmt: ClauseElement,
) -> tuple[str, tuple[str, ...], dict[str, Any], tuple[int, ...]]:
    """The SQLite text of ``stmt``, the names of its positional parameters in order, the
    values of those the statement holds itself (the 1 of ``resource_version + 1``), and the
    positions of the parameters that may be datetimes (the others are passed as they are)."""
    compiled = stmt.compile(dialect=_SQLITE)
    assert compiled.positiontup is not None
    fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
    names = tuple(compiled.positiontup)
    times = tuple(
        i
        for i, name in enumerate(names)
        if not isinstance(compiled.binds[name].type, (Integer, String, Float))
    )
    return str(compiled), names, fixed, times


def _args(
    params: Mapping[str, Any], names: tuple[str, ...], fixed: dict[str, Any], times: tuple[int, ...]
) -> list[Any]:
    args = [params[n] if n in params else fixed[n] for n in names]
    for i in times:
        if isinstance(args[i], datetime) and _DATETIME:
            args[i] = _DATETIME(args[i])
    return args
