"""Katib's ``algorithmName`` -> the :class:`Algorithm` that implements it.

The control plane calls :func:`validate_algorithm` when an experiment is applied and
:func:`create_algorithm` when it first needs suggestions for it. Implementations are imported on
first use, so that an experiment with ``random`` never imports Optuna.
"""

from __future__ import annotations

import importlib

from pykatib.api.models import Experiment, ObjectiveSpec
from pykatib.suggest.base import Algorithm
from pykatib.suggest.space import SearchSpace, SearchSpaceError

KATIB_ALGORITHM_NAMES: tuple[str, ...] = (
    "random",
    "grid",
    "tpe",
    "multivariate-tpe",
    "cmaes",
    "sobol",
    "bayesianoptimization",
    "hyperband",
    "pbt",
    "enas",
    "darts",
)

# Every name an experiment may give: Katib's, and pykatib's own extensions.
ALGORITHM_NAMES: tuple[str, ...] = (*KATIB_ALGORITHM_NAMES, "nsga2")

# name -> "module:Class" under pykatib.suggest
_IMPLEMENTATIONS: dict[str, str] = {
    "random": "random:RandomSearch",
    "grid": "grid:GridSearch",
    "tpe": "tpe:TPE",
    "multivariate-tpe": "tpe:MultivariateTPE",
    "cmaes": "cmaes:CmaEs",
    "sobol": "sobol:Sobol",
    "bayesianoptimization": "bayesianoptimization:BayesianOptimization",
    "hyperband": "hyperband:Hyperband",
    "pbt": "pbt:Pbt",
    "nsga2": "nsga2:NSGA2",
}


class UnknownAlgorithmError(KeyError):
    """``algorithmName`` is not one of Katib's algorithms."""

    def __str__(self) -> str:
        return str(self.args[0])


def implemented_algorithm_names() -> list[str]:
    """The algorithm names pykatib can run: Katib's, in Katib's order, then pykatib's own."""
    katib = [name for name in KATIB_ALGORITHM_NAMES if name in _IMPLEMENTATIONS]
    return katib + [name for name in _IMPLEMENTATIONS if name not in KATIB_ALGORITHM_NAMES]


def get_algorithm(name: str) -> type[Algorithm]:
    """The class for Katib's ``algorithmName``.

    Raises :class:`UnknownAlgorithmError` for a name Katib does not have, and
    :class:`NotImplementedError` for one of Katib's that pykatib does not run yet.
    """
    target = _IMPLEMENTATIONS.get(name)
    if target is None:
        if name in KATIB_ALGORITHM_NAMES:
            raise NotImplementedError(
                f'algorithm "{name}" is not implemented yet in pykatib; '
                f"implemented: {', '.join(implemented_algorithm_names())}"
            )
        raise UnknownAlgorithmError(
            f'unknown algorithm name "{name}"; Katib\'s are: {", ".join(KATIB_ALGORITHM_NAMES)}'
        )
    module_name, class_name = target.split(":")
    module = importlib.import_module(f"pykatib.suggest.{module_name}")
    return getattr(module, class_name)


def algorithm_settings(experiment: Experiment) -> dict[str, str]:
    """``spec.algorithm.algorithmSettings`` as a name -> value dict (a repeated name: last wins)."""
    algorithm = experiment.spec.algorithm
    return {
        s.name: s.value or ""
        for s in (algorithm.algorithm_settings or [] if algorithm else [])
        if s.name is not None
    }


def _algorithm_name(experiment: Experiment) -> str:
    algorithm = experiment.spec.algorithm
    return (algorithm.algorithm_name if algorithm else None) or ""


def validate_algorithm(name: str, experiment: Experiment) -> list[str]:
    """Problems with running ``experiment`` under algorithm ``name``, as ``path: message``.

    Katib's names that pykatib does not implement yet pass (they fail when first asked for
    suggestions); names Katib does not have are a problem.
    """
    try:
        cls = get_algorithm(name)
    except NotImplementedError:
        return []
    except UnknownAlgorithmError as e:
        return [f"spec.algorithm.algorithmName: {e}"]
    try:
        space = SearchSpace.from_experiment(experiment)
    except SearchSpaceError as e:
        return e.problems
    objective = experiment.spec.objective or ObjectiveSpec()
    problems = cls.validate_settings(space, objective, algorithm_settings(experiment))
    return problems or cls.validate_experiment(experiment, space)


def create_algorithm(experiment: Experiment) -> Algorithm:
    """A new instance of the experiment's algorithm, for an experiment that passed validation."""
    cls = get_algorithm(_algorithm_name(experiment))
    return cls(
        SearchSpace.from_experiment(experiment),
        experiment.spec.objective or ObjectiveSpec(),
        algorithm_settings(experiment),
    )
