"""JSON-lines parsing: the JSON cases of Katib's file-metricscollector tests, and more."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.summary import MetricSummary

CLOCK_TIME = datetime(2030, 1, 1, tzinfo=timezone.utc)


def clock() -> datetime:
    return CLOCK_TIME


def parse(text: str, names: list[str]) -> tuple[list[tuple], JsonMetricsParser]:
    parser = JsonMetricsParser(names, clock=clock)
    points = parser.feed_lines(text.split("\n"))
    return [(p.metric_name, p.value, p.timestamp, p.step) for p in points], parser


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_katib_positive_json_case() -> None:
    logs = """{"checkpoint_path": "", "global_step": "0", "loss": "0.22082142531871796", "timestamp": 1638422847.28721, "trial": "0"}
{"acc": "0.9349666833877563", "checkpoint_path": "", "global_step": "0", "timestamp": 1638422847.287801, "trial": "0"}
{"checkpoint_path": "", "global_step": "1", "loss": "0.1414974331855774", "timestamp": "2021-12-02T14:27:50.000035161Z", "trial": "0"}
{"acc": "0.9586416482925415", "checkpoint_path": "", "global_step": "1", "timestamp": "2021-12-02T14:27:50.000037459Z", "trial": "0"}
{"checkpoint_path": "", "global_step": "2", "loss": "0.10683439671993256", "trial": "0"}"""
    points, parser = parse(logs, ["acc", "loss"])
    # Epoch fractions are seconds here (Katib reads "28721" as nanoseconds).
    assert points == [
        ("loss", "0.22082142531871796", utc(2021, 12, 2, 5, 27, 27, 287210), 0),
        ("acc", "0.9349666833877563", utc(2021, 12, 2, 5, 27, 27, 287801), 0),
        ("loss", "0.1414974331855774", utc(2021, 12, 2, 14, 27, 50, 35), 1),
        ("acc", "0.9586416482925415", utc(2021, 12, 2, 14, 27, 50, 37), 1),
        ("loss", "0.10683439671993256", CLOCK_TIME, 2),
    ]
    assert parser.malformed_lines == 0


def test_katib_malformed_lines_are_skipped_and_counted() -> None:
    logs = """"checkpoint_path": "", "global_step": "0", "loss": "0.22082142531871796", "timestamp": 1638422847.28721, "trial": "0"
{"acc": "0.9349666833877563", "checkpoint_path": "", "global_step": "0", "timestamp": 1638422847.287801, "trial": "0
{"acc": "0.5"}
[1, 2]
"just a string"

   """
    points, parser = parse(logs, ["acc", "loss"])
    assert points == [("acc", "0.5", CLOCK_TIME, 0)]
    assert parser.malformed_lines == 4


def test_katib_invalid_timestamp() -> None:
    logs = """{"checkpoint_path": "", "global_step": "0", "loss": "0.22082142531871796", "timestamp": "invalid", "trial": "0"}
{"acc": "0.9349666833877563", "checkpoint_path": "", "global_step": "0", "timestamp": 1638422847, "trial": "0"}"""
    points, _ = parse(logs, ["acc", "loss"])
    assert points == [
        ("loss", "0.22082142531871796", CLOCK_TIME, 0),
        ("acc", "0.9349666833877563", utc(2021, 12, 2, 5, 27, 27), 0),
    ]


def test_katib_missing_objective_metric() -> None:
    logs = """{"checkpoint_path": "", "global_step": "0", "loss": "0.22082142531871796", "timestamp": 1638422847.28721, "trial": "0"}
{"checkpoint_path": "", "global_step": "1", "loss": "0.1414974331855774", "timestamp": "2021-12-02T14:27:50.000035161+09:00", "trial": "0"}
{"checkpoint_path": "", "global_step": "2", "loss": "0.10683439671993256", "trial": "0"}"""
    points, _ = parse(logs, ["acc", "loss"])
    assert [p[0] for p in points] == ["loss"] * 3
    assert points[1][2] == utc(2021, 12, 2, 5, 27, 50, 35)
    parser = JsonMetricsParser(["acc", "loss"], clock=clock)
    acc, loss = MetricSummary(parser.feed_lines(logs.split("\n"))).to_metrics(["acc", "loss"])
    assert (acc.min, acc.max, acc.latest) == ("unavailable",) * 3
    assert loss.min == "0.10683439671993256" and loss.max == "0.22082142531871796"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ('"0.5"', "0.5"),
        ('" 0.5 "', "0.5"),
        ('".333"', ".333"),
        ('"888."', "888."),
        ('"-1e-3"', "-1e-3"),
        ("0.5", "0.5"),
        ("-3", "-3"),
        ("1e-07", "1e-07"),
        ("100", "100"),
    ],
)
def test_numbers_and_numeric_strings(raw: str, value: str) -> None:
    points, _ = parse('{"loss": ' + raw + "}", ["loss"])
    assert points == [("loss", value, CLOCK_TIME, 0)]


@pytest.mark.parametrize("raw", ['"abc"', '""', "true", "null", "[1]", '{"v": 1}', '"1_0"'])
def test_non_numbers_are_rejected(raw: str) -> None:
    points, parser = parse('{"loss": ' + raw + ', "acc": "1"}', ["loss", "acc"])
    assert points == [("acc", "1", CLOCK_TIME, 0)]
    assert parser.rejected_values == 1
    assert parser.malformed_lines == 0


@pytest.mark.parametrize("raw", ['""', "true", "null", "1e400", '"2021-12-02"', "[1]"])
def test_bad_timestamps_use_clock(raw: str) -> None:
    points, _ = parse('{"loss": "1", "timestamp": ' + raw + "}", ["loss"])
    assert points[0][2] == CLOCK_TIME


def test_metrics_follow_metric_names_order_and_count_steps() -> None:
    points, _ = parse('{"b": 1, "a": 2}\n{"a": 3}', ["a", "b"])
    assert [(p[0], p[3]) for p in points] == [("a", 0), ("b", 0), ("a", 1)]


def test_requires_metric_names() -> None:
    with pytest.raises(ValueError):
        JsonMetricsParser([])


def test_numbers_are_read_and_noted_once_as_katib_skips_them() -> None:
    # Katib keeps only string values: jsonObj[m].(string) (file-metricscollector.go:153).
    lines = '{"loss": 0.5}\n{"loss": "0.4", "acc": 1}\n{"loss": 0.3}'
    points, parser = parse(lines, ["loss", "acc"])
    assert [p[1] for p in points] == ["0.5", "0.4", "1", "0.3"]
    assert parser.numeric_values == 3
    note = (
        "warning: metric loss is the JSON number 0.5; pykatib reads it, but Katib reads only "
        'JSON strings ("loss": "0.5") and would skip it'
    )
    assert parser.notes == [note]


def test_numeric_strings_leave_no_note() -> None:
    _, parser = parse('{"loss": "0.5", "timestamp": 1638422847}', ["loss"])
    assert parser.numeric_values == 0 and parser.notes == []
