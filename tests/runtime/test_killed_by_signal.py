"""A trial killed by a signal fails saying which (Kubernetes shows the pod's signal too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import controller, experiment, run

from pykatib.control import status as st

KILLS_ITSELF = "import os, signal; print('loss=0.1', flush=True); os.kill(os.getpid(), signal.SIGKILL)"


@pytest.mark.reliability(
    kind="fault",
    what="a trial killed by a signal (SIGKILL, from outside pykatib)",
    load="1 trial, backoffLimit 1",
    lost="nothing; the trial fails naming the signal, after its retry",
)
def test_a_trial_killed_by_a_signal_fails_naming_it(tmp_path: Path) -> None:
    exp = experiment(KILLS_ITSELF, job_spec={"backoffLimit": 1}, maxTrialCount=1, parallelTrialCount=1)
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    assert st.trial_phase(trial) == st.FAILED
    message = trial.status.condition("Failed").message
    assert "killed by signal 9 (SIGKILL)" in message
    assert trial.status.condition("Failed").reason == "TrialFailed. Job reason: BackoffLimitExceeded"
