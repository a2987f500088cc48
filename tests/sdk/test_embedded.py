"""KatibClient embedded: Katib's own example through the SDK, with the control plane in the
background (real trial processes, real SQLite in a tmp PYKATIB_HOME)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from standins import STANDINS, katib_example, rewrite_commands

from pykatib import KatibClient
from pykatib.api.errors import InvalidExperimentError, NotFoundError
from pykatib.control import status as st
from pykatib.sdk import AlreadyExistsError, InvalidError, MetricLog, ResourceNotFoundError


@pytest.fixture
def client() -> Iterator[KatibClient]:
    with KatibClient(namespace="kubeflow") as c:
        yield c


def _long_running(max_trials: int = 3) -> dict:
    data = rewrite_commands(katib_example("resume-experiment/long-running-resume.yaml"), STANDINS)
    data["spec"]["objective"].pop("goal")  # run to maxTrialCount, to be restarted
    data["spec"]["maxTrialCount"] = max_trials
    data["spec"]["parallelTrialCount"] = min(2, max_trials)
    data["spec"]["maxFailedTrialCount"] = max_trials
    return data


def test_katib_example_end_to_end(client: KatibClient) -> None:
    name = "long-running-resume"
    created = client.create_experiment(_long_running())
    assert created.name == name and created.namespace == "kubeflow"
    assert created.metadata.uid and created.metadata.resource_version

    done = client.wait_for_experiment_condition(name, polling_interval=0.1, timeout=60)
    assert client.is_experiment_succeeded(name, experiment=done)
    assert not client.is_experiment_running(name)
    assert client.is_experiment_created(name)
    assert {c.type for c in client.get_experiment_conditions(name)} >= {"Created", "Succeeded"}
    assert done.status.condition("Succeeded").reason == st.EXPERIMENT_MAX_TRIALS_REACHED

    best = client.get_optimal_hyperparameters(name)
    assert best == client.get_experiment(name).status.current_optimal_trial
    assert best.best_trial_name and {a.name for a in best.parameter_assignments} == {
        "lr",
        "momentum",
    }

    trials = client.list_trials(name)
    assert len(trials) == 3 and all(t.status.has("Succeeded") for t in trials)
    assert [t.name for t in client.list_trials(name, trial_condition="Succeeded")] == [
        t.name for t in trials
    ]
    assert client.list_trials(name, trial_condition="Failed") == []
    details = client.get_success_trial_details(name)
    assert {d["name"] for d in details} == {t.name for t in trials}
    assert client.get_trial(best.best_trial_name).spec.parameter_assignments == (
        best.parameter_assignments
    )

    logs = client.get_trial_metrics(best.best_trial_name)
    assert logs and all(isinstance(m, MetricLog) for m in logs)
    assert {m.metric.name for m in logs} == {"loss"}
    latest_loss = next(m.latest for m in best.observation.metrics if m.name == "loss")
    assert logs[-1].metric.value == latest_loss
    assert logs[0].to_dict().keys() == {"timeStamp", "metric"}
    assert client.get_trial_metrics(best.best_trial_name, metric_names=["accuracy"]) == []

    lines = list(client.get_job_logs(name, best.best_trial_name))
    assert any("Train Epoch" in line and "loss=" in line for line in lines), lines

    suggestion = client.get_suggestion(name)
    assert suggestion.status.suggestion_count == 3
    assert [s.name for s in client.list_suggestions()] == [name]
    assert [e.name for e in client.list_experiments()] == [name]
    assert client.list_experiments(namespace="default") == []

    # LongRunning: raising maxTrialCount restarts it; the new trials run to the new count.
    edited = client.edit_experiment_budget(name, max_trial_count=5)
    assert edited.spec.max_trial_count == 5 and not st.is_completed(edited)
    again = client.wait_for_experiment_condition(name, polling_interval=0.1, timeout=60)
    assert again.status.trials == 5 and again.status.trials_succeeded == 5
    assert len(client.list_trials(name)) == 5

    client.delete_experiment(name)
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_experiment(name)
    # Both pykatib's error and what the Katib SDK raises.
    assert isinstance(err.value, NotFoundError) and isinstance(err.value, RuntimeError)
    assert client.list_trials(name) == []


def test_budget_edit_refused_for_resume_policy_never(client: KatibClient) -> None:
    data = _long_running(max_trials=1)
    data["spec"]["resumePolicy"] = "Never"
    data["metadata"]["name"] = "never"
    client.create_experiment(data)
    client.wait_for_experiment_condition("never", polling_interval=0.1, timeout=60)
    with pytest.raises(InvalidError) as err:
        client.edit_experiment_budget("never", max_trial_count=3)
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, InvalidExperimentError)
    assert "resumePolicy" in str(err.value)
    assert client.get_experiment("never").spec.max_trial_count == 1
    with pytest.raises(ValueError):
        client.edit_experiment_budget("never")


def test_create_from_yaml_path_and_text_and_refusals(client: KatibClient, tmp_path: Path) -> None:
    data = _long_running(max_trials=1)
    data["metadata"] = {"generateName": "gen-"}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    created = client.create_experiment(str(path), namespace="team")
    assert created.name.startswith("gen-") and len(created.name) == 9
    assert created.namespace == "team"

    data["metadata"] = {"name": "from-text"}
    text_created = client.create_experiment(yaml.safe_dump(data))
    assert text_created.namespace == "kubeflow"  # the client's namespace
    with pytest.raises(AlreadyExistsError):
        client.create_experiment(yaml.safe_dump(data))

    data["metadata"] = {"name": "bad"}
    data["spec"]["algorithm"]["algorithmName"] = "no-such-algorithm"
    data["spec"]["parallelTrialCount"] = 0
    with pytest.raises(InvalidError) as err:
        client.create_experiment(data)
    assert len(err.value.errors) >= 2
    assert any("algorithmName" in e for e in err.value.errors)
    with pytest.raises(ResourceNotFoundError):
        client.get_experiment("bad")
    for name, ns in ((created.name, "team"), ("from-text", None)):
        client.wait_for_experiment_condition(name, ns, polling_interval=0.1, timeout=60)


def test_close_leaves_experiments_resumable(tmp_path: Path) -> None:
    data = _long_running(max_trials=2)
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    container["command"] = [
        sys.executable,
        "-c",
        "import time; time.sleep(30); print('loss=1')",
        "--lr=${trialParameters.learningRate}",
        "--momentum=${trialParameters.momentum}",
    ]
    data["metadata"]["name"] = "slow"
    first = KatibClient(namespace="kubeflow")
    first.create_experiment(data)
    first.wait_for_experiment_condition("slow", expected_condition="Running", polling_interval=0.1)
    first.close()
    first.close()  # idempotent
    stopped = KatibClient(namespace="kubeflow")
    try:
        exp = stopped.get_experiment("slow")
        assert not st.is_completed(exp)
        assert (exp.status.trials_running or 0) == 0  # put back to Pending, to run again
        with pytest.raises(TimeoutError):
            stopped.wait_for_experiment_condition("slow", polling_interval=0.1, timeout=0.5)
        assert stopped.transport.driving() == [("kubeflow", "slow")]  # type: ignore[attr-defined]
    finally:
        stopped.close()


def test_a_control_plane_thread_that_dies_is_reported_not_waited_on(
    client: KatibClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread driving an experiment fails before it can drive (here: opening its store):
    waiting on the experiment raises with the cause instead of timing out, and a new client
    drives it to the end."""
    from pykatib.sdk import embedded

    real_store = embedded.Store

    def locked(url: str) -> object:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(embedded, "Store", locked)
    data = _long_running(max_trials=1)
    data["metadata"]["name"] = "orphan"
    client.create_experiment(data)
    with pytest.raises(RuntimeError, match="database is locked"):
        client.wait_for_experiment_condition("orphan", polling_interval=0.1, timeout=60)
    assert client.transport.driving() == []  # type: ignore[attr-defined]

    monkeypatch.setattr(embedded, "Store", real_store)
    with KatibClient(namespace="kubeflow") as fresh:
        done = fresh.wait_for_experiment_condition("orphan", polling_interval=0.1, timeout=60)
    assert done.status.trials_succeeded == 1
