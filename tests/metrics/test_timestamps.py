from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

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
