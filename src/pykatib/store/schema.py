"""The tables of the store, as the newest migration leaves them (``migrations/versions``).

Resources are stored whole, as Katib's JSON, beside the columns that are queried or that the
store owns: ``uid``, ``created_at`` and ``resource_version`` are the store's, never the caller's,
and are laid over the JSON's ``metadata`` when an object is read. A change here needs a new
migration that makes the same change (``tests/store/test_migrations.py`` compares the two).
"""

from __future__ import annotations

from datetime import datetime, timezone

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
)
from sqlalchemy.dialects import mysql

metadata = MetaData()
# MySQL/MariaDB keep whole seconds unless asked for microseconds.
TIMESTAMP = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def as_utc(value: datetime) -> datetime:
    """A timestamp column's value as an aware UTC time (SQLite and MySQL return naive ones)."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _uid() -> Column[str]:
    # Nullable only because a column added to existing rows can't be NOT NULL without a default
    # on SQLite; the store writes one on every insert and the migration fills the old rows.
    return Column("uid", String(36), nullable=True)


def _resource_version() -> Column[int]:
    return Column("resource_version", Integer, nullable=False, server_default="1")


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
    _uid(),
    _resource_version(),
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
    _uid(),
    Column("created_at", DateTime(timezone=True), nullable=True),
    _resource_version(),
    # The trial's phase as the experiment's status counts it (pykatib.control.status's names),
    # written with every write of the trial: the status's trial-name lists are made from it
    # on read (store/reader/queries.py with_trial_lists), never stored.
    Column("phase", String(32), nullable=False, server_default="pending"),
    UniqueConstraint("namespace", "name", name="uq_trial_name"),
    Index("ix_trials_experiment", "experiment_id", "id"),
    Index("ix_trials_name", "name"),  # the DB manager's lookup by name alone
    # Covers the read of an experiment's trial-name lists: on SQLite a column after `resource`
    # is reached through the resource's overflow pages (tens of KiB a trial).
    Index("ix_trials_phase", "experiment_id", "id", "phase", "name"),
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
    _uid(),
    Column("created_at", DateTime(timezone=True), nullable=True),
    _resource_version(),
)

observations = Table(
    "observations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("metric_name", String(255), nullable=False),
    Column("value", String(255), nullable=False),
    Column("numeric_value", Float, nullable=True),
    Column("timestamp", TIMESTAMP, nullable=False),
    Column("step", Integer, nullable=False),
    Index("ix_observations_trial", "trial_id", "id"),
)

# core/v1 Events about an experiment and its trials and suggestion; deleted with the experiment.
# A repeat of (involved object, type, reason, message) bumps `count` of the row whose
# `aggregate_key` (a hash of those) matches.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    ),
    Column("namespace", String(253), nullable=False),
    Column("involved_kind", String(63), nullable=False),
    Column("involved_name", String(253), nullable=False),
    Column("aggregate_key", String(64), nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_timestamp", TIMESTAMP, nullable=False),
    Column("last_timestamp", TIMESTAMP, nullable=False),
    Column("resource", Text, nullable=False),  # the Event as first recorded
    UniqueConstraint("experiment_id", "aggregate_key", name="uq_event_key"),
    Index("ix_events_object", "namespace", "involved_kind", "involved_name"),
)

# Which control plane drives an experiment (one owner per experiment): renewed while it lives,
# taken over once `expires_at` has passed; deleted with the experiment.
leases = Table(
    "leases",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("holder", String(64), nullable=False),
    Column("host", String(253), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", TIMESTAMP, nullable=False),
    Column("expires_at", TIMESTAMP, nullable=False),
)

__all__ = [
    "TIMESTAMP",
    "as_utc",
    "events",
    "experiments",
    "leases",
    "metadata",
    "observations",
    "suggestions",
    "trials",
]
