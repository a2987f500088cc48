"""One observed metric value, as Katib's observation log stores it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pykatib.api.metric_rule import parse_value


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


__all__ = ["ObservationPoint", "parse_value"]
