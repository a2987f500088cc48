"""Events in the store, aggregated as Kubernetes' event recorder does.

An event about the same object (kind and name) with the same type, reason and message as one
already stored bumps that one's ``count`` and ``lastTimestamp`` instead of adding a row.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Container, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from pykatib.api.models import API_VERSION, Event, _rfc3339, now
from pykatib.store import driver
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
    created: Container[tuple[str, str]] = (),
) -> None:
    """Write ``recorded`` (each one occurrence) about objects of one experiment.

    Three statements at most, however many events: one look-up of the keys already stored
    (on SQLite, one a key, each cheaper through the driver), one UPDATE of their counts and one
    INSERT of the new rows (each an executemany). Events about an object of ``namespace``
    created in this transaction, ``created`` by (kind, name), are new without a look-up: an
    experiment's events go with it, and a trial is deleted only with its experiment.
    """
    pending: dict[str, tuple[Event, str, datetime]] = {}
    repeats: list[dict[str, Any]] = []
    for event in recorded:
        ns = event.involved_object.namespace or event.metadata.namespace or namespace
        key = aggregate_key(ns, event)
        stamp = event.last_timestamp or event.first_timestamp or now()
        if key in pending:  # the same event twice in one step: one row, counted twice
            repeats.append({"key": key, "stamp": stamp})
        else:
            pending[key] = (event, ns, stamp)
    if not pending:
        return
    stored = _stored(
        conn,
        experiment_id,
        [
            key
            for key, (event, ns, _) in pending.items()
            if ns != namespace
            or (event.involved_object.kind or "", event.involved_object.name or "") not in created
        ],
    )
    # Stored ones first: a repeat within this step comes after its first occurrence.
    repeats = [{"key": k, "stamp": s} for k, (_, _, s) in pending.items() if k in stored] + repeats
    rows = []
    for key, (event, ns, stamp) in pending.items():
        if key not in stored:
            rows.append(_new_row(experiment_id, key, event, ns, stamp, uid_of))
    if rows:
        driver.execute_many(conn, _INSERT, rows)
    for repeat in repeats:
        repeat["experiment"] = experiment_id
    if repeats:
        driver.execute_many(conn, _COUNT_REPEAT, repeats)


def _stored(conn: Connection, experiment_id: int, keys: list[str]) -> set[str]:
    """Which of ``keys`` the experiment's events have already."""
    if conn.dialect.name == "sqlite":  # a look-up each through the driver costs less than one IN
        params = {"experiment_id": experiment_id}
        return {
            k for k in keys if driver.execute(conn, _STORED_KEY, {**params, "key": k}).fetchone()
        }
    return {
        row[0] for row in conn.execute(_STORED_KEYS, {"experiment_id": experiment_id, "keys": keys})
    }


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
        "resource": json.dumps(data, separators=(",", ":")),
    }


# Built once: building a statement costs more than running it, and events come every step.
_STORED_KEYS = select(events.c.aggregate_key).where(
    events.c.experiment_id == bindparam("experiment_id"),
    events.c.aggregate_key.in_(bindparam("keys", expanding=True)),
)
_STORED_KEY = select(events.c.aggregate_key).where(
    events.c.experiment_id == bindparam("experiment_id"),
    events.c.aggregate_key == bindparam("key"),
)
_INSERT = insert(events).values(
    {
        name: bindparam(name)
        for name in (
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
    }
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
