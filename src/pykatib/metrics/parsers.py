"""Which line parser reads a trial's metrics, by Katib's metrics collector kind.

The trial runner asks :func:`parser_for` once per trial, then feeds the parser every line of
the trial's stdout (StdOut), metrics file (File) or ``PYKATIB_METRICS_FILE`` (Push) while the
trial runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from pykatib.api.models import MetricsCollectorSpec
from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.push import PushRecordParser
from pykatib.metrics.text import TextMetricsParser
from pykatib.metrics.timestamps import utc_now

STDOUT_COLLECTOR = "StdOut"
FILE_COLLECTOR = "File"
TFEVENT_COLLECTOR = "TensorFlowEvent"
PROMETHEUS_COLLECTOR = "PrometheusMetric"
CUSTOM_COLLECTOR = "Custom"
PUSH_COLLECTOR = "Push"
NONE_COLLECTOR = "None"

TEXT_FORMAT = "TEXT"
JSON_FORMAT = "JSON"


class MetricsParser(Protocol):
    """Turns lines a trial wrote into observations; keeps per-metric step counters."""

    def feed(self, line: str) -> list[ObservationPoint]: ...


def parser_for(
    spec: MetricsCollectorSpec | None,
    metric_names: Sequence[str],
    clock: Callable[[], datetime] = utc_now,
) -> MetricsParser | None:
    """The line parser for a trial's ``metricsCollectorSpec`` (default kind: StdOut).

    ``metric_names`` is the objective metric, then the additional ones. None for the kinds that
    read no lines (``None``; ``TensorFlowEvent`` reads event files, see ``tfevent``). Raises
    ValueError for kinds and formats pykatib does not collect.
    """
    collector = spec.collector if spec is not None else None
    source = spec.source if spec is not None else None
    kind = (collector.kind if collector is not None else None) or STDOUT_COLLECTOR
    filters = source.filter.metrics_format if source and source.filter else None
    if kind == STDOUT_COLLECTOR:
        return TextMetricsParser(metric_names, filters, clock)
    if kind == FILE_COLLECTOR:
        path = source.file_system_path if source else None
        file_format = (path.format if path else None) or TEXT_FORMAT
        if file_format == TEXT_FORMAT:
            return TextMetricsParser(metric_names, filters, clock)
        if file_format == JSON_FORMAT:
            return JsonMetricsParser(metric_names, clock)
        raise ValueError(
            f"metrics file format must be {TEXT_FORMAT} or {JSON_FORMAT}, got {file_format!r}"
        )
    if kind == PUSH_COLLECTOR:
        return PushRecordParser(metric_names, clock)
    if kind in (NONE_COLLECTOR, TFEVENT_COLLECTOR):
        return None
    raise ValueError(f"pykatib cannot collect metrics with the {kind!r} metrics collector")
