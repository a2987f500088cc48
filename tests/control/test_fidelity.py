"""Katib's answers where they are easy to get wrong: which trials rank, what may be updated."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import controller, experiment, reason, run

from pykatib.api.errors import InvalidExperimentError
from pykatib.control import status as st

# Prints loss=<lr>; a trial given lr below 0.001 prints its (excellent) loss and then fails.
PRINT_THEN_MAYBE_FAIL = """
import sys
lr = float(sys.argv[1].split("=", 1)[1])
print(f"loss={lr}", flush=True)
sys.exit(3 if lr < 0.001 else 0)
"""


def _grid(values: list[str]) -> list[dict]:
    return [{"name": "lr", "parameterType": "categorical", "feasibleSpace": {"list": values}}]


def test_failed_trial_is_never_optimal_nor_reaches_the_goal(tmp_path: Path) -> None:
    """A trial whose job failed has no observation in Katib, so it can't be optimal.

    Katib: pkg/controller.v1beta1/trial/trial_controller.go:250 (the observation is stored only
    when the job succeeded or the trial was early stopped) and
    pkg/controller.v1beta1/experiment/util/status_util.go:154 (a trial without an observation is
    skipped when the optimal trial is chosen).
    """
    exp = experiment(
        PRINT_THEN_MAYBE_FAIL,
        algorithm="grid",
        parameters=_grid(["0.0001", "0.5", "0.6"]),
        objective={"type": "minimize", "objectiveMetricName": "loss", "goal": 0.001},
        job_spec={"backoffLimit": 0},
        parallelTrialCount=1,
        maxTrialCount=3,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED
    trials = {t.spec.parameter_assignments[0].value: t for t in ctl.store.list_trials("default", "exp")}
    failed = trials["0.0001"]
    assert st.trial_phase(failed) == st.FAILED
    # The failed trial's printed value is kept for people to see ...
    assert st.objective_value(failed) == 0.0001
    # ... but only the succeeded trials are ranked.
    assert done.status.current_optimal_trial.best_trial_name == trials["0.5"].name


def test_trial_killed_at_the_end_is_never_optimal(tmp_path: Path) -> None:
    """A trial killed when the experiment ends keeps its observations but is not ranked.

    Katib: pkg/controller.v1beta1/trial/trial_controller.go:250 (observation only for a
    succeeded or early stopped job); status_util.go:154 (no observation, not optimal).
    """
    marker = tmp_path / "printed"
    code = f"""
import os, sys, threading
lr = float(sys.argv[1].split("=", 1)[1])
if lr == 0.0:
    print("loss=0.0", flush=True)
    open({str(marker)!r}, "w").close()
    threading.Event().wait()
while not os.path.exists({str(marker)!r}):  # finish only once the other trial has printed
    threading.Event().wait(0.01)
print(f"loss={{lr}}", flush=True)
"""
    exp = experiment(
        code,
        algorithm="grid",
        parameters=_grid(["0.0", "0.01"]),
        objective={"type": "minimize", "objectiveMetricName": "loss", "goal": 0.05},
        parallelTrialCount=2,
        maxTrialCount=2,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Succeeded") == st.EXPERIMENT_GOAL_REACHED
    trials = {t.spec.parameter_assignments[0].value: t for t in ctl.store.list_trials("default", "exp")}
    killed = trials["0.0"]
    assert st.trial_phase(killed) == st.KILLED
    assert st.objective_value(killed) == 0.0
    assert done.status.current_optimal_trial.best_trial_name == trials["0.01"].name


QUICK = "import sys; print('loss=' + sys.argv[1].split('=', 1)[1])"


def _finished(tmp_path: Path, resume_policy: str):
    ctl = controller(tmp_path)
    exp = experiment(QUICK, maxTrialCount=3, parallelTrialCount=3, resumePolicy=resume_policy)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED
    return ctl, exp


def test_restart_of_a_never_resumable_experiment_is_rejected(tmp_path: Path) -> None:
    """Katib: pkg/webhook/v1beta1/experiment/validator/validator.go:126 rejects a spec change of
    a completed experiment unless it is restartable (succeeded by max trials, resumePolicy
    LongRunning or FromVolume: pkg/controller.v1beta1/experiment/util/status_util.go:238)."""
    ctl, exp = _finished(tmp_path, "Never")
    exp.spec.max_trial_count = 5
    with pytest.raises(InvalidExperimentError) as raised:
        ctl.apply(exp, tmp_path)
    assert any(e.startswith("spec.resumePolicy:") for e in raised.value.errors)
    stored = ctl.store.get_experiment("default", "exp")
    assert stored.spec.max_trial_count == 3
    assert reason(stored, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED


def test_max_trial_count_must_exceed_the_trials_created(tmp_path: Path) -> None:
    """Katib: validator.go:133 (maxTrialCount <= status.trials is invalid when the spec changes)."""
    ctl, exp = _finished(tmp_path, "LongRunning")
    exp.spec.max_trial_count = 3
    exp.spec.parallel_trial_count = 2
    with pytest.raises(InvalidExperimentError) as raised:
        ctl.apply(exp, tmp_path)
    assert any(e.startswith("spec.maxTrialCount:") for e in raised.value.errors)
    assert ctl.store.get_experiment("default", "exp").spec.parallel_trial_count == 3


def test_immutable_field_change_is_rejected_on_apply(tmp_path: Path) -> None:
    """Katib: validator.go:137-141 (only the three trial counts are editable)."""
    ctl, exp = _finished(tmp_path, "LongRunning")
    exp.spec.max_trial_count = 5
    exp.spec.objective.type = "maximize"
    with pytest.raises(InvalidExperimentError) as raised:
        ctl.apply(exp, tmp_path)
    assert any(e.startswith("spec.objective:") for e in raised.value.errors)
    assert ctl.store.get_experiment("default", "exp").spec.max_trial_count == 3


def test_restart_of_a_long_running_experiment_runs_the_new_trials(tmp_path: Path) -> None:
    """Katib: status_util.go:238 (restartable) and experiment_controller.go (Restarting, then
    Running again until the new max trial count)."""
    ctl, exp = _finished(tmp_path, "LongRunning")
    exp.spec.max_trial_count = 5
    assert ctl.apply(exp, tmp_path) == "configured"
    [done] = ctl.run([("default", "exp")])
    assert reason(done, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED
    assert done.status.trials == 5 and done.status.trials_succeeded == 5
