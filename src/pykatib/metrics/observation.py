"""One observed metric value, as Katib's observation log stores it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ObservationPoint:
    """A metric value reported by a trial.

    ``value`` is kept as the string the trial reported (Katib stores strings); ``step`` is the
    n-th report of that metric by the trial, counting from 0.
    """

    metric_name: str
    value: str
    timestamp: datetime
    step: int = 0
