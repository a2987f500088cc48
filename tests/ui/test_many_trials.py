"""Views of an experiment of more trials than a chart draws one by one: parallel coordinates
draws the best hundred and a sample of the others, and says so. The trials are written
straight into the store (as the control plane commits them), then served by a real server."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from pykatib_server import Server, start_server
from ui_browser import expect

from pykatib.api.defaults import set_defaults
from pykatib.api.models import Experiment, Trial
from pykatib.control import status as st
from pykatib.store import Changes, Store

NS, NAME, TRIALS = "default", "many", 450


def _experiment() -> Experiment:
    container = {"name": "main", "image": "python:3", "command": ["true"]}
    exp = Experiment.model_validate(
        {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Experiment",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {
                "objective": {"type": "minimize", "objectiveMetricName": "loss"},
                "algorithm": {"algorithmName": "random"},
                "maxTrialCount": TRIALS,
                "parameters": [
                    {
                        "name": "x",
                        "parameterType": "double",
                        "feasibleSpace": {"min": "0", "max": "1"},
                    }
                ],
                "trialTemplate": {
                    "primaryContainerName": "main",
                    "trialParameters": [{"name": "x", "reference": "x"}],
                    "trialSpec": {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "spec": {"template": {"spec": {"containers": [container]}}},
                    },
                },
            },
        }
    )
    set_defaults(exp)
    return exp


def _trial(i: int, x: float) -> Trial:
    return Trial.model_validate(
        {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Trial",
            "metadata": {
                "name": f"{NAME}-{i:04d}",
                "namespace": NS,
                "labels": {"katib.kubeflow.org/experiment": NAME},
            },
            "spec": {
                "objective": {"type": "minimize", "objectiveMetricName": "loss"},
                "parameterAssignments": [{"name": "x", "value": str(x)}],
                "primaryContainerName": "main",
            },
            "status": {
                "conditions": [{"type": "Succeeded", "status": "True", "reason": "TrialSucceeded"}],
                "observation": {"metrics": [{"name": "loss", "latest": str(x), "min": str(x)}]},
            },
        }
    )


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server holding a succeeded experiment of TRIALS trials (loss = x)."""
    tmp = tmp_path_factory.mktemp("ui-many")
    db = f"sqlite:///{tmp / 'many.db'}"
    store = Store(db)
    store.create_experiment(_experiment())
    rng = random.Random(0)
    trials = [_trial(i, rng.random()) for i in range(TRIALS)]
    store.commit(NS, NAME, Changes(trials=trials))
    exp = store.get_experiment(NS, NAME)
    exp.status.trials = exp.status.trials_succeeded = TRIALS
    st.mark_experiment_succeeded(exp, "ExperimentMaxTrialsReached", "test data")
    store.commit(NS, NAME, Changes(experiment=exp))
    store.close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYKATIB_HOME", str(tmp / "home"))
        server = start_server(tmp, db)
    yield server
    server.stop()


def test_parallel_coordinates_draw_a_sample_and_say_so(many: Server, page: Any) -> None:
    page.goto(f"{many.url}/#/experiments/{NS}/{NAME}/parallel")
    chart = page.locator(f"[data-chart=parallel][data-trials='{TRIALS}'][data-drawn]")
    expect(chart).to_have_attribute("data-lines", "400")
    note = f"400 of {TRIALS} trials drawn: the best 100 and 300 others"
    expect(page.locator(".tab-content")).to_contain_text(note)


def test_history_draws_every_trial(many: Server, page: Any) -> None:
    page.goto(f"{many.url}/#/experiments/{NS}/{NAME}/history")
    expect(page.locator("[data-chart=history][data-drawn]")).to_have_attribute(
        "data-points", str(TRIALS)
    )
