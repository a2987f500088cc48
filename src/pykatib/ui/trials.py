"""The trials of one experiment as compact rows (name, phase, parameters, metric values): what
every view of the experiment page is drawn from, read once from the store and kept while the
experiment's trials are unchanged."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pykatib.api.errors import NotFoundError
from pykatib.api.models import Experiment, Trial
from pykatib.control import status as st
from pykatib.control.controller import EXPERIMENT_LABEL
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
    # What views computed from these rows (parameter importance), kept as long as they are.
    derived: dict[Any, Any] = field(default_factory=dict)


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


@dataclass
class _Snapshot:
    """What the cache keeps of one experiment: the rows, and the trials they were built from
    with the resourceVersion of each (and of the namespace's other trials, to skip them)."""

    stamp: Any
    rows: Rows
    trials: dict[str, Trial]  # this experiment's, in creation order
    versions: dict[str, int]  # every trial of the namespace seen, by name


def _experiment_of(trial: Trial) -> str | None:
    labels = trial.metadata.labels or {}
    if EXPERIMENT_LABEL in labels:
        return labels[EXPERIMENT_LABEL]
    owners = trial.metadata.owner_references or []
    return owners[0].get("name") if owners and isinstance(owners[0], dict) else None


class RowsCache:
    """The rows of each experiment read lately. The store's resourceVersions of the namespace's
    trials (read without any JSON) say what changed since: only the trials that changed are
    read again, so paging and sorting 10,000 trials, or a live page of a running experiment,
    doesn't parse them all again."""

    REREAD_ALL = 1000  # more changed trials than this: one list is quicker than one get each

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._snapshots: dict[tuple[str, str], _Snapshot] = {}

    def get(self, store: Store, namespace: str, name: str) -> Rows:
        exp = store.get_experiment(namespace, name)  # NotFoundError when there is none
        listed = [(n, v) for _uid, _ns, n, v in KINDS["trials"].versions(store, namespace)]
        versions = dict(listed)
        stamp = (exp.metadata.uid, exp.metadata.resource_version, hash(tuple(listed)))
        key = (namespace, name)
        with self._lock:
            cached = self._snapshots.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached.rows
        if cached is None or cached.stamp[0] != exp.metadata.uid:
            trials = {t.metadata.name or "": t for t in store.list_trials(namespace, name)}
        else:
            trials = self._refreshed(store, namespace, name, cached, listed)
        snapshot = _Snapshot(stamp, build_rows(exp, list(trials.values())), trials, versions)
        with self._lock:
            self._snapshots[key] = snapshot
            while len(self._snapshots) > self.size:
                self._snapshots.pop(next(iter(self._snapshots)))
        return snapshot.rows

    def _refreshed(
        self,
        store: Store,
        namespace: str,
        name: str,
        cached: _Snapshot,
        listed: list[tuple[str, int]],
    ) -> dict[str, Trial]:
        changed = [n for n, v in listed if cached.versions.get(n) != v]
        if len(changed) > self.REREAD_ALL:
            return {t.metadata.name or "": t for t in store.list_trials(namespace, name)}
        present = {n for n, _ in listed}
        trials = {n: t for n, t in cached.trials.items() if n in present}
        for trial_name in changed:
            try:
                trial = store.get_trial(namespace, trial_name)
            except NotFoundError:
                continue
            if _experiment_of(trial) == name:
                trials[trial_name] = trial  # a new one goes last: the newest
        return trials
