"""report_metrics validation and the PYKATIB_METRICS_FILE record format."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from pykatib.metrics import push
from pykatib.metrics.push import METRICS_FILE_ENV, PushRecordParser, report_metrics
from pykatib.metrics.summary import MetricSummary

CLOCK_TIME = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def metrics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(METRICS_FILE_ENV, str(path))
    monkeypatch.setattr(push, "_next_steps", {})
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_one_json_line_per_metric(metrics_file: Path) -> None:
    moment = datetime(2024, 3, 4, 17, 55, 8, 123456, tzinfo=timezone.utc)
    report_metrics({"loss": 0.01, "accuracy": "0.99", "epoch": 3}, timestamp=moment)
    assert records(metrics_file) == [
        {"metric": "loss", "value": "0.01", "timestamp": "2024-03-04T17:55:08.123456Z", "step": 0},
        {
            "metric": "accuracy",
            "value": "0.99",
            "timestamp": "2024-03-04T17:55:08.123456Z",
            "step": 0,
        },
        {"metric": "epoch", "value": "3", "timestamp": "2024-03-04T17:55:08.123456Z", "step": 0},
    ]


def test_steps_count_per_metric_unless_given(metrics_file: Path) -> None:
    report_metrics({"loss": 1})
    report_metrics({"loss": 2, "acc": 0.5})
    report_metrics({"loss": 3}, step=10)
    report_metrics({"loss": 4})
    steps = [(r["metric"], r["step"]) for r in records(metrics_file)]
    assert steps == [("loss", 0), ("loss", 1), ("acc", 0), ("loss", 10), ("loss", 11)]


def test_default_timestamp_is_now(metrics_file: Path) -> None:
    before = datetime.now(timezone.utc)
    report_metrics({"loss": 1})
    stamp = records(metrics_file)[0]["timestamp"]
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before <= parsed <= datetime.now(timezone.utc)


def test_epoch_timestamp(metrics_file: Path) -> None:
    report_metrics({"loss": 1}, timestamp=1638422847.5)
    assert records(metrics_file)[0]["timestamp"] == "2021-12-02T05:27:27.500000Z"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.99, "0.99"),
        ("0.99", "0.99"),
        (" 1e-3 ", "1e-3"),
        (1, "1"),
        (Decimal("0.10"), "0.10"),
        (Fraction(1, 4), "0.25"),
        (float("nan"), "nan"),
    ],
)
def test_value_conversions(metrics_file: Path, value: object, text: str) -> None:
    report_metrics({"m": value})
    assert records(metrics_file)[0]["value"] == text


def test_numpy_scalars_keep_their_short_form(metrics_file: Path) -> None:
    np = pytest.importorskip("numpy")
    report_metrics({"a": np.float32(0.1), "b": np.int64(7), "c": np.float64(0.2)})
    assert [r["value"] for r in records(metrics_file)] == ["0.1", "7", "0.2"]


@pytest.mark.parametrize("value", ["abc", "", None, True, [1.0], {"v": 1}, "1_000", object()])
def test_invalid_values_name_the_metric(metrics_file: Path, value: object) -> None:
    with pytest.raises(ValueError, match="for metric 'accuracy'"):
        report_metrics({"loss": 0.1, "accuracy": value})
    assert not metrics_file.exists()  # nothing written when any value is bad


@pytest.mark.parametrize("name", ["", 3])
def test_invalid_names(metrics_file: Path, name: object) -> None:
    with pytest.raises(ValueError, match="metric name"):
        report_metrics({name: 0.1})  # type: ignore[dict-item]


@pytest.mark.parametrize("step", [-1, 1.5, True, "2"])
def test_invalid_steps(metrics_file: Path, step: object) -> None:
    with pytest.raises(ValueError, match="step"):
        report_metrics({"loss": 0.1}, step=step)  # type: ignore[arg-type]


def test_outside_a_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_FILE_ENV, raising=False)
    with pytest.raises(RuntimeError, match="inside a pykatib trial.*Push"):
        report_metrics({"loss": 0.1})
    with pytest.raises(ValueError):  # validation comes first
        report_metrics({"loss": "abc"})


def test_appends_to_existing_file(metrics_file: Path) -> None:
    metrics_file.write_text('{"metric": "loss", "value": "9", "step": 0}\n')
    report_metrics({"loss": 1})
    assert [r["value"] for r in records(metrics_file)] == ["9", "1"]


def test_parser_reads_what_report_metrics_writes(metrics_file: Path) -> None:
    moment = datetime(2024, 3, 4, 17, 55, 8, tzinfo=timezone.utc)
    report_metrics({"loss": 0.5, "acc": 0.7, "other": 1}, timestamp=moment)
    report_metrics({"loss": 0.25, "acc": 0.9}, timestamp=moment)
    parser = PushRecordParser(["acc", "loss"], clock=lambda: CLOCK_TIME)
    points = parser.feed_lines(metrics_file.read_text().splitlines(keepends=True))
    assert [(p.metric_name, p.value, p.timestamp, p.step) for p in points] == [
        ("loss", "0.5", moment, 0),
        ("acc", "0.7", moment, 0),
        ("loss", "0.25", moment, 1),
        ("acc", "0.9", moment, 1),
    ]
    acc, loss = MetricSummary(points).to_metrics(["acc", "loss"])
    assert (acc.max, loss.min, loss.latest) == ("0.9", "0.25", "0.25")


def test_parser_skips_and_counts_malformed_lines() -> None:
    parser = PushRecordParser(clock=lambda: CLOCK_TIME)
    lines = [
        "not json",
        "[1]",
        '{"value": "1"}',
        '{"metric": "loss"}',
        '{"metric": "loss", "value": 1}',
        '{"metric": "loss", "value": "abc"}',
        '{"metric": 3, "value": "1"}',
        "",
        '{"metric": "loss", "value": "2"}',
        '{"metric": "loss", "value": "3", "step": -4, "timestamp": "bad"}',
    ]
    points = parser.feed_lines(lines)
    assert [(p.value, p.step, p.timestamp) for p in points] == [
        ("2", 0, CLOCK_TIME),
        ("3", 1, CLOCK_TIME),
    ]
    assert parser.malformed_lines == 7


def test_from_a_trial_process(metrics_file: Path) -> None:
    code = "from pykatib.metrics.push import report_metrics\nfor i in range(3): report_metrics({'loss': 1 / (i + 1)})"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert [(r["value"], r["step"]) for r in records(metrics_file)] == [
        ("1.0", 0),
        ("0.5", 1),
        ("0.3333333333333333", 2),
    ]
