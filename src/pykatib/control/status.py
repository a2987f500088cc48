"""The one place where conditions, trial phases, counters and the optimal trial are decided.

Every condition change goes through :func:`set_condition`, so the rules about
``lastTransitionTime`` and "Running flips to False on completion" live here only (as in Katib's
``status_util.go`` and the ``Mark*`` helpers of its API types).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pykatib.api import metric_rule, phase_rule
from pykatib.api.models import (
    Condition,
    Experiment,
    ExperimentStatus,
    Metric,
    ObjectiveSpec,
    Observation,
    OptimalTrial,
    ParameterAssignment,
    Suggestion,
    Trial,
    _TimedStatus,
    now,
)
from pykatib.api.phase_rule import (  # noqa: F401 (the control plane's names for them)
    EARLY_STOPPED,
    FAILED,
    KILLED,
    METRICS_UNAVAILABLE,
    PENDING,
    PHASE_OF_CONDITION,
    RUNNING,
    SUCCEEDED,
)

# Experiment condition reasons, as Katib writes them.
EXPERIMENT_CREATED = "ExperimentCreated"
EXPERIMENT_RUNNING = "ExperimentRunning"
EXPERIMENT_RESTARTING = "ExperimentRestarting"
EXPERIMENT_GOAL_REACHED = "ExperimentGoalReached"
EXPERIMENT_MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"
EXPERIMENT_SUGGESTION_END_REACHED = "ExperimentSuggestionEndReached"
EXPERIMENT_FAILED = "ExperimentFailed"

# Trial condition reasons.
TRIAL_CREATED = "TrialCreated"
TRIAL_CREATED_MESSAGE = "Trial is created"
TRIAL_RUNNING = "TrialRunning"
TRIAL_SUCCEEDED = "TrialSucceeded"
TRIAL_FAILED = "TrialFailed"
TRIAL_METRICS_UNAVAILABLE = "MetricsUnavailable"
TRIAL_KILLED = "TrialKilled"
TRIAL_EARLY_STOPPED = "TrialEarlyStopped"

COMPLETED_PHASES = frozenset({SUCCEEDED, FAILED, KILLED, EARLY_STOPPED, METRICS_UNAVAILABLE})
ACTIVE_PHASES = frozenset({PENDING, RUNNING})
ALL_PHASES = (PENDING, RUNNING, SUCCEEDED, FAILED, KILLED, EARLY_STOPPED, METRICS_UNAVAILABLE)
# Katib stores a trial's observation only when its job succeeded or it was early stopped
# (trial_controller.go, reconcileTrial): only these trials can be optimal or reach the goal.
RANKED_PHASES = frozenset({SUCCEEDED, EARLY_STOPPED})


def set_condition(status: _TimedStatus, type_: str, value: str, reason: str, message: str) -> bool:
    """Set one condition; returns whether anything changed."""
    conditions = status.conditions if status.conditions is not None else []
    current = next((c for c in conditions if c.type == type_), None)
    if current is not None and current.status == value and current.reason == reason:
        return False
    stamp = now()
    transition = current.last_transition_time if current and current.status == value else stamp
    new = Condition(
        type=type_,
        status=value,
        reason=reason,
        message=message,
        last_update_time=stamp,
        last_transition_time=transition,
    )
    status.conditions = [c for c in conditions if c.type != type_] + [new]
    return True


def remove_condition(status: _TimedStatus, type_: str) -> None:
    if status.conditions:
        status.conditions = [c for c in status.conditions if c.type != type_]


def _finish(status: _TimedStatus, type_: str, value: str, reason: str, message: str) -> None:
    running = status.condition("Running")
    if running is not None:
        set_condition(status, "Running", "False", running.reason or "", running.message or "")
    set_condition(status, type_, value, reason, message)
    if status.completion_time is None:
        status.completion_time = now()


# --- experiments ------------------------------------------------------------------------------


def is_completed(exp: Experiment) -> bool:
    return exp.status.has("Succeeded") or exp.status.has("Failed")


def completion_reason(exp: Experiment) -> str | None:
    for type_ in ("Succeeded", "Failed"):
        c = exp.status.condition(type_)
        if c is not None and c.status == "True":
            return c.reason
    return None


def mark_experiment_created(exp: Experiment) -> None:
    set_condition(exp.status, "Created", "True", EXPERIMENT_CREATED, "Experiment is created")
    if exp.status.start_time is None:
        exp.status.start_time = now()


def mark_experiment_running(exp: Experiment) -> None:
    # Katib leaves Restarting in place forever; once running again it is no longer restarting.
    remove_condition(exp.status, "Restarting")
    set_condition(exp.status, "Running", "True", EXPERIMENT_RUNNING, "Experiment is running")


def mark_experiment_restarting(exp: Experiment) -> None:
    remove_condition(exp.status, "Succeeded")
    remove_condition(exp.status, "Failed")
    exp.status.completion_time = None
    set_condition(
        exp.status, "Restarting", "True", EXPERIMENT_RESTARTING, "Experiment is restarted"
    )


def mark_experiment_succeeded(exp: Experiment, reason: str, message: str) -> None:
    _finish(exp.status, "Succeeded", "True", reason, message)


def mark_experiment_failed(exp: Experiment, reason: str, message: str) -> None:
    _finish(exp.status, "Failed", "True", reason, message)


def is_restartable(exp: Experiment) -> bool:
    """Katib: only Succeeded by max trials, with resumePolicy LongRunning or FromVolume."""
    succeeded = exp.status.condition("Succeeded")
    return (
        succeeded is not None
        and succeeded.status == "True"
        and succeeded.reason == EXPERIMENT_MAX_TRIALS_REACHED
        and exp.spec.resume_policy in ("LongRunning", "FromVolume")
    )


def restart_pending(exp: Experiment) -> bool:
    """Completed, restartable, and its maxTrialCount raised above the trials it completed: the
    next reconcile restarts it."""
    if not is_completed(exp) or not is_restartable(exp):
        return False
    completed, _, _ = counts(exp)
    return exp.spec.max_trial_count is not None and exp.spec.max_trial_count > completed


# --- trials -----------------------------------------------------------------------------------


def trial_phase(trial: Trial) -> str:
    """The trial's phase, tested in the order of Katib's status summary
    (:mod:`pykatib.api.phase_rule`)."""
    return phase_rule.phase((c.type, c.status) for c in trial.status.conditions or [])


def mark_trial_created(trial: Trial) -> None:
    set_condition(trial.status, "Created", "True", TRIAL_CREATED, TRIAL_CREATED_MESSAGE)


def mark_trial_running(trial: Trial) -> None:
    set_condition(trial.status, "Running", "True", TRIAL_RUNNING, "Trial is running")
    if trial.status.start_time is None:
        trial.status.start_time = now()


def _with_job(reason: str, message: str, job_reason: str, job_message: str) -> tuple[str, str]:
    """Katib appends the job's own reason and message (trial_controller_util.go:53-58)."""
    if job_message:
        message = f"{message}. Job message: {job_message}"
    if job_reason:
        reason = f"{reason}. Job reason: {job_reason}"
    return reason, message


