"""Katib's ``hyperband``: successive halving in brackets, the budget set through one parameter.

Settings, as Katib's: ``r_l`` (the largest budget, required), ``resource_name`` (the parameter
that receives the budget, required), ``eta`` (the halving rate, default 3). With
``s_max = int(log(r_l) / log(eta))``, brackets ``s = s_max, ..., 0`` run one after the other;
bracket ``s`` starts ``n = ceil((s_max + 1) eta^s / (s + 1))`` random configurations at budget
``r = r_l eta^-s``, and each of its rungs ``i = 1 .. s`` re-runs the best ``ceil(n_(i-1) / eta)``
of the rung before at budget ``r eta^i``, where ``n_(i-1) = ceil(n eta^-(i-1))`` (Katib's
rounding). The budget is written as an integer for an ``int`` parameter (at least 1), as a number
for a ``double``, whatever the parameter's feasible space says (as Katib does).

Unlike Katib's service, whose bracket bookkeeping breaks unless every rung is created in exactly
one request, this one is level-triggered: each proposal is labelled with its bracket, rung and (for
a promotion) the trial it re-runs (:data:`BRACKET_LABEL`, :data:`RUNG_LABEL`,
:data:`PARENT_LABEL`), and every call works out from those labels what is missing. So a rung may be
filled over several requests of any size, a promotion waits (proposing nothing) until the rung
below has finished, a failed trial counts as the worst of its rung, a restart needs nothing but
the seed, and once the last rung of the last bracket is proposed :class:`SuggestionEndReached` is
raised. Katib's minimum ``parallelTrialCount`` (``ceil(eta^s_max)``) is kept. Katib's service
ignores settings it does not know; this one also takes ``random_state`` (the seed of the random
configurations, every ``distribution`` honoured) and ignores the rest.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pykatib.api.models import Experiment, ObjectiveSpec
from pykatib.suggest.base import Algorithm, Proposal, SuggestionEndReached, TrialResult
from pykatib.suggest.random import sample_value
from pykatib.suggest.registry import algorithm_settings
from pykatib.suggest.settings import RANDOM_STATE, SETTINGS_PATH, read, validate
from pykatib.suggest.space import SearchSpace

BRACKET_LABEL = "hyperband.pykatib.io/bracket"
RUNG_LABEL = "hyperband.pykatib.io/rung"
PARENT_LABEL = "hyperband.pykatib.io/parent"
DEFAULT_ETA = 3


@dataclass(frozen=True)
class Schedule:
    """The brackets and rungs that ``r_l`` and ``eta`` give."""

    r_l: float
    eta: int

    @classmethod
    def from_settings(cls, settings: dict[str, str]) -> Schedule:
        eta = int(float(settings["eta"])) if settings.get("eta") else DEFAULT_ETA
        return cls(float(settings["r_l"]), eta if eta > 0 else DEFAULT_ETA)

    @property
    def s_max(self) -> int:
        return max(int(math.log(self.r_l) / math.log(self.eta)), 0)

    @property
    def min_parallel(self) -> int:
        return math.ceil(self.eta**self.s_max)

    def brackets(self) -> list[int]:
        return list(range(self.s_max, -1, -1))

    def size(self, s: int, i: int) -> int:
        """How many trials rung ``i`` of bracket ``s`` has."""
        n = math.ceil((self.s_max + 1) * self.eta**s / (s + 1))
        if i == 0:
            return n
        return math.ceil(math.ceil(n * self.eta ** -(i - 1)) / self.eta)

    def budget(self, s: int, i: int) -> float:
        return self.r_l * self.eta ** (i - s)


def _error(message: str) -> list[str]:
    return [f"{SETTINGS_PATH}: {message}"]


class Hyperband(Algorithm):
    """Hyperband; ``resource_name`` gets the budget, the other parameters are drawn at random."""

    name = "hyperband"

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        self.schedule = Schedule.from_settings(settings)
        self.resource = space[settings["resource_name"]]
        self.random_state: int | None = read((RANDOM_STATE,), settings)["random_state"]
        self.seed = self.random_state if self.random_state is not None else secrets.randbits(32)

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        if "r_l" not in settings or "resource_name" not in settings:
            return _error("r_l and resource_name must be set.")
        try:
            r_l = float(settings["r_l"])
        except ValueError:
            r_l = -1.0
        if not r_l > 0 or not math.isfinite(r_l):
            return _error("r_l must be a positive float number.")
        try:
            eta = Schedule.from_settings(settings).eta
        except ValueError:
            return _error("eta must be an integer greater than 1.")
        if eta == 1:  # Katib divides by log(eta)
            return _error("eta must be an integer greater than 1.")
        if "random_state" in settings:  # pykatib's: Katib's hyperband has no seed
            problems = validate(
                "hyperband", (RANDOM_STATE,), {"random_state": settings["random_state"]}
            )
            if problems:
                return problems
        if settings["resource_name"] not in space:
            return _error("value of resource_name setting must be in parameters.")
        resource = space[settings["resource_name"]]
        if not resource.is_numeric:
            return _error(f"resource_name {resource.name} must be an int or double parameter.")
        return []

    @classmethod
    def validate_experiment(cls, experiment: Experiment, space: SearchSpace) -> list[str]:
        minimum = Schedule.from_settings(algorithm_settings(experiment)).min_parallel
        parallel = experiment.spec.parallel_trial_count or 3
        if parallel < minimum:
            return [f"spec.parallelTrialCount: parallelTrialCount must be not less than {minimum}."]
        return []

    # --- proposals ----------------------------------------------------------------------------

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        rungs: dict[tuple[int, int], list[TrialResult]] = {}
        for t in history:
            try:
                where = (int(t.labels[BRACKET_LABEL]), int(t.labels[RUNG_LABEL]))
            except (KeyError, ValueError):
                continue
            rungs.setdefault(where, []).append(t)
        proposals: list[Proposal] = []
        if n <= 0:
            return proposals
        position = len(history)
        for s in self.schedule.brackets():
            for i in range(s + 1):
                trials = rungs.get((s, i), [])
                missing = self.schedule.size(s, i) - len(trials)
                if missing <= 0:
                    continue
                room = n - len(proposals)
                if i == 0:
                    new = [self._new(s, position + k) for k in range(min(missing, room))]
                    position += len(new)
                else:
                    below = rungs.get((s, i - 1), [])
                    if not all(t.completed for t in below):
                        return proposals  # the rung below is still running: wait for it
                    promoted = {t.labels.get(PARENT_LABEL) for t in trials}
                    best = [t for t in self._ranked(below) if t.name not in promoted]
                    new = [self._promote(parent, s, i) for parent in best[: min(missing, room)]]
                proposals += new
                if len(new) == room < missing or i < s:
                    # Out of room, or the next rung needs this one to finish first.
                    return proposals
        if not proposals and n > 0:
            raise SuggestionEndReached(
                f"hyperband has proposed all {len(self.schedule.brackets())} brackets"
            )
        return proposals

    def _ranked(self, trials: list[TrialResult]) -> list[TrialResult]:
        """Best first; failed trials, and trials without a value, last (in creation order)."""
        sign = -1.0 if self.objective.type == "maximize" else 1.0

        def key(t: TrialResult) -> float:
            return sign * t.value if t.state == "succeeded" and t.value is not None else math.inf

        return sorted(trials, key=key)

    def _budget(self, s: int, i: int) -> str:
        budget = self.schedule.budget(s, i)
        if self.resource.type == "int":
            return str(max(int(budget), 1))
        return repr(float(budget))

    def _labels(self, s: int, i: int) -> dict[str, str]:
        return {BRACKET_LABEL: str(s), RUNG_LABEL: str(i)}

    def _new(self, s: int, position: int) -> Proposal:
        rng = np.random.default_rng([self.seed, position])
        values = {
            p.name: self._budget(s, 0) if p is self.resource else p.format(sample_value(p, rng))
            for p in self.space
        }
        return Proposal(values, self._labels(s, 0))

    def _promote(self, parent: TrialResult, s: int, i: int) -> Proposal:
        values = {**parent.assignments, self.resource.name: self._budget(s, i)}
        return Proposal(values, {**self._labels(s, i), PARENT_LABEL: parent.name})

    def state(self) -> dict[str, Any] | None:
        return None if self.random_state is not None else {"seed": self.seed}

    def restore(self, state: dict[str, Any]) -> None:
        if self.random_state is None and "seed" in state:
            self.seed = int(state["seed"])
