"""grid: Katib's (Optuna's) order, skipping what was proposed, exhaustion, Katib's validation."""

from __future__ import annotations

import optuna
import pytest

from pykatib.suggest.base import SuggestionEndReached, TrialResult
from pykatib.suggest.grid import GridSearch
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, finished, param, running

SPACE = [
    param("lr", "double", min="0.01", max="0.05", step="0.01"),
    param("n", "int", min="1", max="3"),
    param("opt", "categorical", list_=["sgd", "adam"]),
]


def grid(settings: dict[str, str] | None = None, parameters: list = SPACE) -> GridSearch:
    algorithm = create_algorithm(experiment("grid", parameters, settings))
    assert isinstance(algorithm, GridSearch)
    return algorithm


@pytest.mark.parametrize("seed", [None, 0, 7])
def test_order_is_optunas_grid_sampler_order(seed: int | None) -> None:
    settings = {} if seed is None else {"random_state": str(seed)}
    ours = [(float(c["lr"]), int(c["n"]), c["opt"]) for c in grid(settings).combinations()]
    sampler = optuna.samplers.GridSampler(
        {"opt": ["sgd", "adam"], "lr": [0.01, 0.02, 0.03, 0.04, 0.05], "n": [1, 2, 3]}, seed=seed
    )
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=sampler)
    theirs = []
    for _ in range(30):
        t = study.ask()
        theirs.append(
            (
                t.suggest_float("lr", 0, 1),
                t.suggest_int("n", 1, 3),
                t.suggest_categorical("opt", ["sgd", "adam"]),
            )
        )
    assert ours == theirs
    assert len(set(ours)) == 30


def test_walks_the_grid_then_ends() -> None:
    algo = grid()
    history: list[TrialResult] = []
    while True:
        try:
            new = algo.suggest(history, 4)
        except SuggestionEndReached:
            break
        assert new
        history += finished(new, [0.0] * len(new), start=len(history))
    keys = [tuple(t.assignments.values()) for t in history]
    assert len(keys) == 30 == len(set(keys))
    assert [t.assignments for t in history] == grid().combinations()


def test_skips_running_and_differently_written_assignments() -> None:
    algo = grid()
    first = algo.suggest([], 2)
    # The same first combination as Katib would have written it.
    katib_written = TrialResult(
        "old", {**first[0].assignments, "lr": first[0].assignments["lr"] + "0000000001"}, "failed"
    )
    assert algo.suggest([katib_written], 1) == [first[1]]
    assert first[0] not in algo.suggest(running(first), 28)
    with pytest.raises(SuggestionEndReached):
        algo.suggest(running(first) + running(algo.suggest(running(first), 28), start=2), 1)


def test_restart_needs_no_state() -> None:
    history = finished(grid().suggest([], 5), [1.0] * 5)
    assert [p.assignments for p in grid().suggest(history, 3)] == grid().combinations()[5:8]


def test_double_step_points_are_written_cleanly() -> None:
    algo = grid(parameters=[param("x", "double", min="0.1", max="0.3", step="0.1")])
    assert sorted(c["x"] for c in algo.combinations()) == ["0.1", "0.2", "0.3"]


INT_1_5 = param("param-1", "int", min="1", max="5")


@pytest.mark.parametrize(
    ("settings", "max_trial_count", "parameters", "problems"),
    [
        ({"random_state": "10"}, 5, [INT_1_5], []),
        (
            {"invalid": "invalid"},
            33,
            [],
            [
                "spec.algorithm.algorithmSettings.invalid: unknown setting invalid for algorithm grid"
            ],
        ),
        (
            {"random_state": "-1"},
            10,
            [],
            [
                (
                    "spec.algorithm.algorithmSettings.random_state: "
                    "random_state should be great or equal than zero"
                )
            ],
        ),
        (
            {"random_state": "1"},
            26,
            [param("param-1", "double", min="1", max="5")],
            [
                (
                    "spec.parameters[0].feasibleSpace.step: Param param-1 step is nil; "
                    "For discrete search space, all parameters must include step"
                )
            ],
        ),
        (
            {"random_state": "1"},
            26,
            [INT_1_5, param("param-2", "double", min="1", max="5", step="1")],
            ["spec.maxTrialCount: Max Trial Count: 26 > all possible search combinations: 25"],
        ),
        ({}, 25, [INT_1_5, param("param-2", "double", min="1", max="5", step="1")], []),
    ],
)
def test_katib_validation_cases(
    settings: dict[str, str], max_trial_count: int, parameters: list, problems: list[str]
) -> None:
    exp = experiment("grid", parameters, settings, max_trial_count=max_trial_count)
    assert validate_algorithm("grid", exp) == problems


def test_continuous_double_cannot_be_gridded() -> None:
    with pytest.raises(ValueError, match="step is nil"):
        grid(parameters=[param("x", "double", min="0", max="1")])
