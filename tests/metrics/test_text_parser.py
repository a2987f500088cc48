"""TEXT format parsing: the cases of Katib's file-metricscollector tests, and more."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.summary import MetricSummary
from pykatib.metrics.text import DEFAULT_METRICS_FORMAT, TextMetricsParser

CLOCK_TIME = datetime(2030, 1, 1, tzinfo=timezone.utc)
LINE_TIME = datetime(2024, 3, 4, 17, 55, 8, tzinfo=timezone.utc)
KATIB_FILTER = r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"


def clock() -> datetime:
    return CLOCK_TIME


def parse(lines: str, names: list[str], filters: list[str] | None = None) -> list[tuple]:
    parser = TextMetricsParser(names, filters, clock=clock)
    return [
        (p.metric_name, p.value, p.timestamp, p.step) for p in parser.feed_lines(lines.split("\n"))
    ]


def test_katib_positive_text_case() -> None:
    logs = """2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.8078};{metricName: loss, metricValue: 0.5183}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.6752}
2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.3634}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 100}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 888.333}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: -0.4759}
{metricName: loss, metricValue: 0.8671}"""
    assert parse(logs, ["accuracy", "loss"], [KATIB_FILTER]) == [
        ("accuracy", "0.8078", LINE_TIME, 0),
        ("loss", "0.5183", LINE_TIME, 0),
        ("accuracy", "0.6752", LINE_TIME, 1),
        ("loss", "0.3634", LINE_TIME, 1),
        ("accuracy", "100", LINE_TIME, 2),
        ("accuracy", "888.333", LINE_TIME, 3),
        ("accuracy", "-0.4759", LINE_TIME, 4),
        ("loss", "0.8671", CLOCK_TIME, 2),
    ]


def test_katib_invalid_values_with_custom_filter_report_nothing() -> None:
    logs = """2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: .333}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: -.333}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: - 345.333}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 888.}"""
    assert parse(logs, ["accuracy", "loss"], [KATIB_FILTER]) == []
    summary = MetricSummary(
        TextMetricsParser(["accuracy"], [KATIB_FILTER]).feed_lines(logs.split("\n"))
    )
    assert summary.to_metrics(["accuracy"])[0].latest == "unavailable"


def test_katib_unterminated_line_is_skipped() -> None:
    logs = """2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.6752
2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.3634}"""
    assert parse(logs, ["accuracy", "loss"], [KATIB_FILTER]) == [("loss", "0.3634", LINE_TIME, 0)]


def test_katib_invalid_timestamp_uses_clock() -> None:
    logs = """2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.6752}
invalid INFO     {metricName: loss, metricValue: 0.3634}"""
    assert parse(logs, ["accuracy", "loss"], [KATIB_FILTER]) == [
        ("accuracy", "0.6752", LINE_TIME, 0),
        ("loss", "0.3634", CLOCK_TIME, 0),
    ]


def test_katib_missing_objective_gives_unavailable_objective() -> None:
    logs = """2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.3634}
