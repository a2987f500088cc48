"""Katib's own hyperparameter-tuning examples run unchanged (stand-in scripts at their paths)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from helpers import controller, run
from katib_oracle import check_outcome
from standins import STANDINS, katib_example, rewrite_commands

from pykatib.api.yaml import parse_experiments
from pykatib.control import status as st
from pykatib.suggest.registry import get_algorithm

EXAMPLES = [
    "hp-tuning/random.yaml",
    "hp-tuning/grid.yaml",
    "hp-tuning/tpe.yaml",
    "hp-tuning/multivariate-tpe.yaml",
    "hp-tuning/cma-es.yaml",
    "hp-tuning/sobol.yaml",
    "hp-tuning/bayesian-optimization.yaml",
    "hp-tuning/hyperband.yaml",
    "hp-tuning/hyperopt-distribution.yaml",
    "hp-tuning/optuna-distribution.yaml",
    "hp-tuning/simple-pbt.yaml",
    "trial-template/trial-metadata-substitution.yaml",
]


@pytest.mark.parametrize("example", EXAMPLES)
def test_katib_example_runs_to_success(example: str, tmp_path: Path) -> None:
    data = rewrite_commands(katib_example(example), STANDINS)
    try:
        get_algorithm(data["spec"]["algorithm"]["algorithmName"])
    except NotImplementedError as exc:
        pytest.skip(str(exc))
    [(exp, _)] = parse_experiments(yaml.safe_dump(data), example)
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    succeeded = done.status.condition("Succeeded")
    assert succeeded is not None and succeeded.status == "True", done.status.to_dict()
    assert succeeded.reason in (
        st.EXPERIMENT_MAX_TRIALS_REACHED,
        st.EXPERIMENT_GOAL_REACHED,
        st.EXPERIMENT_SUGGESTION_END_REACHED,
    )
    assert done.status.trials_succeeded
    assert done.status.current_optimal_trial.best_trial_name
    # The condition reason and optimal trial Katib's status_util.go would give these trials.
    check_outcome(done, ctl.store.list_trials())
    # Every trial is distinct: no duplicate assignments within the experiment.
    seen = [
        tuple((a.name, a.value) for a in t.spec.parameter_assignments)
        for t in ctl.store.list_trials()
    ]
    if data["spec"]["algorithm"]["algorithmName"] not in ("pbt", "hyperband"):
        assert len(set(seen)) == len(seen)


def test_metadata_substitution_reaches_the_trial(tmp_path: Path) -> None:
    data = rewrite_commands(
        katib_example("trial-template/trial-metadata-substitution.yaml"), STANDINS
    )
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    # Print the substituted env vars so the test can read them from the trial's log.
    container["command"] = [
        sys.executable,
        "-c",
        "import os\nfor k in sorted(os.environ):\n    k.startswith('TRIAL_') and print(k, os.environ[k])\nprint('loss=0.5')",
        "--lr=${trialParameters.learningRate}",
        "--momentum=${trialParameters.momentum}",
    ]
    data["spec"]["maxTrialCount"] = 1
    data["spec"]["parallelTrialCount"] = 1
    [(exp, _)] = parse_experiments(yaml.safe_dump(data), "metadata")
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    log = ctl.log_path(trial.namespace, "trial-metadata-substitution", trial.name).read_text()
    assert f"TRIAL_NAME {trial.name}" in log
    assert "TRIAL_NAMESPACE kubeflow" in log
    assert "TRIAL_KIND Job" in log
    assert "TRIAL_API_VERSION batch/v1" in log
    assert "TRIAL_LABEL_CUSTOM custom-label" in log
    assert "TRIAL_ANNOTATION_CUSTOM custom-annotation" in log
