"""The web UI's reads of the store's tables: plain data for views of thousands of trials, where
validating each trial as a :class:`~pykatib.api.models.Trial` would cost five times the read
(as :mod:`pykatib.server.kinds` reads resourceVersions for watches, straight from the tables).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from pykatib.store import Store
from pykatib.store.schema import as_utc, experiments, observations, trials

# Names bound in one IN (...): below SQLite's oldest limit on parameters (999).
CHUNK = 500


def _chunks(names: Sequence[str]) -> Iterator[Sequence[str]]:
    for first in range(0, len(names), CHUNK):
        yield names[first : first + CHUNK]


def change_digest(store: Store, namespace: str | None) -> tuple[Any, ...]:
    """A value that changes whenever an experiment or trial (of ``namespace``, or of any) is
    created, written or deleted: per table the count, the sum of resourceVersions (every write
    bumps one), the largest id and the latest creation. Two aggregate queries, no row read."""
    digest: list[Any] = []
    with store.engine.connect() as conn:
        for table in (experiments, trials):
            query = select(
                func.count(),
                func.sum(table.c.resource_version),
                func.max(table.c.id),
                func.max(table.c.created_at),
            )
            if namespace is not None:
                query = query.where(table.c.namespace == namespace)
            digest.extend(conn.execute(query).one())
    return tuple(digest)


def trial_versions(store: Store, namespace: str, experiment: str) -> dict[str, int]:
    """The resourceVersion of each of the experiment's trials, by name."""
    query = (
        select(trials.c.name, trials.c.resource_version)
        .join(experiments, experiments.c.id == trials.c.experiment_id)
        .where(trials.c.namespace == namespace, experiments.c.name == experiment)
    )
    with store.engine.connect() as conn:
        return {name: int(version) for name, version in conn.execute(query)}


def trial_documents(
    store: Store, namespace: str, experiment: str, names: Sequence[str] | None = None
) -> list[tuple[str, datetime | None, dict[str, Any]]]:
    """``(name, creation time, stored JSON parsed)`` of the experiment's trials (of those among
    ``names`` when given), in creation order. The JSON is as stored: its metadata lacks what the
    store owns (uid, resourceVersion, creationTimestamp)."""
    query = (
        select(trials.c.id, trials.c.name, trials.c.created_at, trials.c.resource)
        .join(experiments, experiments.c.id == trials.c.experiment_id)
        .where(trials.c.namespace == namespace, experiments.c.name == experiment)
    )
    with store.engine.connect() as conn:
        if names is None:
            rows = list(conn.execute(query))
        else:
            rows = [
                r
                for part in _chunks(names)
                for r in conn.execute(query.where(trials.c.name.in_(part)))
            ]
    rows.sort(key=lambda r: r[0])
    return [(r[1], as_utc(r[2]), json.loads(r[3])) for r in rows]


def observation_series(
    store: Store, namespace: str, names: Sequence[str], metric: str
) -> dict[str, tuple[list[int], list[float]]]:
    """Each named trial's finite numeric reports of ``metric`` in report order: ``(steps,
    values)``; one query per 500 trials (a trial with none is left out)."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    with store.engine.connect() as conn:
        for part in _chunks(names):
            query = (
                select(trials.c.name, observations.c.step, observations.c.numeric_value)
                .join(observations, observations.c.trial_id == trials.c.id)
                .where(
                    trials.c.namespace == namespace,
                    trials.c.name.in_(part),
                    observations.c.metric_name == metric,
                    observations.c.numeric_value.is_not(None),
                )
                .order_by(observations.c.id)
            )
            for name, step, value in conn.execute(query):
                if math.isfinite(value):
                    steps, values = series.setdefault(name, ([], []))
                    steps.append(int(step))
                    values.append(float(value))
    return series
