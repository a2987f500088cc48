"""Metrics collectors: how one attempt's observations are gathered, live, while it runs.

One collector per attempt of a trial, chosen by ``metricsCollectorSpec.collector.kind``. Every
collector reads files (or an endpoint), never a pipe, so that the trial does not depend on the
control plane staying alive: StdOut tails the attempt's log, File its metrics file, Push and
Custom the attempt's report file (``PYKATIB_METRICS_FILE``), TensorFlowEvent its event folder.
The runner:

1. calls :meth:`Collector.environment` before starting the attempt (extra env vars);
2. calls :meth:`Collector.poll` every :data:`POLL_SECONDS` while the attempt runs (and at once
   when a synchronous Push reporter rings);
3. calls :meth:`Collector.close` once the attempt has exited, for whatever is left;
4. hands :meth:`Collector.position` (JSON: byte offsets and the parser's step counters) to the
   control plane with the observations read up to it, which stores both in one transaction.
   A control plane that adopts the attempt after a crash calls :meth:`Collector.restore` with
   the stored position, so that reading goes on exactly where the stored observations end.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pykatib.api.models import MetricsCollectorSpec
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.parsers import (
    CUSTOM_COLLECTOR,
    FILE_COLLECTOR,
    NONE_COLLECTOR,
    PROMETHEUS_COLLECTOR,
    PUSH_COLLECTOR,
    STDOUT_COLLECTOR,
    TFEVENT_COLLECTOR,
    parser_for,
)
from pykatib.metrics.push import PushRecordParser

POLL_SECONDS = 0.25
READ_BYTES = 1 << 20  # a chatty trial's backlog is parsed a megabyte at a time
DEFAULT_FILE_PATH = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_PATH = "/var/log/katib/tfevent/"


class ResumableParser(Protocol):
    """A line parser whose step counters can be saved and restored (text, JSON, Push)."""

    def feed(self, line: str) -> list[ObservationPoint]: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: Mapping[str, Any]) -> None: ...


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

    polls = False

    def environment(self) -> dict[str, str]:
        return {}

    def poll(self) -> list[ObservationPoint]:
        return []

    def close(self) -> list[ObservationPoint]:
        return self.poll()

    def position(self) -> dict[str, Any]:
        """Where the next :meth:`poll` goes on (JSON)."""
        return {}

    def restore(self, position: Mapping[str, Any]) -> None:
        """Go on from a :meth:`position` of this attempt's collector in an earlier process."""

    @property
    def notes(self) -> list[str]:
        """Warnings about what was read, for the trial's log (one line each)."""
        return []


class FileCollector(Collector):
    """Tails a file of lines (a metrics file, the attempt's log, the Push report file) as the
    trial writes it."""

    polls = True

    def __init__(self, path: Path, parser: ResumableParser) -> None:
        self.path = path
        self._parser = parser
        self._offset = 0  # where the next read starts
        self._partial = b""  # the last line read, still without its newline

    @property
    def offset(self) -> int:
        """The file's offset up to which every line has been parsed."""
        return self._offset - len(self._partial)

    def poll(self, final: bool = False) -> list[ObservationPoint]:
        points: list[ObservationPoint] = []
        # The descriptor read directly: a Python file object costs three more system calls
        # (fstat, isatty, seek), and every attempt's log is read as it ends.
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = -1
        if fd >= 0:
            try:
                while True:
                    chunk = os.pread(fd, READ_BYTES, self._offset)
                    self._offset += len(chunk)
                    if chunk:
                        points += self._feed(self._partial + chunk)
                    if len(chunk) < READ_BYTES:
                        break  # the end, as of now: what is written later is read next time
            finally:
                os.close(fd)
        if final and self._partial:
            points += self._feed(self._partial + b"\n")
        return points

    def _feed(self, data: bytes) -> list[ObservationPoint]:
        # A last line without its newline may still be being written; keep it for later.
        complete, _, self._partial = data.rpartition(b"\n")
        if not complete:
            return []
        feed = self._parser.feed
        points: list[ObservationPoint] = []
        for line in complete.decode("utf-8", "replace").split("\n"):
            if line:
                found = feed(line)
                if found:
                    points += found
        return points

    def close(self) -> list[ObservationPoint]:
        return self.poll(final=True)

    def position(self) -> dict[str, Any]:
        return {"offset": self.offset, "parser": self._parser.state()}

    def restore(self, position: Mapping[str, Any]) -> None:
        self._offset = int(position.get("offset") or 0)
        self._partial = b""
        self._parser.restore(position.get("parser") or {})

    @property
    def notes(self) -> list[str]:
        return list(getattr(self._parser, "notes", []))


class TFEventCollector(Collector):
    """Scalars from TensorFlow event files under a directory (needs the ``tfevent`` extra)."""

    polls = True

    def __init__(self, directory: Path, metric_names: Sequence[str]) -> None:
        from pykatib.metrics.tfevent import TFEventReader

        self._reader = TFEventReader(directory, metric_names)

    def poll(self) -> list[ObservationPoint]:
        return self._reader.poll()

    def position(self) -> dict[str, Any]:
        return self._reader.state()

    def restore(self, position: Mapping[str, Any]) -> None:
        self._reader.restore(dict(position))


class PrometheusCollector(Collector):
    """Scrapes the trial's ``http://127.0.0.1:<port><path>`` while it runs."""

    polls = True

    def __init__(self, url: str, metric_names: Sequence[str]) -> None:
        self.url = url
        self._names = set(metric_names)
        self._steps: dict[str, int] = {}
        self._last: dict[str, str] = {}

    def poll(self) -> list[ObservationPoint]:
        import urllib.error  # here: http.client and ssl cost every run a few ms
        import urllib.request

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

    def position(self) -> dict[str, Any]:
        return {"steps": dict(self._steps), "last": dict(self._last)}

    def restore(self, position: Mapping[str, Any]) -> None:
        self._steps = dict(position.get("steps") or {})
        self._last = dict(position.get("last") or {})


def make_collector(
    spec: MetricsCollectorSpec | None,
    metric_names: Sequence[str],
    local_path: Path | None,
    log_path: Path,
    report_path: Path,
) -> Collector:
    """The collector for one attempt. ``local_path`` is the remapped collector path,
    ``log_path`` the attempt's log, ``report_path`` its Push report file."""
    kind = collector_kind(spec)
    source = spec.source if spec is not None else None
    if kind in (STDOUT_COLLECTOR, FILE_COLLECTOR, PUSH_COLLECTOR):
        parser: Any = parser_for(spec, metric_names)
        path = {STDOUT_COLLECTOR: log_path, PUSH_COLLECTOR: report_path}.get(kind, local_path)
        assert path is not None
        return FileCollector(path, parser)
    if kind == CUSTOM_COLLECTOR:  # the collector beside the trial reports as Push does
        return FileCollector(report_path, PushRecordParser(metric_names))
    if kind == TFEVENT_COLLECTOR:
        assert local_path is not None
        return TFEventCollector(local_path, metric_names)
    if kind == PROMETHEUS_COLLECTOR:
        http = (source.http_get if source else None) or {}
        port = http.get("port", 8080)
        path = http.get("path", "/metrics")
        return PrometheusCollector(f"http://127.0.0.1:{port}{path}", metric_names)
    if kind == NONE_COLLECTOR:
        return Collector()
    raise ValueError(f"pykatib cannot collect metrics with the {kind!r} metrics collector")
