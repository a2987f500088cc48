"""A trial's observation summary: min, max and latest of each metric, as Katib reports them.

Katib's trial controller folds the observation log into ``status.observation.metrics`` (its
``getMetrics``); :class:`MetricSummary` does the same fold one observation at a time, so the
runner can keep it current while the trial runs:

* ``min`` and ``max`` are the reported strings of the smallest and largest values that parse as
  floats; a later equal value does not replace an earlier one;
* ``latest`` is the value with the newest timestamp, whether or not it parses; a tie goes to
  the later report (Katib's ``!timestamp.After(currentTime)``, trial_controller_util.go:232);
  an observation older than the current latest does not replace it;
* a report without a timestamp of its own (``timestamped`` False) counts as Katib's zero time,
  0001-01-01T00:00:00Z, which Katib's collector writes for it (file-metricscollector.go:89 and
  :140): it is never the latest once a timestamped report exists, and among such reports the
  last one is the latest;
* a metric with no observation is ``"unavailable"`` for all three.

Katib folds the log in timestamp order (its database reads it ``ORDER BY time``, mysql.go:134,
postgres.go:146); this folds in report order. The two agree except for which of two equal
min/max values' strings is kept (``"1"`` or ``"1.0"``) when reports arrive out of timestamp
order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from pykatib.api.metric_rule import pick
from pykatib.api.models import UNAVAILABLE_METRIC_VALUE, Metric, MetricStrategyType
from pykatib.metrics.observation import ObservationPoint, parse_value

# Go's time.Time{}: where Katib's collectors put a report that has no timestamp.
KATIB_ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)


class _MetricStats:
    __slots__ = ("count", "latest", "latest_time", "max", "max_float", "min", "min_float")

    def __init__(self) -> None:
        self.min = UNAVAILABLE_METRIC_VALUE
        self.min_float = 0.0
        self.max = UNAVAILABLE_METRIC_VALUE
        self.max_float = 0.0
        self.latest = UNAVAILABLE_METRIC_VALUE
        self.latest_time: datetime | None = None
        self.count = 0


class MetricSummary:
    """Min, max and latest of each reported metric, updated with :meth:`add`."""

    def __init__(self, points: Iterable[ObservationPoint] = ()) -> None:
        self._stats: dict[str, _MetricStats] = {}
        self.add_all(points)

    def add(self, point: ObservationPoint) -> None:
        """Fold one observation in."""
        stats = self._stats.get(point.metric_name)
        if stats is None:
            stats = self._stats[point.metric_name] = _MetricStats()
        stats.count += 1
        value = point.value
        number = parse_value(value)
        if number is not None:
            if stats.min == UNAVAILABLE_METRIC_VALUE:
                stats.min = stats.max = value
                stats.min_float = stats.max_float = number
            elif number < stats.min_float:
                stats.min, stats.min_float = value, number
            elif number > stats.max_float:
                stats.max, stats.max_float = value, number
        timestamp = point.timestamp if point.timestamped else KATIB_ZERO_TIME
        if timestamp.tzinfo is None:  # naive: taken as UTC, so it compares with aware ones
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        if stats.latest_time is None or not stats.latest_time > timestamp:
            stats.latest = value
            stats.latest_time = timestamp

    def add_all(self, points: Iterable[ObservationPoint]) -> None:
        """Fold many observations in, in order."""
        for point in points:
            self.add(point)

    @property
    def metric_names(self) -> list[str]:
        """The metrics observed so far, in the order first seen."""
        return list(self._stats)

    def count(self, name: str) -> int:
        """How many observations of ``name`` were added."""
        stats = self._stats.get(name)
        return 0 if stats is None else stats.count

    def to_metrics(self, names: Sequence[str]) -> list[Metric]:
        """``status.observation.metrics`` for ``names`` (objective first, then additional)."""
        metrics = []
        for name in names:
            stats = self._stats.get(name)
            if stats is None:
                stats = _MetricStats()
            metrics.append(Metric(name=name, min=stats.min, max=stats.max, latest=stats.latest))
        return metrics


def extract_value(
    metrics: Sequence[Metric], name: str, strategy: MetricStrategyType | str
) -> float | None:
    """The value of metric ``name`` that ``strategy`` picks, or None when unavailable.

    Katib's ``getObjectiveMetricValue``: ``min`` and ``max`` fall back to ``latest`` when they
    are unavailable (only non-numeric values were reported). None also when the metric is
    missing or the picked value is not a number.
    """
    strategy = MetricStrategyType(strategy).value
    for metric in metrics:
        if metric.name == name:
            return pick(strategy, metric.latest, metric.min, metric.max)
    return None
