"""Events in the store, aggregated as Kubernetes' event recorder does.

An event about the same object (kind and name) with the same type, reason and message as one
already stored bumps that one's ``count`` and ``lastTimestamp`` instead of adding a row.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, literal_column, select, update
from sqlalchemy.dialects import sqlite

from pykatib.api.models import API_VERSION, Event, _rfc3339, now
from pykatib.store import driver
from pykatib.store.object_meta import dumps
from pykatib.store.schema import as_utc, events

# (kind, name) -> the object's uid, or None when the store has no such object.
UidOf = Callable[[str, str], "str | None"]


def aggregate_key(namespace: str, event: Event) -> str:
    ref = event.involved_object
    parts = [namespace, ref.kind, ref.name, event.type, event.reason, event.message]
    return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()


def record(
    conn: Connection,
    experiment_id: int,
    namespace: str,
    recorded: Iterable[Event],
    uid_of: UidOf,
) -> None:
    """Write ``recorded`` (each one occurrence) about objects of one experiment.

    One statement however many events, and no look-up: each is INSERTed (an executemany) and,
    where the experiment has its aggregate key already (unique per experiment), the stored row's
    count and lastTimestamp are bumped instead. The same event twice in one step is one row
    counted twice (an UPDATE after the INSERT).
    """
    rows: dict[str, dict[str, Any]] = {}
    repeats: list[dict[str, Any]] = []
    for event in recorded:
        ns = event.involved_object.namespace or event.metadata.namespace or namespace
        key = aggregate_key(ns, event)
        stamp = event.last_timestamp or event.first_timestamp or now()
        if key in rows:
            repeats.append({"experiment": experiment_id, "key": key, "stamp": stamp})
        else:
            rows[key] = _new_row(experiment_id, key, event, ns, stamp, uid_of)
    if rows:
        driver.execute_many(conn, _upsert(conn.dialect.name), list(rows.values()))
    if repeats:
        driver.execute_many(conn, _COUNT_REPEAT, repeats)


def _new_row(
    experiment_id: int, key: str, event: Event, ns: str, stamp: datetime, uid_of: UidOf
) -> dict[str, Any]:
    """The events row of an event first seen (stored as the Event with what the store sets)."""
    ref = event.involved_object
    first = event.first_timestamp or stamp
    data = event.to_dict()
    involved = data.setdefault("involvedObject", {})
    involved["namespace"] = ns
    if ref.kind in ("Experiment", "Trial", "Suggestion"):
        involved["apiVersion"] = ref.api_version or API_VERSION
    if ref.uid is None:
        uid = uid_of(ref.kind or "", ref.name or "")
        if uid is not None:
            involved["uid"] = uid
    meta = data.setdefault("metadata", {})
    meta["namespace"] = ns
    meta["name"] = meta.get("name") or f"{ref.name}.{uuid.uuid4().hex[:16]}"
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = _rfc3339(first)
    return {
        "experiment_id": experiment_id,
        "namespace": ns,
        "involved_kind": ref.kind or "",
        "involved_name": ref.name or "",
        "aggregate_key": key,
        "count": 1,
        "first_timestamp": first,
        "last_timestamp": stamp,
        "resource": dumps(data),
    }


_COLUMNS = (
    "experiment_id",
    "namespace",
    "involved_kind",
    "involved_name",
    "aggregate_key",
    "count",
    "first_timestamp",
    "last_timestamp",
    "resource",
)


@functools.cache
def _upsert(dialect: str) -> Any:
    """The INSERT of an event that bumps the stored one of its key instead, in the dialect's
    words (built once: building a statement costs more than running it)."""
    values = {name: bindparam(name) for name in _COLUMNS}
    # A literal 1: PyMySQL's executemany takes no parameter after VALUES (...).
    count = events.c.count + literal_column("1")
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql  # imported by a MySQL store alone

        stmt = mysql.insert(events).values(values)
        return stmt.on_duplicate_key_update(
            count=count, last_timestamp=stmt.inserted.last_timestamp
        )
    insert = sqlite.insert
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        insert = postgresql.insert
    stmt = insert(events).values(values)
    return stmt.on_conflict_do_update(
        index_elements=[events.c.experiment_id, events.c.aggregate_key],
        set_={"count": count, "last_timestamp": stmt.excluded.last_timestamp},
    )


_COUNT_REPEAT = (
    update(events)
    .where(
        events.c.experiment_id == bindparam("experiment"),
        events.c.aggregate_key == bindparam("key"),
    )
    .values(count=events.c.count + 1, last_timestamp=bindparam("stamp"))
)


def query(namespace: str, kind: str | None = None, name: str | None = None) -> Any:
    """The events of ``namespace`` (of one kind, of one object), oldest first."""
    stmt = (
        select(events.c.resource, events.c.count, events.c.first_timestamp, events.c.last_timestamp)
        .where(events.c.namespace == namespace)
        .order_by(events.c.first_timestamp, events.c.id)
    )
    if kind is not None:
        stmt = stmt.where(events.c.involved_kind == kind)
    if name is not None:
        stmt = stmt.where(events.c.involved_name == name)
    return stmt


def from_row(row: Any) -> Event:
    event = Event.model_validate(json.loads(row[0]))
    event.count = row[1]
    event.first_timestamp = as_utc(row[2])
    event.last_timestamp = as_utc(row[3])
    return event
