"""Persistence of experiments, trials, suggestions and observation logs with SQLAlchemy 2.

Resources are stored whole, as Katib's JSON, beside the few columns that are queried
(namespace, name, experiment). Every write the control plane makes for one reconcile step goes
through :meth:`Store.commit` in one transaction, so a crash never leaves half-written state.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine, make_url

from pykatib.api.errors import ConflictError, NotFoundError
from pykatib.api.models import Experiment, Suggestion, Trial, TrialAssignment
from pykatib.metrics.observation import ObservationPoint

metadata = MetaData()
_TIMESTAMP = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("resource", Text, nullable=False),  # apiVersion, kind, metadata, spec
    Column("status", Text, nullable=False),
    Column("generation", Integer, nullable=False, default=1),
    Column("source_dir", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("namespace", "name", name="uq_experiment_name"),
)

trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    ),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("resource", Text, nullable=False),
    UniqueConstraint("namespace", "name", name="uq_trial_name"),
    Index("ix_trials_experiment", "experiment_id", "id"),
)

suggestions = Table(
    "suggestions",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("resource", Text, nullable=False),
    Column("algorithm_state", Text, nullable=True),
)

observations = Table(
    "observations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("metric_name", String(255), nullable=False),
    Column("value", String(255), nullable=False),
    Column("numeric_value", Float, nullable=True),
    # MySQL/MariaDB keep whole seconds unless asked for microseconds.
    Column("timestamp", _TIMESTAMP, nullable=False),
    Column("step", Integer, nullable=False),
    Index("ix_observations_trial", "trial_id", "id"),
)


def default_home() -> Path:
    return Path(os.environ.get("PYKATIB_HOME") or Path.home() / ".pykatib")


def default_url() -> str:
    url = os.environ.get("PYKATIB_DB")
    if url:
        return url
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'pykatib.db'}"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _without_status(exp: Experiment) -> dict[str, Any]:
    data = exp.to_dict()
    data.pop("status", None)
    return data


def _experiment(row: Any) -> Experiment:
    data = json.loads(row[0])
    data["status"] = json.loads(row[1])
    return Experiment.model_validate(data)


def _sqlite_time(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _float_or_none(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


@dataclass
class Changes:
    """Everything one reconcile step writes; committed atomically by :meth:`Store.commit`."""

    experiment: Experiment | None = None
    trials: list[Trial] = field(default_factory=list)
    suggestion: Suggestion | None = None
    algorithm_state: Any = None
    save_algorithm_state: bool = False
    observations: dict[str, list[ObservationPoint]] = field(default_factory=dict)
    # Trials whose observations are dropped (a trial restarted from scratch).
    reset_observations: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.experiment is not None
            or self.trials
            or self.suggestion is not None
            or self.observations
            or self.reset_observations
        )


class Store:
    """A SQL database (SQLite by default; PostgreSQL and MySQL through their URLs)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        kwargs: dict[str, Any] = {}
        database = make_url(self.url).database
        if self.url.startswith("sqlite") and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        # Row ids of trials by (namespace, name): saves a look-up per observation batch.
        self._trial_ids: dict[tuple[str, str], int] = {}
        self._experiment_ids: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        self.engine.dispose()

    # --- experiments ---------------------------------------------------------------------

    def create_experiment(self, exp: Experiment, source_dir: str | None = None) -> None:
        with self.engine.begin() as conn:
            found = conn.execute(
                select(experiments.c.id).where(
                    experiments.c.namespace == exp.namespace, experiments.c.name == exp.name
                )
            ).first()
            if found:
                raise ConflictError(f'experiment "{exp.namespace}/{exp.name}" already exists')
            conn.execute(
                insert(experiments).values(
                    namespace=exp.namespace,
                    name=exp.name,
                    resource=_dumps(_without_status(exp)),
                    status=_dumps(exp.status.to_dict()),
                    generation=exp.metadata.generation or 1,
                    source_dir=source_dir,
                    created_at=datetime.now(timezone.utc),
                )
            )

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

    def get_experiment(self, namespace: str, name: str) -> Experiment:
        return _experiment(
            self._experiment_row(namespace, name, experiments.c.resource, experiments.c.status)
        )

    def experiment_generation(self, namespace: str, name: str) -> int:
        """Bumped by every spec update: a cheap way for a running controller to notice one."""
        return int(self._experiment_row(namespace, name, experiments.c.generation)[0])

    def update_experiment_spec(self, exp: Experiment) -> int:
        """Store a new spec (never the status: the controller owns it); returns the generation."""
        with self.engine.begin() as conn:
            exp_id = self._experiment_id(conn, exp.namespace, exp.name)
            generation = (
                conn.execute(
                    select(experiments.c.generation).where(experiments.c.id == exp_id)
                ).scalar_one()
                + 1
            )
            exp.metadata.generation = generation
            conn.execute(
                update(experiments)
                .where(experiments.c.id == exp_id)
                .values(resource=_dumps(_without_status(exp)), generation=generation)
            )
        return generation

    def experiment_source_dir(self, namespace: str, name: str) -> str | None:
        return self._experiment_row(namespace, name, experiments.c.source_dir)[0]

    def list_experiments(self, namespace: str | None = None) -> list[Experiment]:
        query = select(experiments.c.resource, experiments.c.status).order_by(experiments.c.id)
        if namespace is not None:
            query = query.where(experiments.c.namespace == namespace)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_experiment(r) for r in rows]

    def delete_experiment(self, namespace: str, name: str) -> None:
        with self.engine.begin() as conn:
            exp_id = self._experiment_id(conn, namespace, name)
            trial_ids = select(trials.c.id).where(trials.c.experiment_id == exp_id)
            # Explicit deletes: SQLite only cascades with foreign keys switched on.
            conn.execute(delete(observations).where(observations.c.trial_id.in_(trial_ids)))
            conn.execute(delete(trials).where(trials.c.experiment_id == exp_id))
            conn.execute(delete(suggestions).where(suggestions.c.experiment_id == exp_id))
            conn.execute(delete(experiments).where(experiments.c.id == exp_id))
        self._trial_ids = {k: v for k, v in self._trial_ids.items() if k[0] != namespace}
        self._experiment_ids.pop((namespace, name), None)

    # --- trials and suggestions ----------------------------------------------------------

    def list_trials(
        self, namespace: str | None = None, experiment: str | None = None
    ) -> list[Trial]:
        query = select(trials.c.resource).order_by(trials.c.id)
        if namespace is not None:
            query = query.where(trials.c.namespace == namespace)
        if experiment is not None:
            query = query.join(experiments, experiments.c.id == trials.c.experiment_id).where(
                experiments.c.name == experiment
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Trial.model_validate(json.loads(r[0])) for r in rows]

    def get_trial(self, namespace: str, name: str) -> Trial:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(trials.c.resource).where(
                    trials.c.namespace == namespace, trials.c.name == name
                )
            ).first()
        if row is None:
            raise NotFoundError(f'trial "{name}" not found in namespace "{namespace}"')
        return Trial.model_validate(json.loads(row[0]))

    def get_suggestion(self, namespace: str, name: str) -> tuple[Suggestion | None, Any]:
        """The experiment's suggestion and its algorithm state (``None`` when never written).

        ``status.suggestions`` is not stored twice: each assignment is its trial's, so it is
        rebuilt from the trials (in creation order), which are written in the same transaction.
        """
        with self.engine.connect() as conn:
            exp_id = self._experiment_id(conn, namespace, name)
            row = conn.execute(
                select(suggestions.c.resource, suggestions.c.algorithm_state).where(
                    suggestions.c.experiment_id == exp_id
                )
            ).first()
            if row is None:
                return None, None
            trial_rows = conn.execute(
                select(trials.c.resource)
                .where(trials.c.experiment_id == exp_id)
                .order_by(trials.c.id)
            ).all()
        state = json.loads(row[1]) if row[1] is not None else None
        suggestion = Suggestion.model_validate(json.loads(row[0]))
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
        return [ObservationPoint(r[0], r[1], _as_utc(r[2]), r[3]) for r in rows]

    def objective_series(
        self, namespace: str, experiment: str, metric: str
    ) -> dict[str, list[float]]:
        """Each trial's numeric values of ``metric`` in report order (for early stopping)."""
        with self.engine.connect() as conn:
            exp_id = self._experiment_id(conn, namespace, experiment)
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

    # --- the unit of work ----------------------------------------------------------------

    def commit(self, namespace: str, experiment_name: str, changes: Changes) -> None:
        """Write one reconcile step's changes in a single transaction."""
        if not changes:
            return
        with self.engine.begin() as conn:
            exp_id = self._experiment_id(conn, namespace, experiment_name)
            if changes.experiment is not None:
                conn.execute(
                    update(experiments)
                    .where(experiments.c.id == exp_id)
                    .values(status=_dumps(changes.experiment.status.to_dict()))
                )
            for trial in changes.trials:
                self._upsert_trial(conn, exp_id, trial)
            if changes.suggestion is not None:
                self._upsert_suggestion(conn, exp_id, changes)
            for name in changes.reset_observations:
                trial_id = self._trial_id(conn, namespace, name)
                conn.execute(delete(observations).where(observations.c.trial_id == trial_id))
            for name, points in changes.observations.items():
                self._insert_observations(conn, self._trial_id(conn, namespace, name), points)

    def _insert_observations(
        self, conn: Any, trial_id: int, points: list[ObservationPoint]
    ) -> None:
        if not points:
            return
        if self.engine.dialect.name == "sqlite":
            # The hot path of metrics collection: skip SQLAlchemy's per-row parameter
            # processing (3x faster), writing timestamps as its SQLite DateTime type does.
            conn.exec_driver_sql(
                "INSERT INTO observations (trial_id, metric_name, value, numeric_value, "
                "timestamp, step) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        trial_id,
                        p.metric_name,
                        p.value,
                        _float_or_none(p.value),
                        _sqlite_time(p.timestamp),
                        p.step,
                    )
                    for p in points
                ],
            )
            return
        conn.execute(
            insert(observations),
            [
                {
                    "trial_id": trial_id,
                    "metric_name": p.metric_name,
                    "value": p.value,
                    "numeric_value": _float_or_none(p.value),
                    "timestamp": p.timestamp,
                    "step": p.step,
                }
                for p in points
            ],
        )

    def _upsert_trial(self, conn: Any, exp_id: int, trial: Trial) -> None:
        key = (trial.namespace, trial.name)
        resource = _dumps(trial.to_dict())
        trial_id = self._trial_ids.get(key)
        if trial_id is None:
            row = conn.execute(
                select(trials.c.id).where(trials.c.namespace == key[0], trials.c.name == key[1])
            ).first()
            if row is None:
                result = conn.execute(
                    insert(trials).values(
                        experiment_id=exp_id, namespace=key[0], name=key[1], resource=resource
                    )
                )
                self._trial_ids[key] = result.inserted_primary_key[0]
                return
            trial_id = self._trial_ids[key] = row[0]
        conn.execute(update(trials).where(trials.c.id == trial_id).values(resource=resource))

    def _upsert_suggestion(self, conn: Any, exp_id: int, changes: Changes) -> None:
        assert changes.suggestion is not None
        resource = changes.suggestion.model_dump(
            by_alias=True,
            exclude_none=True,
            mode="json",
            exclude={"status": {"suggestions"}},  # rebuilt from the trials on read
        )
        values: dict[str, Any] = {"resource": _dumps(resource)}
        if changes.save_algorithm_state:
            state = changes.algorithm_state
            values["algorithm_state"] = None if state is None else _dumps(state)
        done = conn.execute(
            update(suggestions).where(suggestions.c.experiment_id == exp_id).values(**values)
        )
        if done.rowcount == 0:
            conn.execute(insert(suggestions).values(experiment_id=exp_id, **values))

    def _experiment_id(self, conn: Any, namespace: str, name: str) -> int:
        key = (namespace, name)
        if key in self._experiment_ids:
            return self._experiment_ids[key]
        row = conn.execute(
            select(experiments.c.id).where(
                experiments.c.namespace == namespace, experiments.c.name == name
            )
        ).first()
        if row is None:
            raise NotFoundError(f'experiment "{name}" not found in namespace "{namespace}"')
        self._experiment_ids[key] = int(row[0])
        return int(row[0])

    def _trial_id(self, conn: Any, namespace: str, name: str) -> int:
        key = (namespace, name)
        if key in self._trial_ids:
            return self._trial_ids[key]
        row = conn.execute(
            select(trials.c.id).where(trials.c.namespace == namespace, trials.c.name == name)
        ).first()
        if row is None:
            raise NotFoundError(f'trial "{name}" not found in namespace "{namespace}"')
        self._trial_ids[key] = int(row[0])
        return int(row[0])


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers (`pykatib get` in another terminal) see the data while a run writes it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


__all__ = ["Changes", "Store", "default_home", "default_url"]
