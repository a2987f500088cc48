"""hyperband: Katib's validation, the bracket schedule, filling rungs over rounds, failures, end."""

from __future__ import annotations

import json

import pytest

from pykatib.suggest.base import SuggestionEndReached, TrialResult
from pykatib.suggest.hyperband import BRACKET_LABEL, PARENT_LABEL, RUNG_LABEL, Schedule
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, param

PARAMS = [
    param("lr", "double", min="0.01", max="0.05", distribution="logUniform"),
    param("opt", "categorical", list_=["sgd", "adam"]),
    param("epochs", "int", min="1", max="1"),
]
S = "spec.algorithm.algorithmSettings"


def hb_experiment(settings: dict[str, str], parallel: int = 9, params=PARAMS):
    exp = experiment("hyperband", params, settings, objective_type="minimize")
    exp.spec.parallel_trial_count = parallel
    return exp


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"r_l": "9"}, f"{S}: r_l and resource_name must be set."),
        ({"r_l": "x", "resource_name": "epochs"}, f"{S}: r_l must be a positive float number."),
        ({"r_l": "-1", "resource_name": "epochs"}, f"{S}: r_l must be a positive float number."),
        (
            {"r_l": "9", "resource_name": "batch"},
            f"{S}: value of resource_name setting must be in parameters.",
        ),
        (
            {"r_l": "9", "resource_name": "opt"},
            f"{S}: resource_name opt must be an int or double parameter.",
        ),
        (
            {"r_l": "9", "resource_name": "epochs", "eta": "1"},
            f"{S}: eta must be an integer greater than 1.",
        ),
    ],
)
def test_katib_validation_messages(settings: dict[str, str], message: str) -> None:
    assert validate_algorithm("hyperband", hb_experiment(settings)) == [message]


def test_parallel_trial_count_minimum_is_katibs() -> None:
    # r_l 9, eta 3: s_max 2, Katib's minimum ceil(3^2) = 9.
    settings = {"r_l": "9", "resource_name": "epochs"}
    assert validate_algorithm("hyperband", hb_experiment(settings, parallel=8)) == [
        "spec.parallelTrialCount: parallelTrialCount must be not less than 9."
    ]
    assert validate_algorithm("hyperband", hb_experiment(settings, parallel=9)) == []
    # Katib's hyperband.yaml: r_l 2, eta 2, parallelTrialCount 2.
    yaml_like = {"resource_name": "epochs", "eta": "2", "r_l": "2"}
    assert validate_algorithm("hyperband", hb_experiment(yaml_like, parallel=2)) == []


def test_schedule_is_katibs() -> None:
    schedule = Schedule(r_l=9, eta=3)
    assert schedule.s_max == 2 and schedule.brackets() == [2, 1, 0]
    assert [schedule.size(2, i) for i in range(3)] == [9, 3, 1]
    assert [schedule.size(1, i) for i in range(2)] == [5, 2]  # ceil(3 * 3 / 2) = 5
    assert schedule.size(0, 0) == 3
    assert [schedule.budget(2, i) for i in range(3)] == [1, 3, 9]


def run(
    settings: dict[str, str],
    batch: int,
    fail: set[int] = frozenset(),  # type: ignore[assignment]
    reload: bool = False,
) -> tuple[list[TrialResult], list[int]]:
    """Drive hyperband to its end: each round asks for ``batch``, then finishes what it got."""
    exp = hb_experiment(settings)
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    sizes = []
    while True:
        try:
            new = algorithm.suggest(history, batch)
        except SuggestionEndReached:
            return history, sizes
        if reload:
            state = json.loads(json.dumps(algorithm.state()))
            algorithm = create_algorithm(exp)
            algorithm.restore(state)
        sizes.append(len(new))
        assert new, "hyperband returned nothing with nothing running"
        for p in new:
            k = len(history)
            value = float(p.assignments["lr"]) / float(p.assignments["epochs"])
            state = "failed" if k in fail else "succeeded"
            history.append(
                TrialResult(
                    f"t{k}",
                    p.assignments,
                    state,
                    value=None if k in fail else value,
                    labels=p.labels,
                )
            )


