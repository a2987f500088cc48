"""Katib's rule for a trial's phase, in one place for every reader: the control plane (models),
the UI and the CLI (the stored JSON, read without pydantic).

Katib's status summary tests a trial's conditions in this order and takes the first that is
True (a condition type counts by its first occurrence). Standard library only, so that
``pykatib get`` can import it without the models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ORDER = ("Killed", "Failed", "Succeeded", "EarlyStopped", "Running", "MetricsUnavailable")
COMPLETED = frozenset(ORDER) - {"Running"}

# Trial phases, in the order Katib's status summary tests them: what the store records of each
# trial (``trials.phase``) and the control plane counts.
PENDING, RUNNING, SUCCEEDED, FAILED, KILLED = "pending", "running", "succeeded", "failed", "killed"
EARLY_STOPPED, METRICS_UNAVAILABLE = "early_stopped", "metrics_unavailable"
# The phase each deciding condition type of :data:`ORDER` stands for.
PHASE_OF_CONDITION = {
    "Killed": KILLED,
    "Failed": FAILED,
    "Succeeded": SUCCEEDED,
    "EarlyStopped": EARLY_STOPPED,
    "Running": RUNNING,
    "MetricsUnavailable": METRICS_UNAVAILABLE,
}


def first_true(conditions: Iterable[tuple[str | None, str | None]]) -> str | None:
    """The condition type of :data:`ORDER` that decides the phase, among (type, status) pairs;
    None when none of them is True."""
    first: dict[str | None, str | None] = {}
    for type_, status in conditions:
        first.setdefault(type_, status)
    return next((t for t in ORDER if first.get(t) == "True"), None)


def phase(conditions: Iterable[tuple[str | None, str | None]]) -> str:
    """The phase (:data:`PENDING` ...) of a trial with these (type, status) condition pairs."""
    return PHASE_OF_CONDITION.get(first_true(conditions) or "", PENDING)


def document_conditions(data: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    """The (type, status) pairs of an object's JSON conditions."""
    conditions = (data.get("status") or {}).get("conditions") or []
    return [(c.get("type"), c.get("status")) for c in conditions]
