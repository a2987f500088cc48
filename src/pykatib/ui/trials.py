"""The trials of one experiment as compact rows (name, phase, parameters, metric values): what
every view of the experiment page is drawn from, read once from the store and kept while the
experiment's trials are unchanged.

Rows are built from the trials' stored JSON (:func:`pykatib.ui.reads.trial_documents`), not
from validated :class:`~pykatib.api.models.Trial` models, which cost five times as much at
10,000 trials; :func:`trial_phase` and :func:`metric_value` read the JSON as
:func:`pykatib.control.status.trial_phase` and :func:`~pykatib.control.status.metric_value`
read the models (tests/ui/test_rows.py holds them to it).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pykatib.api import metric_rule, phase_rule
from pykatib.api.models import Experiment
from pykatib.control import status as st
from pykatib.store import Store
from pykatib.ui import reads

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
    # What views computed from these rows (parameter importance, the plots' columns), kept as
    # long as they are.
    derived: dict[Any, Any] = field(default_factory=dict)
    _locks: dict[Any, threading.Lock] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def derive(self, key: Any, compute: Callable[[Rows], Any]) -> Any:
        """``compute(self)``, once per ``key``: a second caller (a request during the start-up
        warming) waits for the first's result rather than computing it again."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.derived:
                self.derived[key] = compute(self)
            return self.derived[key]


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


# --- one trial's stored JSON -------------------------------------------------------------------


def trial_phase(data: dict[str, Any]) -> str:
    """The phase of a trial's JSON, as :func:`pykatib.control.status.trial_phase` decides it."""
    return phase_rule.phase(phase_rule.document_conditions(data))


def metric_value(data: dict[str, Any], name: str) -> float | None:
    """The value of metric ``name`` in a trial's JSON by its strategy (latest, min or max), as
    :func:`pykatib.control.status.metric_value` reads it (but one that is not finite is None:
    no plot or JSON can show it)."""
    value = metric_rule.document_value(data, name)
    return value if value is not None and math.isfinite(value) else None


def _param_value(raw: Any, numeric: bool) -> float | str:
    if raw is None:
        return ""
    if numeric:
        try:
            return float(raw)
        except (TypeError, ValueError):
            return str(raw)
    return str(raw)


def _time(raw: Any) -> str | None:
    """An RFC 3339 time of the JSON as the models print it (``+00:00``, not ``Z``)."""
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).isoformat()
    except ValueError:
        return str(raw)


def trial_row(
    number: int,
    name: str,
    created: datetime | None,
    data: dict[str, Any],
    numeric: set[str],
    metric_names: list[str],
) -> TrialRow:
    params = {
        p.get("name") or "": _param_value(p.get("value"), p.get("name") in numeric)
        for p in (data.get("spec") or {}).get("parameterAssignments") or []
    }
    return TrialRow(
        number=number,
        name=name,
        phase=trial_phase(data),
        params=params,
        metrics={m: metric_value(data, m) for m in metric_names},
        created=created.isoformat() if created is not None else None,
        completed=_time((data.get("status") or {}).get("completionTime")),
    )


# --- an experiment's rows ----------------------------------------------------------------------


def _best(objective: Objective, trials: list[TrialRow]) -> str | None:
    best: TrialRow | None = None
    for t in trials:
        value = t.metrics.get(objective.main)
        if value is None or t.phase not in st.RANKED_PHASES:
            continue
        if best is None or objective.better(value, best.metrics[objective.main] or 0.0):
            best = t
    return best.name if best else None


class _Shape:
    """What turning an experiment's trial JSON into rows needs to know of the experiment."""

    def __init__(self, exp: Experiment) -> None:
        self.objective = objective_of(exp)
        self.metric_names = _metric_names(exp, self.objective)
        self.parameters = [p.to_dict() for p in exp.spec.parameters or []]
        self.numeric = {
            p["name"] for p in self.parameters if p.get("parameterType") in NUMERIC_TYPES
        }

    def row(
        self, number: int, name: str, created: datetime | None, data: dict[str, Any]
    ) -> TrialRow:
        return trial_row(number, name, created, data, self.numeric, self.metric_names)


def build_rows(exp: Experiment, trials: list[TrialRow]) -> Rows:
    """The experiment's rows from its trials' rows in creation order (numbered again where a
    deleted trial left a gap)."""
    shape = _Shape(exp)
    numbered = [
        t if t.number == i else dataclasses.replace(t, number=i) for i, t in enumerate(trials)
    ]
    optimal = exp.status.current_optimal_trial
    best = optimal.best_trial_name if optimal and optimal.best_trial_name else None
    rows = Rows(exp, shape.objective, shape.metric_names, shape.parameters, numbered)
    rows.best = best or _best(shape.objective, numbered)
    return rows


@dataclass
class _Snapshot:
    """What the cache keeps of one experiment: the rows, and the resourceVersion of each trial
    they were built from."""

    stamp: Any
    rows: Rows
    trials: dict[str, TrialRow]  # in creation order
    versions: dict[str, int]


class RowsCache:
    """The rows of each experiment read lately. One aggregate query over the namespace's
    trials (:func:`pykatib.ui.reads.change_digest`) says whether anything changed; if so, their
    resourceVersions say which trials did, and only those are read again. So paging and sorting
    10,000 trials, or a live page of a running experiment, doesn't read them all again."""

    REREAD_ALL = 1000  # more changed trials than this: one read of all is quicker

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._snapshots: dict[tuple[str, str], _Snapshot] = {}
        self._building: dict[tuple[str, str], threading.Lock] = {}

    def get(self, store: Store, namespace: str, name: str) -> Rows:
        key = (namespace, name)
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one reader per experiment: a second request waits for the first's rows
            return self._get(store, namespace, name)

    def _get(self, store: Store, namespace: str, name: str) -> Rows:
        # NotFoundError when there is none; its spec and counters are used, not its lists
        exp = store.get_experiment(namespace, name, trial_lists=False)
        digest = reads.change_digest(store, namespace)
        stamp = (exp.metadata.uid, exp.metadata.resource_version, digest)
        key = (namespace, name)
        with self._lock:
            cached = self._snapshots.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached.rows
        versions = reads.trial_versions(store, namespace, name)
        shape = _Shape(exp)
        changed: list[str] | None = None  # None: read them all
        trials: dict[str, TrialRow] = {}
        if cached is not None and cached.stamp[0] == exp.metadata.uid:
            changed = [n for n, v in versions.items() if cached.versions.get(n) != v]
            if len(changed) > self.REREAD_ALL:
                changed = None
            else:
                trials = {n: t for n, t in cached.trials.items() if n in versions}
        if changed is None or changed:
            for trial_name, created, data in reads.trial_documents(store, namespace, name, changed):
                old = trials.get(trial_name)
                number = old.number if old is not None else len(trials)  # a new one goes last
                trials[trial_name] = shape.row(number, trial_name, created, data)
        snapshot = _Snapshot(stamp, build_rows(exp, list(trials.values())), trials, versions)
        with self._lock:
            self._snapshots[key] = snapshot
            while len(self._snapshots) > self.size:
                self._snapshots.pop(next(iter(self._snapshots)))
        return snapshot.rows
