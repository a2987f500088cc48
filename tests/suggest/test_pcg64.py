"""random's NumPy-free generator draws exactly what NumPy's ``default_rng`` draws, so a
``random_state`` gives the assignments it always gave."""

from __future__ import annotations

import numpy as np
import pytest

from pykatib.suggest._pcg64 import default_rng
from pykatib.suggest.registry import create_algorithm

from ._helpers import experiment, param, space

SEEDS = [0, 1, 7, 2**31, 2**32 - 1, 2**32, 2**40 + 5, 2**64 + 3, 123456789]
NUMBERS = [0, 1, 2, 99, 4096, 2**33]


@pytest.mark.parametrize("seed", SEEDS)
def test_draws_match_numpy(seed: int) -> None:
    for number in NUMBERS:
        ours, numpys = default_rng([seed, number]), np.random.default_rng([seed, number])
        assert [ours.random() for _ in range(20)] == [numpys.random() for _ in range(20)]


@pytest.mark.parametrize(
    "entropy", [[5], [], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5], [2**96 + 7, 2**70, 9], [0] * 9]
)
def test_entropy_of_any_length_matches_numpy(entropy: list[int]) -> None:
    """Up to 4 32-bit words fill the pool; each further word is mixed into all of it."""
    ours, numpys = default_rng(entropy), np.random.default_rng(entropy)
    assert [ours.random() for _ in range(5)] == [numpys.random() for _ in range(5)]


def test_random_search_assignments_are_unchanged_for_a_random_state() -> None:
    """What random proposed when it drew with NumPy's generator: trial k from (seed, k)."""
    from pykatib.suggest.random import sample_assignments

    parameters = [param("x", "double", min="0", max="1"), param("n", "int", min="1", max="100")]
    exp = experiment("random", parameters, {"random_state": "42"})
    proposed = [p.assignments for p in create_algorithm(exp).suggest([], 5)]
    expected = [
        sample_assignments(space(*parameters), np.random.default_rng([42, k])) for k in range(5)
    ]
    assert proposed == expected


def test_negative_entropy_is_refused() -> None:
    with pytest.raises(ValueError):
        default_rng([-1])
