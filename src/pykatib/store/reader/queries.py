"""The store's read queries and how their rows become Katib's JSON: one home for the lean
reader's SQL, whichever database and driver answer it (:mod:`pykatib.store.reader.connect`).

The rows come back as dicts, with the metadata the store owns laid over them as
:mod:`pykatib.store.sql` lays it (``uid``, ``resourceVersion``, ``creationTimestamp``,
``generation``, a trial's ``ownerReferences``), and an experiment's trial-name lists filled in
from its trials (:func:`with_trial_lists`), in the order the store lists them. The SQL is
written with ``?`` placeholders; each connection puts its driver's in their place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

API_VERSION = "kubeflow.org/v1beta1"  # pykatib.api.models.API_VERSION, without pydantic
_VERSIONS = Path(__file__).parent.parent / "migrations" / "versions"

REVISION = "SELECT version_num FROM alembic_version"
_EXPERIMENT = (
    "SELECT e.resource, e.status, e.uid, e.resource_version, e.created_at, e.generation, e.id "
    "FROM experiments e"
)
# (experiment id, name, phase) of the trials, in creation order.
_TRIAL_PHASES = (
    "SELECT t.experiment_id, t.name, t.phase FROM trials t "
    "JOIN experiments e ON e.id = t.experiment_id"
)
_TRIAL = (
    "SELECT t.resource, t.uid, t.resource_version, t.created_at, e.name, e.uid "
    "FROM trials t JOIN experiments e ON e.id = t.experiment_id"
)
_EVENTS = (
    "SELECT resource, count, first_timestamp, last_timestamp FROM events "
    "WHERE namespace = ? AND involved_kind = ? AND involved_name = ? "
    "ORDER BY first_timestamp, id"
)


class ReadError(Exception):
    """The database did not answer a query (gone away, refused it): the full store will say why."""


class Connection(Protocol):
    """A database connection as the reader needs one: rows of a query, with ``?`` parameters,
    timestamps as ``datetime`` or as the text SQLite keeps; :class:`ReadError` when it fails."""

    def rows(self, sql: str, params: Sequence[str] = ()) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


def newest_revision() -> str:
    """The newest migration's revision, from the scripts' names (``0004_....py``)."""
    return max(p.name[:4] for p in _VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def rfc3339(column: str | datetime | None) -> str | None:
    """A timestamp column as the models write it (``2024-01-02T03:04:05Z``): a naive one is UTC
    (SQLite's text, ``2024-01-02 03:04:05.000000``, and MySQL's DATETIME are)."""
    if column is None:
        return None
    when = datetime.fromisoformat(column) if isinstance(column, str) else column
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(data: dict[str, Any], uid: str | None, version: int, created: Any) -> dict[str, Any]:
    meta: dict[str, Any] = data.setdefault("metadata", {})
    meta.update(uid=uid, resourceVersion=str(version))
    if created is not None:
        meta["creationTimestamp"] = rfc3339(created)
    else:
        meta.pop("creationTimestamp", None)
    if meta.get("uid") is None:
        del meta["uid"]
    return meta


# Katib's trial-name lists by the phase their trials are in (``trials.phase``, the phases of
# :mod:`pykatib.api.phase_rule`), in ExperimentStatus's field order.
TRIAL_LISTS = {
    "running": "runningTrialList",
    "pending": "pendingTrialList",
    "failed": "failedTrialList",
    "succeeded": "succeededTrialList",
    "killed": "killedTrialList",
    "early_stopped": "earlyStoppedTrialList",
    "metrics_unavailable": "metricsUnavailableTrialList",
}


def with_trial_lists(status: dict[str, Any], trials: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``status`` as stored (no trial-name lists: a list names every trial, so writing it at
    each trial's change would cost more the more trials there are) with the lists made from
    its trials' (name, phase) in creation order, where Katib's JSON has them: after the optimal
    trials, before the counters. Empty lists are left out, as Katib's ``omitempty`` ones are."""
    lists: dict[str, list[str]] = {}
    for name, phase in trials:
        lists.setdefault(TRIAL_LISTS[phase], []).append(name)
    found = {key: lists[key] for key in TRIAL_LISTS.values() if key in lists}
    filled: dict[str, Any] = {}
    for key, value in status.items():
        if key == "trials":
            filled.update(found)
            found = {}
        if key not in _LIST_KEYS:  # the trials decide, whatever a status once held
            filled[key] = value
    filled.update(found)
    return filled


_LIST_KEYS = frozenset(TRIAL_LISTS.values())


def _experiment(row: Sequence[Any], trials: Iterable[tuple[str, str]]) -> dict[str, Any]:
    data = json.loads(row[0])
    _meta(data, row[2], row[3], row[4])["generation"] = int(row[5])
    data["status"] = with_trial_lists(json.loads(row[1]), trials)
    return data


