"""Every algorithm honours each parameter distribution, or its validation says it cannot."""

from __future__ import annotations

import numpy as np
import pytest

from pykatib.api.models import ObjectiveItem
from pykatib.suggest.base import TrialResult
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, param

SETTINGS = {
    "random": {"random_state": "1"},
    "sobol": {"random_state": "1"},
    "tpe": {"random_state": "1"},
    "multivariate-tpe": {"random_state": "1"},
    "cmaes": {"random_state": "1"},
    "bayesianoptimization": {"random_state": "1"},
    "hyperband": {"random_state": "1", "r_l": "81", "resource_name": "epochs"},
    "pbt": {
        "random_state": "1",
        "suggestion_trial_dir": "/tmp/ckpt",
        "n_population": "40",
        "truncation_threshold": "0.2",
    },
    "nsga2": {"random_state": "1", "population_size": "40"},
}


def dist_experiment(name: str, distribution: str):
    params = [
        param("x", "double", min="1", max="10000", distribution=distribution),
        param("y", "double", min="0", max="1"),
        param("epochs", "int", min="1", max="9"),
    ]
    exp = experiment(name, params, SETTINGS.get(name, {}))
    exp.spec.parallel_trial_count = 81
    exp.spec.objective.objectives = [
        ObjectiveItem(name="score", type="maximize"),
        ObjectiveItem(name="other", type="minimize"),
    ]
    return exp


@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("distribution", ["uniform", "logUniform", "normal", "logNormal"])
def test_first_proposals_follow_the_distribution(name: str, distribution: str) -> None:
    exp = dist_experiment(name, distribution)
    assert validate_algorithm(name, exp) == []
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    while len(history) < 40:  # every algorithm's prior draws (cmaes: its first generations)
        new = algorithm.suggest(history, 40 - len(history))
        history += [
            TrialResult(f"t{len(history) + i}", p.assignments, "running", labels=p.labels)
            for i, p in enumerate(new)
        ]
        if not new or name == "cmaes":
            break  # hyperband waits for its rung; cmaes has its first generation
    xs = np.array([float(t.assignments["x"]) for t in history])
    assert len(xs) == 40 or (name == "cmaes" and len(xs) >= 8)
    assert np.all((xs >= 1) & (xs <= 10000))
    if name == "cmaes":
        return  # a search distribution of its own around the quantile 0.5: the prior's median
    logs = np.log10(xs)
    below_100 = np.mean(xs < 100)  # uniform: ~1 %; logUniform: 50 %
    centre = np.mean(np.abs(xs - 5000) < 1700)  # normal (sd 1666): ~68 %; uniform ~34 %
    if distribution == "uniform":
        assert below_100 < 0.1 and centre < 0.55
    elif distribution == "logUniform":
        assert 0.3 < below_100 < 0.7
    elif distribution == "normal":
        assert centre > 0.5
    else:  # logNormal: log10 x ~ normal around 2 (the middle of 0..4)
        assert np.mean(np.abs(logs - 2) < 0.7) > 0.5


def test_grid_says_it_cannot_honour_a_distribution() -> None:
    params = [param("x", "double", min="1", max="100", step="1", distribution="logUniform")]
    assert validate_algorithm("grid", experiment("grid", params)) == [
        (
            "spec.parameters[0].feasibleSpace.distribution: grid cannot honour logUniform: its "
            "values are the step points from min to max, each tried once; remove distribution, or "
            "use another algorithm"
        )
    ]
