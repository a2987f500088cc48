"""The metadata the store owns on each object, and writes conditional on its resourceVersion.

As Kubernetes' API server does, the store sets ``uid`` and ``creationTimestamp`` once, at
creation, bumps ``resourceVersion`` on every write of the object, and gives trials and
suggestions an ``ownerReferences`` entry for their experiment. These live in columns (never in
the stored JSON, whatever the caller put there) and are laid over the JSON when an object is read.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, Update, bindparam, select, update

from pykatib.api.errors import ConflictError, NotFoundError
from pykatib.api.models import API_VERSION, ObjectMeta
from pykatib.store import driver
from pykatib.store.schema import as_utc

_OWNED = ("uid", "resourceVersion", "creationTimestamp", "generation")


@dataclass(frozen=True)
class Owner:
    """The experiment that trials, a suggestion and events belong to."""

    id: int  # its row
    namespace: str
    name: str
    uid: str | None

    def references(self) -> list[dict[str, Any]]:
        """``metadata.ownerReferences`` of its trials and suggestion, as Katib sets them."""
        return [
            {
                "apiVersion": API_VERSION,
                "blockOwnerDeletion": True,
                "controller": True,
                "kind": "Experiment",
                "name": self.name,
                "uid": self.uid,
            }
        ]


# json.dumps with any argument makes an encoder per call (half the cost of a small event's).
dumps = json.JSONEncoder(separators=(",", ":")).encode


def stored_json(data: dict[str, Any], owned: bool = True) -> str:
    """``data`` as stored: without the metadata the store sets (and an owned object's owner)."""
    meta = data.get("metadata")
    if meta:
        for key in _OWNED:
            meta.pop(key, None)
        if owned:
            meta.pop("ownerReferences", None)
    return dumps(data)


def with_metadata(
    data: dict[str, Any], uid: str | None, version: int, created: datetime | None, **more: Any
) -> dict[str, Any]:
    """``data`` read back: the columns' metadata laid over its own."""
    data.setdefault("metadata", {}).update(
        uid=uid,
        resourceVersion=str(version),
        creationTimestamp=as_utc(created) if created is not None else None,
        **more,
    )
    return data


def stamp(meta: ObjectMeta, uid: str | None, version: int, created: datetime | None) -> None:
    """Set what the store owns on a caller's object after a write (``created``: if known)."""
    meta.uid = uid
    meta.resource_version = str(version)
    if created is not None:
        meta.creation_timestamp = as_utc(created)


def update_row(
    conn: Connection,
    table: Table,
    key_column: Column[Any],
    key: Any,
    meta: ObjectMeta,
    what: str,
    values: dict[str, Any],
    bump: tuple[str, ...] = (),
) -> tuple[int, str | None, datetime | None]:
    """Set ``values`` (and add one to the ``bump`` columns) in one row and bump its
    resourceVersion, conditionally on ``meta``'s when it has one.

    The condition is in the UPDATE's WHERE clause, so two writers of one version can't both
    succeed on any database. Returns the new resourceVersion, the uid and the creation time
    (``None`` when ``meta`` holds them already: the condition checked its uid).
    """
    params = {f"new_{name}": value for name, value in values.items()}
    params["row_key"] = key
    expected = None
    if meta.resource_version is not None:
        expected = params["expected_version"] = _expected_version(meta.resource_version, what)
        if meta.uid is not None:
            params["expected_uid"] = meta.uid
    stmt = _update_statement(table, key_column, tuple(values), bump, tuple(params))
    version = table.c.resource_version
    if driver.execute(conn, stmt, params).rowcount != 1:
        found = conn.execute(select(version, table.c.uid).where(key_column == key)).first()
        if found is None:
            raise NotFoundError(f"{what} not found: it was deleted since it was read")
        if meta.uid is not None and found[1] != meta.uid:
            change = "was deleted and created again"
        else:
            change = f"has been modified (resourceVersion {found[0]}, not {expected})"
        raise ConflictError(
            f"cannot update {what}: the object {change} since it was read; "
            "read it again, apply the change to it and retry"
        )
    if expected is not None and meta.uid is not None:
        return expected + 1, meta.uid, None
    row = conn.execute(
        select(version, table.c.uid, table.c.created_at).where(key_column == key)
    ).one()
    return int(row[0]), row[1], row[2]


@functools.cache
def _update_statement(
    table: Table,
    key_column: Column[Any],
    names: tuple[str, ...],
    bump: tuple[str, ...],
    params: tuple[str, ...],
) -> Update:
    """The UPDATE of :func:`update_row`, built once per shape: building one costs more than
    running it, and trial writes are on the metrics collection path."""
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in names}
    for name in ("resource_version", *bump):
        values[name] = table.c[name] + 1
    stmt = update(table).where(key_column == bindparam("row_key")).values(values)
    if "expected_version" in params:
        stmt = stmt.where(table.c.resource_version == bindparam("expected_version"))
    if "expected_uid" in params:
        stmt = stmt.where(table.c.uid == bindparam("expected_uid"))
    return stmt


def _expected_version(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConflictError(
            f'cannot update {what}: resourceVersion "{value}" was not written by this store; '
            "read the object again and retry"
        ) from None
