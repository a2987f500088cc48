"""The unit of work: what one reconcile step writes, and how :meth:`Store.commit` writes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pykatib.api import phase_rule
from pykatib.api.errors import ConflictError, NotFoundError
from pykatib.api.models import (
    Event,
    Experiment,
    ExperimentStatus,
    ObjectMeta,
    Suggestion,
    Trial,
    now,
)
from pykatib.metrics.observation import ObservationPoint
from pykatib.store import driver
from pykatib.store import events as event_log
from pykatib.store.object_meta import Owner, dumps, stamp, stored_json, update_row
from pykatib.store.schema import experiments, observations, suggestions, trials

# (namespace, name) of a trial -> its row id and uid
TrialRows = dict[tuple[str, str], tuple[int, "str | None"]]


@dataclass
class Changes:
    """Everything one reconcile step writes; committed atomically by :meth:`Store.commit`.

    The experiment (its status), trials and suggestion are written conditionally on the
    ``resourceVersion`` they carry; ``events`` are recorded, each as one occurrence.
    """

    experiment: Experiment | None = None  # its status is written, never its spec
    # The status's JSON (:func:`status_json`) when the caller has it already (it is compared
    # every step).
    experiment_status: str | None = None
    trials: list[Trial] = field(default_factory=list)
    suggestion: Suggestion | None = None
    algorithm_state: Any = None
    save_algorithm_state: bool = False
    observations: dict[str, list[ObservationPoint]] = field(default_factory=dict)
    # Trials whose observations are dropped (a trial restarted from scratch).
    reset_observations: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.experiment is not None
            or self.trials
            or self.suggestion is not None
            or self.observations
            or self.reset_observations
            or self.events
        )


class Unit:
    """One commit's writes, in the transaction of ``conn``.

    What the caller's objects and the store's caches learn (new versions, uids, row ids) is
    kept aside and applied by :meth:`done` once the transaction has committed: after a rollback
    both are as they were.
    """

    def __init__(self, conn: Connection, owner: Owner, known_trials: TrialRows) -> None:
        self.conn = conn
        self.owner = owner
        self.known_trials = known_trials
        self.new_trials: TrialRows = {}
        self._stamps: list[tuple[ObjectMeta, str | None, int, datetime | None, bool]] = []
        self._uids: dict[tuple[str, str], str | None] = {("Experiment", owner.name): owner.uid}

    def write(self, changes: Changes) -> None:
        conn = self.conn
        if changes.experiment is not None:
            self._write_status(changes.experiment, changes.experiment_status)
        # The same object listed twice is written once (it holds its latest state).
        for trial in {id(t): t for t in changes.trials}.values():
            self._write_trial(trial)
        if changes.suggestion is not None:
            self._write_suggestion(changes)
        ns = self.owner.namespace
        for name in changes.reset_observations:
            trial_id = self.trial_id(ns, name)
            conn.execute(delete(observations).where(observations.c.trial_id == trial_id))
        for name, points in changes.observations.items():
            self._insert_observations(self.trial_id(ns, name), points)
        if changes.events:
            event_log.record(conn, self.owner.id, ns, changes.events, self._uid_of)

    def done(self) -> None:
        """The transaction has committed: tell the objects written their new metadata."""
        for meta, uid, version, created, owned in self._stamps:
            stamp(meta, uid, version, created)
            if owned:
                meta.owner_references = self.owner.references()

    def trial_id(self, namespace: str, name: str) -> int:
        key = (namespace, name)
        found = self.new_trials.get(key) or self.known_trials.get(key)
        if found is None:
            row = driver.execute(self.conn, _TRIAL_ROW, {"ns": namespace, "name": name}).fetchone()
            if row is None:
                raise NotFoundError(f'trial "{name}" not found in namespace "{namespace}"')
            found = self.new_trials[key] = (int(row[0]), row[1])
        return found[0]

    def _written(
        self, kind: str, meta: ObjectMeta, uid: str | None, version: int, created: datetime | None
    ) -> None:
        self._uids[(kind, meta.name or self.owner.name)] = uid
        self._stamps.append((meta, uid, version, created, kind != "Experiment"))

    def _write_status(self, exp: Experiment, status: str | None) -> None:
        version, uid, created = update_row(
            self.conn,
            experiments,
            experiments.c.id,
            self.owner.id,
            exp.metadata,
            f'experiment "{exp.namespace}/{exp.name}"',
            {"status": status if status is not None else status_json(exp.status)},
        )
        self._written("Experiment", exp.metadata, uid, version, created)

    def _write_trial(self, trial: Trial) -> None:
        key = (trial.namespace, trial.name)
        meta = trial.metadata
        resource = stored_json(trial.to_dict())
        found = self.new_trials.get(key) or self.known_trials.get(key)
        # Most likely a new trial: on SQLite, inserted without a look first. One stored already
        # fails the INSERT alone (SQLite keeps the transaction) and is written over below.
        new = found is None and meta.resource_version is None
        if new and self.conn.dialect.name == "sqlite" and self._create_trial(trial, resource, True):
            return
        if found is None:
            row = driver.execute(self.conn, _TRIAL_ROW, {"ns": key[0], "name": key[1]}).fetchone()
            if row is None and meta.resource_version is not None:
                raise NotFoundError(
                    f'trial "{key[1]}" not found in namespace "{key[0]}": it was deleted '
                    "since it was read"
                )
            if row is None:
                self._create_trial(trial, resource)
                return
            found = (int(row[0]), row[1])
        version, uid, created = update_row(
            self.conn,
            trials,
            trials.c.id,
            found[0],
            meta,
            f'trial "{key[0]}/{key[1]}"',
            {"resource": resource, "phase": _phase(trial)},
        )
        self.new_trials[key] = (found[0], uid)
        self._written("Trial", meta, uid, version, created)

    def _create_trial(self, trial: Trial, resource: str, exists_ok: bool = False) -> bool:
        """INSERT ``trial``; False if that fails and ``exists_ok`` (else ConflictError)."""
        uid, created = str(uuid.uuid4()), now()
        try:
            row_id = driver.inserted_id(
                self.conn,
                _INSERT_TRIAL,
                {
                    "experiment_id": self.owner.id,
                    "namespace": trial.namespace,
                    "name": trial.name,
                    "resource": resource,
                    "phase": _phase(trial),
                    "uid": uid,
                    "created_at": created,
                    "resource_version": 1,
                },
            )
        except IntegrityError as err:
            if exists_ok:
                return False
            raise _created_meanwhile(f'trial "{trial.namespace}/{trial.name}"') from err
        self.new_trials[(trial.namespace, trial.name)] = (row_id, uid)
        self._written("Trial", trial.metadata, uid, 1, created)
        return True

    def _write_suggestion(self, changes: Changes) -> None:
        suggestion = changes.suggestion
        assert suggestion is not None
        meta = suggestion.metadata
        data = suggestion.model_dump(
            by_alias=True,
            exclude_none=True,
            mode="json",
            exclude={"status": {"suggestions"}},  # rebuilt from the trials on read
        )
        values: dict[str, Any] = {"resource": stored_json(data)}
        if changes.save_algorithm_state:
            state = changes.algorithm_state
            values["algorithm_state"] = None if state is None else dumps(state)
        exp_id = self.owner.id
        what = f'suggestion "{self.owner.namespace}/{self.owner.name}"'
        if (
            meta.resource_version is None
            and driver.execute(self.conn, _SUGGESTION_ROW, {"experiment": exp_id}).fetchone()
            is None
        ):
            uid: str | None = str(uuid.uuid4())
            created: datetime | None = now()
            try:
                self.conn.execute(
                    insert(suggestions).values(
                        experiment_id=exp_id,
                        uid=uid,
                        created_at=created,
                        resource_version=1,
                        **values,
                    )
                )
            except IntegrityError as err:
                raise _created_meanwhile(what) from err
            version = 1
        else:
            version, uid, created = update_row(
                self.conn, suggestions, suggestions.c.experiment_id, exp_id, meta, what, values
            )
        self._written("Suggestion", meta, uid, version, created)

    def _uid_of(self, kind: str, name: str) -> str | None:
        """The uid of the object an event is about (None if the store has no such object)."""
        if (kind, name) in self._uids:
            return self._uids[(kind, name)]
        ns = self.owner.namespace
        if kind == "Trial":
            query = select(trials.c.uid).where(trials.c.namespace == ns, trials.c.name == name)
        elif kind == "Experiment":
            query = select(experiments.c.uid).where(
                experiments.c.namespace == ns, experiments.c.name == name
            )
        elif kind == "Suggestion":  # named as its experiment
            query = (
                select(suggestions.c.uid)
                .join(experiments, experiments.c.id == suggestions.c.experiment_id)
                .where(experiments.c.namespace == ns, experiments.c.name == name)
            )
        else:
            return None
        return self.conn.execute(query).scalar()

    def _insert_observations(self, trial_id: int, points: list[ObservationPoint]) -> None:
        if not points:  # the hot path of metrics collection
            return
        rows = [
            {
                "trial_id": trial_id,
                "metric_name": p.metric_name,
                "value": p.value,
                "numeric_value": _float_or_none(p.value),
                "timestamp": _utc(p.timestamp),
                "step": p.step,
            }
            for p in points
        ]
        driver.execute_many(self.conn, _INSERT_OBSERVATION, rows)


# Built once: building a statement costs more than running it, and every trial is written.
_TRIAL_ROW = select(trials.c.id, trials.c.uid).where(
    trials.c.namespace == bindparam("ns"), trials.c.name == bindparam("name")
)
_INSERT_TRIAL = insert(trials).values(
    {
        name: bindparam(name)
        for name in (
            "experiment_id",
            "namespace",
            "name",
            "resource",
            "phase",
            "uid",
            "created_at",
            "resource_version",
        )
    }
)
_INSERT_OBSERVATION = insert(observations).values(
    {
        name: bindparam(name)
        for name in ("trial_id", "metric_name", "value", "numeric_value", "timestamp", "step")
    }
)
_SUGGESTION_ROW = select(suggestions.c.experiment_id).where(
    suggestions.c.experiment_id == bindparam("experiment")
)


def status_json(status: ExperimentStatus) -> str:
    """An experiment's status as the store keeps it: compact JSON without the trial-name lists,
    which name every trial; a read makes them from the trials' phases
    (:func:`pykatib.store.reader.queries.with_trial_lists`)."""
    return dumps(
        status.model_dump(by_alias=True, exclude_none=True, mode="json", exclude=_TRIAL_LISTS)
    )


_TRIAL_LISTS = frozenset(f for f in ExperimentStatus.model_fields if f.endswith("_trial_list"))


def _created_meanwhile(what: str) -> ConflictError:
    return ConflictError(
        f"{what} already exists: another writer created it; read it again and retry"
    )


def _utc(value: datetime) -> datetime:
    """An aware time in UTC, as SQLite and MySQL keep it (they keep no zone: what they are
    given is read back as UTC)."""
    return value.astimezone(timezone.utc) if value.tzinfo is not None else value


def _float_or_none(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _phase(trial: Trial) -> str:
    """What ``trials.phase`` records: the trial's phase by Katib's rule."""
    return phase_rule.phase((c.type, c.status) for c in trial.status.conditions or [])
