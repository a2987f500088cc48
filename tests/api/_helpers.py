"""A valid experiment to break one rule at a time, and where Katib's examples are."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pykatib.api.defaults import set_defaults
from pykatib.api.models import Experiment
from pykatib.api.validation import validate_experiment

SHARED = Path(__file__).parents[2].parent / "shared"
KATIB_EXAMPLES = SHARED / "katib-examples"

_VALID: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Experiment",
    "metadata": {"name": "fake", "namespace": "fakens"},
    "spec": {
        "maxTrialCount": 6,
        "objective": {"type": "maximize", "goal": 0.11, "objectiveMetricName": "testme"},
        "algorithm": {"algorithmName": "random"},
        "earlyStopping": {
            "algorithmName": "medianstop",
            "algorithmSettings": [{"name": "min_trials_required", "value": "2"}],
        },
        "parameters": [
            {
                "name": "lr",
                "parameterType": "int",
                "feasibleSpace": {"min": "1", "max": "5", "distribution": "uniform"},
            },
            {
                "name": "momentum",
                "parameterType": "categorical",
                "feasibleSpace": {"list": ["0.95", "0.85", "0.75"]},
            },
        ],
        "trialTemplate": {
            "primaryContainerName": "training-container",
            "trialParameters": [
                {"name": "learningRate", "description": "Learning rate", "reference": "lr"},
                {"name": "momentum", "description": "Momentum", "reference": "momentum"},
            ],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "training-container",
                                    "image": "ghcr.io/kubeflow/katib/pytorch-mnist-cpu",
                                    "command": [
                                        "python3",
                                        "/opt/pytorch-mnist/mnist.py",
                                        "--lr=${trialParameters.learningRate}",
                                        "--momentum=${trialParameters.momentum}",
                                    ],
                                }
                            ],
                            "restartPolicy": "Never",
                        }
                    }
                },
            },
        },
    },
}


def valid_doc() -> dict[str, Any]:
    """A fresh copy of a valid experiment (Katib's validator test instance, with real names)."""
    return copy.deepcopy(_VALID)


def experiment(doc: dict[str, Any]) -> Experiment:
    """``doc`` as a defaulted Experiment."""
    exp = Experiment.model_validate(doc)
    set_defaults(exp)
    return exp


def problems(doc: dict[str, Any], **kwargs: Any) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` of ``doc``, defaulted then validated."""
    return validate_experiment(experiment(doc), **kwargs)
