"""Katib's JSON metrics format: one JSON object per line, metric names as keys.

This is what the File collector with ``format: JSON`` parses, e.g.
``{"loss": "0.22", "acc": "0.93", "timestamp": 1638422847.28721}``. Differences from Katib,
all on the lenient side:

* a metric value may be a JSON number as well as a numeric string, where Katib reads only
  strings (``jsonObj[m].(string)``, file-metricscollector.go:153) and skips numbers, so a trial
  that writes numbers reports nothing on Katib: numbers are counted in ``numeric_values`` and
  the first one leaves a line in ``notes`` for the trial's log;
  strings that are not numbers are skipped and counted in ``rejected_values``;
* a malformed line (not JSON, or not an object) is skipped and counted in ``malformed_lines``,
  where Katib fails the whole collection;
* an epoch ``timestamp`` is read as seconds with a fraction (Katib reads the digits after the
  point as nanoseconds), and a missing or invalid one is the clock's time, not the zero time
  (file-metricscollector.go:140-150); such a report is marked ``timestamped=False`` so that,
  as on Katib, it is never the latest over a timestamped one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pykatib.metrics.observation import ObservationPoint, parse_value
from pykatib.metrics.timestamps import from_epoch, parse_rfc3339, utc_now

TIMESTAMP_KEY = "timestamp"


def json_timestamp(raw: Any) -> datetime | None:
    """A ``timestamp`` field (RFC 3339 string or epoch seconds) as a UTC datetime, else None."""
    if isinstance(raw, str):
        return parse_rfc3339(raw)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return from_epoch(raw)
    return None


def json_value(raw: Any) -> str | None:
    """A metric field as Katib's value string, or None when it is not a number."""
    if isinstance(raw, str):
        return raw.strip() if parse_value(raw.strip()) is not None else None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return repr(raw)
    return None


class JsonMetricsParser:
    """Turns a trial's JSON-lines metrics file into observations, one line at a time.

    Feed every line in the order the trial wrote it; steps count each metric's reports from 0.
    Blank lines are ignored. Check ``malformed_lines`` after the trial to warn the user, and
    write ``notes`` (warnings, one line each) to the trial's log.
    """

    def __init__(
        self,
        metric_names: Sequence[str],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not metric_names:
            raise ValueError("metric_names must name at least one metric")
        self.metric_names: tuple[str, ...] = tuple(dict.fromkeys(metric_names))
        self.malformed_lines = 0
        self.rejected_values = 0
        self.numeric_values = 0
        self.notes: list[str] = []
        self._steps: dict[str, int] = dict.fromkeys(self.metric_names, 0)
        self._clock = clock

    def feed(self, line: str) -> list[ObservationPoint]:
        """The observations in ``line``, in the order of ``metric_names``."""
        if not line or line.isspace():
            return []
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: arrays nested too deep
            self.malformed_lines += 1
            return []
        if not isinstance(record, dict):
            self.malformed_lines += 1
            return []
        timestamp: datetime | None = None
        timestamped = True
        points: list[ObservationPoint] = []
        for name in self.metric_names:
            if name not in record:
                continue
            raw = record[name]
            value = json_value(raw)
            if value is None:
                self.rejected_values += 1
                continue
            if not isinstance(raw, str):
                self._note_number(name, value)
            if timestamp is None:
                timestamp = json_timestamp(record.get(TIMESTAMP_KEY))
                timestamped = timestamp is not None
                if timestamp is None:
                    timestamp = self._clock()
            step = self._steps[name]
            self._steps[name] = step + 1
            points.append(ObservationPoint(name, value, timestamp, step, timestamped))
        return points

    def _note_number(self, name: str, value: str) -> None:
        self.numeric_values += 1
        if self.numeric_values == 1:
            self.notes.append(
                f"warning: metric {name} is the JSON number {value}; pykatib reads it, but "
                f'Katib reads only JSON strings ("{name}": "{value}") and would skip it'
            )

    def feed_lines(self, lines: Iterable[str]) -> list[ObservationPoint]:
        """The observations of many lines, e.g. a whole file read after the trial ended."""
        points: list[ObservationPoint] = []
        for line in lines:
            points.extend(self.feed(line))
        return points

    def state(self) -> dict[str, Any]:
        """What a parser needs to go on where this one is (JSON): steps and counts."""
        counts = (self.malformed_lines, self.rejected_values, self.numeric_values)
        return {"steps": dict(self._steps), "counts": list(counts)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Go on where the parser whose :meth:`state` this is stopped."""
        for name, step in (state.get("steps") or {}).items():
            if name in self._steps and isinstance(step, int):
                self._steps[name] = step
        counts = state.get("counts")
        if isinstance(counts, list) and len(counts) == 3:
            self.malformed_lines, self.rejected_values, self.numeric_values = map(int, counts)
