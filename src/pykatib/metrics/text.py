"""Katib's TEXT metrics format: ``name=value`` pairs that regular expressions find in log lines.

This is what the StdOut collector and the File collector with ``format: TEXT`` parse. The rules
follow Katib's file-metricscollector:

* a line that mentions none of the metric names is skipped before any regular expression runs
  (file-metricscollector.go:77-87);
* when the text before the first space is an RFC 3339 timestamp, every metric of the line gets
  that timestamp; otherwise the clock's time when the line is fed, marked ``timestamped=False``
  because Katib writes the zero time (file-metricscollector.go:89-99), so that such a report is
  never the latest over a timestamped one;
* each filter (``metricsCollectorSpec.source.filter.metricsFormat``; default
  :data:`DEFAULT_METRICS_FORMAT`) is applied with find-all; its first group is the metric name
  and its second the value, both stripped of spaces (file-metricscollector.go:101-123);
* only names in ``metric_names`` are kept, and only values that parse as a float (so
  ``loss=`` and ``loss=abc`` report nothing, where Katib would store an unusable string).

Filters are RE2, the syntax and semantics of Go's regexp that Katib compiles them with
(file-metricscollector.go:248): ``\\p{L}`` works; look-around and backreferences do not.
``\\w``, ``\\d`` and ``\\s`` match ASCII only. The default filter runs on Python's ``re``
instead, as a twin that finds exactly what RE2 finds, because it is the hot path and RE2's
Python binding costs about ten times more per line; it is tried only where a run of name
characters starts, so that it takes linear time on any line, as RE2 does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import re2  # type: ignore[import-untyped]

from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.timestamps import parse_rfc3339, utc_now

# Katib's common.DefaultFilter (pkg/metricscollector/v1beta1/common/const.go:47).
DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
# Its twin for Python's re: RE2's \s is [\t\n\f\r ], Python's also matches \v. The rest (ASCII
# \w and \d, greedy leftmost-first matching, no empty match) finds the same in both engines.
_DEFAULT_FILTER = re.compile(DEFAULT_METRICS_FORMAT.replace(r"\s", r"[\t\n\f\r ]"), re.ASCII)

_RE2_SYNTAX = (
    "metrics filters use RE2 syntax, as Katib's Go regexp does: look-ahead and look-behind "
    "((?=, (?!, (?<=, (?<!), backreferences (\\1, (?P=name)), atomic groups, possessive "
    "quantifiers and \\Z are not supported"
)

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised; RE2 need not also print it to stderr

_EQUALS_NEXT = re.compile(r"\s*=", re.ASCII).match
_NAME_RUN = re.compile(r"[\w|-]+", re.ASCII).search
_DEFAULT_MATCH = _DEFAULT_FILTER.match


def _find_default(line: str, start: int = 0) -> list[tuple[str, str]]:
    """``_DEFAULT_FILTER.findall(line, start)``'s (name, value) pairs, in linear time.

    findall would try a match at every character of a run of name characters that no ``=``
    follows, reading the rest of the run each time: quadratic, hours for a 1 MB line of base64.
    A match that starts inside such a run fails as the one at its start does, so only the run's
    start is tried; each character is then read a bounded number of times.
    """
    found: list[tuple[str, str]] = []
    pos = start
    while (run := _NAME_RUN(line, pos)) is not None:
        match = _DEFAULT_MATCH(line, run.start())
        if match is None:
            pos = run.end()
            continue
        found.append((match[1], match[2]))
        pos = match.end()
    return found


_Finder = Callable[[str, int], Sequence[Sequence[str]]]


def compile_re2(pattern: str) -> Any:
    """``pattern`` compiled by RE2, as Go's ``regexp.Compile`` compiles it, for UTF-8 bytes.

    Raises ValueError saying what RE2 rejected and that RE2 syntax is required.
    """
    try:
        return re2.compile(pattern.encode("utf-8", "surrogatepass"), options=_RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression ({reason}); {_RE2_SYNTAX}") from None


def compile_filter(metrics_format: str) -> Any:
    """A ``metricsFormat`` regular expression compiled by RE2, checked as Katib's webhook does.

    Raises ValueError when it does not compile or has fewer than two groups.
    """
    try:
        pattern = compile_re2(metrics_format)
    except ValueError as exc:
        raise ValueError(f"invalid metrics format {metrics_format!r}: {exc}") from None
    if pattern.groups < 2:
        raise ValueError(
            f"invalid metrics format {metrics_format!r}: it needs two groups, "
            "the first for the metric name and the second for its value"
        )
    return pattern


def _finder(metrics_format: str) -> _Finder:
    """``find(line, start)``: Go's ``FindAllStringSubmatch``, as (name, value, ...) per match."""
    if metrics_format == DEFAULT_METRICS_FORMAT:
        return _find_default
    finditer = compile_filter(metrics_format).finditer

    def find(line: str, start: int = 0) -> list[tuple[str, str]]:
        # ``start`` skips a timestamp for the default filter only; this scans the whole line.
        # RE2 matches UTF-8 bytes, as Go does; Go's "" for a group that took no part is None here.
        found = []
        for match in finditer(line.encode("utf-8", "replace")):
            name, value = match.group(1, 2)
            found.append((name.decode() if name else "", value.decode() if value else ""))
        return found

    return find