def mark_trial_succeeded(trial: Trial, job_reason: str = "", job_message: str = "") -> None:
    reason, message = _with_job(TRIAL_SUCCEEDED, "Trial has succeeded", job_reason, job_message)
    _finish(trial.status, "Succeeded", "True", reason, message)


def mark_trial_metrics_unavailable(
    trial: Trial, job_reason: str = "", job_message: str = ""
) -> None:
    reason, message = _with_job(
        TRIAL_METRICS_UNAVAILABLE, "Metrics are not available", job_reason, job_message
    )
    _finish(trial.status, "MetricsUnavailable", "True", reason, message)


def mark_trial_failed(trial: Trial, job_reason: str = "", job_message: str = "") -> None:
    reason, message = _with_job(TRIAL_FAILED, "Trial has failed", job_reason, job_message)
    _finish(trial.status, "Failed", "True", reason, message)


def mark_trial_killed(trial: Trial, message: str) -> None:
    _finish(trial.status, "Killed", "True", TRIAL_KILLED, message)


def mark_trial_early_stopped(trial: Trial) -> None:
    """Katib's condition (medianstop service.py SetTrialStatus); why is told by an event."""
    _finish(trial.status, "EarlyStopped", "True", TRIAL_EARLY_STOPPED, "Trial is early stopped")


def reset_trial(trial: Trial) -> None:
    """Back to pending (an interrupted run is started again from scratch)."""
    trial.status.conditions = [c for c in trial.status.conditions or [] if c.type == "Created"]
    trial.status.start_time = None
    trial.status.completion_time = None
    trial.status.observation = None


def objective_value(trial: Trial) -> float | None:
    """The objective metric of a trial, extracted with its strategy (Katib's rule)."""
    return metric_value(
        trial, (trial.spec.objective.objective_metric_name or "") if trial.spec.objective else ""
    )


