"""Object metadata the store owns (uid, creation time, resourceVersion) and the events table.

Fills the new columns of existing rows: a uid for each object, trials' and suggestions' creation
time (from their JSON, else their experiment's), and resourceVersion 1 (the column's default).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_TABLES = ("experiments", "trials", "suggestions")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("uid", sa.String(36), nullable=True))
        if table != "experiments":  # experiments have had created_at from the start
            op.add_column(table, sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(
            table,
            sa.Column("resource_version", sa.Integer, nullable=False, server_default="1"),
        )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("involved_kind", sa.String(63), nullable=False),
        sa.Column("involved_name", sa.String(253), nullable=False),
        sa.Column("aggregate_key", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_timestamp", _TIMESTAMP, nullable=False),
        sa.Column("last_timestamp", _TIMESTAMP, nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.UniqueConstraint("experiment_id", "aggregate_key", name="uq_event_key"),
    )
    op.create_index("ix_events_object", "events", ["namespace", "involved_kind", "involved_name"])
    _fill_metadata(op.get_bind())


def _fill_metadata(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    experiments = sa.Table("experiments", meta, autoload_with=conn)
    trials = sa.Table("trials", meta, autoload_with=conn)
    suggestions = sa.Table("suggestions", meta, autoload_with=conn)
    created = dict(conn.execute(sa.select(experiments.c.id, experiments.c.created_at)).all())
    if created:
        conn.execute(
            experiments.update()
            .where(experiments.c.id == sa.bindparam("row"))
            .values(uid=sa.bindparam("new_uid")),
            [{"row": id_, "new_uid": str(uuid.uuid4())} for id_ in created],
        )
    for table, key in ((trials, trials.c.id), (suggestions, suggestions.c.experiment_id)):
        rows = conn.execute(sa.select(key, table.c.experiment_id, table.c.resource)).all()
        if not rows:
            continue
        conn.execute(
            table.update()
            .where(key == sa.bindparam("row"))
            .values(uid=sa.bindparam("new_uid"), created_at=sa.bindparam("created")),
            [
                {
                    "row": id_,
                    "new_uid": str(uuid.uuid4()),
                    "created": _created(json.loads(resource)) or created[experiment_id],
                }
                for id_, experiment_id, resource in rows
            ],
        )


def _created(resource: dict[str, Any]) -> datetime | None:
    """When the object says it was created or started, if it says."""
    stamp = (resource.get("metadata") or {}).get("creationTimestamp") or (
        resource.get("status") or {}
    ).get("startTime")
    if not stamp:
        return None
    value = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def downgrade() -> None:
    op.drop_index("ix_events_object", table_name="events")
    op.drop_table("events")
    for table in _TABLES:
        op.drop_column(table, "resource_version")
        if table != "experiments":
            op.drop_column(table, "created_at")
        op.drop_column(table, "uid")
