"""Min/max/latest as Katib's trial controller computes them, and objective value extraction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pykatib.api.models import Metric, MetricStrategyType
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.summary import MetricSummary, extract_value

T0 = datetime(2024, 3, 4, 17, 55, 8, tzinfo=timezone.utc)


def point(name: str, value: str, seconds: float = 0, step: int = 0) -> ObservationPoint:
    return ObservationPoint(name, value, T0 + timedelta(seconds=seconds), step)


def triple(summary: MetricSummary, name: str) -> tuple[str | None, str | None, str | None]:
    [metric] = summary.to_metrics([name])
    return metric.min, metric.max, metric.latest


def test_min_max_latest_keep_reported_strings() -> None:
    summary = MetricSummary()
    for i, value in enumerate(["0.5", "1e-1", "-.3", "888.", "2"]):
        summary.add(point("loss", value, seconds=i))
    assert triple(summary, "loss") == ("-.3", "888.", "2")
    assert summary.count("loss") == 5
    assert summary.count("acc") == 0


def test_unobserved_metric_is_unavailable() -> None:
    summary = MetricSummary([point("loss", "1")])
    acc, loss = summary.to_metrics(["acc", "loss"])
    assert acc == Metric(name="acc", min="unavailable", max="unavailable", latest="unavailable")
    assert loss == Metric(name="loss", min="1", max="1", latest="1")
    assert summary.metric_names == ["loss"]


def test_non_numeric_values_only_set_latest() -> None:
    summary = MetricSummary([point("loss", "unavailable"), point("loss", "abc", 1)])
    assert triple(summary, "loss") == ("unavailable", "unavailable", "abc")
    summary.add(point("loss", "3", 2))
    summary.add(point("loss", "nope", 3))
    assert triple(summary, "loss") == ("3", "3", "nope")


def test_equal_values_keep_first_string() -> None:
    summary = MetricSummary([point("loss", "1.0"), point("loss", "1", 1), point("loss", "1.00", 2)])
    assert triple(summary, "loss") == ("1.0", "1.0", "1.00")


def test_latest_is_newest_timestamp_ties_go_to_later_report() -> None:
    summary = MetricSummary()
    summary.add(point("loss", "1", seconds=10))
    summary.add(point("loss", "2", seconds=5))  # older: not latest
    assert triple(summary, "loss")[2] == "1"
    summary.add(point("loss", "3", seconds=10))  # tie: the later report wins
    assert triple(summary, "loss")[2] == "3"
    summary.add(point("loss", "4", seconds=11))
    assert triple(summary, "loss") == ("1", "4", "4")


def test_naive_timestamps_compare_as_utc() -> None:
    summary = MetricSummary([point("loss", "1", seconds=10)])
    summary.add(ObservationPoint("loss", "2", T0.replace(tzinfo=None), 1))
    summary.add(ObservationPoint("loss", "3", (T0 + timedelta(seconds=20)).replace(tzinfo=None), 2))
    assert triple(summary, "loss")[2] == "3"


def test_nan_and_inf_like_go() -> None:
    summary = MetricSummary(
        [point("loss", "inf"), point("loss", "-inf", 1), point("loss", "nan", 2)]
    )
    assert triple(summary, "loss") == ("-inf", "inf", "nan")


def metric(min_: str, max_: str, latest: str, name: str = "loss") -> list[Metric]:
    return [Metric(name=name, min=min_, max=max_, latest=latest)]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("min", 0.1), ("max", 0.9), ("latest", 0.5), (MetricStrategyType.MIN, 0.1)],
)
def test_extract_value(strategy: str, expected: float) -> None:
    assert extract_value(metric("0.1", "0.9", "0.5"), "loss", strategy) == expected


@pytest.mark.parametrize("strategy", ["min", "max"])
def test_extract_falls_back_to_latest(strategy: str) -> None:
    assert extract_value(metric("unavailable", "unavailable", "0.5"), "loss", strategy) == 0.5


def test_extract_unavailable_or_missing_is_none() -> None:
    unavailable = metric("unavailable", "unavailable", "unavailable")
    assert extract_value(unavailable, "loss", "latest") is None
    assert extract_value(unavailable, "loss", "min") is None
    assert extract_value(metric("1", "1", "1"), "acc", "max") is None
    assert extract_value(metric("unavailable", "unavailable", "abc"), "loss", "min") is None
    assert extract_value([Metric(name="loss")], "loss", "max") is None


def test_extract_rejects_unknown_strategy() -> None:
    with pytest.raises(ValueError):
        extract_value(metric("1", "1", "1"), "loss", "median")


def test_round_trip_summary_to_value() -> None:
    summary = MetricSummary(point("acc", v, i) for i, v in enumerate(["0.7", "0.9", "0.8"]))
    metrics = summary.to_metrics(["acc"])
    assert extract_value(metrics, "acc", "max") == 0.9
    assert extract_value(metrics, "acc", "latest") == 0.8
