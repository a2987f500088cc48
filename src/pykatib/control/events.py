"""Events the control plane records, as Katib's controllers do with their event recorder.

Trials get Katib's job events (trial_controller.go:305, trial_controller_util.go:66-126):
JobCreated, JobRunning, JobSucceeded, JobFailed, MetricsUnavailable. pykatib adds events that
say why a trial was early stopped or killed, and one per condition an experiment or suggestion
takes (ExperimentCreated, ExperimentRunning, ExperimentGoalReached, ...), which Katib shows only
as conditions. ``kubectl describe``-style output lists them (:mod:`pykatib.cli.describe`).
"""

from __future__ import annotations

import time
from typing import Any

from pykatib.api.models import Condition, Event, ObjectMeta, ObjectReference, now

NORMAL, WARNING = "Normal", "Warning"
SOURCE = {"component": "pykatib-controller"}


def event(obj: Any, type_: str, reason: str, message: str) -> Event:
    """A new event about ``obj`` (an Experiment, Trial or Suggestion)."""
    stamp = now()
    meta = obj.metadata
    return Event(
        # Named as Kubernetes' event recorder names one: the object's name and the time in
        # nanoseconds, in hex (record/event.go, makeEvent).
        metadata=ObjectMeta(
            name=f"{meta.name}.{time.time_ns():x}", namespace=meta.namespace or "default"
        ),
        involved_object=ObjectReference(
            api_version=obj.api_version,
            kind=obj.kind,
            name=meta.name,
            namespace=meta.namespace or "default",
            uid=meta.uid,
        ),
        type=type_,
        reason=reason,
        message=message,
        first_timestamp=stamp,
        last_timestamp=stamp,
        source=SOURCE,
    )


def condition_events(obj: Any, before: list[Condition] | None) -> list[Event]:
    """One event per condition of ``obj`` that became True since ``before``."""
    old = {(c.type, c.status, c.reason) for c in before or []}
    out = []
    for c in obj.status.conditions or []:
        if c.status == "True" and (c.type, c.status, c.reason) not in old:
            type_ = WARNING if c.type == "Failed" else NORMAL
            out.append(event(obj, type_, c.reason or c.type, c.message or ""))
    return out
