"""random: every distribution, steps, ints, categorical; distinct batches; determinism."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from pykatib.suggest.random import RandomSearch, sample_value
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, finished, param, running, space

N = 4000


def draws(parameter: dict, n: int = N, seed: int = 0) -> list:
    p = space(parameter).parameters[0]
    rng = np.random.default_rng(seed)
    return [sample_value(p, rng) for _ in range(n)]


def test_uniform_double() -> None:
    xs = np.array(draws(param("x", "double", min="-2", max="6")))
    assert xs.min() >= -2 and xs.max() <= 6
    assert abs(xs.mean() - 2) < 0.15 and abs(xs.std() - 8 / math.sqrt(12)) < 0.1


def test_log_uniform_double_is_uniform_in_log_space() -> None:
    xs = np.log10(draws(param("x", "double", min="0.0001", max="1", distribution="logUniform")))
    assert xs.min() >= -4 and xs.max() <= 0
    assert abs(xs.mean() + 2) < 0.08
    assert abs(np.mean(xs < -3) - 0.25) < 0.03


def test_normal_is_centred_with_a_sixth_of_the_range_and_truncated() -> None:
    xs = np.array(draws(param("x", "double", min="0", max="12", distribution="normal")))
    assert xs.min() >= 0 and xs.max() <= 12
    assert abs(xs.mean() - 6) < 0.1 and abs(xs.std() - 2) < 0.1


def test_log_normal_is_normal_in_log_space() -> None:
    xs = np.log(draws(param("x", "double", min="1", max="1000", distribution="logNormal")))
    assert xs.min() >= 0 and xs.max() <= math.log(1000) + 1e-9
    assert abs(xs.mean() - math.log(1000) / 2) < 0.05
    assert abs(xs.std() - math.log(1000) / 6) < 0.05


def test_int_uniform_gives_every_value_its_share() -> None:
    counts = Counter(draws(param("n", "int", min="1", max="5")))
    assert set(counts) == {1, 2, 3, 4, 5}
    assert all(abs(c / N - 0.2) < 0.03 for c in counts.values())


def test_int_step_and_double_step_only_give_step_points() -> None:
    assert set(draws(param("n", "int", min="1", max="6", step="2"))) == {1, 3, 5}
    counts = Counter(draws(param("x", "double", min="1", max="11", step="2.5")))
    assert set(counts) == {1.0, 3.5, 6.0, 8.5, 11.0}
    assert all(abs(c / N - 0.2) < 0.03 for c in counts.values())


def test_int_log_uniform_favours_small_values() -> None:
    counts = Counter(draws(param("n", "int", min="1", max="100", distribution="logUniform")))
    assert all(1 <= v <= 100 and isinstance(v, int) for v in counts)
    assert counts[1] > counts[50] * 10


def test_stepped_normal_rounds_to_step_points() -> None:
    counts = Counter(
        draws(param("x", "double", min="0", max="1", step="0.25", distribution="normal"))
    )
    assert set(counts) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert counts.most_common(1)[0][0] == 0.5


def test_categorical_is_uniform() -> None:
    counts = Counter(draws(param("o", "categorical", list_=["a", "b", "c", "d"])))
    assert all(abs(c / N - 0.25) < 0.03 for c in counts.values())


SPACE = [
    param("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
    param("n", "int", min="1", max="8"),
    param("opt", "categorical", list_=["sgd", "adam"]),
]


def test_assignments_are_written_as_katib_writes_them() -> None:
    algo = create_algorithm(experiment("random", SPACE, {"random_state": "1"}))
    (proposal,) = algo.suggest([], 1)
    a = proposal.assignments
    assert list(a) == ["lr", "n", "opt"]
    assert float(a["lr"]) == float(repr(float(a["lr"]))) and a["n"].isdigit()
    assert a["opt"] in ("sgd", "adam")


def test_same_random_state_same_sequence_however_batched() -> None:
    exp = experiment("random", SPACE, {"random_state": "42"})
    one_batch = create_algorithm(exp).suggest([], 6)
    algo = create_algorithm(exp)
    history = []
    for n in (1, 2, 3):
        new = algo.suggest(history, n)
        history += finished(new, [0.0] * n, start=len(history))
    assert [p.assignments for p in one_batch] == [t.assignments for t in history]
    other = create_algorithm(experiment("random", SPACE, {"random_state": "43"})).suggest([], 6)
    assert other != one_batch


def test_without_random_state_the_seed_survives_a_restart() -> None:
    exp = experiment("random", SPACE)
    first = create_algorithm(exp)
    history = finished(first.suggest([], 3), [1.0, 2.0, 3.0])
    expected = first.suggest(history, 3)
    state = first.state()
    assert state is not None
    restarted = create_algorithm(exp)
    restarted.restore(state)
    assert restarted.suggest(history, 3) == expected


def test_batch_is_distinct_from_itself_and_running_trials() -> None:
    algo = create_algorithm(experiment("random", [param("n", "int", min="1", max="4")], {}))
    first = algo.suggest([], 3)
    assert len({p.assignments["n"] for p in first}) == 3
    second = algo.suggest(running(first), 3)
    assert [p.assignments["n"] for p in second] == [
        str(n) for n in {1, 2, 3, 4} - {int(p.assignments["n"]) for p in first}
    ]
    # Every value is running: nothing distinct now, but not the end.
    assert algo.suggest(running(first + second), 1) == []
    # Finished ones may be repeated once the space is used up.
    assert len(algo.suggest(finished(first + second, [0.0] * 4), 2)) == 2


@pytest.mark.parametrize(
    ("settings", "problems"),
    [
        ({"random_state": "10"}, []),
        (
            {"unknown_conf": "1111"},
            [
                (
                    "spec.algorithm.algorithmSettings.unknown_conf: "
                    "unknown setting unknown_conf for algorithm random"
                )
            ],
        ),
        (
            {"random_state": "-1"},
            [
                (
                    "spec.algorithm.algorithmSettings.random_state: "
                    "random_state should be great or equal than zero"
                )
            ],
        ),
        (
            {"random_state": "x"},
            [
                (
                    "spec.algorithm.algorithmSettings.random_state: failed to validate "
                    "random_state(x): invalid literal for int() with base 10: 'x'"
                )
            ],
        ),
    ],
)
def test_katib_settings_validation(settings: dict[str, str], problems: list[str]) -> None:
    exp = experiment("random", SPACE, settings)
    assert validate_algorithm("random", exp) == problems


def test_is_registered_as_random() -> None:
    assert RandomSearch.name == "random"
