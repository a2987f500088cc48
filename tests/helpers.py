"""Building experiments whose trials are small Python programs (real processes)."""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Any

from pykatib.api.defaults import set_defaults
from pykatib.api.models import Experiment
from pykatib.control.controller import Controller
from pykatib.store import Store


def experiment_doc(
    code: str | None = None,
    *,
    name: str = "exp",
    namespace: str | None = "default",
    parameters: list[dict[str, Any]] | None = None,
    args: list[str] | None = None,
    command: list[str] | None = None,
    algorithm: str = "random",
    objective: dict[str, Any] | None = None,
    job_spec: dict[str, Any] | None = None,
    env: list[dict[str, str]] | None = None,
    container: str = "training-container",
    **spec: Any,
) -> dict[str, Any]:
    """An Experiment document (what a user writes in YAML) whose trial runs ``python -c code``
    with ``args`` (placeholders allowed), or ``command`` as it is; ``namespace=None`` leaves
    it to the reader's default."""
    parameters = parameters or [
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05"}}
    ]
    main: dict[str, Any] = {"name": container, "image": "python:3"}
    if command is not None:
        main["command"] = command
    else:
        main["command"] = [sys.executable, "-c", code]
        main["args"] = ["--lr=${trialParameters.lr}"] if args is None else args
    if env:
        main["env"] = env
    job: dict[str, Any] = {"template": {"spec": {"containers": [main], "restartPolicy": "Never"}}}
    job.update(copy.deepcopy(job_spec or {}))
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": metadata,
        "spec": {
            "objective": objective or {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": algorithm},
            "parallelTrialCount": 2,
            "maxTrialCount": 4,
            "parameters": parameters,
            "trialTemplate": {
                "primaryContainerName": container,
                "trialParameters": [
                    {"name": p["name"], "reference": p["name"]} for p in parameters
                ],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": job},
            },
            **spec,
        },
    }


def experiment(code: str, **options: Any) -> Experiment:
    """:func:`experiment_doc` as the API's model, with Katib's defaults set."""
    exp = Experiment.model_validate(experiment_doc(code, **options))
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


def finished(runner: Any, key: tuple[str, str]) -> Any:
    """The run status of trial ``key`` once ``runner`` reports it finished."""
    for _ in range(1200):  # a generous bound, not a timing assertion
        status = runner.status(key)
        if status is not None and status.finished:
            return status
        time.sleep(0.05)
    raise AssertionError(f"{key[1]} did not finish")
