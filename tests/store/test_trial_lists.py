"""Katib's trial-name lists are made from the trials when an experiment is read, not stored in
its status (issue 13: stored, they were written again whole at each trial's change). Every
reader answers them as Katib shows them: in creation order, empty ones left out, where Katib's
JSON has them; on every database, after a restart, and after a store of the previous schema
is migrated (and back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from databases import KINDS, own_database
from helpers import experiment
from sqlalchemy import MetaData, create_engine, insert, select

from pykatib.api.models import Condition, ObjectMeta, Trial, TrialSpec
from pykatib.control import status as st
from pykatib.store import Changes, Store
from pykatib.store.migrate import alembic_config
from pykatib.store.reader import open_reader
from pykatib.store.reader.queries import TRIAL_LISTS

# The conditions that put a trial in each phase.
CONDITIONS = {
    st.PENDING: [],
    st.RUNNING: ["Running"],
    st.SUCCEEDED: ["Running", "Succeeded"],
    st.FAILED: ["Failed"],
    st.KILLED: ["Killed"],
    st.EARLY_STOPPED: ["EarlyStopped"],
    st.METRICS_UNAVAILABLE: ["MetricsUnavailable"],
}
# Trials in creation order, phases mixed; no trial is killed (that list is left out).
PHASES = {
    "exp-a": st.SUCCEEDED,
    "exp-b": st.RUNNING,
    "exp-c": st.FAILED,
    "exp-d": st.SUCCEEDED,
    "exp-e": st.PENDING,
    "exp-f": st.EARLY_STOPPED,
    "exp-g": st.METRICS_UNAVAILABLE,
    "exp-h": st.SUCCEEDED,
}
CREATED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from own_database(request.param, tmp_path / "store.db", "pykatib_lists")


def trial(name: str, phase: str, namespace: str = "default") -> Trial:
    found = Trial(metadata=ObjectMeta(name=name, namespace=namespace), spec=TrialSpec())
    found.status.conditions = [Condition(type=c, status="True") for c in CONDITIONS[phase]]
    return found


def expected(phases: dict[str, str]) -> dict[str, list[str]]:
    """Katib's lists of trials in ``phases`` (creation order): JSON name -> names, non-empty."""
    lists = {
        key: [n for n, p in phases.items() if p == phase] for phase, key in TRIAL_LISTS.items()
    }
    return {key: names for key, names in lists.items() if names}


def lists_of(status: dict[str, Any]) -> dict[str, list[str]]:
    return {k: v for k, v in status.items() if k.endswith("TrialList")}


def stored_statuses(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(store_tables()["experiments"].c.status)).scalars())


def store_tables() -> dict[str, Any]:
    from pykatib.store.schema import experiments, trials

    return {"experiments": experiments, "trials": trials}


def fill(store: Store, namespace: str, phases: dict[str, str]) -> None:
    """An experiment whose trials are in ``phases``, written as the control plane writes them:
    the status (its summary made from the trials) in the same commit."""
    store.create_experiment(experiment("print('loss=1')", namespace=namespace))
    exp = store.get_experiment(namespace, "exp")
    trials = [trial(n, p, namespace) for n, p in phases.items()]
    st.update_trials_summary(exp, trials)
    store.commit(namespace, "exp", Changes(experiment=exp, trials=trials))


def test_every_reader_makes_the_lists_from_the_trials(url: str) -> None:
    store = Store(url)
    fill(store, "default", PHASES)
    fill(store, "team", {"exp-x": st.KILLED, "exp-y": st.RUNNING})
    assert all("TrialList" not in s for s in stored_statuses(store))
    want = {"default": expected(PHASES), "team": expected({"exp-x": "killed", "exp-y": "running"})}
    assert list(want["default"]) == [  # Katib's field order, the killed list left out
        "runningTrialList",
        "pendingTrialList",
        "failedTrialList",
        "succeededTrialList",
        "earlyStoppedTrialList",
        "metricsUnavailableTrialList",
    ]
    reader = open_reader(url)
    assert reader is not None
    try:
        for namespace in ("default", "team"):
            got = store.get_experiment(namespace, "exp").to_dict()
            assert lists_of(got["status"]) == want[namespace]
            assert list(lists_of(got["status"])) == list(want[namespace])
            lean = reader.experiment(namespace, "exp")
            assert lean == got and list(lean["status"]) == list(got["status"])  # key order too
        listed = [e.to_dict() for e in store.list_experiments()]
        assert [lists_of(e["status"]) for e in listed] == [want["default"], want["team"]]
        assert reader.experiments(None) == listed
        assert [e.to_dict() for e in store.list_experiments("team")] == reader.experiments("team")
        # Where no list is shown (tables, the web UI's list), none is read.
        bare = store.get_experiment("default", "exp", trial_lists=False).to_dict()
        assert lists_of(bare["status"]) == {} and bare["status"]["trialsSucceeded"] == 3
        assert reader.experiment("default", "exp", trial_lists=False) == bare
        assert reader.experiments(None, trial_lists=False) == [
            e.to_dict() for e in store.list_experiments(trial_lists=False)
        ]
    finally:
        reader.close()
    # The counters agree with the lists, and a trial that changes phase changes list.
    status = store.get_experiment("default", "exp").status
    assert status.trials_succeeded == len(status.succeeded_trial_list or []) == 3
    moved = store.get_trial("default", "exp-b")
    moved.status.conditions = [Condition(type=c, status="True") for c in ["Running", "Killed"]]
    store.commit("default", "exp", Changes(trials=[moved]))
    store.close()
    restarted = Store(url)  # nothing kept in memory: the lists come from the database
    status = restarted.get_experiment("default", "exp").status
    assert status.running_trial_list is None and status.killed_trial_list == ["exp-b"]
    assert status.succeeded_trial_list == ["exp-a", "exp-d", "exp-h"]
    restarted.close()


