"""Trials found by name alone: Katib's DB manager API names a trial without its namespace.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trials_name", "trials", ["name"])


def downgrade() -> None:
    op.drop_index("ix_trials_name", table_name="trials")
