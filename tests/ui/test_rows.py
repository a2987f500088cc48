"""The UI's rows, read from the trials' stored JSON (pykatib.ui.reads, pykatib.ui.trials), say
what the models and the status rules say of the same trials; the cache reads again only the
trials that changed; the change digest moves with every write; the batched observation read
gives each trial's series. On each database (no browser needed)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from databases import KINDS, empty_database

from pykatib.api.defaults import set_defaults
from pykatib.api.models import Experiment, Trial
from pykatib.control import status as st
from pykatib.metrics.observation import ObservationPoint
from pykatib.store import Changes, Store
from pykatib.ui import api, reads
from pykatib.ui.trials import RowsCache

NS, NAME = "rows", "exp"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    for url in empty_database(request.param, tmp_path / "rows.db"):
        s = Store(url)
        yield s
        s.close()


def _experiment() -> Experiment:
    exp = Experiment.model_validate(
        {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Experiment",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {
                "objective": {
                    "type": "maximize",
                    "objectiveMetricName": "acc",
                    "additionalMetricNames": ["loss"],
                    "metricStrategies": [{"name": "loss", "value": "min"}],
                },
                "algorithm": {"algorithmName": "random"},
                "parameters": [
                    {
                        "name": "lr",
                        "parameterType": "double",
                        "feasibleSpace": {"min": "0", "max": "1"},
                    },
                    {
                        "name": "opt",
                        "parameterType": "categorical",
                        "feasibleSpace": {"list": ["a", "b"]},
                    },
                ],
                "trialTemplate": {
                    "primaryContainerName": "main",
                    "trialParameters": [{"name": "lr", "reference": "lr"}],
                    "trialSpec": {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "main", "image": "x", "command": ["true"]}
                                    ]
                                }
                            }
                        },
                    },
                },
            },
        }
    )
    set_defaults(exp)
    return exp


# Each trial's conditions (type, status) and its metrics (name, min, max, latest).
CASES: list[tuple[list[tuple[str, str]], list[tuple[str, str, str, str]]]] = [
    (
        [("Created", "True"), ("Succeeded", "True")],
        [("acc", "0.1", "0.9", "0.8"), ("loss", "0.2", "3", "0.5")],
    ),
    ([("Created", "True"), ("Running", "True")], [("acc", "0.1", "0.4", "0.4")]),
    (
        [("Created", "True"), ("Running", "False"), ("Failed", "True")],
        [("loss", "unavailable", "2", "2")],
    ),
    ([("Created", "True"), ("EarlyStopped", "True")], [("acc", "0.3", "0.6", "unavailable")]),
    ([("Created", "True"), ("Killed", "True"), ("Succeeded", "True")], [("acc", "1", "2", "nan")]),
    ([("Created", "True"), ("MetricsUnavailable", "True")], [("acc", "x", "y", "not a number")]),
    ([("Created", "True"), ("Succeeded", "False")], []),
    ([], [("acc", "0.5", "0.5", "inf")]),
]


def _trial(exp: Experiment, i: int, conditions: Any, metrics: Any) -> Trial:
    status: dict[str, Any] = {
        "conditions": [{"type": t, "status": s, "reason": "R"} for t, s in conditions]
    }
    if metrics:
        status["observation"] = {
            "metrics": [{"name": n, "min": lo, "max": hi, "latest": v} for n, lo, hi, v in metrics]
        }
    if i % 2 == 0:
        status["completionTime"] = (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Trial.model_validate(
        {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Trial",
            "metadata": {
                "name": f"{NAME}-{i}",
                "namespace": NS,
                "labels": {"katib.kubeflow.org/experiment": NAME},
            },
            "spec": {
                "objective": exp.spec.objective.to_dict() if exp.spec.objective else {},
                "parameterAssignments": [
                    {"name": "lr", "value": str(i / 10)},
                    {"name": "opt", "value": "ab"[i % 2]},
                ],
            },
            "status": status,
        }
    )


def _seed(store: Store) -> Experiment:
    store.create_experiment(_experiment())
    exp = store.get_experiment(NS, NAME)
    trials = [_trial(exp, i, c, m) for i, (c, m) in enumerate(CASES)]
    points = {
        t.metadata.name or "": [ObservationPoint("acc", str(0.1 * s + k), T0, s) for s in range(3)]
        + [ObservationPoint("loss", "unavailable", T0, 0)]
        for k, t in enumerate(trials)
    }
    store.commit(NS, NAME, Changes(trials=trials, observations=points))
    return exp


def _expected(trial: Trial, metric: str) -> float | None:
    value = st.metric_value(trial, metric)
    return value if value is None or math.isfinite(value) else None


def test_rows_say_what_the_models_say(store: Store) -> None:
    _seed(store)
    rows = RowsCache().get(store, NS, NAME)
    trials = store.list_trials(NS, NAME)
    assert [r.name for r in rows.trials] == [t.metadata.name for t in trials]
    assert rows.metric_names == ["acc", "loss"]
    phases = set()
    for number, (row, trial) in enumerate(zip(rows.trials, trials, strict=True)):
        assert row.number == number
        assert row.phase == st.trial_phase(trial)
        phases.add(row.phase)
        for metric in ("acc", "loss"):
            assert row.metrics[metric] == _expected(trial, metric), (row.name, metric)
        assert row.params == {"lr": number / 10, "opt": "ab"[number % 2]}
        assert trial.metadata.creation_timestamp is not None
        assert row.created == trial.metadata.creation_timestamp.isoformat()
        done = trial.status.completion_time
        assert row.completed == (done.isoformat() if done else None)
    assert phases == set(st.ALL_PHASES)  # every phase is covered
    # The best: the highest acc of a succeeded or early stopped trial.
    assert rows.best == f"{NAME}-0"
    # Each by its strategy: loss min (given), acc max (the default for a maximized objective).
    assert rows.trials[0].metrics == {"acc": 0.9, "loss": 0.2}


def test_the_cache_reads_again_only_what_changed(store: Store) -> None:
    exp = _seed(store)
    cache = RowsCache()
    first = cache.get(store, NS, NAME)
    assert cache.get(store, NS, NAME) is first  # nothing changed: the same rows
    digest = reads.change_digest(store, NS)
    assert reads.change_digest(store, NS) == digest

    trial = store.get_trial(NS, f"{NAME}-1")
    st.mark_trial_succeeded(trial)
    store.commit(NS, NAME, Changes(trials=[trial]))
    assert reads.change_digest(store, NS) != digest
    second = cache.get(store, NS, NAME)
    assert second is not first
    assert second.trials[1].phase == st.SUCCEEDED
    unchanged = [i for i in range(len(CASES)) if i != 1]
    assert all(second.trials[i] is first.trials[i] for i in unchanged)  # not read again

    new = _trial(exp, len(CASES), [("Created", "True")], [])
    store.commit(NS, NAME, Changes(trials=[new]))
    third = cache.get(store, NS, NAME)
    assert [t.name for t in third.trials][-1] == new.metadata.name
    assert third.trials[-1].number == len(CASES)
    assert third.trials[-1].phase == st.PENDING


def test_a_deleted_experiment_of_the_same_name_is_read_anew(store: Store) -> None:
    _seed(store)
    cache = RowsCache()
    assert len(cache.get(store, NS, NAME).trials) == len(CASES)
    store.delete_experiment(NS, NAME)
    store.create_experiment(_experiment())
    assert cache.get(store, NS, NAME).trials == []


def test_observation_series_are_each_trials_numeric_reports(store: Store) -> None:
    _seed(store)
    names = [f"{NAME}-{i}" for i in (0, 3, 5)]
    found = reads.observation_series(store, NS, [*names, "no-such-trial"], "acc")
    assert set(found) == set(names)
    for k, name in zip((0, 3, 5), names, strict=True):
        steps, values = found[name]
        assert steps == [0, 1, 2]
        assert values == pytest.approx([k, 0.1 + k, 0.2 + k])
    assert reads.observation_series(store, NS, names, "loss") == {}  # "unavailable": not numeric


def test_intermediate_values_are_the_newest_trials_within_the_points(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(store)
    rows = RowsCache().get(store, NS, NAME)
    monkeypatch.setattr(api, "INTERMEDIATE_POINTS", 7)  # each trial reported acc 3 times
    body = json.loads(api._intermediate_json(store, rows, "acc"))
    assert body["total"] == len(CASES)
    assert [s["name"] for s in body["series"]] == [
        f"{NAME}-{len(CASES) - 2}",
        f"{NAME}-{len(CASES) - 1}",
    ]
    monkeypatch.setattr(api, "INTERMEDIATE_POINTS", 1)  # one trial at least
    body = json.loads(api._intermediate_json(store, rows, "acc"))
    assert [s["name"] for s in body["series"]] == [f"{NAME}-{len(CASES) - 1}"]
