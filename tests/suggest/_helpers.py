"""Builders for the suggest tests: experiments, search spaces and trial histories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pykatib.api.models import Experiment
from pykatib.suggest.base import Proposal, TrialResult
from pykatib.suggest.space import SearchSpace


def param(name: str, type_: str, **feasible: Any) -> dict[str, Any]:
    """A ``spec.parameters`` entry; ``list_`` stands for ``list``."""
    if "list_" in feasible:
        feasible["list"] = feasible.pop("list_")
    return {"name": name, "parameterType": type_, "feasibleSpace": feasible}


def experiment(
    algorithm: str,
    parameters: Iterable[dict[str, Any]] = (),
    settings: dict[str, str] | None = None,
    max_trial_count: int | None = None,
    objective_type: str = "maximize",
) -> Experiment:
    spec: dict[str, Any] = {
        "algorithm": {
            "algorithmName": algorithm,
            "algorithmSettings": [{"name": k, "value": v} for k, v in (settings or {}).items()],
        },
        "objective": {"type": objective_type, "objectiveMetricName": "score"},
        "parameters": list(parameters),
    }
    if max_trial_count is not None:
        spec["maxTrialCount"] = max_trial_count
    return Experiment.model_validate({"metadata": {"name": "test"}, "spec": spec})


def space(*parameters: dict[str, Any]) -> SearchSpace:
    return SearchSpace.from_experiment(experiment("random", parameters))


def finished(
    proposals: Iterable[Proposal], values: Iterable[float], start: int = 0
) -> list[TrialResult]:
    """Succeeded trials for ``proposals`` with objective ``values``."""
    return [
        TrialResult(f"t{start + i}", p.assignments, "succeeded", value=v)
        for i, (p, v) in enumerate(zip(proposals, values))
    ]


def running(proposals: Iterable[Proposal], start: int = 0) -> list[TrialResult]:
    return [TrialResult(f"t{start + i}", p.assignments, "running") for i, p in enumerate(proposals)]
