"""Katib's ``tpe`` and ``multivariate-tpe``: Optuna's Tree-structured Parzen Estimator.

``tpe`` takes the settings of both Katib services that have run it: Optuna's ``n_startup_trials``,
``n_ei_candidates`` and ``random_state``, and hyperopt's ``gamma``, ``prior_weight`` and
``n_EI_candidates``. ``multivariate-tpe`` takes Optuna's, as Katib's Optuna service does. Both use
the constant liar, so that a parallel batch spreads out instead of piling on the best point.
With more than one entry in ``objective.objectives`` (pykatib's extension) both are
multi-objective TPE (MOTPE), one direction per objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna

from pykatib.suggest._optuna import OptunaAlgorithm
from pykatib.suggest.settings import RANDOM_STATE, Setting, non_negative_int, positive

_N_STARTUP_TRIALS = non_negative_int(
    "n_startup_trials", "{name} should be greate or equal than zero", default=10
)
_N_EI_CANDIDATES = Setting(
    "n_ei_candidates",
    int,
    lambda v: v > 0,
    "{name} should be great than zero",
    default=24,
    aliases=("n_EI_candidates",),
)


def _gamma(fraction: float) -> Callable[[int], int]:
    """hyperopt's gamma: the best ``fraction`` of the trials (at most 25) model the good region."""

    def gamma(n: int) -> int:
        return min(math.ceil(fraction * n), 25)

    return gamma


class TPE(OptunaAlgorithm):
    """Independent TPE: one density per parameter."""

    name = "tpe"
    SCHEMA: tuple[Setting, ...] = (
        _N_STARTUP_TRIALS,
        _N_EI_CANDIDATES,
        Setting("gamma", float, lambda v: 0 < v < 1, "gamma should be in the range of (0, 1)"),
        positive("prior_weight", float, default=1.0),
        RANDOM_STATE,
    )
    multivariate = False

    def sampler(
        self, seed: int, previous: optuna.samplers.BaseSampler | None = None
    ) -> optuna.samplers.BaseSampler:
        options = self.options
        extra: dict[str, Any] = {}
        if options.get("gamma") is not None:
            extra["gamma"] = _gamma(options["gamma"])
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=options["n_startup_trials"],
            n_ei_candidates=options["n_ei_candidates"],
            prior_weight=options.get("prior_weight", 1.0),
            multivariate=self.multivariate,
            constant_liar=True,
            seed=seed,
            **extra,
        )
        if isinstance(previous, optuna.samplers.TPESampler):
            # The intersection of the finished trials' search spaces, kept incrementally: Optuna
            # keeps it across asks on one study, and so can we across calls.
            sampler._search_space = previous._search_space
        return sampler


class MultivariateTPE(TPE):
    """TPE with one joint density over all parameters, catching their interactions."""

    name = "multivariate-tpe"
    SCHEMA: tuple[Setting, ...] = (
        _N_STARTUP_TRIALS,
        Setting("n_ei_candidates", int, lambda v: v > 0, "{name} should be great than zero", 24),
        RANDOM_STATE,
    )
    multivariate = True
