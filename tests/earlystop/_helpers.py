"""Builders for the early-stopping tests."""

from __future__ import annotations

from typing import Any

from pykatib.api.models import Experiment, ObjectiveSpec
from pykatib.earlystop import EarlyStoppingRule, get_rule


def objective(type_: str = "minimize") -> ObjectiveSpec:
    return ObjectiveSpec.model_validate({"type": type_, "objectiveMetricName": "loss"})


def rule(name: str, type_: str = "minimize", **settings: str) -> EarlyStoppingRule:
    return get_rule(name)(settings, objective(type_))


def negated(series: dict[str, list[float]]) -> dict[str, list[float]]:
    """The same trials with every value negated: the maximize mirror of a minimize case."""
    return {name: [-v for v in values] for name, values in series.items()}


def experiment(early_stopping: dict[str, Any] | None, type_: str = "minimize") -> Experiment:
    spec: dict[str, Any] = {"objective": {"type": type_, "objectiveMetricName": "loss"}}
    if early_stopping is not None:
        spec["earlyStopping"] = early_stopping
    return Experiment.model_validate({"metadata": {"name": "test"}, "spec": spec})
