"""The crash test: `pykatib run` SIGKILLed at random moments, again and again, then run to the end.

Each trial lasts a few seconds and writes its values to a File collector's file. Whatever
happens to the control plane, the experiment ends with exactly maxTrialCount trials, no trial
ever has two live processes at once (each holds an exclusive lock on its own lock file for its
whole life; a second process of the same trial finds it taken and says so), no trial process
outlives the end, and each trial's observations come from one attempt only, each step once.
The kill moments are random (seeded, printed on failure): they are the fault, not a wait.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import experiment

from pykatib.control import status as st
from pykatib.store import Store

STEPS = 8
TRIAL = r"""
import fcntl, os, sys, time
here, lr = sys.argv[1], sys.argv[2].split("=")[1]
name = os.environ["KATIB_TRIAL_NAME"]
attempt = int(os.path.basename(os.environ["PYKATIB_TRIAL_DIR"]).split("-")[1])
lock = open(os.path.join(here, "locks", name), "a")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    with open(os.path.join(here, "doubles"), "a") as f:
        f.write(name + "\n")
with open(os.path.join(here, "pids"), "a") as f:
    f.write("%d\n" % os.getpid())
for step in range(STEPS):
    with open(os.environ["PYKATIB_METRICS_PATH"], "a") as f:
        f.write("loss=%d.%d\n" % (attempt, step))
    time.sleep(0.25)
""".replace("STEPS", str(STEPS))


def _experiment_file(tmp_path: Path) -> Path:
    (tmp_path / "locks").mkdir()
    exp = experiment(
        TRIAL,
        args=[str(tmp_path), "--lr=${trialParameters.lr}"],
        maxTrialCount=6,
        parallelTrialCount=2,
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File"}},
        },
        # Each step's value is "<attempt>.<step>": the strategy must not pick one by size.
        objective={
            "type": "minimize",
            "objectiveMetricName": "loss",
            "metricStrategies": [{"name": "loss", "value": "latest"}],
        },
    )
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(exp.to_dict()))
    return path


def _start(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(path), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_gone(pids: list[int]) -> list[int]:
    """The pids still alive after a bounded wait for them to end."""
    deadline = time.monotonic() + 60
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.1)
    return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: it waits for a parent that was killed
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.reliability(
    kind="fault",
    what="`pykatib run` SIGKILLed 20 times at random moments (1 or 2 runs of one file at once), "
    "restarted each time",
    load="6 File-collector trials of ~2 s, 2 at a time",
    lost="nothing; exactly 6 trials, never two processes of one trial, no orphan, each trial's "
    "observations from one attempt, each step once",
)
@pytest.mark.parametrize("runs", [1, 2])
def test_sigkill_twenty_times_loses_nothing_and_runs_nothing_twice(
    runs: int, tmp_path: Path
) -> None:
    seed = int(os.environ.get("PYKATIB_SOAK_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    path = _experiment_file(tmp_path)
    kills = 0
    while kills < 20:
        procs = [_start(path) for _ in range(runs)]
        time.sleep(rng.uniform(0.05, 1.5))  # the random moment of the crash
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        if all(p.returncode == 0 for p in procs):
            break  # the experiment ended between two kills
    final = subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(path), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, f"seed {seed}: {final.stdout}{final.stderr}"

    store = Store()
    exp = store.get_experiment("default", "exp")
    trials = store.list_trials("default", "exp")
    assert len(trials) == 6 and exp.status.trials == 6, f"seed {seed}"
    assert all(st.trial_phase(t) == st.SUCCEEDED for t in trials), f"seed {seed}"
    assert not (tmp_path / "doubles").exists(), (
        f"seed {seed}: two processes of {(tmp_path / 'doubles').read_text().split()}"
    )
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert _wait_gone(pids) == [], f"seed {seed}: orphans"
    for trial in trials:
        values = [p.value for p in store.list_observations("default", trial.name)]
        attempts = {v.split(".")[0] for v in values}
        assert len(attempts) == 1, f"seed {seed}: {trial.name} mixes attempts {values}"
        assert [v.split(".")[1] for v in values] == [str(s) for s in range(STEPS)], (
            f"seed {seed}: {trial.name} has {values}"
        )
