"""Each trial's phase in a column of its own; the experiment's status without trial-name lists.

Katib's status names every trial in the list of its phase (``succeededTrialList`` and the
others): stored in the status, the lists were written again whole at every trial's change, a
write that grew with the trials. They are made from ``trials.phase`` on read instead. Existing
trials' phases are worked out from their stored conditions, by Katib's rule
(:mod:`pykatib.api.phase_rule`); downgrading writes the lists back into the statuses.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from pykatib.api import phase_rule

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The phase of each deciding condition, and the status's list of the trials in each phase, as
# this revision has them (pykatib.control.status's phases; Katib's JSON names).
_PHASE_OF_CONDITION = {
    "Killed": "killed",
    "Failed": "failed",
    "Succeeded": "succeeded",
    "EarlyStopped": "early_stopped",
    "Running": "running",
    "MetricsUnavailable": "metrics_unavailable",
}
_LISTS = {
    "running": "runningTrialList",
    "pending": "pendingTrialList",
    "failed": "failedTrialList",
    "succeeded": "succeededTrialList",
    "killed": "killedTrialList",
    "early_stopped": "earlyStoppedTrialList",
    "metrics_unavailable": "metricsUnavailableTrialList",
}
_BATCH = 500  # trials read at a time: a stored trial can be tens of KiB


def upgrade() -> None:
    op.add_column(
        "trials", sa.Column("phase", sa.String(32), nullable=False, server_default="pending")
    )
    op.create_index("ix_trials_phase", "trials", ["experiment_id", "id", "phase", "name"])
    conn = op.get_bind()
    meta = sa.MetaData()
    trials = sa.Table("trials", meta, autoload_with=conn)
    experiments = sa.Table("experiments", meta, autoload_with=conn)
    set_phase = (
        trials.update().where(trials.c.id == sa.bindparam("row")).values(phase=sa.bindparam("p"))
    )
    for rows in _batches(conn, trials):
        decided = [
            {"row": id_, "p": phase}
            for id_, resource in rows
            if (phase := _phase(json.loads(resource))) != "pending"  # the column's default
        ]
        if decided:
            conn.execute(set_phase, decided)
    for id_, status in conn.execute(sa.select(experiments.c.id, experiments.c.status)).all():
        data = json.loads(status)
        kept = {k: v for k, v in data.items() if k not in _LISTS.values()}
        if kept != data:
            _write_status(conn, experiments, id_, kept)


def _batches(conn: sa.Connection, trials: sa.Table) -> Iterator[list[Any]]:
    """(id, resource) of every trial, a batch at a time, by id."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(trials.c.id, trials.c.resource)
            .where(trials.c.id > last)
            .order_by(trials.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _phase(trial: dict[str, Any]) -> str:
    decided = phase_rule.first_true(phase_rule.document_conditions(trial))
    return _PHASE_OF_CONDITION.get(decided or "", "pending")


def _write_status(conn: sa.Connection, experiments: sa.Table, id_: int, status: Any) -> None:
    conn.execute(
        experiments.update()
        .where(experiments.c.id == id_)
        .values(status=json.dumps(status, separators=(",", ":")))
    )


def downgrade() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    trials = sa.Table("trials", meta, autoload_with=conn)
    experiments = sa.Table("experiments", meta, autoload_with=conn)
    lists: dict[int, dict[str, list[str]]] = {}
    for experiment_id, name, phase in conn.execute(
        sa.select(trials.c.experiment_id, trials.c.name, trials.c.phase).order_by(trials.c.id)
    ):
        lists.setdefault(experiment_id, {}).setdefault(_LISTS[phase], []).append(name)
    for id_, status in conn.execute(sa.select(experiments.c.id, experiments.c.status)).all():
        if id_ in lists:
            _write_status(conn, experiments, id_, {**json.loads(status), **lists[id_]})
    op.drop_index("ix_trials_phase", table_name="trials")
    op.drop_column("trials", "phase")
