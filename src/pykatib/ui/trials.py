"""The trials of one experiment as compact rows (name, phase, parameters, metric values): what
every view of the experiment page is drawn from, read once from the store and kept while the
experiment's trials are unchanged."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pykatib.api.models import Experiment, Trial
from pykatib.control import status as st
from pykatib.server.kinds import KINDS
from pykatib.store import Store

NUMERIC_TYPES = ("double", "int", "discrete")


@dataclass(frozen=True)
class Objective:
    """The experiment's objectives (one, or several with pykatib's extension), in order."""

    names: list[str]
    types: list[str]  # "minimize" / "maximize"

    @property
    def main(self) -> str:
        return self.names[0] if self.names else ""

    def better(self, a: float, b: float) -> bool:
        return a > b if self.types and self.types[0] == "maximize" else a < b


@dataclass
class TrialRow:
    number: int  # creation order, from 0
    name: str
    phase: str
    params: dict[str, float | str]
    metrics: dict[str, float | None]
    created: str | None
    completed: str | None


@dataclass
class Rows:
    experiment: Experiment
    objective: Objective
    metric_names: list[str]
    parameters: list[dict[str, Any]]  # name, parameterType, feasibleSpace
    trials: list[TrialRow]
    best: str | None = field(default=None)

    def objective_values(self) -> list[float | None]:
        return [t.metrics.get(self.objective.main) for t in self.trials]


def _word(value: Any) -> str:
    """An enum field's word (the models may hold the enum or, validated, its value)."""
    return str(getattr(value, "value", value))


def objective_of(exp: Experiment) -> Objective:
    spec = exp.spec.objective
    if spec is None:
        return Objective([], [])
    if spec.objectives:
        names = [o.name or "" for o in spec.objectives]
        types = [_word(o.type) if o.type else "minimize" for o in spec.objectives]
        return Objective(names, types)
    kind = _word(spec.type) if spec.type else "minimize"
    return Objective([spec.objective_metric_name or ""], [kind])


def _metric_names(exp: Experiment, objective: Objective) -> list[str]:
    names = list(objective.names)
    spec = exp.spec.objective
    for extra in (spec.additional_metric_names if spec else None) or []:
        if extra not in names:
            names.append(extra)
    return names


def _param_value(raw: str | None, numeric: bool) -> float | str:
    if raw is None:
        return ""
    if numeric:
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row(number: int, trial: Trial, numeric: set[str], metric_names: list[str]) -> TrialRow:
    params = {
        p.name or "": _param_value(p.value, p.name in numeric)
        for p in trial.spec.parameter_assignments or []
    }
    return TrialRow(
        number=number,
        name=trial.metadata.name or "",
        phase=st.trial_phase(trial),
        params=params,
        metrics={m: st.metric_value(trial, m) for m in metric_names},
        created=_stamp(trial.metadata.creation_timestamp),
        completed=_stamp(trial.status.completion_time),
    )


def _best(objective: Objective, trials: list[TrialRow]) -> str | None:
    best: TrialRow | None = None
    for t in trials:
        value = t.metrics.get(objective.main)
        if value is None or t.phase not in st.RANKED_PHASES:
            continue
        if best is None or objective.better(value, best.metrics[objective.main] or 0.0):
            best = t
    return best.name if best else None


def build_rows(exp: Experiment, trials: list[Trial]) -> Rows:
    objective = objective_of(exp)
    metric_names = _metric_names(exp, objective)
    parameters = [p.to_dict() for p in exp.spec.parameters or []]
    numeric = {p["name"] for p in parameters if p.get("parameterType") in NUMERIC_TYPES}
    trial_rows = [_row(i, t, numeric, metric_names) for i, t in enumerate(trials)]
    optimal = exp.status.current_optimal_trial
    best = optimal.best_trial_name if optimal and optimal.best_trial_name else None
    rows = Rows(exp, objective, metric_names, parameters, trial_rows)
    rows.best = best or _best(objective, trial_rows)
    return rows


class RowsCache:
    """The rows of each experiment read lately, read again only when one of the namespace's
    trials, or the experiment, changed (the store's resourceVersions say so, read without
    any JSON), so paging and sorting 10,000 trials does not parse them again."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], tuple[Any, Rows]] = {}

    def get(self, store: Store, namespace: str, name: str) -> Rows:
        exp = store.get_experiment(namespace, name)  # NotFoundError when there is none
        versions = KINDS["trials"].versions(store, namespace)
        stamp = (exp.metadata.uid, exp.metadata.resource_version, hash(tuple(versions)))
        key = (namespace, name)
        with self._lock:
            cached = self._rows.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        rows = build_rows(exp, store.list_trials(namespace, name))
        with self._lock:
            self._rows[key] = (stamp, rows)
            while len(self._rows) > self.size:
                self._rows.pop(next(iter(self._rows)))
        return rows
