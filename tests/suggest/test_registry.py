"""The registry: Katib's names, not-yet-implemented ones, unknown ones, validation plumbing."""

from __future__ import annotations

import pytest

from pykatib.suggest.grid import GridSearch
from pykatib.suggest.random import RandomSearch
from pykatib.suggest.registry import (
    KATIB_ALGORITHM_NAMES,
    UnknownAlgorithmError,
    create_algorithm,
    get_algorithm,
    validate_algorithm,
)

from ._helpers import experiment, param


def test_katib_names() -> None:
    assert set(KATIB_ALGORITHM_NAMES) == {
        "random", "grid", "tpe", "multivariate-tpe", "cmaes", "sobol",
        "bayesianoptimization", "hyperband", "pbt", "enas", "darts",
    }  # fmt: skip
    assert get_algorithm("random") is RandomSearch
    assert get_algorithm("grid") is GridSearch


def test_known_but_unimplemented_name_passes_validation_and_fails_at_run_time() -> None:
    with pytest.raises(NotImplementedError, match='algorithm "darts" is not implemented yet'):
        get_algorithm("darts")
    assert validate_algorithm("darts", experiment("darts")) == []


def test_unknown_name() -> None:
    with pytest.raises(UnknownAlgorithmError, match='unknown algorithm name "nope"') as info:
        get_algorithm("nope")
    assert isinstance(info.value, KeyError)
    (problem,) = validate_algorithm("nope", experiment("nope"))
    assert problem.startswith('spec.algorithm.algorithmName: unknown algorithm name "nope"')


def test_search_space_problems_are_validation_problems() -> None:
    exp = experiment("random", [param("x", "double", min="3", max="1")])
    assert validate_algorithm("random", exp) == [
        "spec.parameters[0].feasibleSpace: min 3 is greater than max 1"
    ]


def test_create_algorithm_reads_settings() -> None:
    exp = experiment("random", [param("x", "double", min="0", max="1")], {"random_state": "7"})
    algorithm = create_algorithm(exp)
    assert isinstance(algorithm, RandomSearch)
    assert algorithm.random_state == 7