2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.8671}"""
    # Default filter: these lines have no name=value pair at all.
    assert parse(logs, ["accuracy", "loss"]) == []
    points = TextMetricsParser(["accuracy", "loss"], [KATIB_FILTER]).feed_lines(logs.split("\n"))
    objective, loss = MetricSummary(points).to_metrics(["accuracy", "loss"])
    assert (objective.min, objective.max, objective.latest) == ("unavailable",) * 3
    assert (loss.min, loss.max, loss.latest) == ("0.3634", "0.8671", "0.8671")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("loss=0.3", "0.3"),
        ("loss = 0.3", "0.3"),
        ("loss=-0.3", "-0.3"),
        ("loss=+2", "+2"),
        ("loss=42", "42"),
        ("loss=.98", ".98"),
        ("loss=-.333", "-.333"),
        ("loss=888.", "888"),  # the format stops before a point with no digits after it
        ("loss=-7.53e-05", "-7.53e-05"),
        ("loss=-7.53e+05", "-7.53e+05"),
        ("loss=1E0", "1E0"),
        ("loss=1.23E10", "1.23E10"),
        ("loss=1_000", "1"),
    ],
)
def test_default_format_value_shapes(text: str, value: str) -> None:
    assert parse(f"epoch 1 {text} accuracy=0.9", ["loss"]) == [("loss", value, CLOCK_TIME, 0)]


@pytest.mark.parametrize("text", ["loss=", "loss=abc", "loss=-", "loss=e5", "loss=- 1", "loss=١"])
def test_default_format_non_numbers_are_skipped(text: str) -> None:
    assert parse(text, ["loss"]) == []


def test_default_format_names() -> None:
    line = "epoch=3 val-loss=0.5 top|1=0.7 train_loss=0.1 lossy=9"
    assert parse(line, ["val-loss", "top|1", "train_loss", "epoch"]) == [
        ("epoch", "3", CLOCK_TIME, 0),
        ("val-loss", "0.5", CLOCK_TIME, 0),
        ("top|1", "0.7", CLOCK_TIME, 0),
        ("train_loss", "0.1", CLOCK_TIME, 0),
    ]
    # Names match exactly: "loss" is not "train_loss", "val-loss" nor "lossy".
    assert parse(line, ["loss"]) == []


def test_steps_count_each_metric() -> None:
    parser = TextMetricsParser(["loss", "accuracy"], clock=clock)
    steps = [(p.metric_name, p.step) for i in range(3) for p in parser.feed(f"loss={i} accuracy=1")]
    assert steps == [
        ("loss", 0),
        ("accuracy", 0),
        ("loss", 1),
        ("accuracy", 1),
        ("loss", 2),
        ("accuracy", 2),
    ]
    assert parser.feed("loss=1 loss=2") == [
        ObservationPoint("loss", "1", CLOCK_TIME, 3, timestamped=False),
        ObservationPoint("loss", "2", CLOCK_TIME, 4, timestamped=False),
    ]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("2024-03-04T17:55:08Z", LINE_TIME),
        ("2024-03-04T17:55:08.123456789Z", LINE_TIME.replace(microsecond=123456)),
        ("2024-03-04T17:55:08.5Z", LINE_TIME.replace(microsecond=500000)),
        ("2024-03-05T02:55:08+09:00", LINE_TIME),
        ("2024-03-04T12:55:08-05:00", LINE_TIME),
        ("2024-03-04 17:55:08Z", CLOCK_TIME),  # first space ends the token: "2024-03-04"
        ("2024-03-04t17:55:08z", CLOCK_TIME),
        ("2024-02-30T17:55:08Z", CLOCK_TIME),
        ("2024-03-04T17:55:08", CLOCK_TIME),
        ("1709574908", CLOCK_TIME),
        ("[2024-03-04T17:55:08Z]", CLOCK_TIME),
    ],
)
def test_leading_timestamp(prefix: str, expected: datetime) -> None:
    [point] = TextMetricsParser(["loss"], clock=clock).feed(f"{prefix} loss=0.5\n")
    assert point.timestamp == expected
    assert point.timestamp.tzinfo is not None


def test_timestamp_cache_follows_changes() -> None:
    parser = TextMetricsParser(["loss"], clock=clock)
    times = [
        parser.feed(line)[0].timestamp
        for line in [
            "2024-03-04T17:55:08Z loss=1",
            "2024-03-04T17:55:08Z loss=2",
            "2024-03-04T17:55:09Z loss=3",
            "loss=4",
            "2024-03-04T17:55:09Z loss=5",
        ]
    ]
    assert times == [
        LINE_TIME,
        LINE_TIME,
        LINE_TIME.replace(second=9),
        CLOCK_TIME,
        LINE_TIME.replace(second=9),
    ]


def test_name_can_end_a_timestamp_when_equals_follows() -> None:
    # Katib applies the filter to the whole line, timestamp included.
    assert parse("2024-03-04T17:55:08Z = 5", ["08Z"]) == [("08Z", "5", LINE_TIME, 0)]
    assert parse("2024-03-04T17:55:08Z loss=5", ["08Z"]) == []


def test_no_timestamp_when_no_space() -> None:
    assert parse("2024-03-04T17:55:08Z\tloss=5", ["loss"]) == [("loss", "5", CLOCK_TIME, 0)]


def test_clock_is_read_once_per_line_and_only_with_metrics() -> None:
    calls = []

    def counting_clock() -> datetime:
        calls.append(1)
        return CLOCK_TIME

    parser = TextMetricsParser(["loss", "accuracy"], clock=counting_clock)
    parser.feed("epoch 1 nothing")
    parser.feed("loss=abc")
    assert calls == []
    points = parser.feed("loss=1 accuracy=2")
    assert len(points) == 2 and points[0].timestamp is points[1].timestamp
    assert calls == [1]


def test_several_filters_apply_in_turn() -> None:
    filters = [r"(\w+)=(\S+)", r"(\w+): (\S+)"]
    assert parse("loss=1 acc: 2 acc=3", ["loss", "acc"], filters) == [
        ("loss", "1", CLOCK_TIME, 0),
        ("acc", "3", CLOCK_TIME, 0),
        ("acc", "2", CLOCK_TIME, 1),
    ]


def test_filter_values_are_stripped() -> None:
    assert parse("loss: 0.5 ;", ["loss"], [r"(\w+):([^;]*);"]) == [("loss", "0.5", CLOCK_TIME, 0)]


def test_ascii_classes_like_go() -> None:
    # Go's \w and \d are ASCII: "ñame" is not a name, so only "me" before "=" is.
    assert parse("ñame=1", ["ñame", "ame", "me"]) == [("ame", "1", CLOCK_TIME, 0)]


def test_empty_filters_mean_default() -> None:
    parser = TextMetricsParser(["loss"], filters=[])
    assert parser.filters == (DEFAULT_METRICS_FORMAT,)


@pytest.mark.parametrize("bad", ["[", r"loss=(\d+)", r"\w+=\d+"])
def test_invalid_filters(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid metrics format"):
        TextMetricsParser(["loss"], [bad])


@pytest.mark.parametrize("names", [[], ["loss", ""]])
def test_invalid_metric_names(names: list[str]) -> None:
    with pytest.raises(ValueError):
        TextMetricsParser(names)


# --- filters are RE2, as Go's regexp compiles them (file-metricscollector.go:248) ------------


def test_unicode_classes_in_custom_filters() -> None:
    filters = [r"(\p{L}[\p{L}\d_-]*)\s*[:=]\s*(\S+)"]
    line = "准确率=0.9 naïve: 3 ñame=1"
    assert parse(line, ["准确率", "naïve", "ñame"], filters) == [
        ("准确率", "0.9", CLOCK_TIME, 0),
        ("naïve", "3", CLOCK_TIME, 0),
        ("ñame", "1", CLOCK_TIME, 0),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        r"(?<=loss)(=)(\d+)",  # look-behind
        r"(?=loss)(\w+)=(\d+)",  # look-ahead
        r"(\w+)=(\d+) \1",  # backreference
        r"(?P<n>\w+)=(\d+)(?P=n)",  # named backreference
        r"(\w++)=(\d+)",  # possessive quantifier
        r"(\w+)=(\d+)\Z",  # Python's end of text; Go's is \z
    ],
)
def test_python_only_syntax_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="RE2 syntax"):
        TextMetricsParser(["loss"], [bad])


def test_go_syntax_that_python_lacks() -> None:
    # \z, \Q...\E and POSIX classes are RE2 (and Go); Python's re has none of them.
    filters = [r"\Q{\E([[:alpha:]]+)=([[:digit:].]+)\}\z"]
    assert parse("log {loss=0.5}", ["loss"], filters) == [("loss", "0.5", CLOCK_TIME, 0)]


def test_group_that_takes_no_part_is_empty_like_go() -> None:
    # Go's FindAllStringSubmatch gives "" for it: no value, so no report.
    filters = [r"(loss|acc)=(\d+)?"]
    assert parse("loss=abc acc=2", ["loss", "acc"], filters) == [("acc", "2", CLOCK_TIME, 0)]


@pytest.mark.parametrize(
    "line",
    [
        "epoch=7 loss=0.123 accuracy=0.9",
        "2024-03-04T17:55:08Z loss = -7.53e-05, acc=.9 x=1E0",
        "loss=\v0.5 loss=\t0.25 loss=\f1 loss=\r2",
        "ñame=1 top|1=2 val-loss=3 loss==4 loss=888. loss=1_000 loss=١",
        "a=b=c loss=+.5e+3e loss=--1",
    ],
)
def test_default_filter_finds_what_re2_finds(line: str) -> None:
    from pykatib.metrics.text import _DEFAULT_FILTER, compile_filter

    expected = [
        tuple(g.decode() if g else "" for g in m.groups())
        for m in compile_filter(DEFAULT_METRICS_FORMAT).finditer(line.encode())
    ]
    assert _DEFAULT_FILTER.findall(line) == expected


def test_vertical_tab_is_not_space_like_go() -> None:
    # Go's and RE2's \s is [\t\n\f\r ]: after "=\v" the value group matches "" there.
    assert parse("loss=\v0.5", ["loss"]) == []
    assert parse("loss=\t0.5", ["loss"]) == [("loss", "0.5", CLOCK_TIME, 0)]
