"""Trials outlive their control plane, never run twice, and every attempt starts clean.

Real `pykatib run` processes stopped with real signals (SIGKILL, SIGINT). The trials are gated:
each tells the test where it is by creating a file, then waits on a FIFO for the test's go. The
tests wait on files, processes and what the store holds, never for a time.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import controller, experiment, run

from pykatib.control import status as st
from pykatib.runtime.paths import AttemptFiles, attempt_dir, attempt_numbers, trial_dir
from pykatib.store import Store

# Attempt 1 writes three values, waits, a fourth, waits, then two more (and exits with the code
# in argv[3]); a later attempt writes 0.3 and 0.2 at once. Values go to the metrics file, stdout
# or report_metrics, as the collector (argv[4]) reads them. Each start is noted in `starts`.
GATED = r"""
import os, sys
here, code, kind = sys.argv[1], int(sys.argv[3]), sys.argv[4]
attempt = os.path.basename(os.environ["PYKATIB_TRIAL_DIR"])
with open(os.path.join(here, "starts"), "a") as f:
    f.write("%d %s\n" % (os.getpid(), attempt))

def write(*values):
    if kind == "File":
        with open(os.environ["PYKATIB_METRICS_PATH"], "a") as f:
            f.write("".join("loss=%s\n" % v for v in values))
    elif kind == "StdOut":
        print("".join("loss=%s\n" % v for v in values), end="", flush=True)
    else:
        import pykatib
        for v in values:
            pykatib.report_metrics({"loss": v})

def step(name):  # tell the test, then wait for its go
    open(os.path.join(here, name), "w").close()
    while True:  # (an end of file: the last go's writer was still closing)
        with open(os.path.join(here, "gate")) as gate:
            if gate.readline() == "go\n":
                return

if attempt == "attempt-1":
    write(0.9, 0.8, 0.7)
    step("wrote-3")
    write(0.6)
    step("wrote-4")
    write(0.5, 0.4)
    print("attempt 1 done", flush=True)
    sys.exit(code)
