"""Katib's ``tpe`` and ``multivariate-tpe``: the Tree-structured Parzen Estimator, on Optuna's engine.

Katib runs ``tpe`` with hyperopt (``pkg/suggestion/v1beta1/hyperopt/base_service.py``), and pykatib's
``tpe`` does what hyperopt does there, on Optuna's ``TPESampler``:

* **start-up**: each call draws at random while fewer trials have a value than the call asks for,
  and models after that. Katib passes ``n_startup_jobs=current_request_number`` on every call
  (base_service.py lines 298 and 311), so only the first ``parallelTrialCount`` trials are random.
  Optuna's ``n_startup_trials``, when given, fixes the count instead.
* **the good trials**: with ``gamma`` given, the best ``ceil(gamma * sqrt(n))`` of ``n``, at most
  25 (hyperopt's ``ap_split_trials``); without it, Optuna's best ``ceil(0.1 * n)``, at most 25,
  rather than hyperopt's ``gamma`` 0.25, which never did better in ``bench/results/tpe-startup.md``
  and at 100 trials did worse in 9 of 10 cells. The rest of hyperopt's defaults (prior weight 1,
  24 EI candidates, linear forgetting after 25 trials, no endpoint widening) are Optuna's too.
* **settings**: hyperopt's names as Katib's hyperopt service converts and checks them
  (``pkg/suggestion/v1beta1/hyperopt/service.py`` lines 69-125): ``gamma``, ``prior_weight``,
  ``n_EI_candidates``, ``random_state``; and, as extensions, the names of Katib's Optuna service:
  ``n_startup_trials``, ``n_ei_candidates``.

``multivariate-tpe`` is what Katib's Optuna service runs (``pkg/suggestion/v1beta1/optuna/
service.py`` lines 79-85), ``TPESampler(multivariate=True, constant_liar=True)`` with Optuna's
defaults (10 random start-up trials) and its settings.

**Running trials**: both use Optuna's constant liar, which counts a running trial among the bad
ones, so that a batch spreads out instead of piling on the best point (Katib's hyperopt ``tpe``
proposes one point ``parallelTrialCount`` times, kubeflow/katib#1329), and none repeats a
running or finished trial. With one objective, ``multivariate-tpe`` lies only about the
proposals of the current call: a trial still running from an earlier call is left out of both
densities, as hyperopt leaves out a trial without a loss. Counted as bad, it grows the bad
density where the good one points (such trials run mostly there), and the next proposals leave
the best region while it is being worked; a joint density spreads its proposals over the good
trials without the lie. Independent ``tpe`` keeps the lie: each parameter comes from its own
one-dimensional density, so proposals made from the same densities share their coordinates'
modes, and with 8 in flight the lie is what keeps them apart (issue 14,
``bench/results/quality-tpe.md``).

With more than one entry in ``objective.objectives`` (pykatib's extension) both are
multi-objective TPE (MOTPE), one direction per objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from pykatib.suggest._optuna import OptunaAlgorithm
from pykatib.suggest.base import Proposal, TrialResult
from pykatib.suggest.settings import RANDOM_STATE, Setting, non_negative_int, positive

_N_EI_CANDIDATES = Setting(
    "n_ei_candidates",
    int,
    lambda v: v > 0,
    "{name} should be great than zero",
    default=24,
    aliases=("n_EI_candidates",),
)


def hyperopt_gamma(gamma: float) -> Callable[[int], int]:
    """hyperopt's split: of ``n`` trials with a value, the best ``ceil(gamma * sqrt(n))``, at most
    25, model the good region (``ap_split_trials`` in hyperopt/tpe.py)."""

    def good_trials(n: int) -> int:
        return min(math.ceil(gamma * math.sqrt(n)), 25)

    return good_trials


class TPE(OptunaAlgorithm):
    """Independent TPE (one density per parameter) with hyperopt's start-up, split and settings."""

    name = "tpe"
    SCHEMA: tuple[Setting, ...] = (
        # None: the size of each request, as Katib's hyperopt service does.
        non_negative_int("n_startup_trials", "{name} should be greate or equal than zero"),
        _N_EI_CANDIDATES,
        Setting("gamma", float, lambda v: 0 < v < 1, "gamma should be in the range of (0, 1)"),
        positive("prior_weight", float, default=1.0),
        RANDOM_STATE,
    )
    multivariate = False
    _request = 0  # the n of the current suggest call

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        self._request = n
        return super().suggest(history, n)

    def tpe_options(self) -> dict[str, Any]:
        """``TPESampler`` keyword arguments for the current :meth:`suggest` call."""
        options = self.options
        gamma, startup = options["gamma"], options["n_startup_trials"]
        return {
            "n_startup_trials": self._request if startup is None else startup,
            "n_ei_candidates": options["n_ei_candidates"],
            "prior_weight": options["prior_weight"],
            "gamma": None if gamma is None else hyperopt_gamma(gamma),
        }

    def sampler(
        self, seed: int, previous: optuna.samplers.BaseSampler | None = None
    ) -> optuna.samplers.BaseSampler:
        sampler = optuna.samplers.TPESampler(
            multivariate=self.multivariate, constant_liar=True, seed=seed, **self.tpe_options()
        )
        if isinstance(previous, optuna.samplers.TPESampler):
            # The intersection of the finished trials' search spaces, kept incrementally: Optuna
            # keeps it across asks on one study, and so can we across calls.
            sampler._search_space = previous._search_space
        return sampler


class MultivariateTPE(TPE):
    """TPE with one joint density over all parameters, catching their interactions; Optuna's
    defaults, as Katib's Optuna service runs it."""

    name = "multivariate-tpe"
    SCHEMA: tuple[Setting, ...] = (
        non_negative_int(
            "n_startup_trials", "{name} should be greate or equal than zero", default=10
        ),
        Setting("n_ei_candidates", int, lambda v: v > 0, "{name} should be great than zero", 24),
        RANDOM_STATE,
    )
    multivariate = True

    def running_state(self) -> TrialState:
        # Out of both densities with one objective; with several, the liar spreads a batch
        # along the front, every part of which is a best region.
        return TrialState.RUNNING if self.objectives else TrialState.FAIL

    def tpe_options(self) -> dict[str, Any]:
        return {
            "n_startup_trials": self.options["n_startup_trials"],
            "n_ei_candidates": self.options["n_ei_candidates"],
        }
