"""A trial's completion writes an experiment status whose size does not grow with the trials
completed before it (issue 13): the trial-name lists are not stored, the store makes them from
the trials on read. Counted (the stored text), not timed; the control plane is the real one,
its trials finished one by one by a scripted runner, its store a SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from test_reconcile_cost import ScriptedRunner, scripted_experiment

from pykatib.control import status as st
from pykatib.control.controller import Controller
from pykatib.store import Store
from pykatib.store.schema import experiments

TRIALS = 1000
PARALLEL = 10


def stored_status(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(select(experiments.c.status)).scalar_one())


def test_a_completion_writes_as_much_at_a_thousand_trials_as_at_ten(tmp_path: Path) -> None:
    store, ctl, key, runner = scripted_experiment(tmp_path, "size", TRIALS + PARALLEL, PARALLEL)
    ctl.reconcile(key)
    written: dict[int, str] = {}  # completed trials before -> the status one completion wrote
    completed = 0
    while completed < TRIALS:
        if completed in (10, TRIALS - 1):
            before = stored_status(store)
            runner.finish(loss=1.0 / (completed + 2))  # each the best so far
            ctl.reconcile(key)
            written[completed] = stored_status(store)
            assert written[completed] != before  # the completion was written
            completed += 1
            continue
        for _ in range(min(PARALLEL, TRIALS - 1 - completed) if completed > 10 else 1):
            runner.finish(loss=1.0 / (completed + 2))
            completed += 1
        ctl.reconcile(key)
    small, large = written[10], written[TRIALS - 1]
    assert "TrialList" not in small + large
    # The same text but for the best trial's name and the digits of counters, times and values
    # (a stored list would be ~10 bytes longer a trial).
    assert shape(small) == shape(large)
    assert len(large) - len(small) < 40
    # The lists read back name every trial, in creation order, by its phase...
    stored_trials = store.list_trials(*key)
    status = store.get_experiment(*key).status
    assert status.trials_succeeded == TRIALS
    assert len(status.succeeded_trial_list or []) == TRIALS
    assert_lists_are_the_trials(store, key)
    assert status.current_optimal_trial.best_trial_name == status.succeeded_trial_list[-1]
    assert [t.name for t in stored_trials][:TRIALS] == status.succeeded_trial_list
    # ... and after a restart: a new control plane, whose runner knows none of the running
    # trials, changes what it changes and the lists still follow the trials.
    fresh = Controller(store, home=tmp_path / "home", runner_factory=ScriptedRunner)
    fresh.reconcile(key)
    assert "TrialList" not in stored_status(store)
    assert_lists_are_the_trials(store, key)


def shape(status: str) -> str:
    return re.sub(r"\d", "", re.sub(r'"bestTrialName":"[^"]*"', "", status))


def assert_lists_are_the_trials(store: Store, key: tuple[str, str]) -> None:
    status = store.get_experiment(*key).status
    trials = store.list_trials(*key)
    for phase in st.ALL_PHASES:
        field = "metrics_unavailable_trial_list"
        if phase != st.METRICS_UNAVAILABLE:
            field = f"{phase}_trial_list"
        names = [t.name for t in trials if st.trial_phase(t) == phase]
        assert getattr(status, field) == (names or None), phase
