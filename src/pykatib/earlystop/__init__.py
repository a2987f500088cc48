"""Early stopping, keyed by ``spec.earlyStopping.algorithmName``.

The control plane uses :func:`validate_early_stopping` when an experiment is applied, and
:func:`create_rule` for the :class:`EarlyStoppingRule` it asks, after each batch of a running
trial's observations, whether to stop that trial. The rules are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pykatib.earlystop.registry import (
    EARLY_STOPPING_ALGORITHM_NAMES,
    UnknownEarlyStoppingAlgorithmError,
    create_rule,
    early_stopping_settings,
    get_rule,
    validate_early_stopping,
)

if TYPE_CHECKING:
    from pykatib.earlystop.asha import Asha
    from pykatib.earlystop.base import EarlyStoppingRule
    from pykatib.earlystop.medianstop import MedianStop
    from pykatib.earlystop.threshold import Threshold

__all__ = [
    "EARLY_STOPPING_ALGORITHM_NAMES",
    "Asha",
    "EarlyStoppingRule",
    "MedianStop",
    "Threshold",
    "UnknownEarlyStoppingAlgorithmError",
    "create_rule",
    "early_stopping_settings",
    "get_rule",
    "validate_early_stopping",
]

_CLASSES = {
    "Asha": "asha",
    "EarlyStoppingRule": "base",
    "MedianStop": "medianstop",
    "Threshold": "threshold",
}


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module 'pykatib.earlystop' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"pykatib.earlystop.{module}"), name)
