"""A trial's observation log as Katib's DB manager returns it (``GetObservationLog``)."""

from __future__ import annotations

from pykatib.api.models import KatibModel
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.timestamps import format_rfc3339


class MetricValue(KatibModel):
    name: str
    value: str


class MetricLog(KatibModel):
    """One report: ``time_stamp`` (RFC 3339) and ``metric`` (``name``, ``value`` as a string).

    ``to_dict()`` gives the DB manager's JSON, ``{"timeStamp": ..., "metric": {...}}``.
    """

    time_stamp: str
    metric: MetricValue

    @classmethod
    def of(cls, point: ObservationPoint) -> MetricLog:
        return cls(
            time_stamp=format_rfc3339(point.timestamp),
            metric=MetricValue(name=point.metric_name, value=point.value),
        )
