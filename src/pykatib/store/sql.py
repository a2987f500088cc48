"""Persistence of experiments, trials, suggestions, observation logs and events with SQLAlchemy 2.

Resources are stored whole, as Katib's JSON, beside the few columns that are queried
(namespace, name, experiment). Every write the control plane makes for one reconcile step goes
through :meth:`Store.commit` in one transaction, so a crash never leaves half-written state.

The store owns some of each object's ``metadata``, as Kubernetes' API server does: ``uid`` and
``creationTimestamp`` (set once, at creation), ``resourceVersion`` (bumped by every write of the
object, status writes included), ``generation`` (experiments: bumped by spec updates) and the
``ownerReferences`` of trials and suggestions (their experiment). What a caller puts in those
fields is ignored; after a successful write the store sets them on the object it was given.

Writes are optimistic: an object that carries a ``resourceVersion`` (as every object read from
the store does) is written only if the stored object is still at that version, else
:class:`~pykatib.api.errors.ConflictError` is raised and the whole transaction writes nothing;
read the object again, apply the change to it and retry. An object with no ``resourceVersion``
is written unconditionally.

On SQLite, one write transaction of a database file runs at a time in a process: the others wait
their turn on a lock (:meth:`Store._write`) rather than in SQLite's busy handler, which polls
with growing sleeps and, under a few dozen writing threads (the embedded SDK's clients and
drivers), let some wait past its timeout (``database is locked``). Each write transaction begins
``IMMEDIATE``: it holds the database's write lock from its first statement, so its reads see
what it writes over, and another process's writer waits (up to the busy timeout: 30 s, or the
URL's ``?timeout=``) rather than failing half-way.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, insert, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pykatib.api.errors import ConflictError, NotFoundError
from pykatib.api.models import Event, Experiment, Suggestion, Trial, TrialAssignment, now
from pykatib.metrics.observation import ObservationPoint
from pykatib.store import driver, leases
from pykatib.store import events as event_log
from pykatib.store.location import default_home, default_url
from pykatib.store.migrate import ensure_current
from pykatib.store.object_meta import Owner, stamp, stored_json, update_row, with_metadata
from pykatib.store.reader.queries import with_trial_lists
from pykatib.store.schema import (
    as_utc,
    events,
    experiments,
    metadata,
    observations,
    suggestions,
    trials,
)
from pykatib.store.schema import leases as leases_table
from pykatib.store.unit import Changes, TrialRows, Unit, status_json


def _experiment_data(exp: Experiment) -> dict[str, Any]:
    data = exp.to_dict()
    data.pop("status", None)
    return data


_EXPERIMENT_COLUMNS = (
    experiments.c.resource,
    experiments.c.status,
    experiments.c.uid,
    experiments.c.resource_version,
    experiments.c.created_at,
    experiments.c.generation,
    experiments.c.id,
)
# What an experiment's trial-name lists are made of, in creation order.
_TRIAL_PHASES = select(trials.c.experiment_id, trials.c.name, trials.c.phase).order_by(trials.c.id)
_TRIAL_COLUMNS = (
    trials.c.resource,
    trials.c.uid,
    trials.c.resource_version,
    trials.c.created_at,
    experiments.c.id,
    experiments.c.namespace,
    experiments.c.name,
    experiments.c.uid,
)


# Rows read at a time by Store.iter_trials.
_TRIAL_BATCH = 200


def _experiments(conn: Connection, query: Any, trial_lists: bool) -> list[Experiment]:
    """The experiments ``query`` (of :data:`_EXPERIMENT_COLUMNS`) finds, each status with its
    trial-name lists made from its trials (:func:`with_trial_lists`) if ``trial_lists``."""
    rows = conn.execute(query).all()
    if not rows:
        return []
    by_experiment: dict[int, list[tuple[str, str]]] = {}
    if trial_lists:
        phases = _TRIAL_PHASES.where(trials.c.experiment_id.in_([r[6] for r in rows]))
        for experiment_id, name, phase in conn.execute(phases):
            by_experiment.setdefault(experiment_id, []).append((name, phase))
    found = []
    for row in rows:
        data = json.loads(row[0])
        data["status"] = with_trial_lists(json.loads(row[1]), by_experiment.get(row[6], ()))
        data = with_metadata(data, *row[2:5], generation=row[5])
        found.append(Experiment.model_validate(data))
    return found


def _trial(row: Any) -> Trial:
    owner = Owner(*row[4:8])
    data = with_metadata(json.loads(row[0]), *row[1:4], ownerReferences=owner.references())
    return Trial.model_validate(data)


class Store:
    """A SQL database (SQLite by default; PostgreSQL and MySQL through their URLs).

    Opening one brings its schema to the newest revision (:mod:`pykatib.store.migrate`).
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        kwargs: dict[str, Any] = {}
        database = make_url(self.url).database
        if self.url.startswith("sqlite") and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self._writers: threading.RLock | None = None
        self._write_conn: Connection | None = None  # SQLite's writes: see _writer
        self._write_pid = 0
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
            if "timeout" not in make_url(self.url).query:
                kwargs["connect_args"]["timeout"] = 30  # seconds another process may write
            if database and database != ":memory:":
                self._writers = _sqlite_writers(database)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        ensure_current(self.engine)
        # Row ids (and uids) by (namespace, name): saves a look-up per observation batch.
        self._trial_rows: TrialRows = {}
        self._owners: dict[tuple[str, str], Owner] = {}

    def close(self) -> None:
        if self._writers is not None:
            with self._writers:
                if self._write_conn is not None and self._write_pid == os.getpid():
                    self._write_conn.close()
                self._write_conn = None
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises (on
        SQLite, the file's only one in this process, begun IMMEDIATE: see the module's doc)."""
        if self._writers is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._writers:
            conn = self._writer()
            # Begun by the driver itself: through SQLAlchemy the BEGIN costs an execution
            # context, and every reconcile step writes.
            conn.begin()
            try:
                driver.begin_immediate(conn)
                yield conn
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise

    def _writer(self) -> Connection:
        """The connection SQLite writes go through, kept open between them (a pool checkout and
        check-in cost more than a reconcile step's statements); a new one after it was
        invalidated, or in a forked child (the parent's connection is the parent's)."""
        conn = self._write_conn
        if conn is None or conn.closed or conn.invalidated or self._write_pid != os.getpid():
            conn = self._write_conn = self.engine.connect()
            self._write_pid = os.getpid()
        return conn

    def _rollback(self, conn: Connection) -> None:
        try:
            conn.rollback()
        except SQLAlchemyError:  # a broken connection: the next write opens another one
            self._write_conn = None
            conn.invalidate()

    # --- experiments ---------------------------------------------------------------------

    def create_experiment(self, exp: Experiment, source_dir: str | None = None) -> None:
        """Store a new experiment; ConflictError if one of that name exists.

        Sets ``uid``, ``creationTimestamp``, ``resourceVersion`` and ``generation`` (1) on ``exp``.
        """
        uid, created = str(uuid.uuid4()), now()
        exists = ConflictError(f'experiment "{exp.namespace}/{exp.name}" already exists')
        try:
            with self._write() as conn:
                found = conn.execute(
                    select(experiments.c.id).where(
                        experiments.c.namespace == exp.namespace, experiments.c.name == exp.name
                    )
                ).first()
                if found:
                    raise exists
                conn.execute(
                    insert(experiments).values(
                        namespace=exp.namespace,
                        name=exp.name,
                        resource=stored_json(_experiment_data(exp), owned=False),
                        status=status_json(exp.status),
                        generation=1,
                        source_dir=source_dir,
                        created_at=created,
                        uid=uid,
                        resource_version=1,
                    )
                )
        except IntegrityError as err:  # created by another writer since we looked
            raise exists from err
        stamp(exp.metadata, uid, 1, created)
        exp.metadata.generation = 1

    def _experiment_row(self, namespace: str, name: str, *columns: Any) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*columns).where(
                    experiments.c.namespace == namespace, experiments.c.name == name
                )
            ).first()
        if row is None:
            raise NotFoundError(f'experiment "{name}" not found in namespace "{namespace}"')
        return row

    def get_experiment(self, namespace: str, name: str, trial_lists: bool = True) -> Experiment:
        """The experiment. Its status's trial-name lists are made from its trials; without
        ``trial_lists`` it has none (a read of every trial saved where they are not shown)."""
        query = select(*_EXPERIMENT_COLUMNS).where(
            experiments.c.namespace == namespace, experiments.c.name == name
        )
        with self.engine.connect() as conn:
            found = _experiments(conn, query, trial_lists)
        if not found:
            raise NotFoundError(f'experiment "{name}" not found in namespace "{namespace}"')
        return found[0]

    def experiment_generation(self, namespace: str, name: str) -> int:
        """Bumped by every spec update: a cheap way for a running controller to notice one."""
        return int(self._experiment_row(namespace, name, experiments.c.generation)[0])

    def update_experiment_spec(self, exp: Experiment) -> int:
        """Store a new spec (never the status: the controller owns it); returns the generation.

        Conditional on ``exp.metadata.resourceVersion`` like every write (ConflictError when the
        experiment changed since ``exp`` was read); sets the new version and generation on ``exp``.
        """
        with self._write() as conn:
            owner = self._owner(conn, exp.namespace, exp.name)
            version, uid, created = update_row(
                conn,
                experiments,
                experiments.c.id,
                owner.id,
                exp.metadata,
                f'experiment "{exp.namespace}/{exp.name}"',
                {"resource": stored_json(_experiment_data(exp), owned=False)},
                bump=("generation",),
            )
            generation = conn.execute(
                select(experiments.c.generation).where(experiments.c.id == owner.id)
            ).scalar_one()
        stamp(exp.metadata, uid, version, created)
        exp.metadata.generation = generation
        return int(generation)

    def experiment_source_dir(self, namespace: str, name: str) -> str | None:
        return self._experiment_row(namespace, name, experiments.c.source_dir)[0]

    def list_experiments(
        self, namespace: str | None = None, trial_lists: bool = True
    ) -> list[Experiment]:
        """In creation order (``trial_lists`` as in :meth:`get_experiment`)."""
        query = select(*_EXPERIMENT_COLUMNS).order_by(experiments.c.id)
        if namespace is not None:
            query = query.where(experiments.c.namespace == namespace)
        with self.engine.connect() as conn:
            return _experiments(conn, query, trial_lists)

    def delete_experiment(self, namespace: str, name: str) -> None:
        """Delete the experiment with its trials, suggestion, observations and events."""
        with self._write() as conn:
            exp_id = self._owner(conn, namespace, name).id
            trial_ids = select(trials.c.id).where(trials.c.experiment_id == exp_id)
            # Explicit deletes: SQLite only cascades with foreign keys switched on.
            conn.execute(delete(observations).where(observations.c.trial_id.in_(trial_ids)))
            conn.execute(delete(events).where(events.c.experiment_id == exp_id))
            conn.execute(delete(trials).where(trials.c.experiment_id == exp_id))
            conn.execute(delete(suggestions).where(suggestions.c.experiment_id == exp_id))
            conn.execute(delete(leases_table).where(leases_table.c.experiment_id == exp_id))
            conn.execute(delete(experiments).where(experiments.c.id == exp_id))
        self._trial_rows = {k: v for k, v in self._trial_rows.items() if k[0] != namespace}
        self._owners.pop((namespace, name), None)

    # --- trials and suggestions ----------------------------------------------------------

    def list_trials(
        self,
        namespace: str | None = None,
        experiment: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[Trial]:
        """In creation order; a page: from the one after trial ``after`` (namespace, name),
        at most ``limit`` (``pykatib get trials --limit --continue``)."""
        query = (
            select(*_TRIAL_COLUMNS)
            .join(experiments, experiments.c.id == trials.c.experiment_id)
            .order_by(trials.c.id)
            .limit(limit)
        )
        if after is not None:
            start = select(trials.c.id).where(
                trials.c.namespace == after[0], trials.c.name == after[1]
            )
            query = query.where(trials.c.id > start.scalar_subquery())
        if namespace is not None:
            query = query.where(trials.c.namespace == namespace)
        if experiment is not None:
            query = query.where(experiments.c.name == experiment)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_trial(r) for r in rows]

    def iter_trials(self, namespace: str, experiment: str) -> Iterator[Trial]:
        """The experiment's trials in creation order, read a batch of rows at a time: a caller
        that keeps only part of each (the control plane's cache) never holds them all."""
        query = (
            select(*_TRIAL_COLUMNS)
            .join(experiments, experiments.c.id == trials.c.experiment_id)
            .where(trials.c.namespace == namespace, experiments.c.name == experiment)
            .order_by(trials.c.id)
            .execution_options(yield_per=_TRIAL_BATCH)  # a server-side cursor where there is one
        )
        with self.engine.connect() as conn:
            for rows in conn.execute(query).partitions():
                for row in rows:
                    yield _trial(row)

    def get_trial(self, namespace: str, name: str) -> Trial:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_TRIAL_COLUMNS)
                .join(experiments, experiments.c.id == trials.c.experiment_id)
                .where(trials.c.namespace == namespace, trials.c.name == name)
            ).first()
        if row is None:
            raise NotFoundError(f'trial "{name}" not found in namespace "{namespace}"')
        return _trial(row)

    def trial_namespaces(self, name: str) -> list[str]:
        """The namespaces holding a trial called ``name``, sorted (Katib's DB manager API
        names a trial without its namespace); one indexed query, whatever the trials."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(trials.c.namespace).where(trials.c.name == name).order_by(trials.c.namespace)
            ).scalars()
            return list(found)

    def get_suggestion(
        self, namespace: str, name: str, assignments: bool = True
    ) -> tuple[Suggestion | None, Any]:
        """The experiment's suggestion and its algorithm state (``None`` when never written).

        ``status.suggestions`` is not stored twice: each assignment is its trial's, so it is
        rebuilt from the trials (in creation order), which are written in the same transaction.
        Without ``assignments`` (the control plane, which never reads them) only their count
        is set: no trial is read.
        """
        with self.engine.connect() as conn:
            owner = self._owner(conn, namespace, name)
            row = conn.execute(
                select(
                    suggestions.c.resource,
                    suggestions.c.algorithm_state,
                    suggestions.c.uid,
                    suggestions.c.resource_version,
                    suggestions.c.created_at,
                ).where(suggestions.c.experiment_id == owner.id)
            ).first()
            if row is None:
                return None, None
            mine = trials.c.experiment_id == owner.id
            if assignments:
                trial_rows = conn.execute(
                    select(trials.c.resource).where(mine).order_by(trials.c.id)
                ).all()
            else:
                count = conn.execute(select(func.count()).select_from(trials).where(mine))
                trial_rows, made = [], count.scalar_one()
        state = json.loads(row[1]) if row[1] is not None else None
        data = with_metadata(json.loads(row[0]), *row[2:5], ownerReferences=owner.references())
        suggestion = Suggestion.model_validate(data)
        if not assignments:
            suggestion.status.suggestions = None
            suggestion.status.suggestion_count = made
            return suggestion, state
        assignments = []
        for (resource,) in trial_rows:
            trial = json.loads(resource)
            spec = trial.get("spec", {})
            assignments.append(
                TrialAssignment.model_validate(
                    {
                        "name": trial["metadata"]["name"],
                        "parameterAssignments": spec.get("parameterAssignments"),
                        "earlyStoppingRules": spec.get("earlyStoppingRules"),
                        "labels": spec.get("labels"),
                    }
                )
            )
        suggestion.status.suggestions = assignments or None
        suggestion.status.suggestion_count = len(assignments)
        return suggestion, state

    def list_suggestions(self, namespace: str | None = None) -> list[Suggestion]:
        """Every experiment's suggestion (in ``namespace``, else in all), as :meth:`get_suggestion`
        builds it, in the experiments' creation order."""
        query = (
            select(experiments.c.namespace, experiments.c.name)
            .join(suggestions, suggestions.c.experiment_id == experiments.c.id)
            .order_by(experiments.c.id)
        )
        if namespace is not None:
            query = query.where(experiments.c.namespace == namespace)
        with self.engine.connect() as conn:
            keys = conn.execute(query).all()
        found = (self.get_suggestion(ns, name)[0] for ns, name in keys)
        return [s for s in found if s is not None]

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]:
        with self.engine.connect() as conn:
            trial_id = self._trial_id(conn, namespace, trial)
            rows = conn.execute(
                select(
                    observations.c.metric_name,
                    observations.c.value,
                    observations.c.timestamp,
                    observations.c.step,
                )
                .where(observations.c.trial_id == trial_id)
                .order_by(observations.c.id)
            ).all()
        return [ObservationPoint(r[0], r[1], as_utc(r[2]), r[3]) for r in rows]

    def objective_series(
        self, namespace: str, experiment: str, metric: str
    ) -> dict[str, list[float]]:
        """Each trial's numeric values of ``metric`` in report order (for early stopping)."""
        with self.engine.connect() as conn:
            exp_id = self._owner(conn, namespace, experiment).id
            rows = conn.execute(
                select(trials.c.name, observations.c.numeric_value)
                .join(observations, observations.c.trial_id == trials.c.id)
                .where(
                    trials.c.experiment_id == exp_id,
                    observations.c.metric_name == metric,
                    observations.c.numeric_value.is_not(None),
                )
                .order_by(observations.c.id)
            ).all()
        series: dict[str, list[float]] = {}
        for name, value in rows:
            series.setdefault(name, []).append(float(value))
        return series

    # --- events --------------------------------------------------------------------------

    def list_events(
        self, namespace: str, kind: str | None = None, name: str | None = None
    ) -> list[Event]:
        """Events about objects in ``namespace`` (of ``kind``, about ``name``), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(event_log.query(namespace, kind, name)).all()
        return [event_log.from_row(r) for r in rows]

    # --- the unit of work ----------------------------------------------------------------

    def commit(
        self,
        namespace: str,
        experiment_name: str,
        changes: Changes,
        holder: leases.Holder | None = None,
    ) -> None:
        """Write one reconcile step's changes in a single transaction.

        With ``holder``, the write happens only while ``holder`` holds the experiment's lease
        (else :class:`~pykatib.store.leases.LeaseLostError`, or NotFoundError when the
        experiment was deleted).

        Raises ConflictError, writing nothing, when an object in ``changes`` carries a
        ``resourceVersion`` that is no longer the stored one. After the commit, each object
        written carries its new ``resourceVersion`` (and, when it was created, its uid,
        creationTimestamp and ownerReferences).
        """
        if not changes:
            return
        with self._write() as conn:
            owner = self._owner(conn, namespace, experiment_name)
            if holder is not None:
                try:
                    leases.check(conn, owner.id, holder)
                except leases.LeaseLostError:
                    self._check_exists(conn, namespace, experiment_name, owner)
                    raise
            unit = Unit(conn, owner, self._trial_rows)
            unit.write(changes)
        unit.done()
        self._trial_rows.update(unit.new_trials)

    # --- leases --------------------------------------------------------------------------

    def acquire_lease(
        self,
        namespace: str,
        name: str,
        holder: leases.Holder,
        ttl: float = leases.DEFAULT_TTL_SECONDS,
        take_from: str | None = None,
    ) -> leases.Lease:
        """Take or renew the experiment's lease; returns it as it now stands (see
        :func:`pykatib.store.leases.acquire`). NotFoundError when the experiment is gone."""
        with self._write() as conn:
            owner = self._owner(conn, namespace, name)
            self._check_exists(conn, namespace, name, owner)
            return leases.acquire(conn, owner.id, holder, ttl, take_from)

    def get_lease(self, namespace: str, name: str) -> leases.Lease | None:
        with self.engine.connect() as conn:
            return leases.read(conn, self._owner(conn, namespace, name).id)

    def release_lease(self, namespace: str, name: str, holder: leases.Holder) -> None:
        with self._write() as conn:
            owner = self._owners.get((namespace, name))
            if owner is not None:
                leases.release(conn, owner.id, holder)

    def _check_exists(self, conn: Any, namespace: str, name: str, owner: Owner) -> None:
        """NotFoundError when the experiment ``owner`` names was deleted (perhaps by another
        process, perhaps created again since under the same name)."""
        row = conn.execute(select(experiments.c.uid).where(experiments.c.id == owner.id)).first()
        if row is None or row[0] != owner.uid:
            self._owners.pop((namespace, name), None)
            raise NotFoundError(f'experiment "{name}" was deleted from namespace "{namespace}"')

    def _owner(self, conn: Any, namespace: str, name: str) -> Owner:
        key = (namespace, name)
        owner = self._owners.get(key)
        if owner is not None:
            return owner
        row = conn.execute(
            select(experiments.c.id, experiments.c.uid).where(
                experiments.c.namespace == namespace, experiments.c.name == name
            )
        ).first()
        if row is None:
            raise NotFoundError(f'experiment "{name}" not found in namespace "{namespace}"')
        owner = self._owners[key] = Owner(int(row[0]), namespace, name, row[1])
        return owner

    def _trial_id(self, conn: Any, namespace: str, name: str) -> int:
        key = (namespace, name)
        if key not in self._trial_rows:
            row = conn.execute(
                select(trials.c.id, trials.c.uid).where(
                    trials.c.namespace == namespace, trials.c.name == name
                )
            ).first()
            if row is None:
                raise NotFoundError(f'trial "{name}" not found in namespace "{namespace}"')
            self._trial_rows[key] = (int(row[0]), row[1])
        return self._trial_rows[key][0]


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _sqlite_writers(database: str) -> threading.RLock:
    """The lock of the writers of the SQLite file ``database``, shared by every Store of this
    process that opens it (the embedded SDK's client and each of its drivers has its own)."""
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(os.path.realpath(database), threading.RLock())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers (`pykatib get` in another terminal) see the data while a run writes it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


__all__ = ["Changes", "Store", "default_home", "default_url", "metadata"]
