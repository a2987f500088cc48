"""The Push collector: the trial reports its metrics itself with :func:`report_metrics`.

In Katib, ``report_metrics`` sends the metrics to the DB manager over gRPC. In pykatib the trial
runner gives each attempt of a trial a file in ``PYKATIB_METRICS_FILE``; ``report_metrics``
appends one JSON line per metric to it (one write per report) and the runner tails it with
:class:`PushRecordParser`::

    {"metric": "loss", "value": "0.12", "timestamp": "2024-03-04T17:55:08.123456Z", "step": 3}

A file, not a pipe, so that a trial neither dies nor blocks when the control plane does, and a
control plane that adopts the trial reads on from where the store says the last one stopped.

Where no report file is given but ``PYKATIB_SERVER`` is (a trial whose work runs on a machine
other than its control plane's), ``report_metrics`` sends the report to that ``pykatib server``
instead (:mod:`pykatib.metrics.remote_report`), which appends it to the same file.

Synchronous reports (early stopping on: ``PYKATIB_METRICS_ACK`` is set): after writing, the
reporter rings the runner's doorbell (the FIFO in ``PYKATIB_METRICS_BELL``, if a runner holds it
open) and waits until the ack file holds an offset at or past the end of its report: the control
plane has looked at it, and had the chance to stop the trial early, as Katib's synchronous push
allows. With the control plane gone it gives up after :data:`ACK_WAIT_SECONDS` and waits no more
until acknowledgements come again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from numbers import Integral
from typing import Any

from pykatib.metrics.observation import ObservationPoint, parse_value
from pykatib.metrics.timestamps import format_rfc3339, from_epoch, parse_rfc3339, utc_now

METRICS_FILE_ENV = "PYKATIB_METRICS_FILE"
ACK_FILE_ENV = "PYKATIB_METRICS_ACK"
BELL_ENV = "PYKATIB_METRICS_BELL"
SERVER_ENV = "PYKATIB_SERVER"
ACK_POLL_SECONDS = 0.002
ACK_WAIT_SECONDS = 600.0

# Next automatic step per (metrics file, metric): the reports of this process so far.
_next_steps: dict[tuple[str, str], int] = {}


def metric_value(name: Any, value: Any) -> str:
    """``value`` as the string Katib stores, or ValueError naming the metric."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"Invalid metric name {name!r}: metric names must be non-empty strings")
    if isinstance(value, str):
        text = value.strip()
        if parse_value(text) is not None:
            return text
    elif not isinstance(value, bool):  # float(True) works, but "True" is no metric value
        if isinstance(value, Integral):
            return str(int(value))
        if not isinstance(value, float):
            text = str(value)  # Katib's str(value): numpy.float32(0.1) is "0.1", not its float
            if parse_value(text) is not None:
                return text
        try:
            return repr(float(value))  # float, Fraction, 1-element tensor ("tensor(0.1000)"), ...
        except (TypeError, ValueError, OverflowError):
            pass
    raise ValueError(
        f"Invalid value {value!r} for metric {name!r}: "
        "the metrics value should be a number or convertible to type float"
    )