def test_master_and_child_brackets() -> None:
    history, _ = run({"r_l": "9", "resource_name": "epochs", "random_state": "1"}, batch=9)
    by_rung: dict[tuple[str, str], list[TrialResult]] = {}
    for t in history:
        by_rung.setdefault((t.labels[BRACKET_LABEL], t.labels[RUNG_LABEL]), []).append(t)
    sizes = {k: len(v) for k, v in by_rung.items()}
    assert sizes == {
        ("2", "0"): 9,
        ("2", "1"): 3,
        ("2", "2"): 1,
        ("1", "0"): 5,
        ("1", "1"): 2,
        ("0", "0"): 3,
    }
    assert {t.assignments["epochs"] for t in by_rung[("2", "0")]} == {"1"}
    assert {t.assignments["epochs"] for t in by_rung[("2", "1")]} == {"3"}
    assert {t.assignments["epochs"] for t in by_rung[("0", "0")]} == {"9"}
    # A child re-runs the best of the rung below, with only the budget changed.
    rung0 = sorted(by_rung[("2", "0")], key=lambda t: t.value)
    children = by_rung[("2", "1")]
    assert [c.labels[PARENT_LABEL] for c in children] == [t.name for t in rung0[:3]]
    for child in children:
        parent = next(t for t in rung0 if t.name == child.labels[PARENT_LABEL])
        assert child.assignments == {**parent.assignments, "epochs": "3"}


@pytest.mark.parametrize("batch", [1, 2, 4, 9, 20])
def test_any_batch_size_fills_the_same_brackets(batch: int) -> None:
    history, sizes = run({"r_l": "9", "resource_name": "epochs"}, batch=batch)
    assert len(history) == 9 + 3 + 1 + 5 + 2 + 3
    assert max(sizes) <= batch


def test_waits_for_a_rung_to_finish() -> None:
    exp = hb_experiment({"r_l": "9", "resource_name": "epochs"})
    algorithm = create_algorithm(exp)
    first = algorithm.suggest([], 20)
    assert len(first) == 9  # the whole first rung, not more
    history = [
        TrialResult(f"t{i}", p.assignments, "running", labels=p.labels) for i, p in enumerate(first)
    ]
    assert algorithm.suggest(history, 5) == []
    history = [
        TrialResult(t.name, t.assignments, "succeeded", value=float(i), labels=t.labels)
        for i, t in enumerate(history[:-1])
    ] + history[-1:]
    assert algorithm.suggest(history, 5) == []  # still one running
    history[-1] = TrialResult(
        history[-1].name, history[-1].assignments, "succeeded", value=0.5, labels=history[-1].labels
    )
    promoted = algorithm.suggest(history, 5)
    assert [p.labels[PARENT_LABEL] for p in promoted] == ["t0", "t8", "t1"]


def test_failed_trials_rank_last_and_do_not_wedge() -> None:
    history, _ = run({"r_l": "9", "resource_name": "epochs"}, batch=4, fail={0, 1, 2, 9})
    assert len(history) == 23
    promoted = {
        t.labels[PARENT_LABEL]
        for t in history
        if t.labels[RUNG_LABEL] == "1" and t.labels[BRACKET_LABEL] == "2"
    }
    assert not promoted & {"t0", "t1", "t2"}


def test_restart_between_calls_changes_nothing() -> None:
    settings = {"r_l": "9", "resource_name": "epochs"}
    exp = hb_experiment(settings)
    algorithm = create_algorithm(exp)
    first = algorithm.suggest([], 3)
    again = create_algorithm(exp)
    again.restore(json.loads(json.dumps(algorithm.state())))
    history = [
        TrialResult(f"t{i}", p.assignments, "running", labels=p.labels) for i, p in enumerate(first)
    ]
    assert again.suggest(history, 3) == algorithm.suggest(history, 3)


def test_double_resource_gets_the_exact_budget() -> None:
    params = [param("x", "double", min="0", max="1"), param("frac", "double", min="0.1", max="1")]
    exp = hb_experiment({"r_l": "1", "resource_name": "frac", "eta": "2"}, params=params)
    assert create_algorithm(exp).suggest([], 1)[0].assignments["frac"] == "1.0"
