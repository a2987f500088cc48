"""Multi-objective: nsga2 and tpe over objective.objectives, values or metrics, generations."""

from __future__ import annotations

import json

import pytest

from pykatib.api.models import ObjectiveItem
from pykatib.suggest.base import TrialResult
from pykatib.suggest.nsga2 import GENERATION_LABEL
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, param

PARAMS = [param("x", "double", min="-1", max="3"), param("y", "double", min="0", max="1")]


def mo_experiment(name: str, settings: dict[str, str], directions=("minimize", "maximize")):
    exp = experiment(name, PARAMS, settings, objective_type=directions[0])
    exp.spec.objective.objectives = [
        ObjectiveItem(name="loss", type=directions[0]),
        ObjectiveItem(name="gain", type=directions[1]),
    ]
    return exp


def evaluate(a: dict[str, str]) -> tuple[float, float]:
    """loss = x^2 + y (minimised), gain = -(x - 2)^2 - y (maximised): Pareto set x in [0, 2], y 0."""
    x, y = float(a["x"]), float(a["y"])
    return x**2 + y, -((x - 2) ** 2) - y


def run(
    name: str,
    settings: dict[str, str],
    trials: int,
    batch: int,
    via_metrics: bool = False,
    reload: bool = False,
) -> list[TrialResult]:
    exp = mo_experiment(name, settings)
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    while len(history) < trials:
        new = algorithm.suggest(history, batch)
        if reload:
            state = json.loads(json.dumps(algorithm.state()))
            algorithm = create_algorithm(exp)
            if state:
                algorithm.restore(state)
        for p in new:
            loss, gain = evaluate(p.assignments)
            history.append(
                TrialResult(
                    f"t{len(history)}",
                    p.assignments,
                    "succeeded",
                    value=loss,
                    metrics={"loss": loss, "gain": gain},
                    values=() if via_metrics else (loss, gain),
                    labels=p.labels,
                )
            )
    return history


def on_front(t: TrialResult) -> bool:
    return -0.1 <= float(t.assignments["x"]) <= 2.1 and float(t.assignments["y"]) < 0.1


def distance_to_front(t: TrialResult) -> float:
    x, y = float(t.assignments["x"]), float(t.assignments["y"])
    return y + max(0.0, -x, x - 2.0)


def test_nsga2_needs_two_objectives() -> None:
    problems = validate_algorithm("nsga2", experiment("nsga2", PARAMS))
    assert problems == [
        (
            "spec.objective.objectives: nsga2 is multi-objective: list at least two "
            "objectives ({name, type}) in objective.objectives"
        )
    ]
    assert validate_algorithm("nsga2", mo_experiment("nsga2", {})) == []
    assert validate_algorithm("nsga2", mo_experiment("nsga2", {"crossover_prob": "2"})) == [
        "spec.algorithm.algorithmSettings.crossover_prob: crossover_prob should be in [0, 1]"
    ]


def test_nsga2_breeds_generations_towards_the_front() -> None:
    history = run("nsga2", {"random_state": "1", "population_size": "10"}, 100, batch=5)
    generations = [int(t.labels[GENERATION_LABEL]) for t in history]
    assert generations[:10] == [0] * 10 and max(generations) >= 8
    first = sum(map(distance_to_front, history[:10])) / 10
    last = sum(map(distance_to_front, history[-40:])) / 40
    assert last < 0.8 * first


@pytest.mark.parametrize("via_metrics", [False, True])
def test_tpe_is_multi_objective_with_several_objectives(via_metrics: bool) -> None:
    settings = {"random_state": "2", "n_startup_trials": "10"}
    history = run("tpe", settings, 50, batch=2, via_metrics=via_metrics)
    assert sum(map(on_front, history[-20:])) > 2 * sum(map(on_front, history[:10]))


@pytest.mark.parametrize("name", ["nsga2", "tpe"])
def test_restart_changes_nothing(name: str) -> None:
    settings = {"population_size": "6"} if name == "nsga2" else {"n_startup_trials": "4"}
    plain = run(name, {**settings, "random_state": "3"}, 24, batch=3)
    reloaded = run(name, {**settings, "random_state": "3"}, 24, batch=3, reload=True)
    assert [t.assignments for t in plain] == [t.assignments for t in reloaded]
