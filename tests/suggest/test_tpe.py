"""tpe and multivariate-tpe: Katib's settings, determinism, distinct batches, every parameter kind,
and tpe's start-up and settings as Katib's hyperopt service runs them."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from pykatib.suggest.base import TrialResult
from pykatib.suggest.registry import create_algorithm, validate_algorithm
from pykatib.suggest.tpe import TPE, hyperopt_gamma

from ._helpers import experiment, finished, param, running

MIXED = [
    param("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
    param("m", "double", min="0", max="1", distribution="normal"),
    param("w", "double", min="1", max="100", step="0.5", distribution="logNormal"),
    param("n", "int", min="1", max="9", step="2"),
    param("b", "int", min="8", max="64", distribution="logUniform"),
    param("opt", "categorical", list_=["sgd", "adam", "rmsprop"]),
    param("d", "discrete", list_=["16", "32"]),
]
QUADRATIC = [param("x", "double", min="-5", max="5"), param("y", "double", min="-5", max="5")]


def quadratic(assignments: dict[str, str]) -> float:
    return (float(assignments["x"]) - 1.0) ** 2 + (float(assignments["y"]) + 2.0) ** 2


def optimise(
    algorithm_name: str, settings: dict[str, str], rounds: int, batch: int
) -> list[TrialResult]:
    exp = experiment(algorithm_name, QUADRATIC, settings, objective_type="minimize")
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    for _ in range(rounds):
        new = algorithm.suggest(history, batch)
        history += finished(new, [quadratic(p.assignments) for p in new], start=len(history))
    return history


@pytest.mark.parametrize("name", ["tpe", "multivariate-tpe"])
def test_every_parameter_kind_stays_in_its_space(name: str) -> None:
    exp = experiment(name, MIXED, {"random_state": "3", "n_startup_trials": "4"})
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    for _ in range(4):
        new = algorithm.suggest(history, 3)
        assert len(new) == 3
        history += finished(new, [float(p.assignments["m"]) for p in new], start=len(history))
    space = algorithm.space
    for t in history:
        a = t.assignments
        assert space.key(a) == tuple(a.values())  # already written the canonical way
        assert 0.001 <= float(a["lr"]) <= 0.1 and 0 <= float(a["m"]) <= 1
        assert (float(a["w"]) - 1) / 0.5 == int((float(a["w"]) - 1) / 0.5)
        assert a["n"] in {"1", "3", "5", "7", "9"} and 8 <= int(a["b"]) <= 64
        assert a["opt"] in {"sgd", "adam", "rmsprop"} and a["d"] in {"16", "32"}


@pytest.mark.parametrize("name", ["tpe", "multivariate-tpe"])
def test_beats_its_random_start(name: str) -> None:
    history = optimise(name, {"random_state": "1", "n_startup_trials": "10"}, rounds=12, batch=5)
    startup = min(t.value for t in history[:10] if t.value is not None)
    best = min(t.value for t in history if t.value is not None)
    assert best < startup / 5 and best < 0.1


@pytest.mark.parametrize("name", ["tpe", "multivariate-tpe"])
def test_same_random_state_same_assignments_across_restarts(name: str) -> None:
    first = optimise(name, {"random_state": "5", "n_startup_trials": "3"}, rounds=4, batch=2)
    again = optimise(name, {"random_state": "5", "n_startup_trials": "3"}, rounds=4, batch=2)
    assert [t.assignments for t in first] == [t.assignments for t in again]
    other = optimise(name, {"random_state": "6", "n_startup_trials": "3"}, rounds=4, batch=2)
    assert [t.assignments for t in first] != [t.assignments for t in other]


def test_without_random_state_the_seed_is_kept_in_state() -> None:
    exp = experiment("tpe", QUADRATIC, objective_type="minimize")
    algorithm = create_algorithm(exp)
    history = finished(algorithm.suggest([], 3), [1.0, 2.0, 3.0])
    expected = algorithm.suggest(history, 2)
    restarted = create_algorithm(exp)
    state = algorithm.state()
    assert state is not None
    restarted.restore(state)
    assert restarted.suggest(history, 2) == expected


def test_parallel_batch_after_startup_is_distinct_and_avoids_running() -> None:
    exp = experiment(
        "tpe", [param("n", "int", min="1", max="6")], {"random_state": "1", "n_startup_trials": "2"}
    )
    algorithm = create_algorithm(exp)
    done = finished(algorithm.suggest([], 2), [1.0, 2.0])
    batch = algorithm.suggest(done, 3)
    values = [p.assignments["n"] for p in batch]
    assert len(set(values)) == 3 and not set(values) & {t.assignments["n"] for t in done}
    more = algorithm.suggest(done + running(batch, start=2), 3)
    assert {p.assignments["n"] for p in more}.isdisjoint(values)
    # Everything is running or done: a finished value may come again, a running one may not.
    rest = algorithm.suggest(done + running(batch + more, start=2), 2)
    assert {p.assignments["n"] for p in rest} <= {t.assignments["n"] for t in done}


def test_failed_and_unknown_trials_are_tolerated() -> None:
    algorithm = create_algorithm(experiment("tpe", QUADRATIC, {"random_state": "1"}))
    history = [
        TrialResult("a", {"x": "0.5", "y": "1"}, "failed"),
        TrialResult("b", {"x": "0.5", "y": "1"}, "succeeded", value=None),
        TrialResult("c", {"z": "1"}, "succeeded", value=1.0),
        TrialResult("d", {"x": "0.1", "y": "0.2"}, "early_stopped", intermediate=(3.0, 2.0)),
    ]
    assert len(algorithm.suggest(history, 2)) == 2


S = "spec.algorithm.algorithmSettings"


@pytest.mark.parametrize(
    ("name", "settings", "problems"),
    [
        ("tpe", {"n_startup_trials": "5", "n_ei_candidates": "24", "random_state": "1"}, []),
        ("tpe", {"random_state": "10", "gamma": "0.25", "prior_weight": "1.0", "n_EI_candidates": "24"}, []),
        ("multivariate-tpe", {"n_startup_trials": "5", "n_ei_candidates": "24", "random_state": "1"}, []),
        ("tpe", {"invalid": "5"}, [f"{S}.invalid: unknown setting invalid for algorithm tpe"]),
        ("tpe", {"n_startup_trials": "-1"}, [f"{S}.n_startup_trials: n_startup_trials should be greate or equal than zero"]),
        ("tpe", {"n_ei_candidate": "-1"}, [f"{S}.n_ei_candidate: unknown setting n_ei_candidate for algorithm tpe"]),
        ("tpe", {"random_state": "-1"}, [f"{S}.random_state: random_state should be great or equal than zero"]),
        ("tpe", {"gamma": "1.5"}, [f"{S}.gamma: gamma should be in the range of (0, 1)"]),
        ("tpe", {"prior_weight": "0"}, [f"{S}.prior_weight: prior_weight should be great than zero"]),
        ("tpe", {"n_EI_candidates": "0"}, [f"{S}.n_EI_candidates: n_EI_candidates should be great than zero"]),
        ("tpe", {"gamma": "0"}, [f"{S}.gamma: gamma should be in the range of (0, 1)"]),
        ("tpe", {"gamma": "1"}, [f"{S}.gamma: gamma should be in the range of (0, 1)"]),
        ("tpe", {"gamma": "a"}, [f"{S}.gamma: failed to validate gamma(a): could not convert string to float: 'a'"]),
        ("tpe", {"prior_weight": "-1"}, [f"{S}.prior_weight: prior_weight should be great than zero"]),
        ("tpe", {"n_EI_candidates": "2.5"}, [f"{S}.n_EI_candidates: failed to validate n_EI_candidates(2.5): invalid literal for int() with base 10: '2.5'"]),
        ("tpe", {"random_state": "x"}, [f"{S}.random_state: failed to validate random_state(x): invalid literal for int() with base 10: 'x'"]),
        ("multivariate-tpe", {"gamma": "0.2"}, [f"{S}.gamma: unknown setting gamma for algorithm multivariate-tpe"]),
    ],
)  # fmt: skip
def test_katib_settings_validation(
    name: str, settings: dict[str, str], problems: list[str]
) -> None:
    assert validate_algorithm(name, experiment(name, QUADRATIC, settings)) == problems


def test_hyperopt_settings_are_used() -> None:
    history = optimise(
        "tpe",
        {"random_state": "2", "gamma": "0.5", "prior_weight": "2", "n_EI_candidates": "8"},
        5,
        4,
    )
    assert len(history) == 20


# --- the start-up: Katib's hyperopt service passes n_startup_jobs=current_request_number ------


def first_batches(settings: dict[str, str], batch: int, seed: int) -> list[list[dict[str, str]]]:
    """The first two batches of ``batch`` proposals, the first finished in between."""
    exp = experiment("tpe", QUADRATIC, {"random_state": str(seed), **settings}, None, "minimize")
    algorithm = create_algorithm(exp)
    first = algorithm.suggest([], batch)
    done = finished(first, [quadratic(p.assignments) for p in first])
    return [[p.assignments for p in first], [p.assignments for p in algorithm.suggest(done, batch)]]


@pytest.mark.parametrize("parallel", [1, 3, 5])
def test_first_parallel_batch_is_random_and_the_next_is_modelled(parallel: int) -> None:
    """pkg/suggestion/v1beta1/hyperopt/base_service.py lines 292-314: every call passes
    ``n_startup_jobs=current_request_number``, so the first ``parallelTrialCount`` trials are
    random and the next batch, once they have values, is TPE's."""
    for seed in range(3):
        default = first_batches({}, parallel, seed)
        random_stream = first_batches({"n_startup_trials": "1000"}, parallel, seed)
        assert default[0] == random_stream[0]  # the same random draws
        assert all(a != b for a, b in zip(default[1], random_stream[1]))


