"""The store's reads and writes, on every database (see conftest.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import experiment

from pykatib.api.errors import ConflictError, NotFoundError
from pykatib.api.models import ObjectMeta, Trial, TrialSpec
from pykatib.control.controller import Controller
from pykatib.metrics.observation import ObservationPoint
from pykatib.store import Changes, Store


def _trial(name: str) -> Trial:
    return Trial(metadata=ObjectMeta(name=name, namespace="default"), spec=TrialSpec())


def test_experiment_round_trip_and_conflict(store: Store) -> None:
    exp = experiment("print('loss=1')")
    store.create_experiment(exp, "/somewhere")
    got = store.get_experiment("default", "exp")
    assert got.spec == exp.spec
    assert store.experiment_source_dir("default", "exp") == "/somewhere"
    with pytest.raises(ConflictError):
        store.create_experiment(exp)
    with pytest.raises(NotFoundError, match='experiment "nope" not found'):
        store.get_experiment("default", "nope")
    got.spec.max_trial_count = 9
    assert store.update_experiment_spec(got) == 2
    assert store.get_experiment("default", "exp").spec.max_trial_count == 9


def test_one_transaction_per_step_and_cascade_delete(store: Store) -> None:
    exp = experiment("print('loss=1')")
    store.create_experiment(exp)
    stamp = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    points = [ObservationPoint("loss", str(0.5 - i / 10), stamp, i) for i in range(3)]
    exp.status.trials = 2
    store.commit(
        "default",
        "exp",
        Changes(
            experiment=exp,
            trials=[_trial("exp-a"), _trial("exp-b")],
            observations={"exp-a": points},
        ),
    )
    assert [t.name for t in store.list_trials("default", "exp")] == ["exp-a", "exp-b"]
    assert store.get_experiment("default", "exp").status.trials == 2
    assert store.list_observations("default", "exp-a") == points  # microseconds kept
    assert store.objective_series("default", "exp", "loss") == {"exp-a": [0.5, 0.4, 0.3]}
    # A failing step leaves nothing half-written.
    with pytest.raises(NotFoundError):
        store.commit(
            "default", "exp", Changes(trials=[_trial("exp-c")], observations={"missing": points})
        )
    assert [t.name for t in store.list_trials("default", "exp")] == ["exp-a", "exp-b"]
    store.delete_experiment("default", "exp")
    assert store.list_trials() == []
    with pytest.raises(NotFoundError):
        store.list_observations("default", "exp-a")


QUADRATIC = """
import sys
lr = float(sys.argv[1].split("=", 1)[1])
print(f"loss={(lr - 0.03) ** 2:.8f}")
"""


def test_an_experiment_runs_on_each_database(store: Store, tmp_path: Path) -> None:
    ctl = Controller(store, home=tmp_path / "home")
    exp = experiment(QUADRATIC, maxTrialCount=4, parallelTrialCount=2)
    ctl.apply(exp, tmp_path)
    [done] = ctl.run([("default", "exp")])
    assert done.status.trials_succeeded == 4
    fresh = Store(store.url)  # another process's view
    assert fresh.get_experiment("default", "exp").status.trials_succeeded == 4
    suggestion, _ = fresh.get_suggestion("default", "exp")
    assert suggestion.status.suggestion_count == 4
    assert {s.name for s in suggestion.status.suggestions} == {t.name for t in fresh.list_trials()}
    fresh.close()


def test_trial_namespaces_finds_a_trial_by_name_alone(store: Store) -> None:
    """Katib's DB manager API names a trial without its namespace."""
    for namespace in ("default", "other"):
        exp = experiment("print('loss=1')")
        exp.metadata.namespace = namespace
        store.create_experiment(exp)
        trial = _trial("exp-a")
        trial.metadata.namespace = namespace
        store.commit(namespace, "exp", Changes(trials=[trial]))
    store.commit("default", "exp", Changes(trials=[_trial("exp-b")]))
    assert store.trial_namespaces("exp-a") == ["default", "other"]
    assert store.trial_namespaces("exp-b") == ["default"]
    assert store.trial_namespaces("exp") == []
    if store.engine.dialect.name == "sqlite":  # an index lookup, not a scan of every trial
        with store.engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT namespace FROM trials WHERE name = 'exp-a'"
            ).all()
        assert "USING INDEX ix_trials_name" in " ".join(str(row[-1]) for row in plan), plan


def test_an_observation_time_in_another_zone_is_kept_as_the_same_instant(store: Store) -> None:
    store.create_experiment(experiment("print('loss=1')"))
    zone = timezone(timedelta(hours=2))
    when = datetime(2024, 5, 1, 14, 0, 0, 654321, tzinfo=zone)
    store.commit(
        "default",
        "exp",
        Changes(
            trials=[_trial("exp-a")],
            observations={"exp-a": [ObservationPoint("loss", "1", when, 0)]},
        ),
    )
    [point] = store.list_observations("default", "exp-a")
    assert point.timestamp == when and point.timestamp.utcoffset() == timedelta(0)
