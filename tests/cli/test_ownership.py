"""One owner per experiment: two `pykatib run` of one file, `delete` and `kill` from elsewhere.

Real processes and real signals; waits are on output lines and files, never on time.
"""

from __future__ import annotations

import pytest

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pykatib_cli import experiment, get_json, pykatib, write

# Each trial appends its name to `starts` (under a lock), then waits for the file `gate`.
GATED = """
import fcntl, os, sys, time
here, lr = sys.argv[1], sys.argv[2]
with open(os.path.join(here, "starts"), "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.write(os.environ["KATIB_TRIAL_NAME"] + " " + str(os.getpid()) + "\\n")
while not os.path.exists(os.path.join(here, "gate")):
    time.sleep(0.02)
print("loss=" + lr)
"""


def _experiment(tmp_path: Path, name: str, **spec: Any) -> dict[str, Any]:
    data = experiment(name, **spec)
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    container["containers"][0]["command"] = [
        sys.executable, "-c", GATED, str(tmp_path), "${trialParameters.lr}"
    ]
    return data


class Run:
    """A `pykatib run -f` in the background, its stderr lines readable as they come."""

    def __init__(self, path: Path, lines: queue.Queue[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(path), "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = lines if lines is not None else queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str) -> bool:
        """Whether a stderr line with ``text`` comes before the process ends."""
        while True:
            line = self.lines.get(timeout=120)
            if text in line:
                return True
            if line == "":
                return False

    def finish(self) -> int:
        return self.proc.wait(timeout=240)


def _starts(tmp_path: Path) -> list[str]:
    path = tmp_path / "starts"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def _wait_for_starts(tmp_path: Path, n: int) -> None:
    """Wait (on the file, through the trials' own lock) until ``n`` trials have started."""
    import fcntl
    import time

    deadline = time.monotonic() + 120
    while len(_starts(tmp_path)) < n:
        assert time.monotonic() < deadline, "trials did not start"
        (tmp_path / "starts").touch()
        with open(tmp_path / "starts") as f:
            fcntl.flock(f, fcntl.LOCK_SH)
        time.sleep(0.02)


@pytest.mark.reliability(
    kind='fault',
    what='two `pykatib run -f` of one file started together',
    load='4 trials, 2 at a time',
    lost='nothing; no trial ran twice, one process drove',
)
def test_two_runs_of_one_file_drive_it_once(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", _experiment(tmp_path, "twice", parallelTrialCount=2, maxTrialCount=4))
    both: queue.Queue[str] = queue.Queue()
    first, second = Run(path, both), Run(path, both)
    # Whichever got the lease, the other says who drives the experiment and follows it.
    assert first.wait_for("is driven by"), first.err + second.err  # reads the lines of both
    (tmp_path / "gate").touch()
    assert first.finish() == 0 and second.finish() == 0, first.err + second.err
    followers = [r for r in (first, second) if any("is driven by" in x for x in r.err)]
    assert len(followers) == 1
    exp = get_json("experiment", "twice")
    assert exp["status"]["trials"] == 4 and exp["status"]["trialsSucceeded"] == 4
    names = [line.split()[0] for line in _starts(tmp_path)]
    assert sorted(names) == sorted({t["metadata"]["name"] for t in get_json("trials")["items"]})
    assert len(names) == len(set(names)) == 4  # no trial ran twice


@pytest.mark.reliability(
    kind='fault',
    what='`pykatib delete` from another process while `run` drives the experiment',
    load='2 running trials',
    lost='the deleted experiment only; its trial processes are gone, no traceback',
)
def test_delete_from_another_terminal_stops_the_run(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", _experiment(tmp_path, "doomed", parallelTrialCount=2, maxTrialCount=4))
    run = Run(path)
    _wait_for_starts(tmp_path, 2)
    deleted = pykatib("delete", "experiment", "doomed")
    assert deleted.returncode == 0, deleted.stderr
    assert run.finish() == 1
    message = "".join(run.err)
    assert 'experiment "doomed" was deleted' in message and "Traceback" not in message
    for line in _starts(tmp_path):
        pid = int(line.split()[1])
        _wait_gone(pid)


def _wait_gone(pid: int) -> None:
    import time

    deadline = time.monotonic() + 60
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"trial process {pid} is still running"
        time.sleep(0.05)


@pytest.mark.reliability(
    kind='fault',
    what='SIGTERM to `pykatib run`, then run again',
    load='2 running trials of 3',
    lost='nothing; the resumed run ends with 3 succeeded trials',
)
def test_sigterm_stops_the_trials_and_leaves_the_experiment_resumable(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", _experiment(tmp_path, "termed", parallelTrialCount=2, maxTrialCount=3))
    run = Run(path)
    _wait_for_starts(tmp_path, 2)
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 130
    assert "Interrupted" in "".join(run.err) and "Traceback" not in "".join(run.err)
    for line in _starts(tmp_path):
        _wait_gone(int(line.split()[1]))
    (tmp_path / "gate").touch()
    resumed = pykatib("run", "-f", str(path), "-q")
    assert resumed.returncode == 0, resumed.stderr
    exp = get_json("experiment", "termed")
    assert exp["status"]["trials"] == 3 and exp["status"]["trialsSucceeded"] == 3
