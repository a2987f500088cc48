"""Katib's ``sobol``: quasi-random search on a Sobol' sequence.

The ``k``-th trial takes the ``k``-th point of a Sobol' sequence with one dimension per
parameter, mapped to the parameter through the quantile of its distribution
(:mod:`pykatib.suggest.unit`), so every ``distribution`` is honoured. Like Katib's (Goptuna's) and
Optuna's default, the sequence is not scrambled; with ``random_state`` it is scrambled with that
seed. A point that repeats a running or finished trial (stepped or categorical parameters) is
skipped; when a finite space has no new assignment left and nothing is running, the search ends.
The sequence position follows from the history, so nothing needs to be kept. Within a process
the engine and the keys of the history read so far are kept, so a call costs what is new.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

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
        self._engine: qmc.Sobol | None = None
        self._position = 0  # the index of the engine's next point
        self._seen: set[tuple[str, ...]] = set()  # keys of the history entries read so far
        self._read = 0  # history entries read

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        return algorithm_settings.validate(cls.name, SCHEMA, settings)

    def points(self, start: int, count: int) -> list[dict[str, str]]:
        """Assignments for the points ``start`` .. ``start + count - 1`` of the sequence."""
        return list(self._points(start, count))

    def _points(self, start: int, count: int) -> Iterator[dict[str, str]]:
        # Points are drawn one at a time, as they are used, so that the next call, which starts
        # where this one stopped, goes on with the same engine (which gives the points that
        # fast-forwarding a new one gives).
        if self._engine is None or self._position != start:
            self._engine = qmc.Sobol(
                d=max(len(self.space), 1),
                scramble=self.random_state is not None,
                seed=self.random_state,
            )
            if start > 0:
                self._engine.fast_forward(start)
            self._position = start
        for _ in range(count):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # balance needs powers of 2
                row = self._engine.random(1)[0]
            self._position += 1
            yield self.space.format_assignments(
                {p.name: from_unit(p, u) for p, u in zip(self.space, row)}
            )

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        if len(history) < self._read:  # not the history read so far: read it afresh
            self._seen, self._read = set(), 0
        names = set(self.space.names)
        self._seen.update(
            self.space.key(t.assignments)
            for t in history[self._read :]
            if t.assignments.keys() >= names
        )
        self._read = len(history)
        proposed: set[tuple[str, ...]] = set()
        proposals: list[Proposal] = []
        if n <= 0:
            return proposals
        start, chunk = len(history), max(2 * n, 16)
        while len(proposals) < n and start < len(history) + n + _MAX_SKIPPED:
            for assignments in self._points(start, chunk):
                key = self.space.key(assignments)
                if key not in self._seen and key not in proposed:
                    proposed.add(key)
                    proposals.append(Proposal(assignments))
                    if len(proposals) == n:
                        break
            start += chunk
        if not proposals and all(t.completed for t in history):
            raise SuggestionEndReached(
                f"all {len(self._seen)} assignments of the space have been tried"
            )
        return proposals
