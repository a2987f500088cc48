"""Building experiments whose trials are small Python programs (real processes)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from pykatib.api.defaults import set_defaults
from pykatib.api.models import Experiment
from pykatib.control.controller import Controller
from pykatib.store import Store


def experiment(
    code: str,
    *,
    name: str = "exp",
    parameters: list[dict[str, Any]] | None = None,
    args: list[str] | None = None,
    algorithm: str = "random",
    objective: dict[str, Any] | None = None,
    job_spec: dict[str, Any] | None = None,
    env: list[dict[str, str]] | None = None,
    **spec: Any,
) -> Experiment:
    """An experiment whose trial runs ``python -c code`` with ``args`` (placeholders allowed)."""
    parameters = parameters or [
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05"}}
    ]
    if args is None:
        args = ["--lr=${trialParameters.lr}"]
    container: dict[str, Any] = {
        "name": "training-container",
        "image": "python:3",
        "command": [sys.executable, "-c", code],
        "args": args,
    }
    if env:
        container["env"] = env
    job: dict[str, Any] = {
        "template": {"spec": {"containers": [container], "restartPolicy": "Never"}}
    }
    job.update(copy.deepcopy(job_spec or {}))
    data = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "objective": objective or {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": algorithm},
            "parallelTrialCount": 2,
            "maxTrialCount": 4,
            "parameters": parameters,
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": [
                    {"name": p["name"], "reference": p["name"]} for p in parameters
                ],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": job},
            },
            **spec,
        },
    }
    exp = Experiment.model_validate(data)
    set_defaults(exp)
    return exp


def controller(tmp_path: Path) -> Controller:
    return Controller(Store(f"sqlite:///{tmp_path / 'test.db'}"), home=tmp_path / "home")


def run(ctl: Controller, exp: Experiment, source_dir: Path) -> Experiment:
    ctl.apply(exp, source_dir)
    [done] = ctl.run([(exp.namespace, exp.name)])
    return done


def reason(exp_or_trial: Any, type_: str) -> str | None:
    cond = exp_or_trial.status.condition(type_)
    return cond.reason if cond is not None and cond.status == "True" else None
