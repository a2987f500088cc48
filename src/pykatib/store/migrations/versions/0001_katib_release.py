"""The schema of the first release (commit 1b8303b): experiments, trials, suggestions, observations.

A store that release created has no ``alembic_version`` table; it is stamped at this revision and
upgraded from here. Frozen: the tables are spelled out, never imported from ``schema.py``.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("source_dir", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("namespace", "name", name="uq_experiment_name"),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.UniqueConstraint("namespace", "name", name="uq_trial_name"),
    )
    op.create_index("ix_trials_experiment", "trials", ["experiment_id", "id"])
    op.create_table(
        "suggestions",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("algorithm_state", sa.Text, nullable=True),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("metric_name", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("numeric_value", sa.Float, nullable=True),
        sa.Column("timestamp", _TIMESTAMP, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
    )
    op.create_index("ix_observations_trial", "observations", ["trial_id", "id"])


def downgrade() -> None:
    for table in ("observations", "suggestions", "trials", "experiments"):
        op.drop_table(table)
