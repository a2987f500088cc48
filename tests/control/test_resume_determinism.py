"""Same random_state, same assignments; a restart mid-experiment repeats and loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import controller, experiment

from pykatib.api.models import AlgorithmSetting

QUADRATIC = """
import sys
x = float(sys.argv[1].split("=", 1)[1])
y = float(sys.argv[2].split("=", 1)[1])
print(f"loss={(x - 0.3) ** 2 + (y - 0.6) ** 2:.8f}")
"""


def _experiment(algorithm: str):
    exp = experiment(
        QUADRATIC,
        algorithm=algorithm,
        parameters=[
            {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
            {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
        ],
        args=["--x=${trialParameters.x}", "--y=${trialParameters.y}"],
        maxTrialCount=14,
        parallelTrialCount=1,
    )
    settings = [AlgorithmSetting(name="random_state", value="11")]
    if algorithm == "bayesianoptimization":
        settings.append(AlgorithmSetting(name="n_initial_points", value="5"))
    elif algorithm == "tpe":
        settings.append(AlgorithmSetting(name="n_startup_trials", value="5"))
    exp.spec.algorithm.algorithm_settings = settings
    return exp


def _assignments(ctl) -> list[tuple[str, ...]]:
    return [tuple(a.value for a in t.spec.parameter_assignments) for t in ctl.store.list_trials()]


@pytest.mark.parametrize("algorithm", ["tpe", "bayesianoptimization", "cmaes"])
def test_restart_mid_experiment_matches_an_uninterrupted_run(
    algorithm: str, tmp_path: Path
) -> None:
    straight = controller(tmp_path / "straight")
    straight.apply(_experiment(algorithm), tmp_path)
    straight.run([("default", "exp")])
    expected = _assignments(straight)
    assert len(expected) == 14 and len(set(expected)) == 14

    first = controller(tmp_path / "crashed")
    first.apply(_experiment(algorithm), tmp_path)
    key = ("default", "exp")
    # Drive the control plane until 8 trials are done, then "crash" with one trial running.
    while True:
        first._wakeup.clear()
        state = first.reconcile(key)
        if (state.experiment.status.trials_succeeded or 0) >= 8:
            break
        first._wakeup.wait(5)
    first.runner.shutdown()
    second = controller(tmp_path / "crashed")  # a new process over the same database
    [done] = second.run([key])
    assert done.status.trials_succeeded == 14
    assert _assignments(second) == expected
