"""The control plane's in-memory view of one experiment (an informer cache, in Kubernetes terms).

Loaded from the store when the controller first looks at an experiment; every change the
reconcilers make is written to the store and kept here, so a reconcile step never re-reads what
it already knows. Phases and objective values are cached per trial, and what is derived from
every trial (the status summary, the active trials, the algorithm's history) is kept up to date
as trials change, so that a completed trial costs nothing on later steps. Only the pending and
running trials are kept whole: a trial that completes leaves its phase, value, summary entry and
algorithm view behind and its object is dropped (the store has it), so that ten thousand
completed trials cost a few MiB, not the 30 KiB each of their objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pykatib.api.models import Experiment, Suggestion, Trial
from pykatib.control import status as st
from pykatib.earlystop.base import CompletedSeries, EarlyStoppingRule
from pykatib.metrics.summary import MetricSummary
from pykatib.suggest.base import Algorithm, TrialResult


@dataclass
class ExperimentState:
    experiment: Experiment
    suggestion: Suggestion
    source_dir: Path
    # The pending and running trials (a completed one is dropped once refreshed).
    trials: dict[str, Trial] = field(default_factory=dict)
    phases: dict[str, str] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    # Running trials' metrics, accumulated as observations arrive.
    summaries: dict[str, MetricSummary] = field(default_factory=dict)
    algorithm: Algorithm | None = None
    algorithm_state: Any = None
    last_written: str | None = None  # the status's JSON, as last written
    # Early stopping: the rule; and every trial's objective values in report order (those of
    # trials finished before this process started are loaded only when early stopping is on,
    # before the trials are added, so that `completed` holds them).
    early_stopping: EarlyStoppingRule | None = None
    series: dict[str, list[float]] = field(default_factory=dict)
    # Kept as trials change (by refresh), so that a pass costs nothing per completed trial:
    # the status summary, the pending and running trials, and the algorithm's history (one
    # entry a trial in creation order; a completed trial's made once, an active one's at each
    # history()).
    summary: st.TrialsSummary = field(default_factory=st.TrialsSummary, init=False)
    # The series of the Succeeded and EarlyStopped trials, the ones early stopping compares with.
    completed: CompletedSeries = field(default_factory=CompletedSeries, init=False)
    _active: set[str] = field(default_factory=set, init=False)
    _history: list[TrialResult | None] = field(default_factory=list, init=False)
    _history_at: dict[str, int] = field(default_factory=dict, init=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.experiment.namespace, self.experiment.name

    @cached_property
    def metric_names(self) -> tuple[str, ...]:
        """The objective metric, then the other objectives' and the additional metrics (made
        once: the objective can't be edited)."""
        objective = self.experiment.spec.objective
        if objective is None:
            return ()
        names = [objective.objective_metric_name or ""]
        extra = [o.name or "" for o in objective.objectives or []]
        names += [n for n in [*extra, *(objective.additional_metric_names or [])] if n not in names]
        return tuple(names)

    def add_trial(self, trial: Trial) -> None:
        self.refresh(trial)

    def refresh(self, trial: Trial) -> None:
        """Recompute the cached phase and objective value after a trial changed."""
        name = trial.name
        old = self.phases.get(name)
        phase = self.phases[name] = st.trial_phase(trial)
        value = self.values[name] = st.objective_value(trial)
        self.summary.update(trial, old, phase, value)
        if phase in st.ACTIVE_PHASES:
            self._active.add(name)
        else:
            self._active.discard(name)
        if phase in st.RANKED_PHASES:
            self.completed.add(name, self.series.get(name, _NO_SERIES))
        else:
            self.completed.discard(name)
        if name not in self._history_at:
            self._history_at[name] = len(self._history)
            self._history.append(None)
        if phase in st.ACTIVE_PHASES:
            self.trials[name] = trial
        else:  # its view is final: made now, and the object let go
            self._history[self._history_at[name]] = _trial_result(
                trial, phase, value, self.series.get(name, ())
            )
            self.trials.pop(name, None)

    def summarize(self) -> bool:
        """Write the trials summary into the experiment's status; returns whether the goal is
        reached."""
        return self.summary.apply(self.experiment)

    def active(self) -> list[Trial]:
        """The pending and running trials, in creation order."""
        at = self._history_at
        return [self.trials[n] for n in sorted(self._active, key=at.__getitem__)]

    def running_series(self) -> dict[str, Sequence[float]]:
        """The series so far of the running trials (what early stopping compares with, besides
        ``completed``)."""
        return {
            name: self.series.get(name, _NO_SERIES)
            for name in self._active
            if self.phases[name] == st.RUNNING
        }

    def history(self) -> list[TrialResult]:
        """Every trial as the algorithm sees it, in creation order; completed trials' views are
        built once (as they complete), active trials' at every call."""
        for name in self._active:
            self._history[self._history_at[name]] = _trial_result(
                self.trials[name], self.phases[name], self.values[name], self.series.get(name, ())
            )
        return list(self._history)  # type: ignore[arg-type]  # every entry is built above


# One object, so that refreshing a completed trial that has no series is no change.
_NO_SERIES: tuple[float, ...] = ()


def _trial_result(
    trial: Trial, phase: str, value: float | None, series: Sequence[float]
) -> TrialResult:
    metrics: dict[str, float] = {}
    observation = trial.status.observation
    if phase in st.COMPLETED_PHASES and phase not in st.RANKED_PHASES:
        # A failed, killed or metrics-unavailable trial has no result (Katib stores none).
        value, observation = None, None
    for metric in (observation.metrics or []) if observation else []:
        v = st.metric_value(trial, metric.name or "")
        if v is not None:
            metrics[metric.name or ""] = v
    objectives = trial.spec.objective.objectives if trial.spec.objective else None
    return TrialResult(
        name=trial.name,
        assignments={a.name or "": a.value or "" for a in trial.spec.parameter_assignments or []},
        state=phase,
        value=value,
        metrics=metrics,
        labels=dict(trial.spec.labels or {}),
        values=tuple(metrics.get(o.name or "") for o in objectives or []),
        intermediate=tuple(series),
    )
