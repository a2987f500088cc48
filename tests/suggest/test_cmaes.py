"""cmaes: Katib's validation, convergence, restarts of the process and of the strategy."""

from __future__ import annotations

import json

import pytest

from pykatib.suggest.base import TrialResult
from pykatib.suggest.cmaes import CmaEs
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, finished, param

TWO = [param("param-1", "int", min="1", max="5"), param("param-2", "int", min="9", max="10")]
SPHERE = [
    param("x", "double", min="-5", max="5"),
    param("y", "double", min="0.01", max="100", distribution="logUniform"),
    param("opt", "categorical", list_=["a", "b"]),
]
S = "spec.algorithm.algorithmSettings"


def sphere(a: dict[str, str]) -> float:
    return (float(a["x"]) - 1) ** 2 + (float(a["y"]) - 1) ** 2


def run(
    settings: dict[str, str], trials: int, batch: int = 1, reload: bool = False
) -> list[TrialResult]:
    exp = experiment("cmaes", SPHERE, settings, objective_type="minimize")
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    while len(history) < trials:
        new = algorithm.suggest(history, batch)
        if reload:  # a control-plane restart after every call
            state = json.loads(json.dumps(algorithm.state()))
            algorithm = create_algorithm(exp)
            algorithm.restore(state)
        history += finished(new, [sphere(p.assignments) for p in new], start=len(history))
    return history


def test_converges_on_a_sphere() -> None:
    history = run({"random_state": "1"}, 120)
    assert min(t.value for t in history if t.value is not None) < 1e-3


def test_restart_of_the_process_changes_nothing() -> None:
    plain = run({"random_state": "4", "sigma": "0.3"}, 40, batch=3)
    reloaded = run({"random_state": "4", "sigma": "0.3"}, 40, batch=3, reload=True)
    assert [t.assignments for t in plain] == [t.assignments for t in reloaded]


@pytest.mark.parametrize("strategy", ["ipop", "bipop"])
def test_restart_strategy_grows_the_population(strategy: str) -> None:
    exp = experiment(
        "cmaes", SPHERE, {"random_state": "2", "restart_strategy": strategy, "sigma": "0.01"}
    )
    algorithm = create_algorithm(exp)
    assert isinstance(algorithm, CmaEs)
    history: list[TrialResult] = []
    while algorithm._restarts == 0 and len(history) < 2000:
        new = algorithm.suggest(history, 6)
        history += finished(new, [1.0] * len(new), start=len(history))  # flat: converges at once
    assert algorithm._restarts >= 1
    assert algorithm.optimizer is not None and algorithm.optimizer.population_size == 12


@pytest.mark.parametrize(
    ("settings", "parameters", "problems"),
    [
        ({"restart_strategy": "ipop", "sigma": "0.1", "random_state": "10"}, TWO, []),
        ({"invalid": "invalid", "sigma": "0.1"}, TWO, [f"{S}.invalid: unknown setting invalid for algorithm cmaes"]),
        (
            {"restart_strategy": "invalid", "sigma": "0.1"},
            TWO,
            [f"{S}.restart_strategy: restart_strategy invalid is not supported in CMAES optimization"],
        ),
        ({"restart_strategy": "None", "sigma": "-10"}, TWO, [f"{S}.sigma: sigma should be greate or equal than zero"]),
        (
            {"sigma": "0.2", "random_state": "-20"},
            TWO,
            [f"{S}.random_state: random_state should be greate or equal than zero"],
        ),
        (
            {"sigma": "0.2"},
            TWO[:1],
            ["spec.parameters: CMA-ES only supports two or more dimensional continuous search space."],
        ),
    ],
)  # fmt: skip
def test_katib_validation_cases(
    settings: dict[str, str], parameters: list, problems: list[str]
) -> None:
    assert validate_algorithm("cmaes", experiment("cmaes", parameters, settings)) == problems