def report_metrics(
    metrics: Mapping[str, Any],
    step: int | None = None,
    timestamp: datetime | float | None = None,
) -> None:
    """Report ``metrics`` (e.g. ``{"loss": 0.01, "accuracy": 0.99}``) of the running trial.

    ``step`` numbers the report (default: one more than this process's last report of each
    metric, from 0); ``timestamp`` is a datetime (naive means local time) or epoch seconds
    (default: now). All metrics are validated before any is written.

    Inside a local trial the report goes to its report file (``PYKATIB_METRICS_FILE``); else,
    with ``PYKATIB_SERVER`` set, to that server (``PYKATIB_TOKEN``, ``KATIB_TRIAL_NAME`` and
    ``PYKATIB_TRIAL_NAMESPACE`` say as whom and for which trial), returning once it is stored.
    Without ``step`` the server numbers the reports of each metric of the trial's attempt.

    Raises:
        ValueError: a metric name is empty or a value cannot be converted to float.
        RuntimeError: not running inside a pykatib trial with the Push metrics collector (and
            no server to report to), or the server refused the report or can't be reached.
    """
    values = {name: metric_value(name, value) for name, value in metrics.items()}
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"Invalid step {step!r}: it should be a non-negative integer")
    path = os.environ.get(METRICS_FILE_ENV)
    server = os.environ.get(SERVER_ENV)
    if not path and not server:
        raise RuntimeError(
            "report_metrics must run inside a pykatib trial whose experiment uses the Push "
            f"metrics collector (metricsCollectorSpec.collector.kind: Push); {METRICS_FILE_ENV} "
            f"is not set (nor {SERVER_ENV}, a server to report to)"
        )
    if timestamp is None:
        moment = utc_now()
    elif isinstance(timestamp, datetime):
        moment = timestamp
    else:
        converted = from_epoch(timestamp)
        if converted is None:
            raise ValueError(f"Invalid timestamp {timestamp!r}: out of range epoch seconds")
        moment = converted
    stamp = format_rfc3339(moment)
    if not path:
        from pykatib.metrics.remote_report import send

        send(str(server), values, stamp, step)
        return
    lines = []
    for name, value in values.items():
        key = (path, name)
        n = _next_steps.get(key, 0) if step is None else step
        _next_steps[key] = n + 1
        record = {"metric": name, "value": value, "timestamp": stamp, "step": n}
        lines.append(json.dumps(record) + "\n")
    # One write per report, so that reports of concurrent processes do not interleave lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _write_all(fd, "".join(lines).encode("utf-8"))
        end = os.lseek(fd, 0, os.SEEK_CUR)  # the end of this report, whoever else appends
    finally:
        os.close(fd)
    ack = os.environ.get(ACK_FILE_ENV)
    if ack:
        ring_bell(os.environ.get(BELL_ENV))
        _wait_for_ack(ack, end)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def ring_bell(bell: str | None) -> None:
    """Wake the runner (if one holds the FIFO open: else the open fails at once)."""
    if not bell:
        return
    try:
        fd = os.open(bell, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, b"!")
    except OSError:
        pass  # full: the runner has yet to read the last rings, so it will look anyway
    finally:
        os.close(fd)


def _acked(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return 0


# Set when a wait gave up (no control plane): later reports wait only once acks catch up again.
_unacked_since: int | None = None


def _wait_for_ack(path: str, end: int) -> None:
    global _unacked_since
    if _unacked_since is not None:
        if _acked(path) < _unacked_since:
            return
        _unacked_since = None
    give_up = time.monotonic() + ACK_WAIT_SECONDS
    while _acked(path) < end:
        if time.monotonic() >= give_up:
            _unacked_since = end
            return
        time.sleep(ACK_POLL_SECONDS)  # in the trial: the control plane writes the ack file


class PushRecordParser:
    """Runner side: turns the lines of a ``PYKATIB_METRICS_FILE`` into observations.

    Keeps the metrics in ``metric_names`` (all when None). A record without a valid step gets
    the metric's report count; without a valid timestamp, the clock's time. Malformed lines
    (not JSON, no metric name, a value that is not a number) are skipped and counted in
    ``malformed_lines``.
    """

    def __init__(
        self,
        metric_names: Sequence[str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.metric_names = None if metric_names is None else frozenset(metric_names)
        self.malformed_lines = 0
        self._counts: dict[str, int] = {}
        self._clock = clock

    def feed(self, line: str) -> list[ObservationPoint]:
        """The observation of one line: a list of zero or one."""
        if not line or line.isspace():
            return []
        try:
            record = json.loads(line)
            name = record["metric"]
            value = record["value"]
        except (ValueError, TypeError, KeyError, RecursionError):  # Recursion: nested too deep
            self.malformed_lines += 1
            return []
        if not isinstance(name, str) or not isinstance(value, str) or parse_value(value) is None:
            self.malformed_lines += 1
            return []
        if self.metric_names is not None and name not in self.metric_names:
            return []
        count = self._counts.get(name, 0)
        self._counts[name] = count + 1
        step = record.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            step = count
        raw_time = record.get("timestamp")
        timestamp = parse_rfc3339(raw_time) if isinstance(raw_time, str) else None
        return [ObservationPoint(name, value, timestamp or self._clock(), step)]

    def state(self) -> dict[str, Any]:
        """What a parser needs to go on where this one is (JSON): counts per metric."""
        return {"steps": dict(self._counts), "malformed": self.malformed_lines}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Go on where the parser whose :meth:`state` this is stopped."""
        for name, count in (state.get("steps") or {}).items():
            if isinstance(count, int):
                self._counts[str(name)] = count
        self.malformed_lines = int(state.get("malformed") or 0)

    def feed_lines(self, lines: Iterable[str]) -> list[ObservationPoint]:
        """The observations of many lines."""
        points: list[ObservationPoint] = []
        for line in lines:
            points.extend(self.feed(line))
        return points
