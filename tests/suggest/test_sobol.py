"""sobol: the Sobol' sequence through each distribution, restarts, finite spaces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc

from pykatib.suggest.base import SuggestionEndReached
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, finished, param, running

UNIT = [param("x", "double", min="0", max="1"), param("y", "double", min="0", max="1")]


def test_points_are_the_unscrambled_sobol_sequence() -> None:
    algorithm = create_algorithm(experiment("sobol", UNIT))
    got = [[float(p.assignments["x"]), float(p.assignments["y"])] for p in algorithm.suggest([], 8)]
    assert np.allclose(got, qmc.Sobol(2, scramble=False).random(8))


def test_sequence_continues_from_the_history() -> None:
    algorithm = create_algorithm(experiment("sobol", UNIT))
    all_at_once = algorithm.suggest([], 6)
    history = finished(algorithm.suggest([], 2), [0.0, 0.0])
    history += running(algorithm.suggest(history, 4), start=2)
    assert [t.assignments for t in history] == [p.assignments for p in all_at_once]


def test_random_state_scrambles_deterministically() -> None:
    a = create_algorithm(experiment("sobol", UNIT, {"random_state": "3"})).suggest([], 4)
    b = create_algorithm(experiment("sobol", UNIT, {"random_state": "3"})).suggest([], 4)
    c = create_algorithm(experiment("sobol", UNIT)).suggest([], 4)
    assert a == b != c


def test_low_discrepancy_through_a_log_uniform() -> None:
    space = [param("lr", "double", min="0.0001", max="1", distribution="logUniform")]
    got = create_algorithm(experiment("sobol", space)).suggest([], 64)
    decades = np.floor(np.log10([float(p.assignments["lr"]) for p in got[1:]]))
    assert sorted(np.bincount((decades + 4).astype(int)).tolist()) == [15, 16, 16, 16]


def test_finite_space_skips_repeats_then_ends() -> None:
    algorithm = create_algorithm(experiment("sobol", [param("n", "int", min="1", max="4")]))
    first = algorithm.suggest([], 6)
    assert sorted(p.assignments["n"] for p in first) == ["1", "2", "3", "4"]
    assert algorithm.suggest(running(first), 1) == []
    with pytest.raises(SuggestionEndReached):
        algorithm.suggest(finished(first, [0.0] * 4), 1)


def test_settings_validation() -> None:
    assert validate_algorithm("sobol", experiment("sobol", UNIT, {"random_state": "1"})) == []
    assert validate_algorithm("sobol", experiment("sobol", UNIT, {"x": "1"})) == [
        "spec.algorithm.algorithmSettings.x: unknown setting x for algorithm sobol"
    ]