class TextMetricsParser:
    """Turns a trial's log lines into observations, one line at a time.

    Feed every line in the order the trial wrote it (with or without its newline): steps count
    each metric's reports from 0, so a parser belongs to one trial and one log.
    """

    __slots__ = (
        "_clock",
        "_default_format",
        "_finders",
        "_last_prefix",
        "_last_time",
        "_mentions",
        "_steps",
        "filters",
        "metric_names",
    )

    def __init__(
        self,
        metric_names: Sequence[str],
        filters: Sequence[str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not metric_names or not all(metric_names):
            raise ValueError("metric_names must name at least one metric, and no empty name")
        self.metric_names: tuple[str, ...] = tuple(metric_names)
        self.filters: tuple[str, ...] = tuple(filters) if filters else (DEFAULT_METRICS_FORMAT,)
        self._finders = tuple(_finder(f) for f in self.filters)
        self._steps: dict[str, int] = dict.fromkeys(self.metric_names, 0)
        # One C-level scan for "does the line mention any metric?" (longest name first).
        names = sorted(set(self.metric_names), key=len, reverse=True)
        self._mentions = re.compile("|".join(map(re.escape, names))).search
        self._default_format = all(f == DEFAULT_METRICS_FORMAT for f in self.filters)
        self._clock = clock
        self._last_prefix: str | None = None
        self._last_time: datetime | None = None

    def feed(self, line: str) -> list[ObservationPoint]:
        """The observations in ``line``, in the order they appear (filter by filter)."""
        if self._default_format and "=" not in line:
            return []
        if self._mentions(line) is None:
            return []
        timestamp = None
        start = 0
        if line[:1].isdigit():
            timestamp = self._line_timestamp(line)
            # The default format cannot match inside a timestamp unless "=" follows it, so its
            # scan starts after it: the timestamp's digit runs are the regex's slowest input.
            if timestamp is not None and self._default_format:
                start = len(self._last_prefix)  # type: ignore[arg-type]
                if _EQUALS_NEXT(line, start) is not None:
                    start = 0
        timestamped = timestamp is not None
        steps = self._steps
        points: list[ObservationPoint] = []
        for find in self._finders:
            for groups in find(line, start):
                name = groups[0].strip()
                step = steps.get(name)
                if step is None:
                    continue
                value = groups[1].strip()
                # parse_value, inlined: this loop is the collector's hot path.
                if "_" in value or not value.isascii():
                    continue
                try:
                    float(value)
                except ValueError:
                    continue
                if timestamp is None:
                    timestamp = self._clock()
                steps[name] = step + 1
                points.append(ObservationPoint(name, value, timestamp, step, timestamped))
        return points

    def feed_lines(self, lines: Iterable[str]) -> list[ObservationPoint]:
        """The observations of many lines, e.g. a whole log file read after the trial ended."""
        points: list[ObservationPoint] = []
        for line in lines:
            points.extend(self.feed(line))
        return points

    def state(self) -> dict[str, Any]:
        """What a parser needs to go on where this one is (JSON): each metric's next step."""
        return {"steps": dict(self._steps)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Go on where the parser whose :meth:`state` this is stopped."""
        for name, step in (state.get("steps") or {}).items():
            if name in self._steps and isinstance(step, int):
                self._steps[name] = step

    def _line_timestamp(self, line: str) -> datetime | None:
        # Katib: the text before the first space, when it parses as RFC 3339. Lines of one log
        # often share a second, so the last parsed token is remembered.
        last = self._last_prefix
        if last is not None and line.startswith(last):
            return self._last_time
        end = line.find(" ")
        if end < 0:
            return None
        self._last_prefix = line[: end + 1]
        self._last_time = parse_rfc3339(line[:end])
        return self._last_time
