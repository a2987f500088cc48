"""Katib's ``random``: independent draws from each parameter's distribution.

Every ``distribution`` is honoured, as :mod:`pykatib.suggest.unit` defines them (``normal`` and
``logNormal`` truncated to [min, max], stepped parameters rounded to their step points).

The ``k``-th trial of an experiment is drawn from a generator seeded with (seed, k), so the same
``random_state`` gives the same assignments however the trials are batched and across restarts;
without ``random_state`` a seed is drawn once and kept through :meth:`RandomSearch.state`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
from pykatib.suggest.space import Parameter, SearchSpace, Value
from pykatib.suggest.unit import from_unit

SCHEMA = (algorithm_settings.RANDOM_STATE,)

# Draws tried for a proposal before accepting one that repeats a finished trial.
_MAX_DRAWS = 100


def sample_value(parameter: Parameter, rng: np.random.Generator) -> Value:
    """One value of ``parameter`` drawn from its distribution."""
    return from_unit(parameter, float(rng.random()))


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
        size = self.space.size()
        # A continuous space practically never repeats a point: skip the O(history) scan.
        finished = (
            {self.space.key(t.assignments) for t in history if t.completed}
            if size is not None
            else set()
        )
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