def _trial(row: Sequence[Any]) -> dict[str, Any]:
    data = json.loads(row[0])
    owner = {
        "apiVersion": API_VERSION,
        "blockOwnerDeletion": True,
        "controller": True,
        "kind": "Experiment",
        "name": row[4],
        "uid": row[5],
    }
    _meta(data, row[1], row[2], row[3])["ownerReferences"] = [
        {k: v for k, v in owner.items() if v is not None}
    ]
    return data


def _event(row: Sequence[Any]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(row[0])
    event.update(count=int(row[1]), firstTimestamp=rfc3339(row[2]), lastTimestamp=rfc3339(row[3]))
    return event


class Reader:
    """The store's read queries, as :class:`~pykatib.store.sql.Store` answers them, in JSON.

    Each answers None when the database fails it (the caller then asks the full store, which
    words the error); a look-up of one object also answers None when it is not there.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    def _rows(self, sql: str, params: Sequence[str] = ()) -> list[tuple[Any, ...]] | None:
        try:
            return self.conn.rows(sql, params)
        except ReadError:
            return None

    def experiment(
        self, namespace: str, name: str, trial_lists: bool = True
    ) -> dict[str, Any] | None:
        """The experiment; without ``trial_lists``, its status has no trial-name lists (what a
        table shows needs none, and they are read from every trial)."""
        where = "WHERE e.namespace = ? AND e.name = ?"
        found = self._experiments(where, (namespace, name), trial_lists)
        return found[0] if found else None

    def experiments(
        self, namespace: str | None, trial_lists: bool = True
    ) -> list[dict[str, Any]] | None:
        where, args = ("WHERE e.namespace = ?", (namespace,)) if namespace is not None else ("", ())
        return self._experiments(where, args, trial_lists)

    def _experiments(
        self, where: str, args: Sequence[str], trial_lists: bool
    ) -> list[dict[str, Any]] | None:
        rows = self._rows(f"{_EXPERIMENT} {where} ORDER BY e.id", args)
        if not rows:
            return rows
        trials: dict[int, list[tuple[str, str]]] = {}
        if trial_lists:
            found = self._trial_phases(where, args)
            if found is None:
                return None
            for experiment_id, name, phase in found:
                trials.setdefault(int(experiment_id), []).append((name, phase))
        return [_experiment(r, trials.get(int(r[6]), ())) for r in rows]

    def _trial_phases(
        self, where: str, args: Sequence[str]
    ) -> Iterable[tuple[Any, str, str]] | None:
        """(experiment id, name, phase) of the experiments' trials, in creation order within a
        phase (all :func:`with_trial_lists` needs); a row each, or, where the connection can
        aggregate (``names_in_order``), a row per experiment and phase."""
        aggregate = getattr(self.conn, "names_in_order", None)
        if aggregate is None:
            return self._rows(f"{_TRIAL_PHASES} {where} ORDER BY t.id", args)
        rows = self._rows(
            f"SELECT t.experiment_id, t.phase, {aggregate} FROM trials t "
            f"JOIN experiments e ON e.id = t.experiment_id {where} "
            "GROUP BY t.experiment_id, t.phase",
            args,
        )
        if rows is None:
            return None
        return ((eid, name, phase) for eid, phase, names in rows for name in json.loads(names))

    def trial(self, namespace: str, name: str) -> dict[str, Any] | None:
        rows = self._rows(f"{_TRIAL} WHERE t.namespace = ? AND t.name = ?", (namespace, name))
        return _trial(rows[0]) if rows else None

    def list_trials(
        self,
        namespace: str | None,
        experiment: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]] | None:
        """As :meth:`pykatib.store.sql.Store.list_trials`: in creation order, from the one
        after trial ``after`` (namespace, name), at most ``limit``."""
        clauses, args = ["1 = 1"], []
        if after is not None:
            clauses.append("t.id > (SELECT id FROM trials WHERE namespace = ? AND name = ?)")
            args += after
        if namespace is not None:
            clauses.append("t.namespace = ?")
            args.append(namespace)
        if experiment is not None:
            clauses.append("e.name = ?")
            args.append(experiment)
        query = f"{_TRIAL} WHERE {' AND '.join(clauses)} ORDER BY t.id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        rows = self._rows(query, args)
        return None if rows is None else [_trial(r) for r in rows]

    def events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]] | None:
        """Events about one object, oldest first, with their count and timestamps."""
        rows = self._rows(_EVENTS, (namespace, kind, name))
        return None if rows is None else [_event(r) for r in rows]