def metric_value(trial: Trial, name: str) -> float | None:
    """The trial's value of metric ``name`` under its objective's strategy (Katib's rule:
    :mod:`pykatib.api.metric_rule`)."""
    observation = trial.status.observation
    objective = trial.spec.objective
    if observation is None or objective is None:
        return None
    strategy = metric_rule.strategy_of(
        ((s.name, s.value) for s in objective.metric_strategies or []), name
    )
    for metric in observation.metrics or []:
        if metric.name == name:
            return metric_rule.pick(strategy, metric.latest, metric.min, metric.max)
    return None


def has_objective(trial: Trial) -> bool:
    return objective_value(trial) is not None


# --- suggestions ------------------------------------------------------------------------------

SUGGESTION_CREATED = "SuggestionCreated"
SUGGESTION_RUNNING = "SuggestionRunning"
SUGGESTION_FAILED = "SuggestionFailed"
# pykatib: the algorithm has nothing more to suggest (Katib has no reason of its own for it).
SUGGESTION_END_REACHED = "SuggestionEndReached"
# Katib's reasons when the experiment ends or restarts (experiment_controller_util.go:160-200).
SUGGESTION_EXPERIMENT_SUCCEEDED = "Experiment is succeeded"
SUGGESTION_RESTARTING = "Experiment is restarting"


def mark_suggestion_running(suggestion: Suggestion) -> None:
    """Katib's MarkSuggestionStatusRunning (suggestions/v1beta1/util.go:128)."""
    remove_condition(suggestion.status, "Succeeded")
    set_condition(suggestion.status, "Running", "True", SUGGESTION_RUNNING, "Suggestion is running")


def mark_suggestion_restarting(suggestion: Suggestion) -> None:
    """The experiment restarts (resumePolicy FromVolume): experiment_controller_util.go:186."""
    remove_condition(suggestion.status, "Succeeded")
    set_condition(
        suggestion.status, "Running", "False", SUGGESTION_RESTARTING, "Suggestion is not running"
    )


def mark_suggestion_succeeded(suggestion: Suggestion, reason: str, message: str) -> None:
    """Katib's MarkSuggestionStatusSucceeded (util.go:137): Running turns False."""
    if suggestion.status.condition("Running") is not None:
        set_condition(
            suggestion.status,
            "Running",
            "False",
            "Suggestion is succeeded",
            "Suggestion is not running",
        )
    set_condition(suggestion.status, "Succeeded", "True", reason, message)
    if suggestion.status.completion_time is None:
        suggestion.status.completion_time = now()


def mark_suggestion_failed(suggestion: Suggestion, message: str) -> None:
    _finish(suggestion.status, "Failed", "True", SUGGESTION_FAILED, message)


def suggestion_completed(suggestion: Suggestion) -> bool:
    return suggestion.status.has("Succeeded") or suggestion.status.has("Failed")


def complete_suggestion(exp: Experiment, suggestion: Suggestion) -> bool:
    """What Katib does to the suggestion when its experiment completes; returns whether it changed.

    Never: Succeeded, can't be restarted; FromVolume: Succeeded, can be restarted; LongRunning:
    left Running (experiment_controller.go:190-197, experiment_controller_util.go:140-180).
    """
    if suggestion_completed(suggestion):
        return False
    policy = exp.spec.resume_policy or "Never"
    if policy == "Never":
        message = "Suggestion is succeeded, can't be restarted"
    elif policy == "FromVolume":
        message = "Suggestion is succeeded, suggestion volume is not deleted, can be restarted"
    else:
        return False
    mark_suggestion_succeeded(suggestion, SUGGESTION_EXPERIMENT_SUCCEEDED, message)
    return True


# --- the experiment's summary -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ranked:
    """What the summary keeps of a succeeded or early-stopped trial: enough to rank it and to
    name it as the optimal trial, not the trial itself (a completed trial costs little memory)."""

    value: float | None
    # Each of the trial's objectives (multi-objective) by metric name: its value or None.
    objectives: dict[str, float | None]
    assignments: tuple[tuple[str | None, str | None], ...]
    metrics: tuple[dict[str, Any], ...] | None  # the observation's, None without one

    @classmethod
    def of(cls, trial: Trial, value: float | None) -> _Ranked:
        objective = trial.spec.objective
        observation = trial.status.observation
        return cls(
            value=value,
            objectives={
                o.name or "": metric_value(trial, o.name or "")
                for o in (objective.objectives or [] if objective else [])
            },
            assignments=tuple((a.name, a.value) for a in trial.spec.parameter_assignments or []),
            metrics=tuple(m.model_dump() for m in observation.metrics or [])
            if observation is not None
            else None,
        )

    def optimal(self, name: str) -> OptimalTrial:
        return OptimalTrial(
            best_trial_name=name,
            parameter_assignments=[
                ParameterAssignment(name=n, value=v) for n, v in self.assignments
            ],
            observation=Observation(metrics=[Metric(**m) for m in self.metrics])
            if self.metrics is not None
            else None,
        )


