"""``nsga2`` (pykatib's, not Katib's): multi-objective search with Optuna's NSGA-II.

The experiment lists its objectives in ``objective.objectives`` (at least two); each trial's
values are ranked by Pareto dominance and crowding distance, and each generation of
``population_size`` children is bred from the best of the previous ones by crossover and
mutation. Settings are the sampler's: ``population_size`` (50), ``mutation_prob`` (1 / number of
parameters), ``crossover_prob`` (0.9), ``swapping_prob`` (0.5), ``random_state``.

The study holds the history, as :mod:`pykatib.suggest._optuna` keeps it; each
proposal carries its generation in the label :data:`GENERATION_LABEL`, which is how a study built
from the history knows the generations. ``normal`` and ``logNormal`` parameters are searched as their
quantile, so their distribution is the prior the first generation is drawn from.

With trials in flight (``parallelTrialCount`` > 1) a generation is full, as in Optuna, once
``population_size`` of its trials have completed; the ones still running keep their generation
(their label) and the next one is bred from what has completed. A child that repeats a running or
finished trial (every parameter from one parent and no mutation: about 7% of Optuna's own trials in
``bench/results/quality-mo.md``) is replaced by another child (:meth:`OptunaAlgorithm._ask`).
"""

from __future__ import annotations

from typing import ClassVar

import optuna

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest._optuna import OptunaAlgorithm
from pykatib.suggest.settings import RANDOM_STATE, Setting
from pykatib.suggest.space import SearchSpace

GENERATION_LABEL = "nsga2.pykatib.io/generation"


def _probability(name: str, default: float | None) -> Setting:
    return Setting(name, float, lambda v: 0.0 <= v <= 1.0, "{name} should be in [0, 1]", default)


class NSGA2(OptunaAlgorithm):
    """NSGA-II over ``objective.objectives``."""

    name = "nsga2"
    SCHEMA = (
        Setting("population_size", int, lambda v: v >= 2, "{name} should be at least 2", 50),
        _probability("mutation_prob", None),
        _probability("crossover_prob", 0.9),
        _probability("swapping_prob", 0.5),
        RANDOM_STATE,
    )
    SYSTEM_ATTR_LABELS: ClassVar[dict[str, str]] = {"NSGAIISampler:generation": GENERATION_LABEL}

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        problems = super().validate_settings(space, objective, settings)
        if len(objective.objectives or []) < 2:
            problems.append(
                "spec.objective.objectives: nsga2 is multi-objective: list at least two "
                "objectives ({name, type}) in objective.objectives"
            )
        return problems

    def sampler(
        self, seed: int, previous: optuna.samplers.BaseSampler | None = None
    ) -> optuna.samplers.BaseSampler:
        options = self.options
        return optuna.samplers.NSGAIISampler(
            population_size=options["population_size"],
            mutation_prob=options["mutation_prob"],
            crossover_prob=options["crossover_prob"],
            swapping_prob=options["swapping_prob"],
            seed=seed,
        )
