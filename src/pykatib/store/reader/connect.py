"""The lean reader's connections: SQLite through the stdlib driver, PostgreSQL through libpq
(:mod:`pykatib.store.reader.libpq`), MySQL and MariaDB through PyMySQL; each opened from the
store's URL as SQLAlchemy would open it, or not at all (None) when it would open it otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pykatib.store.reader.queries import Connection, ReadError


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (options after ``?`` aside); None for any other."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


class SqliteConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[str] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise ReadError(str(exc)) from exc

    def close(self) -> None:
        self.conn.close()


def _sqlite(url: str) -> Connection | None:
    """A read-only connection to an existing file (a new one is the full store's to create)."""
    path = sqlite_path(url)
    # A file name that a URI would have to escape is left to the full store.
    if path is None or not path.is_file() or any(c in str(path) for c in "?#%"):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    return SqliteConnection(conn)


def server_params(url: str) -> dict[str, Any] | None:
    """``user``, ``password``, ``host``, ``port`` and ``database`` of a server's URL, as
    SQLAlchemy reads them (unquoted), with the query's options; None for a URL it would read
    otherwise (several hosts, a fragment)."""
    parts = urlsplit(url)
    if parts.fragment or parts.netloc.count("@") > 1:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = dict(query)
    if len(options) != len(query):
        return None
    found = {
        "user": unquote(parts.username) if parts.username is not None else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "host": parts.hostname,
        "port": port,
        "database": unquote(parts.path[1:]) if parts.path[1:] else None,
    }
    return {**{k: v for k, v in found.items() if v is not None}, **options}


def _postgresql(url: str) -> Connection | None:
    """Through libpq, with the keywords the store's psycopg would give it; only where the store
    has psycopg to open it."""
    params = server_params(url)
    if params is None or find_spec("psycopg") is None:
        return None
    from pykatib.store.reader import libpq

    lib = libpq.load()
    if lib is None:
        return None
    if "database" in params:
        params["dbname"] = params.pop("database")
    return libpq.Connection(lib, {k: str(v) for k, v in params.items()})


class MysqlConnection:
    def __init__(self, conn: Any, error: type[Exception]) -> None:
        self.conn, self.error = conn, error

    def rows(self, sql: str, params: Sequence[str] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
                return list(cursor.fetchall())
        except self.error as exc:
            raise ReadError(str(exc)) from exc

    def close(self) -> None:
        self.conn.close()


def _mysql(url: str) -> Connection | None:
    """Through PyMySQL, as SQLAlchemy's pymysql dialect opens it (utf8mb4); a URL with options
    other than ``charset`` is the full store's (SQLAlchemy converts their types)."""
    params = server_params(url)
    if params is None or set(params) - {"user", "password", "host", "port", "database", "charset"}:
        return None
    try:
        import pymysql
    except ImportError:
        return None
    try:
        # Autocommit: each query sees what was written since (`logs -f` reads a trial again
        # and again), and no transaction holds a lock that another writer's DDL would wait on.
        conn = _pymysql_connection(pymysql)(autocommit=True, **{"charset": "utf8mb4", **params})
    except pymysql.Error as exc:
        raise ReadError(str(exc)) from exc
    return MysqlConnection(conn, pymysql.Error)


def _pymysql_connection(pymysql: Any) -> Any:
    """PyMySQL's connection, whose TLS context, where no ``ssl_*`` option asks for one (TLS
    when the server offers it, its certificate unchecked), skips loading the system's CA
    certificates, which it would never consult: 45 ms of the command's CPU."""
    import ssl

    class Connection(pymysql.connections.Connection):  # type: ignore[misc]
        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp != {}:
                return super()._create_ssl_ctx(sslp)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx

    return Connection


# The URL schemes whose driver the reader stands in for; any other driver (psycopg2, mysqlclient,
# asyncpg...) is the full store's to load.
_OPENERS: dict[str, Callable[[str], Connection | None]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,  # SQLAlchemy 2.1's default PostgreSQL driver is psycopg (3)
    "postgresql+psycopg": _postgresql,
    "mysql+pymysql": _mysql,
    "mariadb+pymysql": _mysql,
}


def connect(url: str) -> Connection | None:
    """A connection to the store at ``url``, or None where only the full store can open it.
    ReadError when the database is there to open but refuses."""
    opener = _OPENERS.get(url.partition("://")[0])
    return opener(url) if opener is not None else None
