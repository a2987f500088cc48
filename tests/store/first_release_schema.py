"""The schema of pykatib's first release (commit 1b8303b), copied verbatim from its
``pykatib/store/sql.py``: a database made by that release is this ``metadata.create_all``."""

from __future__ import annotations

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
