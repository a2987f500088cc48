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
from typing import Any, Protocol

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest._pcg64 import default_rng
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
from pykatib.suggest.space import Parameter, SearchSpace, Value
from pykatib.suggest.unit import from_unit

SCHEMA = (algorithm_settings.RANDOM_STATE,)

# Draws tried for a proposal before accepting one that repeats a finished trial.
_MAX_DRAWS = 100


class FloatSource(Protocol):
    """What draws need of a generator: NumPy's, or :mod:`._pcg64`'s (random imports no NumPy)."""

    def random(self) -> float: ...


def sample_value(parameter: Parameter, rng: FloatSource) -> Value:
    """One value of ``parameter`` drawn from its distribution."""
    return from_unit(parameter, float(rng.random()))


def sample_assignments(space: SearchSpace, rng: FloatSource) -> dict[str, str]:
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
        # What earlier calls saw of the history (see _seen).
        self._scan: tuple[dict[int, Any], set[Any], list[str]] = ({}, set(), [])

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        return algorithm_settings.validate(cls.name, SCHEMA, settings)

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        open_, finished = self._seen(history)
        running = set(open_.values())
        size = self.space.size()
        proposals: list[Proposal] = []
        for number in range(len(history), len(history) + n):
            if size is not None and len(running) >= size:
                break  # every assignment is running or proposed: nothing distinct until one ends
            rng = default_rng([self.seed, number])
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

    def _seen(self, history: Sequence[TrialResult]) -> tuple[dict[int, Any], set[Any]]:
        """The running trials' assignment keys (by position in ``history``) and the finished
        trials' (only in a finite space: a continuous one practically never repeats a point).

        Kept from call to call: only the trials new since the last call and those running at
        it are looked at (``history`` only grows, in creation order); if it did not, start over.
        """
        open_, finished, names = self._scan
        scanned = len(names)
        if len(history) < scanned or any(
            history[i].name != names[i] for i in [*open_, scanned - 1] if i >= 0
        ):
            open_, finished, names = {}, set(), []
            scanned = 0
        keep_finished = self.space.size() is not None
        names += [t.name for t in history[scanned:]]
        for i in [*open_, *range(scanned, len(history))]:
            trial = history[i]
            key = self.space.key(trial.assignments)
            if not trial.completed:
                open_[i] = key
                continue
            open_.pop(i, None)
            if keep_finished:
                finished.add(key)
        self._scan = (open_, finished, names)
        return open_, finished

    def state(self) -> dict[str, Any] | None:
        return None if self.random_state is not None else {"seed": self.seed}

    def restore(self, state: dict[str, Any]) -> None:
        if self.random_state is None and "seed" in state:
            self.seed = int(state["seed"])
