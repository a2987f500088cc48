"""Disk full while a trial writes its log: a 1 MiB tmpfs as PYKATIB_HOME (root only)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from helpers import experiment, run

from pykatib.control import status as st
from pykatib.control.controller import Controller
from pykatib.store import Store

FILLS_THE_DISK = """
import sys
if sys.argv[1].split("=")[1] == "huge":
    sys.stdout.write("x" * 4_000_000 + "\\n")
print("loss=1")
"""


@pytest.fixture
def small_disk(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(home)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield home
    deadline = time.monotonic() + 30
    while subprocess.run(["umount", str(home)], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "a trial process still holds the full disk"
        time.sleep(0.1)


@pytest.mark.reliability(
    kind="fault",
    what="disk full while a trial writes its log (a 1 MiB tmpfs as PYKATIB_HOME)",
    load="2 trials, one writing 4 MB",
    lost="nothing stored; the trials that can't write fail saying 'No space left on device', "
    "the experiment ends as usual",
)
def test_disk_full_while_writing_a_log(small_disk: Path, tmp_path: Path) -> None:
    exp = experiment(
        FILLS_THE_DISK,
        algorithm="grid",
        parameters=[
            {"name": "lr", "parameterType": "categorical", "feasibleSpace": {"list": ["small", "huge"]}}
        ],
        job_spec={"backoffLimit": 0},
        maxTrialCount=2,
        parallelTrialCount=1,
    )
    ctl = Controller(Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), home=small_disk)
    done = run(ctl, exp, tmp_path)
    assert reason_of(done) == st.EXPERIMENT_MAX_TRIALS_REACHED
    trials = {t.spec.parameter_assignments[0].value: t for t in ctl.store.list_trials()}
    huge = trials["huge"]
    assert st.trial_phase(huge) == st.FAILED
    assert "No space left on device" in huge.status.condition("Failed").message
    # Whatever ran before the disk filled kept its result.
    small = trials["small"]
    if small.metadata.creation_timestamp <= huge.metadata.creation_timestamp and st.trial_phase(
        small
    ) == st.SUCCEEDED:
        assert st.objective_value(small) == 1.0


def reason_of(exp) -> str | None:
    cond = exp.status.condition("Succeeded")
    return cond.reason if cond is not None and cond.status == "True" else None
