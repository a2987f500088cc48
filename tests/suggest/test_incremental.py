"""Algorithms that keep what they read of the history between calls propose exactly what a new
instance given the same history proposes: with trials finishing out of order, failing, being
early-stopped, staying pending, and with proposals the control plane did not create."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from pykatib.api.models import ObjectiveItem
from pykatib.suggest._optuna import OptunaAlgorithm, _HistoryStudy
from pykatib.suggest.base import Algorithm, SuggestionEndReached, TrialResult
from pykatib.suggest.registry import create_algorithm

from ._helpers import experiment, param

MIXED = [
    param("x", "double", min="-5", max="5"),
    param("y", "double", min="0.001", max="10", distribution="logUniform"),
    param("z", "double", min="-3", max="3", distribution="normal"),
    param("k", "int", min="1", max="20"),
    param("c", "categorical", list_=["a", "b", "c"]),
    param("s", "double", min="0.1", max="1.0", step="0.1"),
]
SMALL = [
    param("a", "int", min="1", max="4"),
    param("b", "categorical", list_=["u", "v", "w"]),
    param("d", "double", min="0.1", max="0.5", step="0.1"),
]
CASES = {
    "grid": ("grid", SMALL, {"random_state": "5"}),
    "sobol": ("sobol", MIXED, {}),
    "sobol-scrambled": ("sobol", MIXED, {"random_state": "2"}),
    "sobol-small": ("sobol", SMALL, {}),
    "tpe": ("tpe", MIXED, {"random_state": "1", "n_startup_trials": "5"}),
    "multivariate-tpe": ("multivariate-tpe", MIXED, {"random_state": "4", "n_startup_trials": "5"}),
    "motpe": ("tpe", MIXED, {"random_state": "4", "n_startup_trials": "5"}),
    "nsga2": ("nsga2", MIXED, {"random_state": "6", "population_size": "6"}),
    "cmaes": ("cmaes", MIXED, {"random_state": "7"}),
    "cmaes-ipop": ("cmaes", MIXED, {"random_state": "2", "restart_strategy": "ipop"}),
}
MULTI = ("motpe", "nsga2")


def _experiment(case: str):
    name, parameters, settings = CASES[case]
    exp = experiment(name, parameters, settings)
    if case in MULTI:
        exp.spec.objective.objectives = [
            ObjectiveItem(name="score", type="maximize"),
            ObjectiveItem(name="loss", type="minimize"),
        ]
    return exp


def _score(assignments: dict[str, str]) -> float:
    return -sum(ord(ch) for ch in "".join(assignments.values())) % 97 / 97


def _advance(
    history: list[TrialResult], rng: np.random.Generator, multi: bool, tie: float = 0.0
) -> None:
    """Move some open trials on, in no particular order; some score ``tie`` (ties)."""
    for i, t in enumerate(history):
        if t.completed:
            continue
        r = rng.random()
        keep = {"name": t.name, "assignments": t.assignments, "labels": t.labels}
        if r < 0.3:
            history[i] = TrialResult(**keep, state="running", intermediate=(0.5,) * (i % 3))
        elif r < 0.35:
            history[i] = TrialResult(**keep, state="failed")
        elif r < 0.4:
            history[i] = TrialResult(**keep, state="early_stopped", intermediate=(0.1, -0.2))
        elif r < 0.8:
            v = tie if r < 0.55 else _score(t.assignments)
            values = (v, float(rng.random())) if multi else ()
            metrics = dict(zip(("score", "loss"), values or (v,)))
            history[i] = TrialResult(
                **keep, state="succeeded", value=v, values=values, metrics=metrics
            )


def _run(case: str, fresh_each_call: bool, calls: int = 30) -> list:
    exp = _experiment(case)
    algorithm: Algorithm = create_algorithm(exp)
    rng = np.random.default_rng(0)
    history: list[TrialResult] = []
    if CASES[case][0] != "grid":  # one trial outside the space (grid rejects those)
        history.append(TrialResult("foreign", {"x": "1"}, "failed"))
    out: list = []
    for call in range(calls):
        if fresh_each_call:
            state = algorithm.state()
            algorithm = create_algorithm(exp)
            if state is not None:
                algorithm.restore(json.loads(json.dumps(state)))
        try:
            proposals = algorithm.suggest(list(history), [1, 3, 2, 4][call % 4])
        except SuggestionEndReached as e:
            out.append(str(e))
            continue
        out.append([(p.assignments, p.labels) for p in proposals])
        dropped = proposals[-1:] if call % 5 == 2 and len(proposals) > 1 else []
        for p in proposals:
            if p not in dropped:
                history.append(
                    TrialResult(f"t{len(history)}", p.assignments, "pending", labels=p.labels)
                )
        _advance(history, rng, case in MULTI)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_a_kept_instance_proposes_what_a_new_one_does(case: str) -> None:
    assert _run(case, fresh_each_call=False) == _run(case, fresh_each_call=True)


def _rebuilt(algorithm: OptunaAlgorithm, history: list[TrialResult]) -> optuna.Study:
    directions = [d for _, d in algorithm.objectives] or [algorithm.direction]
    study = optuna.create_study(directions=directions)
    study.add_trials([t for t in map(algorithm._frozen, history) if t is not None])
    return study


def _view(study: optuna.Study) -> list:
    trials = study.get_trials(deepcopy=False)
    fields = [
        (t.number, t._trial_id, t.state, t.values, t.params, t.intermediate_values, t.system_attrs)
        for t in trials
    ]
    return [fields, study._storage._studies[study._study_id].best_trial_id]  # type: ignore[attr-defined]


@pytest.mark.parametrize("objective_type", ["minimize", "maximize"])
def test_the_kept_study_is_the_study_of_the_history(objective_type: str) -> None:
    algorithm = create_algorithm(
        experiment("tpe", MIXED, {"random_state": "3"}, None, objective_type)
    )
    assert isinstance(algorithm, OptunaAlgorithm)
    mirror = _HistoryStudy(algorithm, [algorithm.direction])
    rng = np.random.default_rng(1)
    history: list[TrialResult] = [TrialResult("foreign", {"x": "1"}, "failed")]
    for call in range(25):
        for p in algorithm.suggest(history, 3):
            history.append(TrialResult(f"t{len(history)}", p.assignments, "pending"))
        _advance(history, rng, multi=False, tie=0.0 if objective_type == "maximize" else -1.0)
        assert mirror.sync(history)
        mirror.study.ask()  # a trial asked during a call ...
        mirror.rewind()  # ... is gone after it
        assert _view(mirror.study) == _view(_rebuilt(algorithm, history)), f"call {call}"


@pytest.mark.parametrize("objective_type", ["minimize", "maximize"])
def test_a_tie_finishing_late_is_best_if_it_came_first(objective_type: str) -> None:
    algorithm = create_algorithm(
        experiment("tpe", SMALL, {"random_state": "3"}, None, objective_type)
    )
    assert isinstance(algorithm, OptunaAlgorithm)
    mirror = _HistoryStudy(algorithm, [algorithm.direction])
    a, b = {"a": "1", "b": "u", "d": "0.1"}, {"a": "2", "b": "u", "d": "0.1"}
    steps = [
        [TrialResult("t0", a, "running"), TrialResult("t1", b, "succeeded", value=1.0)],
        [
            TrialResult("t0", a, "succeeded", value=1.0),
            TrialResult("t1", b, "succeeded", value=1.0),
        ],
    ]
    for history in steps:
        assert mirror.sync(history)
        assert _view(mirror.study) == _view(_rebuilt(algorithm, history))
