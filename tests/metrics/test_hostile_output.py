"""Hostile trial output: whatever a trial writes, the metric parsers give observations or nothing.

The contract checked here, for the TEXT (default and custom RE2 filters), JSON lines and Push
record parsers: ``feed`` never raises, and every observation it returns names a wanted metric,
holds a value that parses as a number, and counts its steps from 0. Enormous lines are parsed
in linear time by construction (see ``text._find_default``; RE2 and ``json`` are linear); the
tests below feed 1 MB lines that took hours before, and assert no time, only results.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.observation import ObservationPoint, parse_value
from pykatib.metrics.push import PushRecordParser
from pykatib.metrics.text import (
    DEFAULT_METRICS_FORMAT,
    TextMetricsParser,
    _find_default,
    compile_filter,
)

CLOCK_TIME = datetime(2030, 1, 1, tzinfo=timezone.utc)
NAMES = ["loss", "acc", "val-loss"]
MB = 1_000_000
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def clock() -> datetime:
    return CLOCK_TIME


def parsers() -> list[Any]:
    """One fresh parser of each kind (and of each kind of TEXT filter)."""
    return [
        TextMetricsParser(NAMES, clock=clock),
        TextMetricsParser(NAMES, [r"([\w|-]+)\s*[=:]\s*(\S+)"], clock=clock),
        TextMetricsParser(NAMES, [r"{metricName: (\w+), metricValue: ((-?\d+)(\.\d+)?)}"], clock),
        JsonMetricsParser(NAMES, clock=clock),
        PushRecordParser(NAMES, clock=clock),
        PushRecordParser(None, clock=clock),  # Push keeps every metric when none are named
    ]


def feed_all(lines: list[str]) -> list[list[ObservationPoint]]:
    """Each parser's observations of ``lines``, checked against the contract."""
    results = []
    for parser in parsers():
        points = parser.feed_lines(lines)
        steps: dict[str, int] = {}
        for p in points:
            assert isinstance(p, ObservationPoint)
            if not isinstance(parser, PushRecordParser) or parser.metric_names is not None:
                assert p.metric_name in NAMES
            assert parse_value(p.value) is not None, p
            if not isinstance(parser, PushRecordParser):  # Push takes the trial's own steps
                assert p.step == steps.get(p.metric_name, 0)
                steps[p.metric_name] = p.step + 1
            assert p.step >= 0 and p.timestamp.tzinfo is not None
        results.append(points)
    return results


# --- any line -------------------------------------------------------------------------------

# What metric lines are made of, and what breaks them.
# fmt: off
_TOKENS = [
    "loss", "acc", "val-loss", "=", "==", ":", " ", "\t", "\v", "\r", "\x00", "0", "1", "-", "+",
    ".", "e", "E", "1e999", "-1e-999", "nan", "NaN", "inf", "-Infinity", "0x1F", "1_000", "١",
    "|", "_", "é", "\ufffd", "\udc80", "{", "}", "[", "]", '"', ",", "metric", "value", "step",
    "timestamp", "2024-03-04T17:55:08Z", "2024-02-30T25:61:61+24:00", "null", "true",
]
# fmt: on
_LINES = st.one_of(
    st.text(),
    st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join),
)


@SETTINGS
@given(st.lists(_LINES, max_size=5))
def test_any_lines(lines: list[str]) -> None:
    feed_all(lines)


@SETTINGS
@given(st.binary(max_size=200))
@pytest.mark.reliability(
    kind='bad input',
    what='arbitrary bytes (invalid UTF-8, NUL) as trial output',
    load='hypothesis examples, 6 parsers',
    lost='nothing; observations or none, never an exception',
)
def test_any_bytes_as_the_collector_decodes_them(data: bytes) -> None:
    feed_all(data.decode("utf-8", "replace").split("\n"))
    feed_all(data.decode("utf-8", "surrogateescape").split("\n"))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(NAMES + ["1e999", "nan", "-inf", "0.5", " 1 ", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
_RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "metric": _JSON | st.sampled_from(NAMES),
        "value": _JSON,
        "step": _JSON,
        "timestamp": _JSON | st.sampled_from(["2024-03-04T17:55:08Z", "9999-99-99T99:99:99Z"]),
        "loss": _JSON,
        "acc": _JSON,
    },
)


@SETTINGS
@given(st.lists(_JSON | _RECORDS, max_size=4))
def test_any_json_lines(values: list[Any]) -> None:
    feed_all([json.dumps(v) for v in values])  # NaN and Infinity too, as Python writes them


@SETTINGS
@given(_RECORDS, st.data())
def test_truncated_json_lines(record: dict[str, Any], data: st.DataObject) -> None:
    line = json.dumps(record)
    cut = data.draw(st.integers(min_value=0, max_value=len(line)))
    feed_all([line[:cut], line[cut:]])


# --- the default filter: linear, and still what RE2 finds -------------------------------------

_FILTER_CHARS = st.sampled_from(list("aZ_|-=  \t\v\n\r01.eE+é:"))


@settings(max_examples=500, deadline=None)
@given(st.lists(_FILTER_CHARS, max_size=40).map("".join), st.integers(min_value=0, max_value=5))
def test_default_filter_scanner_finds_what_re2_finds(line: str, start: int) -> None:
    re2_filter = compile_filter(DEFAULT_METRICS_FORMAT)
    # RE2 matches UTF-8 bytes: compare from a start that is a character boundary.
    start = min(start, len(line))
    offset = len(line[:start].encode())
    expected = [
        tuple(g.decode() if g else "" for g in m.group(1, 2))
        for m in re2_filter.finditer(line.encode(), offset)
    ]
    assert _find_default(line, start) == expected


