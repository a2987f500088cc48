"""cmaes with trials in flight (issue 14): no finished trial is wasted, an older solution's pull
on the update is bounded, and a batch asked beside running trials stays in the best region and
repeats nothing. Counted behaviour, no timings."""

from __future__ import annotations

import heapq
import json

import cmaes as cmaes_lib
import numpy as np
import pytest

from pykatib.suggest.base import TrialResult
from pykatib.suggest.cmaes import CmaEs, _step_bounded
from pykatib.suggest.registry import create_algorithm

from ._helpers import experiment, param

PLANE = [param("x", "double", min="-5", max="5"), param("y", "double", min="-5", max="5")]
OPTIMUM = np.array([1.0, -2.0])


def _point(assignments: dict[str, str]) -> np.ndarray:
    return np.array([float(assignments["x"]), float(assignments["y"])])


def _basin(assignments: dict[str, str]) -> float:
    """0 at the optimum, 1 (flat) more than a few units away from it."""
    return float(1.0 - np.exp(-np.sum((_point(assignments) - OPTIMUM) ** 2) / 2.0))


def _run_in_flight(
    algorithm: CmaEs, parallel: int, trials: int, seed: int, reload: bool = False
) -> tuple[CmaEs, list[TrialResult]]:
    """``trials`` trials, ``parallel`` at a time, finishing in a random order, as the control
    plane runs them (``reload``: the control plane restarts before every call)."""
    rng = np.random.default_rng(seed)
    history: list[TrialResult] = []
    in_flight: list[tuple[float, int]] = []
    clock = 0.0

    def ask(k: int) -> None:
        nonlocal algorithm
        if reload:
            state = json.loads(json.dumps(algorithm.state()))
            algorithm = CmaEs(algorithm.space, algorithm.objective, algorithm.settings)
            algorithm.restore(state)
        for p in algorithm.suggest(history, k):
            heapq.heappush(in_flight, (clock + rng.exponential(), len(history)))
            history.append(TrialResult(f"t{len(history)}", p.assignments, "running"))

    ask(parallel)
    while in_flight:
        clock, i = heapq.heappop(in_flight)
        t = history[i]
        history[i] = TrialResult(t.name, t.assignments, "succeeded", _basin(t.assignments))
        ask(min(parallel - len(in_flight), trials - len(history)))
    return algorithm, history


def _cmaes(seed: int) -> CmaEs:
    exp = experiment("cmaes", PLANE, {"random_state": str(seed)}, objective_type="minimize")
    algorithm = create_algorithm(exp)
    assert isinstance(algorithm, CmaEs)
    return algorithm


@pytest.mark.parametrize("parallel", [4, 8])
def test_with_trials_in_flight_every_finished_trial_is_told(parallel: int) -> None:
    """A generation's proposals that finish after it was told go into the next one: all but
    fewer than a population of the finished trials are told, some of them with a later
    generation than the one they were proposed from (the old rule wasted about a third)."""
    algorithm, history = _run_in_flight(_cmaes(3), parallel, 90, seed=parallel)
    algorithm.suggest(history, 0)  # tell what the last trials completed
    state = algorithm.state()
    assert state is not None
    told = {
        name: (g["run"], g["generation"]) for g in state["generations"] for name in g["told"] or []
    }
    size = algorithm.optimizer.population_size
    assert len(history) - size < len(told) <= len(history)
    proposed_from = {
        key: (g["run"], g["generation"]) for g in state["generations"] for key in g["proposed"]
    }
    later = [
        name
        for name, generation in told.items()
        if proposed_from[algorithm._key(history[int(name[1:])].assignments)] < generation
    ]
    assert later


@pytest.mark.parametrize("parallel", [4, 8])
def test_a_restart_in_flight_replays_what_was_told(parallel: int) -> None:
    """Rebuilt from its state before every call, trials finishing out of order and told with
    later generations: the same proposals as one uninterrupted process."""
    _, plain = _run_in_flight(_cmaes(6), parallel, 60, seed=1)
    _, reloaded = _run_in_flight(_cmaes(6), parallel, 60, seed=1, reload=True)
    assert [t.assignments for t in plain] == [t.assignments for t in reloaded]


def test_an_older_solution_pulls_no_further_than_the_bound() -> None:
    """A point far from the current distribution is moved toward the mean along its step, to
    the bound's Mahalanobis length; a point within it is told as it is."""
    optimizer = cmaes_lib.CMA(mean=np.full(4, 0.5), sigma=0.01, seed=1)
    limit = 0.75 * np.sqrt(4)
    far = np.array([0.9, 0.1, 0.5, 0.6])
    bounded = _step_bounded(optimizer, far)
    step = bounded - optimizer.mean
    assert np.linalg.norm(step) / 0.01 == pytest.approx(limit)  # the covariance is I at first
    assert np.allclose(step / np.linalg.norm(step), (far - 0.5) / np.linalg.norm(far - 0.5))
    near = np.array([0.505, 0.495, 0.5, 0.505])
    assert _step_bounded(optimizer, near) is near


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_trials_running_near_the_best_do_not_empty_the_best_region(seed: int) -> None:
    """60 trials, 4 at a time, on a basin; then 3 proposals left running (beside the best: the
    strategy has closed in on it by then): a batch of 4 still works the best region (3 or 4
    within 1.5 of the best trial), and none lands on a running trial or on another proposal."""
    algorithm, history = _run_in_flight(_cmaes(seed), 4, 60, seed=seed)
    best = min(history, key=lambda t: t.value if t.value is not None else np.inf)
    near = algorithm.suggest(history, 3)
    history += [
        TrialResult(f"t{len(history) + i}", p.assignments, "running") for i, p in enumerate(near)
    ]
    batch = [_point(p.assignments) for p in algorithm.suggest(history, 4)]
    assert len(batch) == 4
    distances = [float(np.linalg.norm(p - _point(best.assignments))) for p in batch]
    assert sum(d < 1.5 for d in distances) >= 3, distances
    points = [*(_point(p.assignments) for p in near), *batch]
    gaps = [np.linalg.norm(p - q) for i, p in enumerate(points) for q in points[:i]]
    assert min(gaps) > 1e-9, gaps
