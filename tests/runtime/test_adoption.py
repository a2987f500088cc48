"""The runner's side of a crash: collector positions and adopted runs, without a control plane.

A collector's position, restored in a new collector, reads on exactly where the first stopped
(no line twice, none lost, a half-written line included once). A run released by one runner and
adopted by another keeps its Job: failed attempts, and the deadline counted from its first start.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pykatib.api.models import MetricsCollectorSpec
from pykatib.metrics.collectors import make_collector
from pykatib.metrics.timestamps import format_rfc3339
from pykatib.runtime.base import RunRequest, RunStatus
from pykatib.runtime.local import LocalJobRunner
from pykatib.runtime.paths import AttemptFiles, attempt_dir

KEY = ("default", "exp-adopted1")


def collector(kind: str, tmp_path: Path, fmt: str = "TEXT") -> Any:
    spec = MetricsCollectorSpec.model_validate(
        {
            "collector": {"kind": kind},
            "source": {"fileSystemPath": {"path": "/m.log", "kind": "File", "format": fmt}},
        }
    )
    paths = (tmp_path / "m.log", tmp_path / "out.log", tmp_path / "report.jsonl")
    return make_collector(spec, ["loss"], *paths)


CASES = {
    "StdOut": ("out.log", "TEXT", "loss=0.{}\n"),
    "File": ("m.log", "TEXT", "epoch 3 loss=0.{}\n"),
    "File-JSON": ("m.log", "JSON", '{{"loss": "0.{}"}}\n'),
    "Push": ("report.jsonl", "TEXT", '{{"metric": "loss", "value": "0.{}"}}\n'),
}


@pytest.mark.parametrize("case", CASES)
def test_a_restored_position_reads_on_exactly_where_the_last_reader_stopped(
    case: str, tmp_path: Path
) -> None:
    name, fmt, line = CASES[case]
    kind = case.split("-")[0]
    path = tmp_path / name
    first = collector(kind, tmp_path, fmt)
    with open(path, "w") as f:
        f.write(line.format(1) + line.format(2) + line.format(3)[:5])  # the 3rd half written
    read = first.poll()
    position = json.loads(json.dumps(first.position()))  # as the store keeps it
    first.poll()  # read on after the position was taken: a crash loses this
    with open(path, "a") as f:
        f.write(line.format(3)[5:] + line.format(4))
    second = collector(kind, tmp_path, fmt)
    second.restore(position)
    read += second.poll() + second.close()
    assert [p.value for p in read] == ["0.1", "0.2", "0.3", "0.4"]
    assert [p.step for p in read] == [0, 1, 2, 3]


def test_a_restored_event_reader_skips_the_events_read_before(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tfevent extra (tensorboard) is not installed")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder = tmp_path / "m.log"  # the collector path is the event folder
    writer = EventFileWriter(str(folder))

    def add(step: int) -> None:
        value = summary_pb2.Summary.Value(tag="loss", simple_value=step / 10)
        event = event_pb2.Event(step=step, wall_time=1_700_000_000 + step)
        event.summary.CopyFrom(summary_pb2.Summary(value=[value]))
        writer.add_event(event)
        writer.flush()

    first = collector("TensorFlowEvent", tmp_path)
    add(1)
    add(2)
    read = first.poll()
    position = json.loads(json.dumps(first.position()))
    add(3)
    first.poll()  # lost with its process
    second = collector("TensorFlowEvent", tmp_path)
    second.restore(position)
    writer.close()
    read += second.poll()
    assert [(p.value, p.step) for p in read] == [("0.1", 0), ("0.2", 1), ("0.3", 2)]


BLOCK = "import threading; threading.Event().wait()"


def request(tmp_path: Path, code: str, **job_spec: Any) -> RunRequest:
    run_spec = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": KEY[1], "namespace": KEY[0]},
        "spec": {
            **job_spec,
            "template": {
                "spec": {
                    "containers": [{"name": "main", "command": [sys.executable, "-c", code]}],
                    "restartPolicy": "Never",
                }
            },
        },
    }
    return RunRequest(
        key=KEY,
        run_spec=run_spec,
        primary_container_name="main",
        metrics_collector=MetricsCollectorSpec(),
        metric_names=("loss",),
        working_dir=tmp_path,
        trial_dir=tmp_path / "trial",
    )


class Runner(LocalJobRunner):
    """A runner whose wake-ups can be waited for."""

    def __init__(self) -> None:
        self.woke = threading.Event()
        super().__init__(self.woke.set)

    def ended(self) -> RunStatus:
        for _ in range(600):  # a generous bound, not a timing assertion
            status = self.status(KEY)
            if status is not None and status.finished:
                return status
            self.woke.wait(1.0)
            self.woke.clear()
        raise AssertionError("the trial did not end")


def wait_for_file(path: Path) -> None:
    end = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def test_an_adopted_run_keeps_its_deadline_from_its_first_start(tmp_path: Path) -> None:
    """activeDeadlineSeconds counts from the first attempt's start, stored in the record: a run
    adopted past its deadline is ended at once, as DeadlineExceeded, its failed attempt
    counted."""
    req = request(tmp_path, BLOCK, activeDeadlineSeconds=3600, backoffLimit=0)
    first = Runner()
    record = first.start(req)
    files = AttemptFiles(attempt_dir(req.trial_dir, 1))
    wait_for_file(files.pid)
    first.forget(KEY)  # released, as when another control plane takes over: it keeps running
    started = json.loads(files.pid.read_text())
    long_ago = datetime.now(timezone.utc) - timedelta(hours=2)
    record["jobStartTime"] = format_rfc3339(long_ago)
    second = Runner()
    assert second.adopt(req, record)
    status = second.ended()
    assert (status.phase, status.reason) == ("failed", "DeadlineExceeded")
    assert status.job is not None
    assert status.job["status"]["failed"] == 1
    assert status.job["status"]["startTime"] == long_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert json.loads(files.exit.read_text())["signal"] == 15  # SIGTERM to its process group
    assert started["trial"]["pid"] > 0


def test_a_run_adopted_on_another_host_or_lost_is_refused(tmp_path: Path) -> None:
    req = request(tmp_path, "print('loss=0.5')")
    runner = Runner()
    record = runner.start(req)
    assert runner.ended().phase == "succeeded"
    assert Runner().adopt(req, record)  # ended unwatched: taken
    assert not Runner().adopt(req, {**record, "host": "elsewhere"})
    assert not Runner().adopt(req, {**record, "attempt": 7})


BLOCK_FIRST = """
import os, threading
if os.environ["PYKATIB_TRIAL_DIR"].endswith("attempt-1"):
    print("loss=0.1", flush=True)
    threading.Event().wait()
print("loss=0.5", flush=True)
"""


def test_a_shim_killed_while_watched_counts_as_a_failed_attempt(tmp_path: Path) -> None:
    import os
    import signal

    req = request(tmp_path, BLOCK_FIRST, backoffLimit=1)
    runner = Runner()
    runner.start(req)
    files = AttemptFiles(attempt_dir(req.trial_dir, 1))
    wait_for_file(files.pid)
    started = json.loads(files.pid.read_text())
    while not runner.drain(KEY).points:  # attempt 1 reported
        runner.woke.wait(1.0)
        runner.woke.clear()
    os.kill(started["shim"]["pid"], signal.SIGKILL)
    os.kill(started["trial"]["pid"], signal.SIGKILL)
    status = runner.ended()
    assert status.phase == "succeeded"
    assert status.job is not None and status.job["status"]["failed"] == 1
    drained = runner.drain(KEY)
    assert drained.restarted  # the observations handed over before are void
    assert [p.value for p in drained.points] == ["0.5"]
    assert drained.record is not None and drained.record["attempt"] == 2
    assert "shim was killed" in files.log.read_text()
