"""Katib's answers where they are easy to get wrong: which trials rank, what may be updated."""

from __future__ import annotations

import statistics
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


@pytest.mark.reliability(
    kind='bad input',
    what='a trial prints an excellent value, then exits 3',
    load='3 trials',
    lost='nothing; it is Failed and never optimal',
)
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


def _suggestion_condition(ctl, type_: str):
    suggestion, _ = ctl.store.get_suggestion("default", "exp")
    return suggestion, suggestion.status.condition(type_)


def test_suggestion_of_a_never_resumable_experiment_succeeds_and_cant_restart(
    tmp_path: Path,
) -> None:
    """Katib: experiment_controller.go:190-197 and experiment_controller_util.go:160-165
    (Succeeded, "can't be restarted"); suggestions/v1beta1/util.go:137 (Running turns False)."""
    ctl, _ = _finished(tmp_path, "Never")
    suggestion, succeeded = _suggestion_condition(ctl, "Succeeded")
    assert (succeeded.status, succeeded.reason) == ("True", "Experiment is succeeded")
    assert succeeded.message == "Suggestion is succeeded, can't be restarted"
    running = suggestion.status.condition("Running")
    assert (running.status, running.reason) == ("False", "Suggestion is succeeded")
    assert suggestion.status.suggestion_count == 3
    assert all(s.parameter_assignments for s in suggestion.status.suggestions)


def test_suggestion_of_a_long_running_experiment_keeps_running(tmp_path: Path) -> None:
    """Katib: experiment_controller.go:192 cleans up the suggestion only for Never and FromVolume."""
    ctl, _ = _finished(tmp_path, "LongRunning")
    suggestion, succeeded = _suggestion_condition(ctl, "Succeeded")
    assert succeeded is None
    assert suggestion.status.condition("Running").status == "True"


def test_from_volume_suggestion_restarts_with_its_experiment(tmp_path: Path) -> None:
    """Katib: experiment_controller_util.go:169 (Succeeded, "can be restarted") and :186-200
    (restartSuggestion: Succeeded removed, Running False "Experiment is restarting"), then
    Running again when new trials are requested."""
    ctl, exp = _finished(tmp_path, "FromVolume")
    _, succeeded = _suggestion_condition(ctl, "Succeeded")
    assert succeeded.message == (
        "Suggestion is succeeded, suggestion volume is not deleted, can be restarted"
    )
    exp.spec.max_trial_count = 5
    ctl.apply(exp, tmp_path)
    [done] = ctl.run([("default", "exp")])
    assert done.status.trials == 5
    suggestion, succeeded = _suggestion_condition(ctl, "Succeeded")
    assert succeeded.status == "True" and suggestion.status.suggestion_count == 5
    reasons = [e.reason for e in ctl.store.list_events("default", "Suggestion", "exp")]
    # Running, then succeeded at the end, then restarting, running again, succeeded again.
    assert reasons.count("SuggestionRunning") == 1  # aggregated, as Kubernetes' recorder does
    [again] = [e for e in ctl.store.list_events("default", "Suggestion", "exp") if e.reason == "SuggestionRunning"]
    assert again.count == 2


MEDIAN_PUSH = (
    "import sys, pykatib\n"
    "lr = float(sys.argv[1].split('=')[1])\n"
    "for step in range(6):\n"
    "    pykatib.report_metrics({'loss': abs(lr - 0.02) * 100 + 1 / (step + 1)}, step=step)\n"
)


def test_medianstop_rules_on_trials_and_katibs_early_stopped_message(tmp_path: Path) -> None:
    """Katib: medianstop/service.py GetEarlyStoppingRules (rule {name, value: the median,
    comparison: greater for minimize, startStep}) set on each trial created once enough trials
    completed (suggestion_controller.go SyncAssignments); SetTrialStatus writes the condition
    message "Trial is early stopped"."""
    exp = experiment(
        MEDIAN_PUSH,
        algorithm="grid",
        maxTrialCount=4,
        parallelTrialCount=1,
        parameters=[
            {
                "name": "lr",
                "parameterType": "discrete",
                "feasibleSpace": {"list": ["0.02", "0.021", "0.05", "0.09"]},
            }
        ],
        metricsCollectorSpec={"collector": {"kind": "Push"}},
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [
                {"name": "min_trials_required", "value": "1"},
                {"name": "start_step", "value": "2"},
            ],
        },
    )
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    trials = ctl.store.list_trials()  # in creation order; one at a time
    assert trials[0].spec.early_stopping_rules is None  # nothing completed yet
    averages = []
    for trial in trials:
        if averages:
            [rule] = trial.spec.early_stopping_rules
            assert (rule.name, rule.comparison, rule.start_step) == ("loss", "greater", 2)
            assert float(rule.value) == pytest.approx(statistics.median(averages))
        first_two = [float(p.value) for p in ctl.store.list_observations("default", trial.name)][:2]
        averages.append(sum(first_two) / 2)
    by_lr = {t.spec.parameter_assignments[0].value: t for t in trials}
    stopped = by_lr["0.09"]
    assert st.trial_phase(stopped) == st.EARLY_STOPPED
    cond = stopped.status.condition("EarlyStopped")
    assert (cond.reason, cond.message) == (st.TRIAL_EARLY_STOPPED, "Trial is early stopped")
    [why] = [e for e in ctl.store.list_events("default", "Trial", stopped.name) if e.reason == st.TRIAL_EARLY_STOPPED]
    assert why.message.startswith("medianstop: ") and "median" in why.message
    log = ctl.log_path("default", "exp", stopped.name).read_text()
    assert "early stopped: " in log and "median" in log