class TrialsSummary:
    """Katib's counters and optimal trial, kept as trials change phase.

    :meth:`update` is told of every change of a trial's phase or objective value (the
    controller's cache calls it); :meth:`apply` writes the summary into an experiment's status
    and costs nothing per unchanged trial, so a completed trial costs nothing on later passes.
    Katib's trial-name lists are not kept: the store makes them from its trials' phases when it
    is read (a list names every trial, so writing it at every change would cost more the more
    trials there are). No trial object is kept: a ranked trial's values and what its
    optimal-trial entry shows (:class:`_Ranked`), by name.
    """

    def __init__(self) -> None:
        self.order: dict[str, int] = {}  # creation order
        self.counts: dict[str, int] = dict.fromkeys(ALL_PHASES, 0)
        # Succeeded and early stopped trials: the ones ranked.
        self.ranked: dict[str, _Ranked] = {}
        self.best: str | None = None
        self.best_value = 0.0
        self._maximize: bool | None = None  # what ``best`` was ranked by
        self._best_stale = False
        self._changed: set[str] = set(ALL_PHASES)  # counters not yet written to the status
        self._optimal_changed = False
        self._pareto_stale = True
        self._written_to: int | None = None  # id() of the status last written

    def update(self, trial: Trial, old: str | None, phase: str, value: float | None) -> None:
        """``trial`` is now in ``phase`` with objective ``value`` (``old``: its phase before,
        ``None`` for a trial new to the summary)."""
        name = trial.name
        self.order.setdefault(name, len(self.order))
        if old != phase:
            if old is not None:
                self.counts[old] -= 1
                self._changed.add(old)
            self.counts[phase] += 1
            self._changed.add(phase)
        if name in self.ranked:
            del self.ranked[name]
            self._pareto_stale = True
            if self.best == name:
                self._best_stale = True
        if phase in RANKED_PHASES:
            self.ranked[name] = _Ranked.of(trial, value)
            self._pareto_stale = True
            if math.isnan(value or 0.0) or math.isnan(self.best_value):
                self._best_stale = True  # NaN ranks by position alone: rank them all again
            elif value is not None and not self._best_stale and self._takes_over(name, value):
                self.best, self.best_value, self._optimal_changed = name, value, True

    def _takes_over(self, name: str, value: float) -> bool:
        best = self.best
        if best is None:
            return True
        if value == self.best_value:  # a tie goes to the trial created first
            return self.order[name] < self.order[best]
        return value > self.best_value if self._maximize else value < self.best_value

    def _rank_all(self) -> None:
        self.best, self.best_value = None, 0.0
        for name in sorted(self.ranked, key=self.order.__getitem__):
            value = self.ranked[name].value
            if value is not None and (
                self.best is None
                or (value > self.best_value if self._maximize else value < self.best_value)
            ):
                self.best, self.best_value = name, value
        self._best_stale, self._optimal_changed = False, True

    def apply(self, exp: Experiment) -> bool:
        """Write the summary into ``exp.status``; returns whether the goal is reached.

        Zero counters are left out, as Katib's ``omitempty`` fields are, and so are the
        trial-name lists (a status read from the store has them: they are dropped).
        """
        objective = exp.spec.objective
        maximize = objective is not None and objective.type == "maximize"
        if maximize != self._maximize:
            self._maximize, self._best_stale = maximize, True
        if self._best_stale:
            self._rank_all()
        s = exp.status
        if self._written_to != id(s):
            self._written_to = id(s)
            for field in _LIST_FIELDS:
                setattr(s, field, None)
            self._changed.update(ALL_PHASES)
            self._optimal_changed = self._pareto_stale = True
        if self._changed:
            s.trials = len(self.order) or None
        for phase in self._changed:
            setattr(s, _COUNT_FIELDS[phase], self.counts[phase] or None)
        self._changed.clear()
        if self.best is not None and self._optimal_changed:
            s.current_optimal_trial = self.ranked[self.best].optimal(self.best)
        self._optimal_changed = False
        if objective is not None and objective.objectives and self._pareto_stale:
            done = sorted(self.ranked, key=self.order.__getitem__)
            front = _front(done, lambda n: self.ranked[n].objectives.get, objective)
            s.pareto_optimal_trials = [self.ranked[n].optimal(n) for n in front] or None
            self._pareto_stale = False
        goal = objective.goal if objective is not None else None
        if self.best is None or goal is None:
            return False
        return self.best_value >= goal if maximize else self.best_value <= goal


