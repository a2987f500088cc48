"""A completed trial costs nothing on later reconcile passes (issue 13): it is not read from the
store again, nor its phase, objective value or metrics worked out again. Counted, not timed.

The trials run on a scripted runner (the runner interface, :mod:`pykatib.runtime.base`) that
the test finishes one trial at a time, so that every pass is known: the store is a real SQLite
file and the control plane is the real one.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers import experiment
from sqlalchemy import event as sql_event
from sqlalchemy.pool import Pool

from pykatib.control import status as st
from pykatib.control.controller import Controller
from pykatib.metrics.observation import ObservationPoint
from pykatib.runtime.base import Drained, RunRequest, RunStatus, TrialKey, TrialRunner
from pykatib.store import Store

COMPLETE = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
# The store's reads of trials and their observations (per experiment, per trial).
TRIAL_READS = (
    "list_trials",
    "get_trial",
    "list_observations",
    "objective_series",
    "get_suggestion",
)
# How a trial is summarised: each is given the trial (its first argument).
SUMMARIES = ("trial_phase", "objective_value", "metric_value")


class ScriptedRunner(TrialRunner):
    """Trials that run until :meth:`finish` ends one, with the loss it reported."""

    kinds: ClassVar[dict[str, str]] = {"Job": "batch/v1"}

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__(wake)
        self.running: list[TrialKey] = []
        self.done: set[TrialKey] = set()
        self.reports: dict[TrialKey, list[ObservationPoint]] = {}

    def start(self, request: RunRequest) -> dict[str, Any] | None:
        self.running.append(request.key)
        return None

    def finish(self, loss: float) -> TrialKey:
        key = self.running.pop(0)
        when = datetime.now(timezone.utc)
        self.reports[key] = [ObservationPoint("loss", str(loss), when, 0)]
        self.done.add(key)
        return key

    def status(self, key: TrialKey) -> RunStatus | None:
        if key in self.done:
            return RunStatus("succeeded", reason="Completed", exit_code=0, job=COMPLETE)
        return RunStatus("running") if key in self.running else None

    def drain(self, key: TrialKey) -> Drained:
        return Drained(points=self.reports.pop(key, []))

    def stop(self, key: TrialKey, message: str) -> None:
        if key in self.running:
            self.running.remove(key)

    def forget(self, key: TrialKey) -> None:
        self.done.discard(key)


class Calls:
    """Which trials each summary function was given, how often each store read ran, and which
    trials the status summary was told about."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
        self.trials: Counter[str] = Counter()
        self.reads: Counter[str] = Counter()
        self.updates: Counter[str] = Counter()
        for name in SUMMARIES:
            monkeypatch.setattr(st, name, self._counting_trial(getattr(st, name)))
        update = st.TrialsSummary.update

        def counted_update(summary: st.TrialsSummary, trial: Any, *args: Any) -> None:
            self.updates[trial.name] += 1
            update(summary, trial, *args)

        monkeypatch.setattr(st.TrialsSummary, "update", counted_update)
        for name in TRIAL_READS:
            monkeypatch.setattr(store, name, self._counting_read(name, getattr(store, name)))

    def _counting_trial(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(trial: Any, *args: Any, **kwargs: Any) -> Any:
            self.trials[trial.name] += 1
            return function(trial, *args, **kwargs)

        return counted

    def _counting_read(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.reads[name] += 1
            return method(*args, **kwargs)

        return counted

    @contextmanager
    def one_pass(self) -> Iterator[tuple[Counter[str], Counter[str]]]:
        """The calls made inside the block (the counters are cleared first)."""
        self.trials.clear()
        self.reads.clear()
        self.updates.clear()
        yield self.trials, self.reads


def scripted_experiment(
    tmp_path: Path, name: str, trials: int, parallel: int
) -> tuple[Store, Controller, tuple[str, str], ScriptedRunner]:
    """An experiment applied to a controller whose trials a :class:`ScriptedRunner` runs."""
    runners: list[ScriptedRunner] = []

    def scripted(wake: Callable[[], None]) -> ScriptedRunner:
        runners.append(ScriptedRunner(wake))
        return runners[-1]

    store = Store(f"sqlite:///{tmp_path / 'test.db'}")
    ctl = Controller(store, home=tmp_path / "home", runner_factory=scripted)
    exp = experiment(name, maxTrialCount=trials, parallelTrialCount=parallel)
    ctl.apply(exp, tmp_path)
    [runner] = runners
    return store, ctl, (exp.namespace, exp.name), runner


def test_a_completed_trial_is_not_read_or_summarised_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ctl, key, runner = scripted_experiment(tmp_path, "pass", 12, 3)
    ctl.reconcile(key)  # loads the experiment into the control plane's cache; starts 3 trials
    calls = Calls(monkeypatch, store)
    completed: set[str] = set()
    passes = 0
    while True:
        finished = runner.finish(loss=0.5 - 0.01 * passes)[1] if runner.running else None
        with calls.one_pass() as (trials, reads):
            state = ctl.reconcile(key)
        passes += 1
        again = completed & (set(trials) | set(calls.updates))
        assert not again, f"pass {passes}: completed trials summarised again: {again}"
        assert not reads, f"pass {passes}: the store was read again: {dict(reads)}"
        # Only the trials that changed reach the status summary, and it says what a summary
        # made from scratch of every trial says, field for field and in the same order.
        assert set(calls.updates) <= set(trials)
        assert status_json(state) == from_scratch(store, state)
        # The trial that ended in this pass is summarised: the counters do see a pass's work.
        if finished is not None:
            assert trials[finished] > 0 and state.phases[finished] == st.SUCCEEDED
        completed |= {n for n, p in state.phases.items() if p in st.COMPLETED_PHASES}
        # ... and no completed trial is kept whole: the cache holds the active ones alone.
        assert not completed & set(state.trials)
        if st.is_completed(state.experiment):
            break
        assert passes < 100, "the experiment did not complete"
    assert len(completed) == 12
    done = store.get_experiment(*key)
    assert done.status.trials_succeeded == 12
    # The optimal trial is the last one finished (its loss the lowest), found from the cache.
    assert done.status.current_optimal_trial.best_trial_name == runner_last(store, key)


def test_a_pass_where_nothing_changed_does_no_summary_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ctl, key, runner = scripted_experiment(tmp_path, "idle", 40, 2)
    ctl.reconcile(key)
    for i in range(30):  # 30 completed trials, 2 running
        runner.finish(loss=1.0 + i)
        ctl.reconcile(key)
    state = ctl.reconcile(key)
    status = state.experiment.status
    counts = status.trials_succeeded, status.trials_running
    optimal = status.current_optimal_trial
    assert counts == (30, 2)
    optimals = Counter[str]()
    optimal_of = st._Ranked.optimal
    monkeypatch.setattr(
        st._Ranked, "optimal", lambda r, name: optimals.update([name]) or optimal_of(r, name)
    )
    calls = Calls(monkeypatch, store)
    with calls.one_pass() as (trials, reads):
        ctl.reconcile(key)
    # Nothing changed: no trial summarised, no optimal trial made again.
    assert not trials and not reads and not calls.updates and not optimals
    assert (status.trials_succeeded, status.trials_running) == counts
    assert status.current_optimal_trial is optimal
    # One trial ends: it alone is summarised, and counted.
    finished = runner.finish(loss=0.5)[1]
    with calls.one_pass() as (trials, reads):
        state = ctl.reconcile(key)
    assert set(calls.updates) <= set(trials) and finished in calls.updates
    assert status.trials_succeeded == 31
    assert status.current_optimal_trial.best_trial_name == finished
    assert status_json(state) == from_scratch(store, state)


def test_a_control_plane_that_loads_completed_trials_keeps_none_of_them(tmp_path: Path) -> None:
    """Loaded from the store, a completed trial leaves its phase, summary and algorithm view
    behind, not its object (ten thousand of them were 30 KiB each), and the suggestion's
    assignments are counted, not read."""
    store, ctl, key, runner = scripted_experiment(tmp_path, "load", 12, 2)
    ctl.reconcile(key)
    for i in range(5):
        runner.finish(loss=1.0 - 0.1 * i)
        ctl.reconcile(key)
    before = ctl.reconcile(key)
    fresh = Controller(store, home=tmp_path / "home", runner_factory=ScriptedRunner)
    state = fresh.state(key)
    active = {n for n, p in state.phases.items() if p in st.ACTIVE_PHASES}
    assert len(state.phases) == 7 and len(active) == 2
    assert set(state.trials) == active
    # (intermediate series are loaded only with early stopping on; the driving process kept them)
    plain = [dataclasses.replace(t, intermediate=()) for t in before.history()]
    assert state.history() == plain
    assert state.suggestion.status.suggestions is None
    assert state.suggestion.status.suggestion_count == 7
    state.summarize()  # the summary made of what the cache kept, written into the status
    assert status_json(state) == from_scratch(store, state)
    best = state.experiment.status.current_optimal_trial
    assert best == before.experiment.status.current_optimal_trial
    assert best.best_trial_name == runner_last(store, key)  # the lowest loss


def test_a_pass_writes_in_one_transaction_of_a_few_statements(tmp_path: Path) -> None:
    """A pass in which a trial ends and the next one starts: one transaction, each object one
    statement, the step's events one INSERT (an executemany, their counts bumped by the same
    statement where they are stored already: no look-up of the stored ones)."""
    executed: list[str] = []

    def trace(dbapi: Any, *_: Any) -> None:
        dbapi.set_trace_callback(executed.append)

    # Every connection from its opening: the store keeps the one it writes through.
    sql_event.listen(Pool, "connect", trace)
    try:
        _store, ctl, key, runner = scripted_experiment(tmp_path, "sql", 6, 1)
    finally:
        sql_event.remove(Pool, "connect", trace)
    ctl.reconcile(key)
    for _ in range(3):
        runner.finish(loss=0.5)
        executed.clear()
        ctl.reconcile(key)
        # An executemany is traced row by row: one statement, however many rows.
        heads = [" ".join(s.split()[:3]) for s in executed]
        statements = [h for i, h in enumerate(heads) if i == 0 or h != heads[i - 1]]
        # (the spec's generation is looked at once a second, whenever a pass runs then)
        statements = [h for h in statements if "experiments.generation" not in h]
        assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT", statements
        assert statements.count("INSERT INTO events") == 1, statements
        assert not [h for h in statements if h.startswith("SELECT") and "events" in h]
        assert len(statements) <= 8, statements


def status_json(state: Any) -> str:
    return json.dumps(state.experiment.status.to_dict())


def from_scratch(store: Store, state: Any) -> str:
    """The status with its summary made again from every trial as the store holds them (the
    cache keeps only the active ones), as one pass once did."""
    copy = state.experiment.model_copy(deep=True)
    st.update_trials_summary(copy, store.list_trials(*state.key))
    return json.dumps(copy.status.to_dict())


def runner_last(store: Store, key: tuple[str, str]) -> str:
    """The trial whose reported loss is the lowest, as the store holds them (of those that
    reported one)."""
    losses = {}
    for trial in store.list_trials(*key):
        for point in store.list_observations(trial.namespace, trial.name):
            losses[trial.name] = float(point.value)
    return min(losses, key=losses.__getitem__)