def test_trial_and_experiment_events(tmp_path: Path) -> None:
    """Katib: trial_controller.go:305 (JobCreated), trial_controller_util.go:66 (JobSucceeded),
    :118 (JobFailed), :126 (JobRunning); experiments: one event per condition (pykatib)."""
    exp = experiment(
        PRINT_THEN_MAYBE_FAIL,
        algorithm="grid",
        parameters=_grid(["0.0001", "0.5"]),
        job_spec={"backoffLimit": 0},
        parallelTrialCount=1,
        maxTrialCount=2,
    )
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    trials = {t.spec.parameter_assignments[0].value: t for t in ctl.store.list_trials("default", "exp")}
    ok = trials["0.5"]
    events = ctl.store.list_events("default", "Trial", ok.name)
    assert [e.reason for e in events] == ["JobCreated", "JobRunning", "JobSucceeded"]
    assert events[0].message == f"Job {ok.name} has been created"
    assert all(e.involved_object.uid == ok.metadata.uid for e in events)
    failed = ctl.store.list_events("default", "Trial", trials["0.0001"].name)[-1]
    assert failed.reason == "JobFailed" and failed.message.startswith(
        f"Job {trials['0.0001'].name} has failed. "
    )
    assert "BackoffLimitExceeded" in failed.message
    reasons = [e.reason for e in ctl.store.list_events("default", "Experiment", "exp")]
    assert reasons == [
        st.EXPERIMENT_CREATED,
        st.EXPERIMENT_RUNNING,
        st.EXPERIMENT_MAX_TRIALS_REACHED,
    ]


def _with_conditions(success: str | None = None, failure: str | None = None, **job_spec):
    exp = experiment(QUICK, maxTrialCount=1, parallelTrialCount=1, job_spec=job_spec)
    if success:
        exp.spec.trial_template.success_condition = success
    if failure:
        exp.spec.trial_template.failure_condition = failure
    return exp


def test_failure_condition_is_judged_first(tmp_path: Path) -> None:
    """Katib: pkg/controller.v1beta1/trial/util/job_util.go:67-109 (failureCondition first, then
    successCondition; a condition holds when it matches an object or a non-empty array)."""
    exp = _with_conditions(failure='status.conditions.#(type=="Complete")#|#(status=="True")#')
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_failed == 1
    [trial] = ctl.store.list_trials()
    assert reason(trial, "Failed") == "TrialFailed. Job reason: CompletionsReached"


def test_a_job_meeting_neither_condition_waits_for_its_deadline(tmp_path: Path) -> None:
    """Katib: job_util.go:111-119 (neither condition: the trial stays Running); the Job's
    activeDeadlineSeconds then ends it as DeadlineExceeded."""
    # The trial must end (meeting neither condition) before its deadline: a python start takes
    # over a second on a loaded 2-CPU machine, so the deadline leaves it 3.
    exp = _with_conditions(success='status.conditions.#(type=="Nope")#', activeDeadlineSeconds=3)
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    assert reason(trial, "Failed") == "TrialFailed. Job reason: DeadlineExceeded"
    assert (trial.status.completion_time - trial.status.start_time).total_seconds() >= 3
    events = [e.reason for e in ctl.store.list_events("default", "Trial", trial.name)]
    assert events == ["JobCreated", "JobRunning", "ConditionsUnmet", "JobFailed"]
    assert done.status.trials_failed == 1


def test_a_job_meeting_neither_condition_without_deadline_fails_saying_why(tmp_path: Path) -> None:
    """Katib would leave it Running for ever (job_util.go:118); a local job can't change any more."""
    exp = _with_conditions(success='status.conditions.#(type=="Nope")#')
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    cond = trial.status.condition("Failed")
    assert cond.reason == "TrialFailed. Job reason: ConditionsUnmet"
    assert "neither successCondition nor failureCondition" in cond.message


def test_a_condition_matching_something_unreadable_fails_the_trial(tmp_path: Path) -> None:
    """Katib: job_util.go:79-83 (the matched value must decode as a job condition; Katib logs
    the error and leaves the trial as it is)."""
    exp = _with_conditions(success="status.conditions.#.type")
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    cond = trial.status.condition("Failed")
    assert cond.reason == "TrialFailed. Job reason: InvalidCondition"
    assert "successCondition" in cond.message
