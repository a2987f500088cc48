"""Reports of a trial's metrics that arrive over the network: Katib DB manager's
``ReportObservationLog``, for a trial whose work runs somewhere its Push report file can't be
written (``pykatib.report_metrics`` with ``PYKATIB_SERVER``, or Katib's own ``report_metrics``
through :mod:`pykatib.server.dbmanager`).

A report is taken as a local Push trial's would be: appended, as JSON lines and in one write, to
the report file of the trial's current attempt, which that attempt's collector tails. So a
report over the network counts exactly as one written to the file does: only the final
attempt's observations count, early stopping looks at it, and the collector stores it with its
position in one transaction. :func:`deliver` returns once the control plane has stored it (the
attempt's stored position has passed it), as Katib's DB manager returns once its row is written.

Refused: a body that is not an observation log (422, one cause per field), an unknown trial
(404), a trial whose collector is not Push, that has not started, has finished, or whose
attempt runs on another machine (409).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykatib.api.errors import NotFoundError
from pykatib.api.models import Trial
from pykatib.metrics.observation import parse_value
from pykatib.metrics.push import metric_value, ring_bell
from pykatib.metrics.timestamps import format_rfc3339, parse_rfc3339, utc_now
from pykatib.runtime.paths import AttemptFiles
from pykatib.runtime.shim import HOST
from pykatib.server import errors as e

ATTEMPT_ANNOTATION = "pykatib.kubeflow.org/attempt"
PUSH = "Push"
MAX_FIELD_LENGTH = 255  # the store's columns for a metric's name and value
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.02
_FINISHED = ("Succeeded", "Failed", "Killed", "EarlyStopped", "MetricsUnavailable")


@dataclass
class Report:
    """The validated entries of one report, as lines of the Push report file."""

    records: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def entries(self) -> list[dict[str, Any]]:
        """The entries as the observation log shows them."""
        logs = []
        for r in self.records:
            entry: dict[str, Any] = {
                "timeStamp": r["timestamp"],
                "metric": {"name": r["metric"], "value": r["value"]},
            }
            if "step" in r:
                entry["step"] = r["step"]
            logs.append(entry)
        return logs


def parse_report(body: Any, trial_name: str) -> Report:
    """The report in ``body`` (``{"metricLogs": [{"timeStamp", "metric": {"name", "value"},
    "step"}]}``, ``timeStamp`` and ``step`` optional), or 422 naming every bad field."""
    problems: list[str] = []
    logs = body.get("metricLogs") if isinstance(body, dict) else None
    if not isinstance(body, dict):
        problems.append("body: must be an object with metricLogs")
    elif not isinstance(logs, list) or not logs:
        problems.append("metricLogs: must be a non-empty list of {metric: {name, value}}")
    records = []
    for i, log in enumerate(logs if isinstance(logs, list) else []):
        where = f"metricLogs[{i}]"
        record = _record(log, where, problems)
        if record is not None:
            records.append(record)
    if problems:
        raise _invalid(trial_name, problems)
    return Report(records)


def _record(log: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    if not isinstance(log, dict):
        problems.append(f"{where}: must be an object with metric: {{name, value}}")
        return None
    found = len(problems)
    metric = log.get("metric")
    name = metric.get("name") if isinstance(metric, dict) else None
    value = metric.get("value") if isinstance(metric, dict) else None
    if not isinstance(metric, dict):
        problems.append(f"{where}.metric: must be an object with name and value")
    elif not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.metric.name: must be a non-empty string")
    elif len(name) > MAX_FIELD_LENGTH:
        problems.append(f"{where}.metric.name: longer than {MAX_FIELD_LENGTH} characters")
    text = None
    if isinstance(metric, dict):
        try:
            text = metric_value(name if isinstance(name, str) and name else "?", value)
        except ValueError:
            problems.append(
                f"{where}.metric.value: {value!r} is not a number (a float, or a string of one)"
            )
        else:
            if len(text) > MAX_FIELD_LENGTH or parse_value(text) is None:
                problems.append(f"{where}.metric.value: {value!r} is not a number")
    stamp = log.get("timeStamp")
    moment = utc_now()
    if stamp is not None:
        parsed = parse_rfc3339(stamp) if isinstance(stamp, str) else None
        if parsed is None:
            problems.append(f"{where}.timeStamp: {stamp!r} is not an RFC 3339 time")
        else:
            moment = parsed
    step = log.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        problems.append(f"{where}.step: {step!r} is not a non-negative integer")
    if len(problems) > found:
        return None
    record: dict[str, Any] = {"metric": name, "value": text, "timestamp": format_rfc3339(moment)}
    if step is not None:
        record["step"] = step
    return record


def _invalid(trial_name: str, problems: list[str]) -> e.ApiError:
    causes = []
    for problem in problems:
        where, _, message = problem.partition(": ")
        causes.append({"reason": "FieldValueInvalid", "message": message, "field": where})
    return e.ApiError(
        422,
        "Invalid",
        f'the observation log reported for trial "{trial_name}" is invalid: ' + "; ".join(problems),
        name=trial_name,
        kind="ObservationLog",
        group=e.GROUP,
        causes=causes,
    )


def _conflict(name: str, message: str) -> e.ApiError:
    return e.ApiError(409, "Conflict", message, name=name, kind="trials", group=e.GROUP)


def _record_of(trial: Trial) -> dict[str, Any] | None:
    text = (trial.metadata.annotations or {}).get(ATTEMPT_ANNOTATION)
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _finished(trial: Trial) -> str | None:
    for condition in trial.status.conditions or []:
        if condition.status == "True" and condition.type in _FINISHED:
            return condition.type
    return None


def _metric_names(trial: Trial) -> list[str]:
    objective = trial.spec.objective
    if objective is None:
        return []
    names = [objective.objective_metric_name or ""]
    names += [o.name or "" for o in objective.objectives or []]
    names += list(objective.additional_metric_names or [])
    return [n for n in names if n]


def _collector(trial: Trial) -> str:
    spec = trial.spec.metrics_collector
    return (spec.collector.kind if spec and spec.collector else None) or "StdOut"


def _offset(record: Mapping[str, Any]) -> int:
    positions = record.get("positions")
    offset = positions.get("offset") if isinstance(positions, dict) else None
    return offset if isinstance(offset, int) else 0


def deliver(
    store: Any,
    namespace: str,
    name: str,
    report: Report,
    stopping: threading.Event | None = None,
    wait_seconds: float = WAIT_SECONDS,
) -> Report:
    """Append ``report`` to the trial's current attempt and wait until it is stored.

    Returns the report as stored: less the metrics the experiment does not collect, with a
    warning naming them."""
    trial = _trial(store, namespace, name)
    kind = _collector(trial)
    if kind != PUSH:
        raise _conflict(
            name,
            f'trial "{name}" collects its metrics with the {kind} collector: reports are taken '
            "from trials whose experiment sets metricsCollectorSpec.collector.kind: Push",
        )
    # The collector skips metrics the experiment does not name (as in the report file); left
    # out here, every line appended is one the collector stores, with its position.
    wanted = set(_metric_names(trial))
    skipped = sorted({r["metric"] for r in report.records} - wanted)
    if skipped:
        report.warnings.append(
            f"not one of the experiment's metrics ({', '.join(sorted(wanted))}), so not stored: "
            + ", ".join(skipped)
        )
        report.records = [r for r in report.records if r["metric"] in wanted]
    if not report.records:
        return report
    deadline = time.monotonic() + wait_seconds
    record = _wait(
        store, namespace, name, deadline, stopping, lambda t: _started(t, name), "to start"
    )
    files = AttemptFiles(Path(str(record["dir"])))
    end = _append(files.metrics, report.records)
    ring_bell(str(files.bell))

    def stored(t: Trial) -> dict[str, Any] | None:
        current = _record_of(t)
        if current is not None and current.get("attempt") != record.get("attempt"):
            raise _conflict(
                name,
                f'trial "{name}" began another attempt before this report was read; it counts '
                "for the attempt that ended, whose observations are dropped",
            )
        if current is not None and _offset(current) >= end:
            return current
        ended = _finished(t)
        if ended is not None:
            # The collector reads the whole file after the trial exits; once the trial is
            # marked finished its position is final.
            raise _conflict(
                name, f'trial "{name}" ended ({ended}) before its control plane read this report'
            )
        return None

    _wait(store, namespace, name, deadline, stopping, stored, "to store it")
    return report


def _trial(store: Any, namespace: str, name: str) -> Trial:
    try:
        trial: Trial = store.get_trial(namespace, name)
    except NotFoundError:
        raise e.not_found("trials", name) from None
    return trial


def _started(trial: Trial, name: str) -> dict[str, Any] | None:
    ended = _finished(trial)
    if ended is not None:
        raise _conflict(name, f'trial "{name}" has ended ({ended}): its observation log is final')
    running = any(c.type == "Running" and c.status == "True" for c in trial.status.conditions or [])
    record = _record_of(trial)
    if not running or record is None or not record.get("dir"):
        return None  # not started (again) yet: its control plane will start it
    if record.get("host") != HOST:
        raise _conflict(
            name,
            f'trial "{name}" runs under a control plane on {record.get("host")!r}, not on this '
            "server's machine: report to the server on that machine",
        )
    return record


def _wait(
    store: Any,
    namespace: str,
    name: str,
    deadline: float,
    stopping: threading.Event | None,
    ready: Callable[[Trial], dict[str, Any] | None],
    what: str,
) -> dict[str, Any]:
    while True:
        found = ready(_trial(store, namespace, name))
        if found is not None:
            return found
        if time.monotonic() >= deadline or (stopping is not None and stopping.is_set()):
            raise e.ApiError(
                504,
                "Timeout",
                f'timed out waiting for the control plane of trial "{name}" {what}',
                name=name,
                kind="trials",
                group=e.GROUP,
            )
        time.sleep(POLL_SECONDS)


def _append(path: Path, records: list[dict[str, Any]]) -> int:
    """Append the records in one write (reports never interleave); the file's end after it."""
    payload = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        return os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)


__all__ = ["Report", "deliver", "parse_report"]
