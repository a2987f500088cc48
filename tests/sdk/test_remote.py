"""KatibClient against ``pykatib server`` (its ASGI app in this process, over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from standins import STANDINS, katib_example, rewrite_commands

from pykatib import KatibClient, search
from pykatib.sdk import AlreadyExistsError, InvalidError, ResourceNotFoundError

pytest.importorskip("fastapi")
server_app = pytest.importorskip("pykatib.server.app")
from fastapi.testclient import TestClient

from pykatib.sdk.remote import Remote


@pytest.fixture
def client(pykatib_home: Path) -> Iterator[KatibClient]:
    app, _state = server_app.create_app(home=pykatib_home)
    # TestClient runs the server's lifespan: its control plane.
    with (
        TestClient(app) as http,
        KatibClient(namespace="kubeflow", transport=Remote(http=http)) as c,
    ):
        yield c


def objective(parameters):  # type: ignore[no-untyped-def]
    print(f"loss={(parameters['x'] - 1) ** 2}")


def test_server_flow(client: KatibClient) -> None:
    data = rewrite_commands(katib_example("resume-experiment/long-running-resume.yaml"), STANDINS)
    data["spec"]["objective"].pop("goal")
    data["spec"].update(maxTrialCount=2, parallelTrialCount=2, maxFailedTrialCount=2)
    created = client.create_experiment(data)
    assert created.namespace == "kubeflow" and created.metadata.uid
    with pytest.raises(AlreadyExistsError):
        client.create_experiment(data)

    name = created.name
    done = client.wait_for_experiment_condition(name, polling_interval=0.1, timeout=60)
    assert done.status.trials_succeeded == 2
    assert client.get_optimal_hyperparameters(name) == done.status.current_optimal_trial
    trials = client.list_trials(name)
    assert len(trials) == 2 and client.get_trial(trials[0].name).name == trials[0].name
    assert client.get_suggestion(name).status.suggestion_count == 2
    assert [e.name for e in client.list_experiments()] == [name]

    # The observation log and the trial's output, over HTTP.
    best = done.status.current_optimal_trial.best_trial_name
    logs = client.get_trial_metrics(best)
    assert logs and {m.metric.name for m in logs} >= {"loss"}
    stored = client.get_trial(best).status.observation.metrics
    [loss] = [m for m in stored if m.name == "loss"]
    assert loss.min in [m.metric.value for m in logs if m.metric.name == "loss"]
    assert any("loss=" in line for line in client.get_job_logs(name, best))

    edited = client.edit_experiment_budget(name, max_trial_count=3)
    assert edited.spec.max_trial_count == 3
    again = client.wait_for_experiment_condition(name, polling_interval=0.1, timeout=60)
    assert again.status.trials == 3

    client.tune(
        "remote-tune",
        objective,
        {"x": search.double(-2, 2)},
        objective_metric_name="loss",
        objective_type="minimize",
        max_trial_count=2,
        parallel_trial_count=2,
    )
    assert (
        client.wait_for_experiment_condition(
            "remote-tune", polling_interval=0.1
        ).status.trials_succeeded
        == 2
    )

    bad = dict(data, metadata={"name": "bad"})
    bad["spec"] = dict(data["spec"], parallelTrialCount=0)
    with pytest.raises(InvalidError) as err:
        client.create_experiment(bad)
    assert any(e.startswith("spec.parallelTrialCount") for e in err.value.errors)

    client.delete_experiment(name)
    with pytest.raises(ResourceNotFoundError):
        client.get_experiment(name)


def test_observation_log_endpoint_filters_and_errors(client: KatibClient) -> None:
    """Katib's DB manager GetObservationLog (pkg/db/v1beta1/db_interface.go), over HTTP."""
    name = "obs"
    client.tune(
        name,
        objective,
        {"x": search.double(-2, 2)},
        objective_metric_name="loss",
        objective_type="minimize",
        max_trial_count=1,
        parallel_trial_count=1,
    )
    client.wait_for_experiment_condition(name, polling_interval=0.1)
    [trial] = client.list_trials(name)
    http = client.transport.http
    base = f"/apis/kubeflow.org/v1beta1/namespaces/kubeflow/trials/{trial.name}/observationlog"
    everything = http.get(base).json()["metricLogs"]
    assert everything and all(set(m) == {"timeStamp", "metric", "step"} for m in everything)
    only = http.get(base, params={"metricName": "nope"}).json()["metricLogs"]
    assert only == []
    later = http.get(base, params={"startTime": "2999-01-01T00:00:00Z"}).json()["metricLogs"]
    assert later == []
    bad = http.get(base, params={"startTime": "yesterday"})
    assert bad.status_code == 400 and bad.json()["kind"] == "Status"
    missing = http.get(base.replace(trial.name, "no-such-trial"))
    assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
