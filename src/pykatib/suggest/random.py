"""Katib's ``random``: independent draws from each parameter's distribution.

Every ``distribution`` is honoured: ``uniform`` and ``logUniform`` between min and max; ``normal``
with mean (min + max) / 2 and standard deviation (max - min) / 6, as Katib's hyperopt service
has it, and ``logNormal`` the same in log space, both truncated to [min, max]. A stepped parameter
(every ``int``) is drawn over [min - step/2, top + step/2] and rounded to the nearest step point,
so that ``uniform`` gives every point the same chance.

The ``k``-th trial of an experiment is drawn from a generator seeded with (seed, k), so the same
``random_state`` gives the same assignments however the trials are batched and across restarts;
without ``random_state`` a seed is drawn once and kept through :meth:`RandomSearch.state`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
from pykatib.suggest.space import Parameter, SearchSpace, Value

SCHEMA = (algorithm_settings.RANDOM_STATE,)

# Draws tried for a proposal before accepting one that repeats a finished trial.
_MAX_DRAWS = 100


def _truncated_normal(
    rng: np.random.Generator, mu: float, sigma: float, lo: float, hi: float
) -> float:
    if sigma <= 0:
        return min(max(mu, lo), hi)
    for _ in range(1000):  # within +-3 sigma of the middle, 99.7% of draws are accepted
        x = float(rng.normal(mu, sigma))
        if lo <= x <= hi:
            return x
    return min(max(mu, lo), hi)


def sample_value(parameter: Parameter, rng: np.random.Generator) -> Value:
    """One value of ``parameter`` drawn from its distribution."""
    p = parameter
    if not p.is_numeric:
        return p.choices[int(rng.integers(len(p.choices)))]
    lo, hi = p.low, p.high
    if p.step is not None:
        # Widen by half a step so that rounding gives the end points their full share.
        lo, hi = p.low - p.step / 2, p.low + (p.n_steps - 1) * p.step + p.step / 2
        if p.is_log and lo <= 0:
            lo = p.low
    if p.distribution == "uniform":
        x = float(rng.uniform(lo, hi))
    elif p.distribution == "logUniform":
        x = math.exp(float(rng.uniform(math.log(lo), math.log(hi))))
    elif p.distribution == "normal":
        x = _truncated_normal(rng, (p.low + p.high) / 2, (p.high - p.low) / 6, lo, hi)
    else:  # logNormal
        log_low, log_high = math.log(p.low), math.log(p.high)
        mu, sigma = (log_low + log_high) / 2, (log_high - log_low) / 6
        x = math.exp(_truncated_normal(rng, mu, sigma, math.log(lo), math.log(hi)))
    return p.snap(x)


def sample_assignments(space: SearchSpace, rng: np.random.Generator) -> dict[str, str]:
    """One assignment of every parameter, drawn independently, as Katib writes it."""
    return space.format_assignments({p.name: sample_value(p, rng) for p in space})


class RandomSearch(Algorithm):
    """Random search; ``random_state`` fixes the sequence of assignments."""

    name = "random"

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        self.random_state: int | None = algorithm_settings.read(SCHEMA, settings)["random_state"]
        self.seed: int = (
            self.random_state if self.random_state is not None else secrets.randbits(32)
        )

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        return algorithm_settings.validate(cls.name, SCHEMA, settings)

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        running = {self.space.key(t.assignments) for t in history if not t.completed}
        finished = {self.space.key(t.assignments) for t in history if t.completed}
        size = self.space.size()
        proposals: list[Proposal] = []
        for number in range(len(history), len(history) + n):
            if size is not None and len(running) >= size:
                break  # every assignment is running or proposed: nothing distinct until one ends
            rng = np.random.default_rng([self.seed, number])
            # Prefer a new assignment; in a small finite space accept repeating a finished one.
            for draw in range(_MAX_DRAWS * 10):
                assignments = sample_assignments(self.space, rng)
                key = self.space.key(assignments)
                if key not in running and (key not in finished or draw >= _MAX_DRAWS):
                    break
            else:
                break
            running.add(key)
            proposals.append(Proposal(assignments))
        return proposals

    def state(self) -> dict[str, Any] | None:
        return None if self.random_state is not None else {"seed": self.seed}

    def restore(self, state: dict[str, Any]) -> None:
        if self.random_state is None and "seed" in state:
            self.seed = int(state["seed"])