def test_the_lists_are_read_from_an_index_alone(tmp_path: Path) -> None:
    """On SQLite a trial's columns after its resource (tens of KiB) are reached through the
    resource's overflow pages: the lists' read must not touch the rows."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    fill(store, "default", PHASES)
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT t.experiment_id, t.name, t.phase FROM trials t "
            "JOIN experiments e ON e.id = t.experiment_id WHERE e.namespace = 'default' "
            "ORDER BY t.id"
        ).all()
        one = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT experiment_id, name, phase FROM trials "
            "WHERE experiment_id IN (1) ORDER BY id"
        ).all()
    store.close()
    assert "COVERING INDEX ix_trials_phase" in str(one), one
    assert "COVERING INDEX ix_trials_phase" in str(plan), plan


def test_an_experiment_with_no_trials_has_no_lists(url: str) -> None:
    store = Store(url)
    store.create_experiment(experiment("print('loss=1')"))
    assert lists_of(store.get_experiment("default", "exp").to_dict()["status"]) == {}
    store.close()


def _store_at_0004(url: str) -> dict[str, list[str]]:
    """A store as revision 0004 left it: trials with no phase column, lists in the status (as
    the previous control plane wrote them). Returns the lists it stored."""
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
    tables = MetaData()
    tables.reflect(engine)
    assert "phase" not in tables.tables["trials"].c
    exp = experiment("print('loss=1')")
    trials = [trial(n, p) for n, p in PHASES.items()]
    st.update_trials_summary(exp, trials)
    status = {**exp.status.to_dict(), **expected(PHASES)}
    data = exp.to_dict()
    data.pop("status")
    with engine.begin() as conn:  # ids from the database: a sequence must count them
        exp_id = conn.execute(
            insert(tables.tables["experiments"]).values(
                namespace="default",
                name="exp",
                resource=json.dumps(data),
                status=json.dumps(status),
                generation=1,
                created_at=CREATED,
                uid="e1",
            )
        ).inserted_primary_key[0]
        for i, t in enumerate(trials):  # one at a time: in creation order
            conn.execute(
                insert(tables.tables["trials"]).values(
                    experiment_id=exp_id,
                    namespace="default",
                    name=t.name,
                    resource=json.dumps(t.to_dict()),
                    uid=f"t{i}",
                    created_at=CREATED,
                )
            )
    engine.dispose()
    return lists_of(status)


def test_a_store_of_the_previous_schema_is_migrated_and_back(url: str) -> None:
    stored = _store_at_0004(url)
    store = Store(url)  # migrates
    trials = store_tables()["trials"]
    with store.engine.connect() as conn:
        rows = conn.execute(select(trials.c.name, trials.c.phase).order_by(trials.c.id))
        phases = {name: phase for name, phase in rows}
    assert phases == PHASES
    [status] = stored_statuses(store)
    assert "TrialList" not in status
    got = store.get_experiment("default", "exp").to_dict()["status"]
    assert lists_of(got) == stored == expected(PHASES)
    assert got["trialsSucceeded"] == 3 and got["trials"] == len(PHASES)
    # A new trial joins; downgrading writes the lists back for the older pykatib.
    store.commit("default", "exp", Changes(trials=[trial("exp-i", st.SUCCEEDED)]))
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    [status] = stored_statuses(store)
    assert lists_of(json.loads(status)) == expected({**PHASES, "exp-i": st.SUCCEEDED})
    store.close()
    again = Store(url)  # and upgraded once more
    assert lists_of(again.get_experiment("default", "exp").to_dict()["status"])[
        "succeededTrialList"
    ] == ["exp-a", "exp-d", "exp-h", "exp-i"]
    again.close()
