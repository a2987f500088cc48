"""Metrics collection: parse what trials report, and summarize it as Katib does."""

from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.observation import ObservationPoint, parse_value
from pykatib.metrics.parsers import MetricsParser, parser_for
from pykatib.metrics.push import METRICS_FILE_ENV, PushRecordParser, report_metrics
from pykatib.metrics.summary import MetricSummary, extract_value
from pykatib.metrics.text import DEFAULT_METRICS_FORMAT, TextMetricsParser
from pykatib.metrics.tfevent import TFEventReader, read_event_files

__all__ = [
    "DEFAULT_METRICS_FORMAT",
    "METRICS_FILE_ENV",
    "JsonMetricsParser",
    "MetricSummary",
    "MetricsParser",
    "ObservationPoint",
    "PushRecordParser",
    "TFEventReader",
    "TextMetricsParser",
    "extract_value",
    "parse_value",
    "parser_for",
    "read_event_files",
    "report_metrics",
]
