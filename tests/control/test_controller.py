"""The control plane end to end: real trial processes, a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import controller, experiment, reason, run

from pykatib.control import status as st

# Prints a loss that depends on --lr, so the best trial is known from the assignments.
QUADRATIC = """
import sys
lr = float(sys.argv[1].split("=", 1)[1])
for step in range(3):
    print(f"step {step}: loss={(lr - 0.03) ** 2 + 0.1 / (step + 1):.8f}")
"""

# Blocks until killed: a trial that is "still running" for as long as the test needs.
BLOCK = "import threading; threading.Event().wait()"


def test_max_trials_reached_with_optimal_trial(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    done = run(ctl, experiment(QUADRATIC, maxTrialCount=5, parallelTrialCount=2), tmp_path)
    assert reason(done, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED
    assert done.status.trials == 5 and done.status.trials_succeeded == 5
    running = done.status.condition("Running")
    assert running is not None and running.status == "False"
    trials = ctl.store.list_trials("default", "exp")
    losses = {}
    for t in trials:
        lr = float(t.spec.parameter_assignments[0].value)
        losses[t.name] = (lr - 0.03) ** 2 + 0.1 / 3  # min over the steps is the last one
    best = min(losses, key=losses.get)
    optimal = done.status.current_optimal_trial
    assert optimal.best_trial_name == best
    [metric] = optimal.observation.metrics
    assert metric.name == "loss"
    assert abs(float(metric.min) - losses[best]) < 1e-7
    assert float(metric.max) > float(metric.min)
    assert metric.latest == metric.min
    # Every observation is kept, with steps.
    points = ctl.store.list_observations("default", best)
    assert [p.step for p in points] == [0, 1, 2]


def test_trial_names_and_labels(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    run(ctl, experiment(QUADRATIC, name="my-exp", maxTrialCount=2), tmp_path)
    for t in ctl.store.list_trials("default", "my-exp"):
        prefix, suffix = t.name.rsplit("-", 1)
        assert prefix == "my-exp" and len(suffix) == 8 and suffix.isalnum()
        assert t.metadata.labels["katib.kubeflow.org/experiment"] == "my-exp"
        assert t.spec.run_spec["metadata"]["name"] == t.name


def test_hostile_values_reach_the_trial_intact(tmp_path: Path) -> None:
    hostile = ["; rm -rf ~", 'it\'s "quoted"', "$(touch pwned)", "line1\nline2", "a b  $HOME"]
    out = tmp_path / "argv"
    code = (
        "import json, os, sys\n"
        f"open({str(out)!r} + '-' + os.environ['KATIB_TRIAL_NAME'], 'w').write(json.dumps(sys.argv[1:]))\n"
        "print('loss=1')\n"
    )
    exp = experiment(
        code,
        algorithm="grid",
        parameters=[
            {"name": "v", "parameterType": "categorical", "feasibleSpace": {"list": hostile}}
        ],
        args=["${trialParameters.v}", "--flag=${trialParameters.v}"],
        parallelTrialCount=5,
        maxTrialCount=5,
    )
    done = run(controller(tmp_path), exp, tmp_path)
    assert done.status.trials_succeeded == 5
    seen = [json.loads(p.read_text()) for p in tmp_path.glob("argv-*")]
    assert sorted(a[0] for a in seen) == sorted(hostile)
    for argv in seen:
        assert argv[1] == f"--flag={argv[0]}"
    assert not (tmp_path / "pwned").exists()
    assert Path.home().exists()


def test_goal_reached_kills_running_trials(tmp_path: Path) -> None:
    code = (
        "import sys, threading\n"
        "mode = sys.argv[1].split('=')[1]\n"
        "if mode == 'fast':\n"
        "    print('loss=0.0001')\n"
        "else:\n"
        "    print('loss=5', flush=True)\n"
        f"    {BLOCK}\n"
    )
    exp = experiment(
        code,
        algorithm="grid",
        parameters=[
            {
                "name": "mode",
                "parameterType": "categorical",
                "feasibleSpace": {"list": ["slow1", "fast", "slow2"]},
            }
        ],
        args=["--mode=${trialParameters.mode}"],
        objective={"type": "minimize", "objectiveMetricName": "loss", "goal": 0.001},
        parallelTrialCount=3,
        maxTrialCount=3,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Succeeded") == st.EXPERIMENT_GOAL_REACHED
    assert done.status.trials_succeeded == 1
    assert done.status.trials_killed == 2
    assert done.status.running_trial_list is None
    for t in ctl.store.list_trials("default", "exp"):
        if st.trial_phase(t) == st.KILLED:
            assert reason(t, "Killed") == st.TRIAL_KILLED
            assert t.status.completion_time is not None


def test_max_failed_trial_count(tmp_path: Path) -> None:
    exp = experiment(
        "import sys; print('crashing'); sys.exit(3)",
        job_spec={"backoffLimit": 0},
        maxTrialCount=6,
        maxFailedTrialCount=2,
        parallelTrialCount=1,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Failed") == st.EXPERIMENT_FAILED
    assert done.status.trials_failed == 2
    [t, *_] = ctl.store.list_trials("default", "exp")
    cond = t.status.condition("Failed")
    assert cond.reason == "TrialFailed. Job reason: BackoffLimitExceeded"
    log = ctl.log_path("default", "exp", t.name).read_text()
    assert "crashing" in log


def test_backoff_limit_retries(tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    code = (
        "import os, sys\n"
        f"p = {str(counter)!r} + os.environ['KATIB_TRIAL_NAME']\n"
        "n = int(open(p).read()) if os.path.exists(p) else 0\n"
        "open(p, 'w').write(str(n + 1))\n"
        "if n < 2: sys.exit(1)\n"
        "print('loss=0.5')\n"
    )
    exp = experiment(code, job_spec={"backoffLimit": 2}, maxTrialCount=1, parallelTrialCount=1)
    done = run(controller(tmp_path), exp, tmp_path)
    assert done.status.trials_succeeded == 1
    [attempts] = list(tmp_path.glob("attempts*"))
    assert attempts.read_text() == "3"


def test_metrics_unavailable_counts_as_failed(tmp_path: Path) -> None:
    exp = experiment(
        "print('no metrics here'); print('accuracy=0.3')",
        maxTrialCount=3,
        maxFailedTrialCount=1,
        parallelTrialCount=1,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Failed") == st.EXPERIMENT_FAILED
    assert done.status.trial_metrics_unavailable == 1
    [t] = ctl.store.list_trials("default", "exp")
    assert reason(t, "MetricsUnavailable") == "MetricsUnavailable. Job reason: CompletionsReached"
    [metric] = t.status.observation.metrics
    assert (metric.name, metric.latest) == ("loss", "unavailable")


def test_active_deadline_fails_the_trial(tmp_path: Path) -> None:
    exp = experiment(
        f"print('loss=0.1', flush=True)\n{BLOCK}",
        job_spec={"activeDeadlineSeconds": 1, "backoffLimit": 0},
        maxTrialCount=1,
        parallelTrialCount=1,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    [t] = ctl.store.list_trials("default", "exp")
    failed = t.status.condition("Failed")
    assert failed is not None and failed.status == "True"
    assert "DeadlineExceeded" in failed.reason
    assert done.status.trials_failed == 1


def test_grid_exhaustion_ends_with_suggestion_end_reached(tmp_path: Path) -> None:
    exp = experiment(
        QUADRATIC,
        algorithm="grid",
        parameters=[
            {
                "name": "lr",
                "parameterType": "double",
                "feasibleSpace": {"min": "0.01", "max": "0.03", "step": "0.01"},
            }
        ],
        parallelTrialCount=2,
        maxTrialCount=None,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Succeeded") == st.EXPERIMENT_SUGGESTION_END_REACHED
    assert done.status.trials_succeeded == 3
    lrs = sorted(float(t.spec.parameter_assignments[0].value) for t in ctl.store.list_trials())
    assert lrs == [0.01, 0.02, 0.03]


def test_restart_by_raising_max_trial_count(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    exp = experiment(QUADRATIC, maxTrialCount=2, resumePolicy="LongRunning")
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED
    bigger = experiment(QUADRATIC, maxTrialCount=4, resumePolicy="LongRunning")
    assert ctl.apply(bigger, tmp_path) == "configured"
    state = ctl.reconcile(("default", "exp"))
    assert not st.is_completed(state.experiment)
    [done] = ctl.run([("default", "exp")])
    assert reason(done, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED
    assert done.status.trials_succeeded == 4
    assert done.status.condition("Restarting") is None  # cleared once it ran again


def test_never_resume_policy_does_not_restart(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    run(ctl, experiment(QUADRATIC, maxTrialCount=2), tmp_path)
    import pytest

    from pykatib.api.errors import InvalidExperimentError

    with pytest.raises(InvalidExperimentError):  # Katib's webhook refuses the restart
        ctl.apply(experiment(QUADRATIC, maxTrialCount=4), tmp_path)
    [done] = ctl.run([("default", "exp")])
    assert done.status.trials == 2


def test_crash_recovery_restarts_interrupted_trials(tmp_path: Path) -> None:
    """A trial stored as Running that no runner knows (the process died) runs again."""
    ctl = controller(tmp_path)
    exp = experiment(QUADRATIC, maxTrialCount=2)
    ctl.apply(exp, tmp_path)
    state = ctl.reconcile(("default", "exp"))
    started = sorted(state.trials)
    assert len(started) == 2
    ctl.runner.shutdown()  # the processes die; the store still says Running
    fresh = controller(tmp_path)  # a new control plane over the same database
    [done] = fresh.run([("default", "exp")])
    assert done.status.trials_succeeded == 2
    assert sorted(t.name for t in fresh.store.list_trials()) == started


def test_immutable_field_change_is_rejected(tmp_path: Path) -> None:
    import pytest

    from pykatib.api.errors import InvalidExperimentError

    ctl = controller(tmp_path)
    ctl.apply(experiment(QUADRATIC), tmp_path)
    changed = experiment(QUADRATIC, objective={"type": "maximize", "objectiveMetricName": "loss"})
    with pytest.raises(InvalidExperimentError) as err:
        ctl.apply(changed, tmp_path)
    assert "spec.objective" in str(err.value)


def test_missing_executable_fails_the_trial_with_a_clear_log(tmp_path: Path) -> None:
    exp = experiment(
        "print('loss=1')",
        job_spec={"backoffLimit": 0},
        maxTrialCount=1,
        parallelTrialCount=1,
        maxFailedTrialCount=1,
    )
    container = exp.spec.trial_template.trial_spec["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["/nonexistent/python3"]
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert reason(done, "Failed") == st.EXPERIMENT_FAILED
    [t] = ctl.store.list_trials()
    log = ctl.log_path("default", "exp", t.name).read_text()
    assert "can't start '/nonexistent/python3'" in log
