"""Katib's ``sobol``: quasi-random search on a Sobol' sequence.

The ``k``-th trial takes the ``k``-th point of a Sobol' sequence with one dimension per
parameter, mapped to the parameter through the quantile of its distribution
(:mod:`pykatib.suggest.unit`), so every ``distribution`` is honoured. Like Katib's (Goptuna's) and
Optuna's default, the sequence is not scrambled; with ``random_state`` it is scrambled with that
seed. A point that repeats a running or finished trial (stepped or categorical parameters) is
skipped; when a finite space has no new assignment left and nothing is running, the search ends.
The sequence position follows from the history, so nothing needs to be kept.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from scipy.stats import qmc

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest.base import Algorithm, Proposal, SuggestionEndReached, TrialResult
from pykatib.suggest.space import SearchSpace
from pykatib.suggest.unit import from_unit

SCHEMA = (algorithm_settings.RANDOM_STATE,)

# Points looked at, past the history, before giving up on finding a new one.
_MAX_SKIPPED = 4096


class Sobol(Algorithm):
    """Sobol' sequence search; deterministic, unscrambled unless ``random_state`` is set."""

    name = "sobol"

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        self.random_state: int | None = algorithm_settings.read(SCHEMA, settings)["random_state"]

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        return algorithm_settings.validate(cls.name, SCHEMA, settings)

    def points(self, start: int, count: int) -> list[dict[str, str]]:
        """Assignments for the points ``start`` .. ``start + count - 1`` of the sequence."""
        engine = qmc.Sobol(
            d=max(len(self.space), 1),
            scramble=self.random_state is not None,
            seed=self.random_state,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance needs powers of 2: not ours
            if start > 0:
                engine.fast_forward(start)
            units = engine.random(count)
        return [
            self.space.format_assignments(
                {p.name: from_unit(p, u) for p, u in zip(self.space, row)}
            )
            for row in units
        ]

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        seen = {
            self.space.key(t.assignments)
            for t in history
            if t.assignments.keys() >= set(self.space.names)
        }
        proposals: list[Proposal] = []
        if n <= 0:
            return proposals
        start, chunk = len(history), max(2 * n, 16)
        while len(proposals) < n and start < len(history) + n + _MAX_SKIPPED:
            for assignments in self.points(start, chunk):
                key = self.space.key(assignments)
                if key not in seen:
                    seen.add(key)
                    proposals.append(Proposal(assignments))
                    if len(proposals) == n:
                        break
            start += chunk
        if not proposals and n > 0 and all(t.completed for t in history):
            raise SuggestionEndReached(f"all {len(seen)} assignments of the space have been tried")
        return proposals
