"""Proposals made while trials run (issue 14): counted behaviour, no timings.

Katib's default parallelTrialCount is 3: almost every proposal is made with other trials still
running. These tests drive the algorithms as the control plane does, with running trials in the
history, and check what the proposals are, not how long they take (bench/quality.py measures
the quality of whole runs).
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from pykatib.suggest.base import SuggestionEndReached, TrialResult
from pykatib.suggest.registry import create_algorithm

from ._helpers import experiment, param

NAME = "bayesianoptimization"
QUADRATIC = [param("x", "double", min="-5", max="5"), param("y", "double", min="-5", max="5")]
OPTIMUM = np.array([1.0, -2.0])


def _point(assignments: dict[str, str]) -> np.ndarray:
    return np.array([float(assignments["x"]), float(assignments["y"])])


def _trial(i: int, xy: np.ndarray, value: float | None) -> TrialResult:
    assignments = {"x": repr(float(xy[0])), "y": repr(float(xy[1]))}
    state = "running" if value is None else "succeeded"
    return TrialResult(f"t{i}", assignments, state, value)


def _basin(xy: np.ndarray) -> float:
    """0 at the optimum, 1 (flat) more than a few units away from it."""
    return float(1.0 - np.exp(-np.sum((xy - OPTIMUM) ** 2) / 2.0))


@pytest.mark.parametrize("acq_func", ["EI", "gp_hedge", "LCB"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_trials_running_near_the_best_do_not_empty_the_best_region(
    acq_func: str, seed: int
) -> None:
    """20 trials spread over the box, the best of them in the optimum's basin, and 3 trials
    running right beside it: at least half of a batch of 4 proposals still works the best
    region (within 1.5 of the best trial, where the basin is), and none lands on a running trial
    or on another proposal. A pessimistic constant liar takes the running trials as the worst
    values seen and sends most of the batch away (1 in 4 for most of these seeds)."""
    rng = np.random.default_rng(seed)
    spread = rng.uniform(-5, 5, size=(19, 2))
    best = OPTIMUM + np.array([0.4, 0.3])
    near = [OPTIMUM + offset for offset in ([0.15, -0.2], [-0.3, 0.1], [0.25, 0.35])]
    history = [_trial(i, xy, _basin(xy)) for i, xy in enumerate([*spread, best])]
    history += [_trial(len(history) + i, xy, None) for i, xy in enumerate(near)]
    settings = {"random_state": str(seed), "n_initial_points": "5", "acq_func": acq_func}
    algorithm = create_algorithm(experiment(NAME, QUADRATIC, settings, objective_type="minimize"))
    batch = [_point(p.assignments) for p in algorithm.suggest(history, 4)]
    assert len(batch) == 4
    distances = [float(np.linalg.norm(p - best)) for p in batch]
    assert sum(d < 1.5 for d in distances) >= 2, distances
    points = [*near, *batch]
    gaps = [np.linalg.norm(p - q) for i, p in enumerate(points) for q in points[:i]]
    assert min(gaps) > 0.02, gaps


DISCRETE = [
    param("a", "int", min="0", max="5"),
    param("b", "int", min="1", max="7", step="2"),
    param("c", "discrete", list_=["0.5", "1", "2"]),
]


def _value(assignments: dict[str, str]) -> float:
    return (int(assignments["a"]) - 3) ** 2 + (int(assignments["b"]) - 5) ** 2 + float(
        assignments["c"]
    )


@pytest.mark.parametrize(
    "algorithm", ["bayesianoptimization", "tpe", "multivariate-tpe", "cmaes", "random", "sobol"]
)
@pytest.mark.parametrize("parallel", [1, 4])
def test_no_proposal_ever_repeats_a_trial_or_another_proposal(
    algorithm: str, parallel: int
) -> None:
    """72 assignments; 40 trials run `parallel` at a time, finishing in a random order, as the
    control plane runs them: every proposal is new."""
    exp = experiment(algorithm, DISCRETE, {"random_state": "3"}, objective_type="minimize")
    alg = create_algorithm(exp)
    rng = np.random.default_rng(7)
    history: list[TrialResult] = []
    in_flight: list[tuple[float, int]] = []
    seen: set[tuple[str, ...]] = set()
    clock = 0.0

    def ask(k: int) -> None:
        try:
            proposals = alg.suggest(history, k)
        except SuggestionEndReached:
            return
        assert len(proposals) <= k
        for p in proposals:
            key = tuple(p.assignments[n] for n in ("a", "b", "c"))
            assert key not in seen, f"proposal {key} repeats a trial or another proposal"
            seen.add(key)
            heapq.heappush(in_flight, (clock + rng.exponential(), len(history)))
            history.append(TrialResult(f"t{len(history)}", p.assignments, "running"))

    ask(parallel)
    while in_flight and len(history) < 40:
        clock, i = heapq.heappop(in_flight)
        done = history[i]
        history[i] = TrialResult(done.name, done.assignments, "succeeded", _value(done.assignments))
        ask(min(parallel - len(in_flight), 40 - len(history)))
    assert len(history) == 40
