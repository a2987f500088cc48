"""``spec.earlyStopping.algorithmName`` -> the :class:`EarlyStoppingRule` that implements it.

The control plane calls :func:`validate_early_stopping` when an experiment is applied and
:func:`create_rule` when it starts watching the experiment's running trials.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pykatib.api.models import Experiment, ObjectiveSpec

if TYPE_CHECKING:
    from pykatib.earlystop.base import EarlyStoppingRule

# name -> "module:Class" under pykatib.earlystop, imported on first use (as the algorithms are):
# an experiment without early stopping imports none. Katib's one rule first, then pykatib's.
_RULES: dict[str, str] = {
    "medianstop": "medianstop:MedianStop",
    "asha": "asha:Asha",
    "threshold": "threshold:Threshold",
}
EARLY_STOPPING_ALGORITHM_NAMES: tuple[str, ...] = tuple(_RULES)


class UnknownEarlyStoppingAlgorithmError(KeyError):
    """``spec.earlyStopping.algorithmName`` names no rule pykatib has."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_rule(name: str) -> type[EarlyStoppingRule]:
    """The class for ``algorithmName``; :class:`UnknownEarlyStoppingAlgorithmError` if none."""
    target = _RULES.get(name)
    if target is None:
        # Katib's medianstop service says "unknown algorithm name <name>"; the list is pykatib's.
        raise UnknownEarlyStoppingAlgorithmError(
            f"unknown algorithm name {name}; known: {', '.join(EARLY_STOPPING_ALGORITHM_NAMES)}"
        )
    module, cls = target.split(":")
    rule: type[EarlyStoppingRule] = getattr(
        importlib.import_module(f"pykatib.earlystop.{module}"), cls
    )
    return rule


def early_stopping_settings(experiment: Experiment) -> dict[str, str]:
    """``spec.earlyStopping.algorithmSettings`` as a name -> value dict (a repeated name: last wins)."""
    es = experiment.spec.early_stopping
    return {
        s.name: s.value or ""
        for s in (es.algorithm_settings or [] if es else [])
        if s.name is not None
    }


def validate_early_stopping(experiment: Experiment) -> list[str]:
    """Problems with ``spec.earlyStopping``, as ``path: message``; none without early stopping."""
    es = experiment.spec.early_stopping
    if es is None:
        return []
    if not es.algorithm_name:
        return ["spec.earlyStopping.algorithmName: must be specified"]
    try:
        rule = get_rule(es.algorithm_name)
    except UnknownEarlyStoppingAlgorithmError as e:
        return [f"spec.earlyStopping.algorithmName: {e}"]
    return rule.validate_settings(early_stopping_settings(experiment))


def create_rule(experiment: Experiment) -> EarlyStoppingRule | None:
    """The experiment's rule, for an experiment that passed validation; ``None`` without one."""
    es = experiment.spec.early_stopping
    if es is None or not es.algorithm_name:
        return None
    rule = get_rule(es.algorithm_name)
    return rule(early_stopping_settings(experiment), experiment.spec.objective or ObjectiveSpec())
