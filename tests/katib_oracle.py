"""Katib's own answer for a finished experiment, re-derived from its stored trials.

An independent re-statement of Katib's ``UpdateExperimentStatus`` and
``UpdateExperimentStatusCondition`` (pkg/controller.v1beta1/experiment/util/status_util.go:56-235
at kubeflow/katib 33c8ff4e), written without pykatib's control code, so that tests can check
that pykatib ends an experiment with the condition reason and optimal trial Katib would.
Katib stores an observation only for succeeded and early stopped trials
(pkg/controller.v1beta1/trial/trial_controller.go:250), so only those are ranked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

UNAVAILABLE = "unavailable"


def _true(obj: Any, type_: str) -> bool:
    return any(c.type == type_ and c.status == "True" for c in obj.status.conditions or [])


def _phase(trial: Any) -> str:
    # Katib's order (status_util.go:77-92).
    for type_ in ("Killed", "Failed", "Succeeded", "EarlyStopped", "Running", "MetricsUnavailable"):
        if _true(trial, type_):
            return type_
    return "Pending"


def _objective_value(trial: Any) -> str:
    """getObjectiveMetricValue (status_util.go:153-184)."""
    if _phase(trial) not in ("Succeeded", "EarlyStopped") or trial.status.observation is None:
        return UNAVAILABLE
    name = trial.spec.objective.objective_metric_name
    strategy = next(
        (s.value for s in trial.spec.objective.metric_strategies or [] if s.name == name), None
    )
    for metric in trial.status.observation.metrics or []:
        if metric.name == name:
            if strategy == "min":
                return metric.latest if metric.min == UNAVAILABLE else metric.min
            if strategy == "max":
                return metric.latest if metric.max == UNAVAILABLE else metric.max
            return metric.latest
    return UNAVAILABLE


def expected_outcome(exp: Any, trials: Sequence[Any], suggestion_done: bool) -> tuple[str, str | None]:
    """(the Succeeded/Failed reason Katib sets, the best trial's name) for a finished run."""
    objective = exp.spec.objective
    goal, maximize = objective.goal, objective.type == "maximize"
    best_index, best_value, goal_reached = -1, 0.0, False
    for index, trial in enumerate(trials):
        raw = _objective_value(trial)
        if raw == UNAVAILABLE:
            continue
        try:
            value = float(raw)
        except ValueError:
            best_index = index
            continue
        if best_index == -1:
            best_index, best_value = index, value
        if (value > best_value) if maximize else (value < best_value):
            best_index, best_value = index, value
        if goal is not None and ((best_value >= goal) if maximize else (best_value <= goal)):
            goal_reached = True
    phases = [_phase(t) for t in trials]
    completed = sum(p in ("Succeeded", "Failed", "Killed", "EarlyStopped", "MetricsUnavailable") for p in phases)
    failed = sum(p in ("Failed", "MetricsUnavailable") for p in phases)
    spec = exp.spec
    if goal_reached:
        reason = "ExperimentGoalReached"
    elif spec.max_failed_trial_count is not None and failed and failed >= spec.max_failed_trial_count:
        reason = "ExperimentFailed"
    elif spec.max_trial_count is not None and completed >= spec.max_trial_count:
        reason = "ExperimentMaxTrialsReached"
    elif suggestion_done:
        reason = "ExperimentSuggestionEndReached"
    else:
        reason = "ExperimentRunning"
    return reason, trials[best_index].name if best_index != -1 else None


def check_outcome(exp: Any, trials: Sequence[Any]) -> None:
    """Assert ``exp`` ended as Katib would end it given ``trials`` (in creation order)."""
    ended = next(
        (c for c in exp.status.conditions or [] if c.type in ("Succeeded", "Failed") and c.status == "True"),
        None,
    )
    assert ended is not None, "the experiment has not ended"
    done = ended.reason == "ExperimentSuggestionEndReached"
    reason, best = expected_outcome(exp, trials, suggestion_done=done)
    assert ended.reason == reason, (ended.reason, reason)
    optimal = exp.status.current_optimal_trial
    assert (optimal.best_trial_name if optimal else None) == best
