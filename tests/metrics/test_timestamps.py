from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.summary import MetricSummary
from pykatib.metrics.text import TextMetricsParser
from pykatib.metrics.timestamps import format_rfc3339, from_epoch, parse_rfc3339


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-12-02T14:27:50Z", datetime(2021, 12, 2, 14, 27, 50, tzinfo=timezone.utc)),
        ("2021-12-02T14:27:50.1Z", datetime(2021, 12, 2, 14, 27, 50, 100000, tzinfo=timezone.utc)),
        (
            "2021-12-02T14:27:50.000035161+09:00",
            datetime(2021, 12, 2, 5, 27, 50, 35, tzinfo=timezone.utc),
        ),
        ("2021-12-02T00:00:00-01:30", datetime(2021, 12, 2, 1, 30, tzinfo=timezone.utc)),
    ],
)
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2021-12-02",
        "2021-12-02T14:27:50",
        "2021-12-02 14:27:50Z",
        "2021-12-02T14:27:50z",
        "2021-13-02T14:27:50Z",
        "2021-12-02T24:00:00Z",
        "2021-12-02T14:27:60Z",
        "2021-12-02T14:27:50.Z",
        "2021-12-02T14:27:50+24:00",
        "2021-12-02T14:27:50Z ",
    ],
)
def test_parse_rfc3339_rejects(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_epoch_and_format_round_trip() -> None:
    moment = from_epoch(1638422847.5)
    assert moment == datetime(2021, 12, 2, 5, 27, 27, 500000, tzinfo=timezone.utc)
    assert format_rfc3339(moment) == "2021-12-02T05:27:27.500000Z"
    assert parse_rfc3339(format_rfc3339(moment)) == moment
    assert from_epoch(1e30) is None
    offset = datetime(2021, 12, 2, 14, 27, 27, tzinfo=timezone(timedelta(hours=9)))
    assert format_rfc3339(offset) == "2021-12-02T05:27:27.000000Z"


# --- reports without a timestamp, as Katib orders them --------------------------------------
# Katib's collector stores such a report at Go's zero time, 0001-01-01T00:00:00Z
# (file-metricscollector.go:89 text, :140 JSON), and the trial controller's latest is the report
# with the newest time, ties to the later one (trial_controller_util.go:227-235): a report
# without a timestamp is never the latest over one with a timestamp.

CLOCK_TIME = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _latest(points: list[ObservationPoint], name: str = "loss") -> str | None:
    return MetricSummary(points).to_metrics([name])[0].latest


def test_text_line_without_timestamp_is_marked_and_never_latest() -> None:
    parser = TextMetricsParser(["loss"], clock=lambda: CLOCK_TIME)
    points = parser.feed_lines(
        ["2024-03-04T17:55:08Z loss=0.3", "loss=0.2", "epoch 3: loss=0.1", "2024-03-04 loss=0.05"]
    )
    assert [p.timestamped for p in points] == [True, False, False, False]
    # The clock (2030) is later than the line's 2024, yet Katib's zero time is earlier.
    assert points[1].timestamp == CLOCK_TIME
    assert _latest(points) == "0.3"


def test_first_timestamped_report_wins_over_earlier_untimestamped_ones() -> None:
    parser = TextMetricsParser(["loss"], clock=lambda: CLOCK_TIME)
    points = parser.feed_lines(["loss=0.9", "loss=0.8", "2024-03-04T17:55:08Z loss=0.7"])
    assert _latest(points) == "0.7"


def test_without_any_timestamp_the_last_report_is_latest() -> None:
    # All at the zero time: a tie each time, so the later report wins.
    parser = TextMetricsParser(["loss"], clock=lambda: CLOCK_TIME)
    assert _latest(parser.feed_lines(["loss=0.9", "loss=0.8", "loss=0.85"])) == "0.85"


def test_timestamped_reports_still_order_by_time() -> None:
    parser = TextMetricsParser(["loss"], clock=lambda: CLOCK_TIME)
    points = parser.feed_lines(
        ["2024-03-04T17:55:09Z loss=0.2", "loss=0.1", "2024-03-04T17:55:08Z loss=0.3"]
    )
    assert _latest(points) == "0.2"  # 17:55:08 is older than 17:55:09


@pytest.mark.parametrize(
    ("line", "timestamped"),
    [
        ('{"loss": "0.5", "timestamp": 1638422847.5}', True),
        ('{"loss": "0.5", "timestamp": "2021-12-02T14:27:50Z"}', True),
        ('{"loss": "0.5"}', False),
        ('{"loss": "0.5", "timestamp": "yesterday"}', False),
        ('{"loss": "0.5", "timestamp": null}', False),
    ],
)
def test_json_timestamped(line: str, timestamped: bool) -> None:
    [point] = JsonMetricsParser(["loss"], clock=lambda: CLOCK_TIME).feed(line)
    assert point.timestamped is timestamped


def test_json_record_without_timestamp_is_never_latest() -> None:
    parser = JsonMetricsParser(["loss"], clock=lambda: CLOCK_TIME)
    points = parser.feed_lines(
        ['{"loss": "0.3", "timestamp": 1638422847}', '{"loss": "0.2"}', '{"loss": "0.1"}']
    )
    assert _latest(points) == "0.3"
