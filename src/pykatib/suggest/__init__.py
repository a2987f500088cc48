"""Hyperparameter search algorithms, keyed by Katib's ``algorithmName``.

The control plane uses :func:`validate_algorithm` when an experiment is applied and
:func:`create_algorithm` to get the :class:`Algorithm` that proposes its trials.
"""

from pykatib.suggest.base import Algorithm, Proposal, SuggestionEndReached, TrialResult
from pykatib.suggest.registry import (
    KATIB_ALGORITHM_NAMES,
    UnknownAlgorithmError,
    algorithm_settings,
    create_algorithm,
    get_algorithm,
    implemented_algorithm_names,
    validate_algorithm,
)
from pykatib.suggest.space import Parameter, SearchSpace, SearchSpaceError

__all__ = [
    "KATIB_ALGORITHM_NAMES",
    "Algorithm",
    "Parameter",
    "Proposal",
    "SearchSpace",
    "SearchSpaceError",
    "SuggestionEndReached",
    "TrialResult",
    "UnknownAlgorithmError",
    "algorithm_settings",
    "create_algorithm",
    "get_algorithm",
    "implemented_algorithm_names",
    "validate_algorithm",
]