def test_modelling_from_the_second_batch_pays_within_katibs_tpe_example() -> None:
    """Katib's hp-tuning/tpe.yaml: 12 trials, 3 at a time. The last batch lands nearer the
    optimum than random trials do (the default before, 10 random start-up trials, was random
    search for 10 of the 12)."""
    last: dict[str, list[float]] = {"default": [], "random": []}
    for seed in range(10):
        for name, settings in (("default", {}), ("random", {"n_startup_trials": "1000"})):
            history = optimise("tpe", {"random_state": str(seed), **settings}, rounds=4, batch=3)
            last[name] += [t.value for t in history[-3:] if t.value is not None]
    assert statistics.median(last["default"]) < 0.7 * statistics.median(last["random"])


def test_start_up_follows_each_request_size() -> None:
    """hyperopt draws at random while fewer trials have a value than the call asks for: a
    request larger than the finished trials (a raised parallelTrialCount) is random again, a
    smaller one is modelled."""
    exp = experiment("tpe", QUADRATIC, {"random_state": "4"}, None, "minimize")
    algorithm = create_algorithm(exp)
    random_algorithm = create_algorithm(
        experiment("tpe", QUADRATIC, {"random_state": "4", "n_startup_trials": "1000"})
    )
    first = algorithm.suggest([], 2)
    done = finished(first, [quadratic(p.assignments) for p in first])
    assert algorithm.suggest(done, 3) == random_algorithm.suggest(done, 3)
    assert algorithm.suggest(done, 2) != random_algorithm.suggest(done, 2)


