"""The control plane's in-memory view of one experiment (an informer cache, in Kubernetes terms).

Loaded from the store when the controller first looks at an experiment; every change the
reconcilers make is written to the store and kept here, so a reconcile step never re-reads what
it already knows. Phases and objective values are cached per trial because every step
summarises every trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykatib.api.models import Experiment, Suggestion, Trial
from pykatib.control import status as st
from pykatib.earlystop.base import EarlyStoppingRule
from pykatib.metrics.summary import MetricSummary
from pykatib.suggest.base import Algorithm, TrialResult


@dataclass
class ExperimentState:
    experiment: Experiment
    suggestion: Suggestion
    source_dir: Path
    trials: dict[str, Trial] = field(default_factory=dict)
    phases: dict[str, str] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    # Running trials' metrics, accumulated as observations arrive.
    summaries: dict[str, MetricSummary] = field(default_factory=dict)
    algorithm: Algorithm | None = None
    algorithm_state: Any = None
    results: dict[str, TrialResult] = field(default_factory=dict)
    last_written: dict[str, Any] | None = None
    # Early stopping: the rule; and every trial's objective values in report order (those of
    # trials finished before this process started are loaded only when early stopping is on).
    early_stopping: EarlyStoppingRule | None = None
    series: dict[str, list[float]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.experiment.namespace, self.experiment.name

    def add_trial(self, trial: Trial) -> None:
        self.trials[trial.name] = trial
        self.refresh(trial)

    def refresh(self, trial: Trial) -> None:
        """Recompute the cached phase and objective value after a trial changed."""
        self.phases[trial.name] = st.trial_phase(trial)
        self.values[trial.name] = st.objective_value(trial)
        self.results.pop(trial.name, None)

    def active(self) -> list[Trial]:
        return [self.trials[n] for n, p in self.phases.items() if p in st.ACTIVE_PHASES]

    def history(self) -> list[TrialResult]:
        """Every trial as the algorithm sees it; completed trials' views are cached."""
        out = []
        for name, trial in self.trials.items():
            result = self.results.get(name)
            if result is None:
                result = _trial_result(
                    trial, self.phases[name], self.values[name], self.series.get(name, ())
                )
                if self.phases[name] in st.COMPLETED_PHASES:
                    self.results[name] = result
            out.append(result)
        return out


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
