"""Local trials are stepped by one watcher thread (no thread per trial): trials that run at
once, retry, report and are stopped are each followed to their end, none holding up another."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from helpers import finished

from pykatib.api.models import MetricsCollectorSpec
from pykatib.runtime.base import RunRequest, TrialKey
from pykatib.runtime.local import LocalJobRunner

BLOCK = "import threading; threading.Event().wait()"
# Fails in its first attempt, prints its metric in the next (a backoffLimit retry: the
# attempt's descriptors are closed and new ones, maybe with the same numbers, watched).
RETRY = (
    "import os, sys; "
    "sys.exit(1) if os.environ['PYKATIB_TRIAL_DIR'].endswith('attempt-1') else None; "
    "print('loss=0.25')"
)


def _start(runner: LocalJobRunner, tmp_path: Path, name: str, code: str) -> TrialKey:
    key = ("default", name)
    run_spec = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "backoffLimit": 2,
            "template": {
                "spec": {
                    "containers": [{"name": "main", "command": [sys.executable, "-c", code]}],
                    "restartPolicy": "Never",
                }
            },
        },
    }
    runner.start(
        RunRequest(
            key=key,
            run_spec=run_spec,
            primary_container_name="main",
            metrics_collector=MetricsCollectorSpec(),
            metric_names=("loss",),
            working_dir=tmp_path,
            trial_dir=tmp_path / name,
        )
    )
    return key


def test_trials_at_once_retry_and_report_with_no_thread_each(tmp_path: Path) -> None:
    runner = LocalJobRunner(lambda: None)
    keys = [_start(runner, tmp_path, f"t{i}", RETRY) for i in range(6)]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("trial-")]
    for key in keys:
        status = finished(runner, key)
        assert (status.phase, status.exit_code) == ("succeeded", 0)
        drained = runner.drain(key)
        assert drained.restarted  # the first attempt failed, the second counts
        assert [(p.metric_name, p.value) for p in drained.points] == [("loss", "0.25")]
        assert drained.record is not None and drained.record["attempt"] == 2
        runner.forget(key)


def test_a_running_trial_holds_up_no_other_and_stops(tmp_path: Path) -> None:
    runner = LocalJobRunner(lambda: None)
    blocked = _start(runner, tmp_path, "blocked", BLOCK)
    quick = _start(runner, tmp_path, "quick", "print('loss=0.5')")
    assert finished(runner, quick).phase == "succeeded"
    status = runner.status(blocked)
    assert status is not None and status.phase == "running"
    runner.stop(blocked, "early stopped")
    status = finished(runner, blocked)
    assert (status.phase, status.message) == ("stopped", "early stopped")
    runner.shutdown()
