"""KatibClient.tune(): a Python function per trial as a local process, with typed values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykatib import KatibClient, search
from pykatib.sdk import InvalidError


@pytest.fixture
def client() -> Iterator[KatibClient]:
    with KatibClient() as c:
        yield c


def quadratic(parameters):  # type: ignore[no-untyped-def]
    # Runs in the trial's process: everything it uses is imported here.
    import json

    seen = {k: type(v).__name__ for k, v in parameters.items()}
    with open(parameters["record"], "a") as f:
        f.write(json.dumps({"types": seen, "values": parameters}) + "\n")
    x, y = parameters["x"], parameters["y"]
    penalty = {"a": 0.0, "b": 1.0}[parameters["shape"]]
    print(f"loss={(x - 1.0) ** 2 + (y - 2) ** 2 + penalty}")


def test_tune_quadratic_typed_values(client: KatibClient, tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    created = client.tune(
        name="quadratic",
        objective=quadratic,
        parameters={
            "x": search.double(min=-2.0, max=3.0),
            "y": search.int(min=0, max=4),
            "shape": search.categorical(["a", "b"]),
            "record": str(record),
        },
        objective_metric_name="loss",
        objective_type="minimize",
        algorithm_name="random",
        max_trial_count=6,
        parallel_trial_count=3,
    )
    shape = created.spec.parameters[2]
    assert (shape.name, shape.parameter_type) == ("shape", "categorical")
    assert shape.feasible_space.list_ == ["a", "b"]
    done = client.wait_for_experiment_condition("quadratic", polling_interval=0.1, timeout=60)
    assert done.status.trials_succeeded == 6

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 6
    for call in calls:
        assert call["types"] == {"x": "float", "y": "int", "shape": "str", "record": "str"}

    best = client.get_optimal_hyperparameters("quadratic")
    assert best == done.status.current_optimal_trial
    losses = [
        (x - 1.0) ** 2 + (y - 2) ** 2 + {"a": 0.0, "b": 1.0}[s]
        for x, y, s in ((c["values"]["x"], c["values"]["y"], c["values"]["shape"]) for c in calls)
    ]
    [loss] = [m for m in best.observation.metrics if m.name == "loss"]
    assert float(loss.latest) == pytest.approx(min(losses))


def pushed(parameters):  # type: ignore[no-untyped-def]
    import os

    import pykatib

    assert os.environ["TUNE_ENV"] == "yes"
    batch, scale = parameters["batch"], parameters["scale"]
    assert isinstance(batch, int) and isinstance(scale, float), parameters
    for step in range(3):
        pykatib.report_metrics({"score": batch * scale + step}, step=step)


def test_tune_push_collector_discrete_values_and_wait(client: KatibClient) -> None:
    with pytest.warns(UserWarning, match="base_image has no meaning"):
        best = client.tune(
            "pushed",
            pushed,
            {"batch": search.discrete([16, 32]), "scale": search.discrete([0.5, 2.0])},
            base_image="docker.io/pytorch/pytorch:2.2.1-cuda12.1-cudnn8-runtime",
            env_per_trial={"TUNE_ENV": "yes"},
            algorithm_name="grid",
            objective_metric_name="score",
            max_trial_count=4,
            parallel_trial_count=2,
            metrics_collector_config={"kind": "Push"},
            wait=True,
        )
    assert {a.name: a.value for a in best.parameter_assignments} == {"batch": "32", "scale": "2.0"}
    [score] = best.observation.metrics
    assert (score.max, score.latest) == ("66.0", "66.0")
    [trial] = [t for t in client.list_trials("pushed") if t.name == best.best_trial_name]
    steps = client.get_trial_metrics(trial.name)
    assert [m.metric.value for m in steps] == ["64.0", "65.0", "66.0"]


def not_typed(parameters):  # type: ignore[no-untyped-def]
    print("loss=1")


def two_arguments(a, b):  # type: ignore[no-untyped-def]
    pass


def test_tune_refusals(client: KatibClient) -> None:
    with pytest.raises(ValueError, match="no search space"):
        client.tune("t", not_typed, {"a": 1}, objective_metric_name="loss")
    with pytest.raises(ValueError, match="Python literals"):
        client.tune("t", not_typed, {"a": search.int(0, 1), "b": object()})
    with pytest.raises(ValueError, match="one argument"):
        client.tune("t", two_arguments, {"a": search.int(0, 1)})
    with pytest.raises(ValueError, match="lambda"):
        client.tune("t", lambda p: None, {"a": search.int(0, 1)})
    with pytest.raises(ValueError, match="not supported"):
        client.tune("t", model_provider_parameters=object())
    with pytest.raises(InvalidError, match="objectiveMetricName"):
        client.tune("t", not_typed, {"a": search.int(0, 1)})  # Katib requires the metric name
    assert client.list_experiments() == []


def test_resources_per_trial_as_the_katib_sdk_reads_them() -> None:
    from pykatib.sdk.tune import resources

    # gpu is nvidia.com/gpu; other keys are ignored; both requests and limits.
    wanted = {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert resources({"cpu": "1", "memory": "2Gi", "gpu": "1", "disk": "9"}) == {
        "requests": wanted,
        "limits": wanted,
    }
    given = {"limits": {"nvidia.com/gpu": 2}}
    assert resources(given) == given
    assert resources(None) is None
