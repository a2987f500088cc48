"""Metrics collection: parse what trials report, and summarize it as Katib does."""

from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.observation import ObservationPoint, parse_value
from pykatib.metrics.parsers import MetricsParser, parser_for
from pykatib.metrics.push import METRICS_FILE_ENV, PushRecordParser, report_metrics
from pykatib.metrics.summary import MetricSummary, extract_value
from pykatib.metrics.text import DEFAULT_METRICS_FORMAT, TextMetricsParser

__all__ = [
    "DEFAULT_METRICS_FORMAT",
    "METRICS_FILE_ENV",
    "JsonMetricsParser",
    "MetricSummary",
    "MetricsParser",
    "ObservationPoint",
    "PushRecordParser",
    "TextMetricsParser",
    "extract_value",
    "parse_value",
    "parser_for",
    "report_metrics",
]