# --- enormous lines -------------------------------------------------------------------------


# Each with the number of observations the default filter finds in it.
ENORMOUS_TEXT = {
    "equals": ("=" * MB, 0),
    "equals-after": ("loss=1 " + "=" * MB, 1),
    "word-run": ("loss=1 " + "a" * MB, 1),  # a run of name characters: quadratic for findall
    "dash-run": ("loss=1 " + "-" * MB, 1),
    "many-runs": ("loss=1 " + "a b " * (MB // 4), 1),
    "digits-timestamp": ("1" * MB + " loss=1", 1),  # a "timestamp" that is not one
    "long-value": ("loss=" + "1" * MB, 1),
    "dotted-value": ("loss=" + ".1" * (MB // 2), 1),
    "long-name": ("l" * MB + "=1 loss=2", 1),  # a very long metric name
    "nul-separated": ("loss=1\x00" * (MB // 7), MB // 7),
    "nul": ("\x00" * MB, 0),
    "replacement-chars": (
        "\ufffd" * MB + "loss=1",
        1,
    ),  # invalid UTF-8, as the collector decodes it
}


@pytest.mark.parametrize(("line", "text_points"), ENORMOUS_TEXT.values(), ids=ENORMOUS_TEXT)
@pytest.mark.reliability(
    kind='bad input',
    what='1 MB text lines (of =, of letters, of digits, NUL-separated)',
    load='12 lines of 1 MB',
    lost='nothing; the expected observations, parsed in linear time',
)
def test_enormous_text_lines(line: str, text_points: int) -> None:
    default, *_ = feed_all([line])
    assert len(default) == text_points


ENORMOUS_JSON = {
    "open-arrays": "[" * MB,
    "nested-arrays": "[" * (MB // 2) + "]" * (MB // 2),
    "nested-objects": '{"loss":' * (MB // 8) + "1" + "}" * (MB // 8),
    "nested-step": '{"metric": "loss", "value": "1", "step": ' + "[" * 10**5 + "]" * 10**5 + "}",
    "long-value": '{"loss": "' + "9" * MB + '"}',
    "huge-integer": '{"loss": ' + "9" * 5_000 + "}",  # beyond Python's 4300 digits for int()
    "long-metric-name": '{"metric": "' + "m" * MB + '", "value": "1"}',
    "huge-epoch": '{"loss": "1", "timestamp": ' + "9" * 400 + "}",
    "long-timestamp": '{"loss": "1", "timestamp": "' + "2" * MB + '"}',
    "a-string": '"' + "a" * MB + '"',
    "truncated": '{"loss": "0.1"' + " " * MB,
}


@pytest.mark.parametrize("line", ENORMOUS_JSON.values(), ids=ENORMOUS_JSON)
@pytest.mark.reliability(
    kind='bad input',
    what='1 MB JSON lines, 500k nested arrays, truncated JSON',
    load='11 lines of 1 MB',
    lost='nothing; counted as malformed, no RecursionError',
)
def test_enormous_json_lines(line: str) -> None:
    feed_all([line])


# --- values at the edges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("loss=1e999", [("loss", "1e999")]),  # inf, as Go's ParseFloat reads it (with ErrRange)
        ("loss=-1e-999", [("loss", "-1e-999")]),  # -0
        ("loss=nan acc=-inf", []),  # the default filter's value is digits only
        ("loss=0x1F", [("loss", "0")]),
        ("loss=1_000", [("loss", "1")]),
        ("loss=١", []),
    ],
)
def test_text_values_at_the_edges(line: str, found: list[tuple[str, str]]) -> None:
    points = TextMetricsParser(NAMES, clock=clock).feed(line)
    assert [(p.metric_name, p.value) for p in points] == found


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ('"1e999"', "1e999"),
        ('"nan"', "nan"),
        ('"-Inf"', "-Inf"),
        ("1e999", "inf"),  # a JSON number beyond float: Python reads infinity
        ("NaN", "nan"),
        ("-Infinity", "-inf"),
        ('"0x1F"', None),
        ('"1_000"', None),
        ('"١"', None),
        ("[1]", None),
        ('{"a": 1}', None),
        ("true", None),
        ("null", None),
    ],
)
def test_json_values_at_the_edges(value: str, kept: str | None) -> None:
    json_points = JsonMetricsParser(["loss"], clock=clock).feed(f'{{"loss": {value}}}')
    push_points = PushRecordParser(["loss"], clock=clock).feed(
        f'{{"metric": "loss", "value": {value}}}'
    )
    assert [p.value for p in json_points] == ([kept] if kept else [])
    # Push records hold strings only (report_metrics writes them so).
    push_kept = kept if value.startswith('"') else None
    assert [p.value for p in push_points] == ([push_kept] if push_kept else [])


@pytest.mark.parametrize(
    "line", ["[1, 2]", '"loss"', "null", "3", "true", "[]", "{}", '{"metric": null}', "{"]
)
def test_json_lines_that_are_not_records_are_counted(line: str) -> None:
    json_parser, push_parser = JsonMetricsParser(["loss"]), PushRecordParser(["loss"])
    assert json_parser.feed(line) == [] and push_parser.feed(line) == []
    assert push_parser.malformed_lines == 1
    assert json_parser.malformed_lines == (0 if line.startswith("{") and line != "{" else 1)