def test_explicit_n_startup_trials_wins() -> None:
    default = first_batches({"n_startup_trials": "6"}, 3, seed=0)
    random_stream = first_batches({"n_startup_trials": "1000"}, 3, seed=0)
    assert default == random_stream


def test_a_kept_instance_and_a_new_one_agree_with_the_default_start_up() -> None:
    exp = experiment("tpe", QUADRATIC, {"random_state": "8"}, None, "minimize")
    kept = create_algorithm(exp)
    history: list[TrialResult] = []
    for n in (3, 1, 2, 4, 1):
        new = kept.suggest(history, n)
        assert create_algorithm(exp).suggest(history, n) == new
        history += finished(new, [quadratic(p.assignments) for p in new], start=len(history))


# --- hyperopt's settings on Optuna's engine -------------------------------------------------


@pytest.mark.parametrize(
    ("gamma", "n", "good"),
    [(0.25, 1, 1), (0.25, 16, 1), (0.25, 17, 2), (0.25, 100, 3), (0.5, 100, 5), (0.25, 10**5, 25)],
)
def test_gamma_is_hyperopts_split(gamma: float, n: int, good: int) -> None:
    """hyperopt/tpe.py ap_split_trials: the best ceil(gamma * sqrt(n)) trials, at most 25."""
    assert hyperopt_gamma(gamma)(n) == good