_LIST_FIELDS = tuple(f for f in ExperimentStatus.model_fields if f.endswith("_trial_list"))
_COUNT_FIELDS = {
    PENDING: "trials_pending",
    RUNNING: "trials_running",
    SUCCEEDED: "trials_succeeded",
    FAILED: "trials_failed",
    KILLED: "trials_killed",
    EARLY_STOPPED: "trials_early_stopped",
    METRICS_UNAVAILABLE: "trial_metrics_unavailable",
}


def update_trials_summary(
    exp: Experiment,
    trials: Sequence[Trial] | Mapping[str, Trial],
    phases: Mapping[str, str] | None = None,
    values: Mapping[str, float | None] | None = None,
) -> bool:
    """Counters and the optimal trial from scratch; returns whether the goal is reached (the
    control plane keeps a :class:`TrialsSummary` instead).

    ``trials`` by name or in order; ``phases`` and ``values`` are caches of
    :func:`trial_phase` and :func:`objective_value`.
    """
    summary = TrialsSummary()
    for trial in trials.values() if isinstance(trials, Mapping) else trials:
        phase = phases[trial.name] if phases is not None else trial_phase(trial)
        value = None
        if phase in RANKED_PHASES:
            value = values[trial.name] if values is not None else objective_value(trial)
        summary.update(trial, None, phase, value)
    return summary.apply(exp)


def pareto_front(trials: Sequence[Trial], objective: ObjectiveSpec) -> list[Trial]:
    """The trials no other trial dominates on ``objective.objectives`` (pykatib extension).

    Only trials with a value for every objective take part; values are negated for maximize so
    that smaller is better everywhere.
    """
    by_name = {t.name: t for t in trials}
    front = _front(
        [t.name for t in trials], lambda n: lambda m: metric_value(by_name[n], m), objective
    )
    return [by_name[n] for n in front]


def _front(
    names: Sequence[str],
    values_of: Callable[[str], Callable[[str], float | None]],
    objective: ObjectiveSpec,
) -> list[str]:
    """The names of :func:`pareto_front`'s trials; ``values_of(name)(metric)`` is a trial's
    value of an objective metric."""
    items = objective.objectives or []
    points: list[tuple[str, tuple[float, ...]]] = []
    for name in names:
        value_of = values_of(name)
        values = []
        for item in items:
            v = value_of(item.name or "")
            if v is None:
                break
            values.append(-v if item.type == "maximize" else v)
        else:
            points.append((name, tuple(values)))
    front = []
    for name, p in points:
        dominated = any(
            all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p))
            for _, q in points
        )
        if not dominated:
            front.append(name)
    return front


def counts(exp: Experiment) -> tuple[int, int, int]:
    """(completed, failed for maxFailedTrialCount, active) from the status counters."""
    s = exp.status
    completed = (
        (s.trials_succeeded or 0)
        + (s.trials_failed or 0)
        + (s.trials_killed or 0)
        + (s.trials_early_stopped or 0)
        + (s.trial_metrics_unavailable or 0)
    )
    failed = (s.trials_failed or 0) + (s.trial_metrics_unavailable or 0)
    active = (s.trials_pending or 0) + (s.trials_running or 0)
    return completed, failed, active


def update_experiment_condition(exp: Experiment, goal_reached: bool, suggestion_done: bool) -> None:
    """Katib's UpdateExperimentStatusCondition: goal, then failures, then budget, then the end."""
    completed, failed, active = counts(exp)
    spec = exp.spec
    if goal_reached:
        mark_experiment_succeeded(
            exp,
            EXPERIMENT_GOAL_REACHED,
            "Experiment has succeeded because Objective goal has reached",
        )
    elif (
        spec.max_failed_trial_count is not None
        and failed != 0
        and failed >= spec.max_failed_trial_count
    ):
        mark_experiment_failed(
            exp, EXPERIMENT_FAILED, "Experiment has failed because max failed count has reached"
        )
    elif spec.max_trial_count is not None and completed >= spec.max_trial_count:
        mark_experiment_succeeded(
            exp,
            EXPERIMENT_MAX_TRIALS_REACHED,
            "Experiment has succeeded because max trial count has reached",
        )
    elif suggestion_done and active == 0:
        mark_experiment_succeeded(
            exp,
            EXPERIMENT_SUGGESTION_END_REACHED,
            "Experiment has succeeded because suggestion service has reached the end",
        )
    else:
        mark_experiment_running(exp)
