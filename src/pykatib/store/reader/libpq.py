"""PostgreSQL through libpq itself (ctypes), for the lean reader.

Importing psycopg costs about 100 ms of CPU (its adapters, asyncio, importlib.metadata...),
two thirds of what a read command may take in all; loading the libpq that psycopg's binary
wheel ships (else the system's) and calling it costs a few. Queries are parameterised
(``PQexecParams``), results come as text and are typed by their column's type: integers,
timestamps, text.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NoReturn

from pykatib.store.reader.queries import ReadError

_CONNECTION_OK = 0
_TUPLES_OK = 2
_INTEGERS = {20, 21, 23}  # int8, int2, int4
_TIMESTAMPS = {1114, 1184}  # timestamp, timestamptz
_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "PQconnectdbParams": (_P, [ctypes.POINTER(_S), ctypes.POINTER(_S), _I]),
    "PQstatus": (_I, [_P]),
    "PQerrorMessage": (_S, [_P]),
    "PQparameterStatus": (_S, [_P, _S]),
    "PQfinish": (None, [_P]),
    "PQexecParams": (_P, [_P, _S, _I, _P, ctypes.POINTER(_S), _P, _P, _I]),
    "PQresultStatus": (_I, [_P]),
    "PQntuples": (_I, [_P]),
    "PQnfields": (_I, [_P]),
    "PQftype": (ctypes.c_uint, [_P, _I]),
    "PQgetisnull": (_I, [_P, _I, _I]),
    "PQgetvalue": (_S, [_P, _I, _I]),
    "PQclear": (None, [_P]),
}


def _candidates() -> Iterator[str]:
    """The libpq psycopg's binary wheel ships (the one psycopg itself would use), then the
    system's."""
    spec = find_spec("psycopg_binary")
    if spec is not None and spec.origin:
        package = Path(spec.origin).parent
        # Where auditwheel and delvewheel put it (Linux, Windows), and delocate (macOS).
        for libs in (package.with_name("psycopg_binary.libs"), package / ".dylibs"):
            yield from sorted(str(p) for p in libs.glob("libpq*"))
    yield from ("libpq.so.5", "libpq.5.dylib")


def load() -> ctypes.CDLL | None:
    """libpq with the functions the reader calls declared, or None when none loads."""
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, (restype, argtypes) in _SIGNATURES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
        return lib
    return None


def _strings(values: Sequence[str]) -> Any:
    return (_S * (len(values) + 1))(*(v.encode() for v in values), None)


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``..."""
    first, *rest = sql.split("?")
    return first + "".join(f"${n}{part}" for n, part in enumerate(rest, 1))


def _value(oid: int, raw: bytes) -> Any:
    text = raw.decode()
    if oid in _INTEGERS:
        return int(text)
    if oid in _TIMESTAMPS:
        return datetime.fromisoformat(text)
    return text


class Connection:
    """One libpq connection, opened with libpq's keywords (``host``, ``dbname``...); it reads
    text as UTF-8 and timestamps in the ISO style, or refuses to open (ReadError)."""

    # A column of names in creation order as one JSON array: a row per phase, not per trial
    # (each value read through ctypes costs microseconds; 10,000 trials cost 30,000 of them).
    names_in_order = "json_agg(t.name ORDER BY t.id)"

    def __init__(self, lib: ctypes.CDLL, params: dict[str, str]) -> None:
        self.lib = lib
        params = {"client_encoding": "UTF8", **params}
        self.conn = lib.PQconnectdbParams(
            _strings(list(params)), _strings(list(params.values())), 0
        )
        if not self.conn or lib.PQstatus(self.conn) != _CONNECTION_OK:
            self._fail()
        status = lib.PQparameterStatus
        if status(self.conn, b"client_encoding") != b"UTF8" or not (
            status(self.conn, b"DateStyle") or b""
        ).startswith(b"ISO"):
            self._fail()

    def _fail(self) -> NoReturn:
        message = (self.lib.PQerrorMessage(self.conn) or b"").decode(errors="replace")
        self.close()
        raise ReadError(message.strip() or "libpq could not open the connection")

    def close(self) -> None:
        if self.conn:
            self.lib.PQfinish(self.conn)
            self.conn = None

    def rows(self, sql: str, params: Sequence[str] = ()) -> list[tuple[Any, ...]]:
        lib = self.lib
        res = lib.PQexecParams(
            self.conn, _numbered(sql).encode(), len(params), None, _strings(params), None, None, 0
        )
        try:
            if lib.PQresultStatus(res) != _TUPLES_OK:
                raise ReadError((lib.PQerrorMessage(self.conn) or b"").decode(errors="replace"))
            oids = [lib.PQftype(res, c) for c in range(lib.PQnfields(res))]
            return [
                tuple(
                    None if lib.PQgetisnull(res, r, c) else _value(oid, lib.PQgetvalue(res, r, c))
                    for c, oid in enumerate(oids)
                )
                for r in range(lib.PQntuples(res))
            ]
        finally:
            lib.PQclear(res)