write(0.3, 0.2)
"""
ALL_SIX = ["0.9", "0.8", "0.7", "0.6", "0.5", "0.4"]
COLLECTORS: dict[str, dict[str, Any]] = {
    "File": {
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File"}},
    },
    "StdOut": {"collector": {"kind": "StdOut"}},
    "Push": {"collector": {"kind": "Push"}},
}
# Early stopping on, never stopping: Push reports wait for the control plane's ack.
NEVER_STOPS = {"algorithmName": "threshold", "algorithmSettings": [{"name": "upper", "value": "9"}]}


class Scene:
    """One experiment of one gated trial, driven by `pykatib run` processes."""

    def __init__(
        self, tmp_path: Path, home: Path, exit_code: int = 0, kind: str = "File", **spec: Any
    ) -> None:
        self.here = tmp_path
        self.home = home
        os.mkfifo(tmp_path / "gate")
        if kind == "Push":
            spec["earlyStopping"] = NEVER_STOPS
        exp = experiment(
            GATED,
            args=[str(tmp_path), "${trialParameters.lr}", str(exit_code), kind],
            maxTrialCount=1,
            parallelTrialCount=1,
            metricsCollectorSpec=COLLECTORS[kind],
            **spec,
        )
        self.path = tmp_path / "experiment.yaml"
        self.path.write_text(yaml.safe_dump(exp.to_dict()))
        self._store: Store | None = None

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(self.path), "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def store(self) -> Store:
        if self._store is None:  # opened once the first run has created the database
            self._store = Store(f"sqlite:///{self.home / 'pykatib.db'}")
        return self._store

    def trial(self) -> Any:
        [trial] = self.store.list_trials("default", "exp")
        return trial

    def values(self) -> list[str]:
        """The stored values of the one trial; none while the trial is not stored yet (its
        process may start before the control plane's write of it commits)."""
        trials = self.store.list_trials("default", "exp")
        if not trials:
            return []
        return [p.value for p in self.store.list_observations("default", trials[0].name)]

    def starts(self) -> list[tuple[int, str]]:
        path = self.here / "starts"
        lines = path.read_text().split("\n") if path.exists() else []
        return [(int(line.split()[0]), line.split()[1]) for line in lines if line]

    def attempt(self, number: int) -> AttemptFiles:
        folder = trial_dir(self.home, "default", "exp", self.trial().name)
        return AttemptFiles(attempt_dir(folder, number))

    def attempts(self) -> list[int]:
        return attempt_numbers(trial_dir(self.home, "default", "exp", self.trial().name))

    def release(self) -> None:
        """Let the trial go on past its current step."""
        wait_for(self._send_go, "the trial to wait at its gate")

    def _send_go(self) -> bool:
        try:
            fd = os.open(self.here / "gate", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # the trial is not reading yet
                return False
            raise
        os.write(fd, b"go\n")
        os.close(fd)
        return True

    def describe(self, number: int = 1) -> str:
        """The attempt's files, for a failure's message."""
        files = self.attempt(number)
        return "\n".join(
            f"{path.name}: {path.read_text() if path.exists() else '(none)'}"
            for path in (files.pid, files.exit, files.stop, files.log)
        )

    def reasons(self) -> list[str]:
        return [e.reason for e in self.store.list_events("default", "Trial", self.trial().name)]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Wait until ``condition()`` holds (looking every 20 ms), failing after ``timeout``."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def started_and_stored_three(scene: Scene) -> subprocess.Popen[str]:
    """A `pykatib run` whose trial has written three values, all three stored."""
    first = scene.start()
    wait_for(lambda: (scene.here / "wrote-3").exists() or first.poll() is not None, "3 values")
    assert first.poll() is None, first.communicate()
    wait_for(lambda: len(scene.values()) == 3, "the control plane to store 3 values")
    return first


@pytest.mark.reliability(
    kind="fault",
    what="SIGKILL to `pykatib run` while a trial runs (File, StdOut, synchronous Push), then "
    "`run` again",
    load="1 running trial, 6 values (1 written while no control plane ran)",
    lost="nothing; the trial ran once, each value stored once",
)
@pytest.mark.parametrize("kind", ["File", "StdOut", "Push"])
def test_a_trial_outlives_a_killed_control_plane_and_is_adopted(
    tmp_path: Path, pykatib_home: Path, kind: str
) -> None:
    scene = Scene(tmp_path, pykatib_home, kind=kind)
    first = started_and_stored_three(scene)
    scene.release()
    wait_for(lambda: (scene.here / "wrote-4").exists(), "the 4th value")
    first.send_signal(signal.SIGKILL)  # whether it stored the 4th value or not
    first.wait()
    [(pid, _)] = scene.starts()
    assert alive(pid), scene.describe()  # the trial outlived its control plane
    second = scene.start()
    wait_for(lambda: len(scene.values()) == 4, "the new control plane to read on")
    scene.release()
    code, err = finish(second)
    assert code == 0, err
    assert scene.values() == ALL_SIX  # none lost, none twice
    assert scene.starts() == [(pid, "attempt-1")]  # one process, never started again
    assert scene.attempts() == [1]
    assert st.trial_phase(scene.trial()) == st.SUCCEEDED
    assert "TrialRestarted" not in scene.reasons()


@pytest.mark.reliability(
    kind="fault",
    what="a trial ends while no control plane runs (SIGKILL to `pykatib run`), then `run` again",
    load="1 trial, 6 values (3 written while no control plane ran)",
    lost="nothing; its exit code and every value are taken",
)
@pytest.mark.parametrize("exit_code", [0, 3])
def test_a_trial_that_ended_unwatched_is_taken_with_its_exit_code_and_metrics(
    tmp_path: Path, pykatib_home: Path, exit_code: int
) -> None:
    scene = Scene(tmp_path, pykatib_home, exit_code, job_spec={"backoffLimit": 0})
    first = started_and_stored_three(scene)
    first.send_signal(signal.SIGKILL)
    first.wait()
    scene.release()
    wait_for(lambda: (scene.here / "wrote-4").exists(), "the 4th value")
    scene.release()
    wait_for(lambda: scene.attempt(1).exit.exists(), "the trial to exit")
    code, err = finish(scene.start())
    assert scene.values() == ALL_SIX
    assert len(scene.starts()) == 1
    trial = scene.trial()
    if exit_code == 0:
        assert code == 0, err
        assert st.trial_phase(trial) == st.SUCCEEDED
        assert st.objective_value(trial) == 0.4
    else:
        assert st.trial_phase(trial) == st.FAILED, err
        failed = trial.status.condition("Failed")
        assert failed.reason.endswith("BackoffLimitExceeded")
        assert "last exit code 3" in failed.message


@pytest.mark.reliability(
    kind="fault",
    what="SIGKILL to `pykatib run`, then to the trial's shim and the trial, then `run` again",
    load="1 running trial",
    lost="the killed attempt, run again as attempt 2 with its own values only",
)
def test_a_trial_whose_shim_was_killed_runs_again_as_a_new_attempt(
    tmp_path: Path, pykatib_home: Path
) -> None:
    scene = Scene(tmp_path, pykatib_home)
    first = started_and_stored_three(scene)
    first.send_signal(signal.SIGKILL)
    first.wait()
    started = json.loads(scene.attempt(1).pid.read_text())
    shim_pid, trial_pid = started["shim"]["pid"], started["trial"]["pid"]
    os.kill(shim_pid, signal.SIGKILL)
    os.kill(trial_pid, signal.SIGKILL)
    wait_for(lambda: not alive(shim_pid) and not alive(trial_pid), "the shim and trial to die")
    code, err = finish(scene.start())
    assert code == 0, err
    assert scene.values() == ["0.3", "0.2"]  # attempt 2's, fresh
    assert [a for _, a in scene.starts()] == ["attempt-1", "attempt-2"]
    assert scene.attempts() == [1, 2]
    assert not scene.attempt(1).exit.exists()
    assert scene.reasons().count("TrialRestarted") == 1
    assert st.trial_phase(scene.trial()) == st.SUCCEEDED


def test_ctrl_c_then_resume_reads_no_stale_values(tmp_path: Path, pykatib_home: Path) -> None:
    """The resumed trial is a new attempt with a fresh folder: the File collector does not read
    the values the interrupted attempt left in its file."""
    scene = Scene(tmp_path, pykatib_home)
    first = started_and_stored_three(scene)
    [(pid, _)] = scene.starts()
    first.send_signal(signal.SIGINT)
    code, err = finish(first)
    assert code == 130, err
    assert not alive(pid)  # Ctrl-C stops the trial
    assert scene.values() == []  # and leaves it Pending, resumable
    code, err = finish(scene.start())
    assert code == 0, err
    assert scene.values() == ["0.3", "0.2"]
    assert scene.attempts() == [1, 2]
    assert "loss=0.9" in scene.attempt(1).root.joinpath("var/log/katib/metrics.log").read_text()


RETRIED = """
import os
attempt = os.path.basename(os.environ["PYKATIB_TRIAL_DIR"])
print("loss=0.001" if attempt == "attempt-1" else "loss=0.5", flush=True)
raise SystemExit(1 if attempt == "attempt-1" else 0)
"""


def test_a_retried_trial_keeps_only_its_final_attempts_observations(tmp_path: Path) -> None:
    exp = experiment(
        RETRIED,
        maxTrialCount=1,
        parallelTrialCount=1,
        job_spec={"backoffLimit": 1},
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 1
    [trial] = ctl.store.list_trials()
    assert [p.value for p in ctl.store.list_observations("default", trial.name)] == ["0.5"]
    assert st.objective_value(trial) == 0.5
    folder = trial_dir(tmp_path / "home", "default", "exp", trial.name)
    assert attempt_numbers(folder) == [1, 2]


def test_logs_of_each_attempt(tmp_path: Path, pykatib_home: Path) -> None:
    exp = experiment(
        RETRIED,
        maxTrialCount=1,
        parallelTrialCount=1,
        job_spec={"backoffLimit": 1},
    )
    path = tmp_path / "retried.yaml"
    path.write_text(yaml.safe_dump(exp.to_dict()))

    def pykatib(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pykatib.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert pykatib("run", "-f", str(path), "-q").returncode == 0
    [trial] = Store(f"sqlite:///{pykatib_home / 'pykatib.db'}").list_trials()
    first = pykatib("logs", trial.name, "--attempt", "1")
    assert first.returncode == 0, first.stderr
    assert "loss=0.001" in first.stdout and "loss=0.5" not in first.stdout
    latest = pykatib("logs", trial.name).stdout
    assert "loss=0.5" in latest and "loss=0.001" not in latest
    assert "attempt 2 (backoffLimit 1)" in latest
    every = pykatib("logs", trial.name, "--all-attempts").stdout
    assert every.index("==> attempt 1 <==") < every.index("loss=0.001")
    assert every.index("==> attempt 2 <==") < every.index("loss=0.5")
    missing = pykatib("logs", trial.name, "--attempt", "3")
    assert missing.returncode == 1
    assert "no attempt 3 (attempts: 1, 2)" in missing.stderr
