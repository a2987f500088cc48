"""Metrics collectors: how one trial run's observations are gathered, live, while it runs.

One collector per trial run, chosen by ``metricsCollectorSpec.collector.kind``. The runner:

1. calls :meth:`Collector.environment` before starting the process (extra env vars);
2. gives every output line to :meth:`Collector.feed_line` (only the StdOut collector reads it);
3. calls :meth:`Collector.poll` every :data:`POLL_SECONDS` while the process runs, when
   ``polls`` is true (files, event files, Prometheus endpoints);
4. calls :meth:`Collector.close` once the process has exited, for whatever is left.

Push metrics arrive through a pipe the runner owns (see :mod:`pykatib.runtime.local`), and a
Custom collector is a process the runner starts beside the trial, reporting through that pipe.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from pykatib.api.models import MetricsCollectorSpec
from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.parsers import (
    CUSTOM_COLLECTOR,
    FILE_COLLECTOR,
    JSON_FORMAT,
    NONE_COLLECTOR,
    PROMETHEUS_COLLECTOR,
    PUSH_COLLECTOR,
    STDOUT_COLLECTOR,
    TFEVENT_COLLECTOR,
)
from pykatib.metrics.text import TextMetricsParser

POLL_SECONDS = 0.25
DEFAULT_FILE_PATH = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_PATH = "/var/log/katib/tfevent/"


def collector_kind(spec: MetricsCollectorSpec | None) -> str:
    kind = spec.collector.kind if spec is not None and spec.collector is not None else None
    return kind or STDOUT_COLLECTOR


def collector_path(spec: MetricsCollectorSpec | None) -> str | None:
    """The container path a File, TensorFlowEvent or Custom collector reads (Katib's defaults)."""
    kind = collector_kind(spec)
    fsp = spec.source.file_system_path if spec and spec.source else None
    if kind == FILE_COLLECTOR:
        return (fsp.path if fsp else None) or DEFAULT_FILE_PATH
    if kind == TFEVENT_COLLECTOR:
        return (fsp.path if fsp else None) or DEFAULT_TFEVENT_PATH
    if kind == CUSTOM_COLLECTOR:
        return fsp.path if fsp else None
    return None


class Collector:
    """Gathers nothing; the base of the collectors below (and the ``None`` kind)."""

    reads_output = False
    polls = False

    def environment(self) -> dict[str, str]:
        return {}

    def feed_line(self, line: str) -> list[ObservationPoint]:
        return []

    def poll(self) -> list[ObservationPoint]:
        return []

    def close(self) -> list[ObservationPoint]:
        return self.poll()

    @property
    def notes(self) -> list[str]:
        """Warnings about what was read, for the trial's log (one line each)."""
        return []


class StdOutCollector(Collector):
    """Katib's default: ``name=value`` lines in the trial's stdout and stderr."""

    reads_output = True

    def __init__(self, metric_names: Sequence[str], filters: Sequence[str] | None) -> None:
        self._parser = TextMetricsParser(metric_names, filters)
        self.feed_line = self._parser.feed  # type: ignore[method-assign]


class FileCollector(Collector):
    """Tails a metrics file (TEXT lines like StdOut's, or JSON lines) as the trial writes it."""

    polls = True

    def __init__(
        self, path: Path, metric_names: Sequence[str], filters: Sequence[str] | None, fmt: str
    ) -> None:
        self.path = path
        self._parser = (
            JsonMetricsParser(metric_names)
            if fmt == JSON_FORMAT
            else TextMetricsParser(metric_names, filters)
        )
        self._offset = 0
        self._partial = b""
        path.parent.mkdir(parents=True, exist_ok=True)

    def poll(self, final: bool = False) -> list[ObservationPoint]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        # A last line without its newline may still be being written; keep it for later.
        self._partial = b"" if final else lines.pop()
        points: list[ObservationPoint] = []
        for raw in lines:
            if raw:
                points += self._parser.feed(raw.decode("utf-8", "replace"))
        return points

    def close(self) -> list[ObservationPoint]:
        return self.poll(final=True)

    @property
    def notes(self) -> list[str]:
        return list(getattr(self._parser, "notes", []))


class TFEventCollector(Collector):
    """Scalars from TensorFlow event files under a directory (needs the ``tfevent`` extra)."""

    polls = True

    def __init__(self, directory: Path, metric_names: Sequence[str]) -> None:
        from pykatib.metrics.tfevent import TFEventReader

        directory.mkdir(parents=True, exist_ok=True)
        self._reader = TFEventReader(directory, metric_names)

    def poll(self) -> list[ObservationPoint]:
        return self._reader.poll()


class PrometheusCollector(Collector):
    """Scrapes the trial's ``http://127.0.0.1:<port><path>`` while it runs."""

    polls = True

    def __init__(self, url: str, metric_names: Sequence[str]) -> None:
        self.url = url
        self._names = set(metric_names)
        self._steps: dict[str, int] = {}
        self._last: dict[str, str] = {}

    def poll(self) -> list[ObservationPoint]:
        from prometheus_client.parser import text_string_to_metric_families

        from pykatib.metrics.timestamps import utc_now

        try:
            with urllib.request.urlopen(self.url, timeout=1.0) as response:
                text = response.read().decode("utf-8", "replace")
        except (OSError, urllib.error.URLError):
            return []  # not listening yet, or already gone
        points = []
        now = utc_now()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name not in self._names:
                    continue
                value = repr(float(sample.value))
                # A gauge scraped twice unchanged is one observation, not two.
                if self._last.get(sample.name) == value:
                    continue
                self._last[sample.name] = value
                step = self._steps.get(sample.name, 0)
                self._steps[sample.name] = step + 1
                points.append(ObservationPoint(sample.name, value, now, step))
        return points

    def close(self) -> list[ObservationPoint]:
        return []  # the endpoint went away with the process


def make_collector(
    spec: MetricsCollectorSpec | None,
    metric_names: Sequence[str],
    local_path: Path | None,
) -> Collector:
    """The collector for one trial run. ``local_path`` is the remapped collector path."""
    kind = collector_kind(spec)
    source = spec.source if spec is not None else None
    filters = source.filter.metrics_format if source and source.filter else None
    if kind == STDOUT_COLLECTOR:
        return StdOutCollector(metric_names, filters)
    if kind == FILE_COLLECTOR:
        assert local_path is not None
        fsp = source.file_system_path if source else None
        return FileCollector(
            local_path, metric_names, filters, (fsp.format if fsp else None) or "TEXT"
        )
    if kind == TFEVENT_COLLECTOR:
        assert local_path is not None
        return TFEventCollector(local_path, metric_names)
    if kind == PROMETHEUS_COLLECTOR:
        http = (source.http_get if source else None) or {}
        port = http.get("port", 8080)
        path = http.get("path", "/metrics")
        return PrometheusCollector(f"http://127.0.0.1:{port}{path}", metric_names)
    if kind in (PUSH_COLLECTOR, CUSTOM_COLLECTOR, NONE_COLLECTOR):
        return Collector()  # Push and Custom report through the runner's pipe
    raise ValueError(f"pykatib cannot collect metrics with the {kind!r} metrics collector")