def tpe_options(settings: dict[str, str], request: int = 3) -> dict:
    algorithm = create_algorithm(experiment("tpe", QUADRATIC, settings))
    assert isinstance(algorithm, TPE)
    algorithm.suggest([], request)
    return algorithm.tpe_options()


def test_hyperopt_names_map_onto_optunas_sampler() -> None:
    """pkg/suggestion/v1beta1/hyperopt/service.py lines 70-76: gamma, prior_weight,
    n_EI_candidates and random_state, as hyperopt's tpe.suggest takes them."""
    options = tpe_options({"gamma": "0.5", "prior_weight": "2.5", "n_EI_candidates": "8"})
    assert options["gamma"](100) == 5
    assert options["prior_weight"] == 2.5 and options["n_ei_candidates"] == 8
    assert options["n_startup_trials"] == 3  # the request size
    defaults = tpe_options({}, request=4)
    assert defaults["gamma"] is None  # Optuna's split: see the module docstring
    assert defaults["prior_weight"] == 1.0 and defaults["n_ei_candidates"] == 24
    assert defaults["n_startup_trials"] == 4
    optuna_names = tpe_options({"n_ei_candidates": "12", "n_startup_trials": "7"})
    assert optuna_names["n_ei_candidates"] == 12 and optuna_names["n_startup_trials"] == 7


@pytest.mark.parametrize(
    "settings", [{"gamma": "0.5"}, {"prior_weight": "3"}, {"n_EI_candidates": "2"}]
)
def test_each_hyperopt_setting_changes_the_modelled_proposals(settings: dict[str, str]) -> None:
    plain = optimise("tpe", {"random_state": "2"}, rounds=6, batch=2)
    tuned = optimise("tpe", {"random_state": "2", **settings}, rounds=6, batch=2)
    assert plain[:2] == tuned[:2]  # the random first batch
    assert [t.assignments for t in plain[2:]] != [t.assignments for t in tuned[2:]]


def _near_best_trials(seed: int) -> list[TrialResult]:
    """27 trials spread over QUADRATIC's box, the 3 best of 30 beside its minimum (1, -2), and 3
    trials running right there: the best region being worked, as in a parallel run."""
    rng = np.random.default_rng(seed)
    spread = [(float(x), float(y)) for x, y in rng.uniform(-5, 5, size=(27, 2))]
    best = [(1.3, -1.8), (0.8, -2.3), (1.2, -2.4)]
    near = [(1.1, -2.1), (0.7, -1.9), (1.4, -2.2)]
    trials = [
        TrialResult(f"t{i}", {"x": repr(x), "y": repr(y)}, "succeeded", (x - 1) ** 2 + (y + 2) ** 2)
        for i, (x, y) in enumerate(spread + best)
    ]
    return trials + [
        TrialResult(f"t{30 + i}", {"x": repr(x), "y": repr(y)}, "running")
        for i, (x, y) in enumerate(near)
    ]


@pytest.mark.parametrize(("name", "least"), [("multivariate-tpe", 8), ("tpe", 4)])
def test_trials_running_near_the_best_keep_the_best_region(name: str, least: int) -> None:
    """3 trials running beside the 3 best: batches of 4 over 10 seeds still work the best region
    (within 1.5 of the minimum), and no proposal repeats another or a trial. multivariate-tpe
    sends 9 of 40 proposals there, the liar keeping only a batch's own members apart (Optuna's
    constant liar on the running trials too sends all but 1 of 40 away); tpe, which keeps the
    liar on every running trial (its one-dimensional densities need it to keep a batch apart),
    6 of 40."""
    near = 0
    for seed in range(10):
        settings = {"random_state": str(seed)}
        algorithm = create_algorithm(
            experiment(name, QUADRATIC, settings, objective_type="minimize")
        )
        history = _near_best_trials(seed)
        batch = algorithm.suggest(history, 4)
        keys = {tuple(p.assignments.values()) for p in batch}
        assert len(keys) == 4 and keys.isdisjoint(tuple(t.assignments.values()) for t in history)
        for p in batch:
            x, y = float(p.assignments["x"]), float(p.assignments["y"])
            near += math.hypot(x - 1, y + 2) < 1.5
    assert near >= least, near
