"""One observed metric value, as Katib's observation log stores it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ObservationPoint:
    """A metric value reported by a trial.

    ``value`` is kept as the string the trial reported (Katib stores strings); ``step`` is the
    n-th report of that metric by the trial, counting from 0. ``timestamped`` is False when the
    trial gave no (valid) timestamp and ``timestamp`` is the collector's clock: Katib stores such a
    report at the zero time, 0001-01-01T00:00:00Z (file-metricscollector.go:89 and :140), so it
    is never the latest of a metric that also has timestamped reports (see ``summary``).
    """

    metric_name: str
    value: str
    timestamp: datetime
    step: int = 0
    timestamped: bool = True


def parse_value(value: str) -> float | None:
    """The number a reported value stands for, or None when it is not a plain decimal float.

    Katib keeps values as strings and parses them with Go's ``strconv.ParseFloat``; this accepts
    the same decimal shapes (``-1``, ``.333``, ``888.``, ``1E-5``, ``inf``, ``nan``) and rejects
    what Python's ``float`` allows beyond them (``1_000``, non-ASCII digits).
    """
    if not value.isascii() or "_" in value:
        return None
    try:
        return float(value)
    except ValueError:
        return None
