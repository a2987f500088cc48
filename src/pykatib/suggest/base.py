"""The algorithm interface: how the control plane asks for hyperparameters.

Lifecycle, as the suggestion reconciler drives it:

1. ``validate_settings`` is called when an experiment is applied (before anything is stored);
   it returns every problem as ``path: message`` strings, empty when the settings are valid.
   When it finds none, ``validate_experiment`` is called with the whole experiment, for checks
   that need more than the settings (grid's ``maxTrialCount``).
2. The algorithm is constructed once per experiment per control-plane process, then
   ``restore(state)`` is called with what ``state()`` returned last time, if anything was stored.
3. ``suggest(history, n)`` is called whenever the experiment wants ``n`` more trials. ``history`` holds
   every trial of the experiment so far (running ones included, with no value), in creation order.
   It returns at most ``n`` proposals, distinct from each other and from the running trials.
   Returning fewer than ``n`` (even none) means "not now" (e.g. hyperband waiting for a rung);
   raising :class:`SuggestionEndReached` means "never again": the experiment ends with
   ``ExperimentSuggestionEndReached`` once its active trials finish.
4. Right after ``suggest`` returns, ``state()`` is written to the store in the same transaction as
   the new trials, so a restart continues without repeating or losing proposals.

There is no time-out: an algorithm may take as long as it needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pykatib.api.models import Experiment, ObjectiveSpec
from pykatib.suggest.space import SearchSpace


class SuggestionEndReached(Exception):
    """The algorithm has nothing more to suggest, ever (e.g. the grid is exhausted)."""


@dataclass(frozen=True)
class TrialResult:
    """What an algorithm sees of one trial.

    ``state`` is one of: pending, running, succeeded, failed, killed, early_stopped,
    metrics_unavailable. ``value`` is the objective metric extracted with its metric strategy
    (``None`` while running or when unavailable); ``metrics`` holds every metric so extracted.
    ``intermediate`` holds the objective's observations in order (for multi-fidelity algorithms).
    """

    name: str
    assignments: dict[str, str]
    state: str
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    intermediate: tuple[float, ...] = ()
    # Multi-objective experiments: one value per entry of objective.objectives (None if missing).
    values: tuple[float | None, ...] = ()

    @property
    def completed(self) -> bool:
        return self.state not in ("pending", "running")


@dataclass(frozen=True)
class Proposal:
    """One new trial: parameter values as Katib writes them (strings), and optional labels."""

    assignments: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)


class Algorithm(ABC):
    """A hyperparameter search algorithm, keyed in the registry by Katib's ``algorithmName``."""

    name: ClassVar[str]

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        self.space = space
        self.objective = objective
        self.settings = settings

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        """Problems with the algorithm settings or search space, as ``path: message``."""
        return []

    @classmethod
    def validate_experiment(cls, experiment: Experiment, space: SearchSpace) -> list[str]:
        """Problems that need the whole experiment, as ``path: message``; called after
        :meth:`validate_settings` found none."""
        return []

    @abstractmethod
    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        """Up to ``n`` new proposals; raise :class:`SuggestionEndReached` when there are none left."""

    def state(self) -> dict[str, Any] | None:
        """JSON-serialisable state to persist, or ``None`` when the history is enough."""
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Reload what :meth:`state` returned in an earlier process."""
