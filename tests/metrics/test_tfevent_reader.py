"""TensorBoard event files, written with tensorboard's own writer (no TensorFlow)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from pykatib.metrics.summary import MetricSummary
from pykatib.metrics.tfevent import TFEventReader, read_event_files, tag_matches

T0 = 1_700_000_000.0


def old_style(tag: str, value: float) -> Summary:
    return Summary(value=[Summary.Value(tag=tag, simple_value=value)])


def write(writer: EventFileWriter, wall_time: float, step: int, summary: Summary) -> None:
    writer.add_event(Event(wall_time=wall_time, step=step, summary=summary))


def rows(points: list) -> list[tuple]:
    return [(p.metric_name, p.value, p.timestamp.timestamp() - T0, p.step) for p in points]


def test_tf2_and_old_style_scalars(tmp_path: Path) -> None:
    writer = EventFileWriter(str(tmp_path))
    write(writer, T0 + 1, 10, scalar_pb("loss", 0.5))
    write(writer, T0 + 2, 10, old_style("accuracy", 0.75))
    write(writer, T0 + 3, 20, scalar_pb("loss", 0.25))
    write(writer, T0 + 4, 20, scalar_pb("other", 9.0))
    writer.close()
    points = read_event_files(tmp_path, ["accuracy", "loss"])
    assert rows(points) == [
        ("loss", "0.5", 1.0, 0),
        ("accuracy", "0.75", 2.0, 0),
        ("loss", "0.25", 3.0, 1),
    ]
    assert points[0].timestamp.tzinfo == timezone.utc
    objective, loss = MetricSummary(points).to_metrics(["accuracy", "loss"])
    assert objective.latest == "0.75" and loss.min == "0.25"


def test_float32_values_read_short(tmp_path: Path) -> None:
    writer = EventFileWriter(str(tmp_path))
    write(writer, T0, 1, scalar_pb("loss", 0.1))
    write(writer, T0, 2, old_style("loss", 0.1))
    writer.close()
    assert [p.value for p in read_event_files(tmp_path, ["loss"])] == ["0.1", "0.1"]


def test_directories_select_metrics(tmp_path: Path) -> None:
    for part, value in [("train", 0.9), ("test", 0.8)]:
        writer = EventFileWriter(str(tmp_path / part))
        write(writer, T0 + (1 if part == "train" else 2), 1, scalar_pb("accuracy", value))
        writer.close()
    points = read_event_files(tmp_path, ["test/accuracy", "train/accuracy", "accuracy"])
    assert sorted((p.metric_name, p.value) for p in points) == [
        ("accuracy", "0.8"),
        ("accuracy", "0.9"),
        ("test/accuracy", "0.8"),
        ("train/accuracy", "0.9"),
    ]


def test_non_scalars_and_other_files_are_skipped(tmp_path: Path) -> None:
    from tensorboard.util.tensor_util import make_tensor_proto

    writer = EventFileWriter(str(tmp_path))
    vector = Summary(value=[Summary.Value(tag="loss", tensor=make_tensor_proto([1.0, 2.0]))])
    text = Summary(value=[Summary.Value(tag="loss", tensor=make_tensor_proto("hello"))])
    write(writer, T0, 1, vector)
    write(writer, T0, 2, text)
    write(writer, T0, 3, scalar_pb("loss", 2.0))
    writer.close()
    (tmp_path / "notes.txt").write_text("loss=1\n")
    assert [p.value for p in read_event_files(tmp_path, ["loss"])] == ["2.0"]


def test_poll_returns_only_new_events(tmp_path: Path) -> None:
    reader = TFEventReader(tmp_path, ["loss"])
    assert reader.poll() == []
    writer = EventFileWriter(str(tmp_path / "run"))
    write(writer, T0 + 1, 1, scalar_pb("loss", 1.0))
    writer.flush()
    assert rows(reader.poll()) == [("loss", "1.0", 1.0, 0)]
    write(writer, T0 + 2, 2, scalar_pb("loss", 0.5))
    writer.close()
    assert rows(reader.poll()) == [("loss", "0.5", 2.0, 1)]
    assert reader.poll() == []


def test_wall_time_order_across_files(tmp_path: Path) -> None:
    late = EventFileWriter(str(tmp_path / "a"))
    early = EventFileWriter(str(tmp_path / "b"))
    write(late, T0 + 5, 1, scalar_pb("loss", 5.0))
    write(early, T0 + 1, 1, scalar_pb("loss", 1.0))
    late.close()
    early.close()
    points = read_event_files(tmp_path, ["loss"])
    assert [(p.value, p.step) for p in points] == [("1.0", 0), ("5.0", 1)]
    assert points[0].timestamp == datetime.fromtimestamp(T0 + 1, timezone.utc)


@pytest.mark.parametrize(
    ("tag", "metric", "path", "expected"),
    [
        ("accuracy", "accuracy", "/logs/events.out.tfevents.1", True),
        ("accuracy_top5", "accuracy", "/logs/events.out.tfevents.1", True),
        ("loss", "accuracy", "/logs/events.out.tfevents.1", False),
        ("accuracy", "train/accuracy", "/logs/train/events.out.tfevents.1", True),
        ("accuracy", "train/accuracy", "/logs/test/events.out.tfevents.1", False),
        ("accuracy", "train/accuracy", "/logs/pretrain/events.out.tfevents.1", True),
    ],
)
def test_tag_matches_like_katib(tag: str, metric: str, path: str, expected: bool) -> None:
    assert tag_matches(tag, metric, path) is expected
