"""pbt: Katib's validation and labels, generations, exploit / explore, failures, restarts."""

from __future__ import annotations

import pytest

from pykatib.suggest.base import TrialResult
from pykatib.suggest.pbt import GENERATION_LABEL, PARENT_LABEL, checkpoint_parent
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, param

S = "spec.algorithm.algorithmSettings"
PARAMS = [
    param("lr", "double", min="0.0001", max="0.02", step="0.0001"),
    param("opt", "categorical", list_=["sgd", "adam", "rmsprop"]),
]
BASE = {
    "suggestion_trial_dir": "/var/log/katib/checkpoints/",
    "n_population": "6",
    "truncation_threshold": "0.34",
}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"n_population": "40"},
            "Required params missing: suggestion_trial_dir, truncation_threshold",
        ),
        ({**BASE, "n_population": "4"}, "Param(n_population) should be >= 5"),
        (
            {**BASE, "truncation_threshold": "1.5"},
            "Param(truncation_threshold) should be between 0 and 1, inclusive",
        ),
        (
            {**BASE, "resample_probability": "2"},
            (
                "Param(resample_probability) should be null to perturb at 0.8 or 1.2, "
                "or be between 0 and 1, inclusive, to resample"
            ),
        ),
    ],
)
def test_katib_validation_messages(settings: dict[str, str], message: str) -> None:
    assert validate_algorithm("pbt", experiment("pbt", PARAMS, settings)) == [f"{S}: {message}"]


def test_katib_simple_pbt_settings_are_valid() -> None:
    settings = {
        "suggestion_trial_dir": "/var/log/katib/checkpoints/",
        "n_population": "40",
        "truncation_threshold": "0.2",
    }
    assert validate_algorithm("pbt", experiment("pbt", PARAMS, settings)) == []


def score(a: dict[str, str]) -> float:
    return -abs(float(a["lr"]) - 0.01) + (0.01 if a["opt"] == "adam" else 0.0)


def run(settings: dict[str, str], trials: int, batch: int, fail: set[int] = frozenset()):  # type: ignore[assignment]
    exp = experiment("pbt", PARAMS, settings)  # maximize
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    while len(history) < trials:
        new = algorithm.suggest(history, batch)
        assert new
        for p in new:
            k = len(history)
            failed = k in fail
            history.append(
                TrialResult(
                    f"t{k}",
                    p.assignments,
                    "failed" if failed else "succeeded",
                    value=None if failed else score(p.assignments),
                    labels=p.labels,
                )
            )
    return history


def test_generations_exploit_and_explore() -> None:
    history = run({**BASE, "random_state": "1"}, 24, batch=4)
    gens = [int(t.labels[GENERATION_LABEL]) for t in history]
    assert gens == [0] * 6 + [1] * 6 + [2] * 6 + [3] * 6
    assert all(PARENT_LABEL not in t.labels for t in history[:6])
    gen0, gen1 = history[:6], history[6:12]
    ranked = sorted(gen0, key=lambda t: -t.value)
    names = {t.name: t for t in gen0}
    for child in gen1:
        parent = names[checkpoint_parent(child.labels)]
        if child.assignments == parent.assignments:  # exploit: a top member's copy
            assert parent in ranked[:2]
        else:  # explore: perturbed by 0.8 / 1.2, list values moved by one
            lr, plr = float(child.assignments["lr"]), float(parent.assignments["lr"])
            assert abs(lr - 0.8 * plr) < 1e-4 or abs(lr - 1.2 * plr) < 1e-4 or lr in (0.0001, 0.02)
    best = [max(t.value for t in history[i : i + 6]) for i in range(0, 24, 6)]
    assert best[-1] >= best[0]


def test_resample_probability_redraws() -> None:
    history = run({**BASE, "random_state": "2", "resample_probability": "1"}, 12, batch=6)
    assert (
        len({t.assignments["lr"] for t in history[6:]} - {t.assignments["lr"] for t in history[:6]})
        >= 2
    )


def test_a_failed_member_is_retried_and_any_batch_size_works() -> None:
    history = run({**BASE, "random_state": "3"}, 20, batch=5, fail={2, 8})
    retried = [t for t in history if t.assignments == history[2].assignments]
    assert len(retried) >= 2 and retried[1].labels == history[2].labels
    assert [int(t.labels[GENERATION_LABEL]) for t in history[:7]] == [0] * 7


def test_same_seed_same_trials_and_waits_for_the_generation() -> None:
    a = run({**BASE, "random_state": "4"}, 12, batch=3)
    b = run({**BASE, "random_state": "4"}, 12, batch=6)
    assert [t.assignments for t in a] == [t.assignments for t in b]
    algorithm = create_algorithm(experiment("pbt", PARAMS, {**BASE, "random_state": "4"}))
    gen0 = algorithm.suggest([], 10)
    assert len(gen0) == 6
    pending = [
        TrialResult(f"t{i}", p.assignments, "running", labels=p.labels) for i, p in enumerate(gen0)
    ]
    assert algorithm.suggest(pending, 3) == []
