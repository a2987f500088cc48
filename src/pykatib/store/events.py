"""Events in the store, aggregated as Kubernetes' event recorder does.

An event about the same object (kind and name) with the same type, reason and message as one
already stored bumps that one's ``count`` and ``lastTimestamp`` instead of adding a row.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pykatib.api.models import API_VERSION, Event, now
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
    """Write ``recorded`` (each one occurrence) about objects of one experiment."""
    for event in recorded:
        ref = event.involved_object
        ns = ref.namespace or event.metadata.namespace or namespace
        key = aggregate_key(ns, event)
        stamp = event.last_timestamp or event.first_timestamp or now()
        repeat = conn.execute(
            update(events)
            .where(events.c.experiment_id == experiment_id, events.c.aggregate_key == key)
            .values(count=events.c.count + 1, last_timestamp=stamp)
        )
        if repeat.rowcount:
            continue
        first = event.first_timestamp or stamp
        stored = event.model_copy(deep=True)
        stored.involved_object.namespace = ns
        if ref.kind in ("Experiment", "Trial", "Suggestion"):
            stored.involved_object.api_version = ref.api_version or API_VERSION
        if stored.involved_object.uid is None:
            stored.involved_object.uid = uid_of(ref.kind or "", ref.name or "")
        meta = stored.metadata
        meta.namespace = ns
        meta.name = meta.name or f"{ref.name}.{uuid.uuid4().hex[:16]}"
        meta.uid = str(uuid.uuid4())
        meta.creation_timestamp = first
        conn.execute(
            insert(events).values(
                experiment_id=experiment_id,
                namespace=ns,
                involved_kind=ref.kind or "",
                involved_name=ref.name or "",
                aggregate_key=key,
                count=1,
                first_timestamp=first,
                last_timestamp=stamp,
                resource=json.dumps(stored.to_dict(), separators=(",", ":")),
            )
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
