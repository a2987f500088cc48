"""Katib's ``grid``: every combination of the parameters' values, each once.

The order is the one Katib's grid (Optuna's ``GridSampler``) gives: the product of the values with
parameters sorted by name, shuffled by ``numpy.random.RandomState(random_state or 0)``, so the
same experiment walks the same grid in Katib and in pykatib. Combinations already in the history
(in any state) are skipped, so a restart needs no state; when none is left,
:class:`SuggestionEndReached` is raised. Within a process the keys of the history read so far, and
how far the start of the order is all in the history, are kept, so a call costs what is new. A grid has no use for a ``distribution`` (Katib's ignores
it): validation rejects any but ``uniform`` on a numeric parameter rather than ignore it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pykatib.api.models import Experiment, ObjectiveSpec
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest.base import Algorithm, Proposal, SuggestionEndReached, TrialResult
from pykatib.suggest.space import Parameter, SearchSpace

SCHEMA = (algorithm_settings.RANDOM_STATE,)


def _missing_step(parameter: Parameter) -> str:
    return (
        f"Param {parameter.name} step is nil; For discrete search space, all parameters "
        "must include step"
    )


class GridSearch(Algorithm):
    """Exhaustive search over a space whose doubles all have a ``step``."""

    name = "grid"

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        for p in space:
            if not p.is_finite:
                raise ValueError(_missing_step(p))
        self.random_state: int | None = algorithm_settings.read(SCHEMA, settings)["random_state"]
        self._by_name = sorted(space, key=lambda p: p.name)
        self._values = [p.values() for p in self._by_name]
        self._order: np.ndarray | None = None
        self._seen: set[tuple[str, ...]] = set()  # keys of the history entries read so far
        self._read = 0  # history entries read
        self._start = 0  # positions in the order before this one are all in the history

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        problems = algorithm_settings.validate(cls.name, SCHEMA, settings)
        for i, p in enumerate(space):
            if not p.is_finite:
                problems.append(f"spec.parameters[{i}].feasibleSpace.step: {_missing_step(p)}")
            if p.is_numeric and p.distribution != "uniform":
                problems.append(
                    f"spec.parameters[{i}].feasibleSpace.distribution: grid cannot honour "
                    f"{p.distribution}: its values are the step points from min to max, each "
                    "tried once; remove distribution, or use another algorithm"
                )
        return problems

    @classmethod
    def validate_experiment(cls, experiment: Experiment, space: SearchSpace) -> list[str]:
        combinations = space.size()
        max_trial_count = experiment.spec.max_trial_count
        if (
            combinations is not None
            and max_trial_count is not None
            and max_trial_count > combinations
        ):
            message = f"Max Trial Count: {max_trial_count} > all possible search combinations"
            return [f"spec.maxTrialCount: {message}: {combinations}"]
        return []

    def combinations(self) -> list[dict[str, str]]:
        """Every combination, in the order they are proposed (for a small grid; for tests)."""
        return [self._combination(int(i)) for i in self._shuffled()]

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        if len(history) < self._read:  # not the history read so far: read it afresh
            self._seen, self._read, self._start = set(), 0, 0
        self._seen.update(self.space.key(t.assignments) for t in history[self._read :])
        self._read = len(history)
        order = self._shuffled()
        while self._start < len(order) and self._key_at(self._start) in self._seen:
            self._start += 1
        seen = set()  # this call's proposals
        proposals: list[Proposal] = []
        for position in range(self._start, len(order)):
            if len(proposals) >= n:
                return proposals
            assignments = self._combination(int(order[position]))
            key = self.space.key(assignments)
            if key not in self._seen and key not in seen:
                seen.add(key)
                proposals.append(Proposal(assignments))
        if not proposals and n > 0:
            raise SuggestionEndReached(
                f"all {len(self._seen)} grid combinations have been proposed"
            )
        return proposals

    def _key_at(self, position: int) -> tuple[str, ...]:
        return self.space.key(self._combination(int(self._shuffled()[position])))

    def _shuffled(self) -> np.ndarray:
        # Optuna shuffles the list of combinations; shuffling their indices is the same
        # permutation without building every combination.
        if self._order is None:
            size = 1
            for values in self._values:
                size *= len(values)
            order = np.arange(size)
            np.random.RandomState(self.random_state or 0).shuffle(order)
            self._order = order
        return self._order

    def _combination(self, index: int) -> dict[str, str]:
        # itertools.product order: the last parameter varies fastest.
        picked = {}
        for p, values in zip(reversed(self._by_name), reversed(self._values)):
            index, i = divmod(index, len(values))
            picked[p.name] = values[i]
        return self.space.format_assignments(picked)
