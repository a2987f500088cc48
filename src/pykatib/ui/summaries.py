"""One line per experiment for the experiments list: its status, algorithm, age, trial counts
and best objective value, all from the experiment's own status (no trial is read)."""

from __future__ import annotations

from typing import Any

from pykatib.api.models import Experiment
from pykatib.control import status as st
from pykatib.ui.trials import objective_of


def phase(exp: Experiment) -> str:
    """The experiment's status word, as Katib's UI shows it: the first of these conditions
    that is true."""
    for type_ in ("Succeeded", "Failed", "Restarting", "Running", "Created"):
        if exp.status.has(type_):
            return type_
    return "Created"


def _strategy(exp: Experiment, metric: str) -> str:
    strategies = (exp.spec.objective.metric_strategies if exp.spec.objective else None) or []
    found = next((s.value for s in strategies if s.name == metric and s.value), None)
    return str(getattr(found, "value", found)) if found is not None else "latest"


def _best_value(exp: Experiment, metric: str) -> float | None:
    optimal = exp.status.current_optimal_trial
    if optimal is None or optimal.observation is None:
        return None
    strategy = _strategy(exp, metric)
    for m in optimal.observation.metrics or []:
        if m.name == metric:
            raw = m.min if strategy == "min" else m.max if strategy == "max" else m.latest
            try:
                return float(raw) if raw is not None else None
            except ValueError:
                return None
    return None


def summary(exp: Experiment) -> dict[str, Any]:
    s = exp.status
    objective = objective_of(exp)
    optimal = s.current_optimal_trial
    return {
        "namespace": exp.metadata.namespace,
        "name": exp.metadata.name,
        "status": phase(exp),
        "reason": st.completion_reason(exp),
        "algorithm": exp.spec.algorithm.algorithm_name if exp.spec.algorithm else None,
        "created": exp.metadata.creation_timestamp.isoformat()
        if exp.metadata.creation_timestamp
        else None,
        "completed": s.completion_time.isoformat() if s.completion_time else None,
        "objective": {
            "metric": objective.main,
            "type": objective.types[0] if objective.types else None,
        },
        "trials": {
            "total": s.trials or 0,
            "succeeded": s.trials_succeeded or 0,
            "running": s.trials_running or 0,
            "pending": s.trials_pending or 0,
            "failed": s.trials_failed or 0,
            "killed": s.trials_killed or 0,
            "earlyStopped": s.trials_early_stopped or 0,
        },
        "maxTrialCount": exp.spec.max_trial_count,
        "bestTrial": optimal.best_trial_name if optimal and optimal.best_trial_name else None,
        "bestValue": _best_value(exp, objective.main),
    }
