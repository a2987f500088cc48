"""pykatib's multi-objective extension: objective.objectives and status.paretoOptimalTrials."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import controller, experiment, experiment_doc, run

from pykatib.api.errors import InvalidExperimentError
from pykatib.api.yaml import parse_experiments

# Two objectives in conflict: loss falls with x, cost rises with it.
TRADE_OFF = """
import sys
x = float(sys.argv[1].split("=", 1)[1])
print(f"loss={(1 - x) ** 2:.6f} cost={x:.6f} accuracy={x / 2:.6f}")
"""

OBJECTIVES = {
    "objectives": [
        {"name": "loss", "type": "minimize"},
        {"name": "cost", "type": "minimize"},
    ],
    "additionalMetricNames": ["accuracy"],
}


def test_pareto_front_and_optimal_trial(tmp_path: Path) -> None:
    exp = experiment(
        TRADE_OFF,
        parameters=[
            {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
        ],
        args=["--x=${trialParameters.x}"],
        objective=dict(OBJECTIVES),
        maxTrialCount=6,
    )
    assert exp.spec.objective.objective_metric_name == "loss"  # defaulted from the first
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    trials = ctl.store.list_trials()
    xs = {t.name: float(t.spec.parameter_assignments[0].value) for t in trials}
    # Every trial is Pareto-optimal: lower loss always costs more.
    front = {p.best_trial_name for p in done.status.pareto_optimal_trials}
    assert front == set(xs)
    # currentOptimalTrial follows the first objective (loss): the largest x.
    assert done.status.current_optimal_trial.best_trial_name == max(xs, key=xs.get)
    [p] = [p for p in done.status.pareto_optimal_trials if p.best_trial_name == max(xs, key=xs.get)]
    assert {m.name for m in p.observation.metrics} == {"loss", "cost", "accuracy"}


def test_dominated_trials_are_not_in_the_front(tmp_path: Path) -> None:
    code = (
        "import sys\nx = float(sys.argv[1].split('=', 1)[1])\nprint(f'loss={x:.3f} cost={x:.3f}')\n"
    )
    exp = experiment(
        code,
        algorithm="grid",
        parameters=[
            {"name": "x", "parameterType": "discrete", "feasibleSpace": {"list": ["1", "2", "3"]}}
        ],
        args=["--x=${trialParameters.x}"],
        objective={
            "objectives": [
                {"name": "loss", "type": "minimize"},
                {"name": "cost", "type": "minimize"},
            ]
        },
        maxTrialCount=3,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    [only] = done.status.pareto_optimal_trials
    [best] = [t for t in ctl.store.list_trials() if t.spec.parameter_assignments[0].value == "1"]
    assert only.best_trial_name == best.name


def test_objectives_are_validated() -> None:
    objective = {
        "objectiveMetricName": "acc",
        "type": "maximize",
        "objectives": [{"name": "loss", "type": "minimize"}, {"name": "loss", "type": "up"}],
    }
    parameters = [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
    ]
    exp = experiment_doc(
        name="mo",
        namespace=None,
        objective=objective,
        parameters=parameters,
        command=["echo", "${trialParameters.x}"],
    )
    for key in ("parallelTrialCount", "maxTrialCount"):
        del exp["spec"][key]
    doc = yaml.safe_dump(exp)
    with pytest.raises(InvalidExperimentError) as err:
        parse_experiments(doc)
    text = str(err.value)
    assert "spec.objective.objectives[1].type" in text
    assert "spec.objective.objectives" in text and "loss" in text
    assert "spec.objective.objectiveMetricName: must be the first objective" in text


def test_nsga2_runs_a_multi_objective_experiment(tmp_path: Path) -> None:
    exp = experiment(
        TRADE_OFF,
        algorithm="nsga2",
        parameters=[
            {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
        ],
        args=["--x=${trialParameters.x}"],
        objective=dict(OBJECTIVES),
        maxTrialCount=8,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 8
    assert len(done.status.pareto_optimal_trials) >= 2
