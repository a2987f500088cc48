"""The early-stopping interface: how the control plane decides to stop a running trial.

Lifecycle, as the control plane drives it:

1. ``validate_settings`` is called when an experiment is applied (through
   :func:`pykatib.earlystop.registry.validate_early_stopping`); it returns every problem as
   ``spec.earlyStopping.algorithmSettings.<name>: message``, empty when the settings are valid.
2. The rule is constructed once per experiment per control-plane process
   (:func:`pykatib.earlystop.registry.create_rule`).
3. ``should_stop`` is called for a running trial after every batch of new observations of its
   objective metric, before the next batch is read, so a trial is stopped within one step of the
   report that condemned it. It returns a message saying why the trial should stop, or ``None``.
   The control plane then stops the trial's process and marks it EarlyStopped (reason
   TrialEarlyStopped, with that message); its observations are kept.

Rules keep no state between calls: a decision depends only on the arguments, so calling twice, or
again after a restart, decides the same (the reconcile loop may call as often as it likes).

Cost: the control plane passes ``completed`` as a :class:`CompletedSeries`, which it keeps as trials
complete. A rule that derives statistics from every completed trial keeps them in an index of that
object (:meth:`CompletedSeries.index`), fed each series once, when its trial completes, so that a
report costs nothing per completed trial. Given a plain mapping, rules compute the same from scratch.

Steps: ``series[i]`` is the objective value the trial reported with step ``i`` in its observation
log (its ``i+1``-th report). Rules speak of "the first S reports", S counted from 1, as Katib's
``start_step`` ("number of reported intermediate results before stopping the trial") does.

Non-finite values: NaN means "nothing usable was reported" and is skipped when a rule takes a best
value or an average; a series with no other value ranks worst. ±inf are taken at face value (the
worst or best value there can be). :mod:`pykatib.earlystop.threshold` stops on any non-finite value.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest.settings import Setting

SETTINGS_PATH = "spec.earlyStopping.algorithmSettings"


class EarlyStoppingRule(ABC):
    """An early-stopping rule, keyed in the registry by ``spec.earlyStopping.algorithmName``.

    Subclasses declare their settings in ``SETTINGS`` (parsed into ``self.values``, defaults
    filled in) and implement :meth:`should_stop`.
    """

    name: ClassVar[str]
    SETTINGS: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, settings: dict[str, str], objective: ObjectiveSpec):
        self.settings = settings
        self.objective = objective
        self.values: dict[str, Any] = algorithm_settings.read(self.SETTINGS, settings)
        self.maximize = objective.type == "maximize"  # ObjectiveType is a str enum
        self.metric = objective.objective_metric_name or "objective"

    @classmethod
    def validate_settings(cls, settings: dict[str, str]) -> list[str]:
        """Every problem with ``settings``, as ``spec.earlyStopping.algorithmSettings.<name>: message``."""
        problems = algorithm_settings.validate(cls.name, cls.SETTINGS, settings)
        # The shared settings checker speaks of spec.algorithm; these are early-stopping settings.
        return [SETTINGS_PATH + p.removeprefix(algorithm_settings.SETTINGS_PATH) for p in problems]

    @abstractmethod
    def should_stop(
        self,
        trial: str,
        series: Sequence[float],
        completed: Mapping[str, Sequence[float]],
        *,
        running: Mapping[str, Sequence[float]] | None = None,
    ) -> str | None:
        """Why running ``trial`` should stop now, or ``None`` to let it go on.

        ``series``: the trial's objective values in report order. ``completed``: the full series of
        every other trial of the experiment that ended Succeeded or EarlyStopped (the caller passes
        both; Failed, Killed and MetricsUnavailable trials are left out). ``running``: the series so
        far of the experiment's other running trials; only rules that compare against trials still
        running (``asha``) read it. An entry for ``trial`` itself in either mapping is ignored.
        """

    def trial_rules(self, completed: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
        """The rules a new trial is created with, as Katib writes them in
        ``trial.spec.earlyStoppingRules`` (``{name, value, comparison, startStep}``); ``completed``
        as for :meth:`should_stop`. Informational: the decision is :meth:`should_stop`'s."""
        return []

    # --- helpers for subclasses ----------------------------------------------------------

    def best(self, values: Iterable[float]) -> float:
        """The best value in the objective's direction, NaN skipped; NaN when none is left."""
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            return math.nan
        return max(finite) if self.maximize else min(finite)

    def is_worse(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly worse than ``b``; NaN is worse than any number."""
        if math.isnan(a):
            return not math.isnan(b)
        if math.isnan(b):
            return False
        return a < b if self.maximize else a > b


class CompletedIndex(Protocol):
    """Statistics a rule derives from the completed trials, fed one series at a time."""

    def add(self, series: Sequence[float]) -> None:
        """Take in the series of one more completed trial."""


IndexT = TypeVar("IndexT", bound=CompletedIndex)


class CompletedSeries(Mapping[str, Sequence[float]]):
    """The completed trials' series (name -> series), kept by the control plane as trials
    complete, with the indexes rules build over them.

    An index sees each series once, when its trial is added; a trial that leaves (reset to run
    again, which is rare) drops every index, to be rebuilt on next use. A completed trial's
    series must not change while it is here.
    """

    def __init__(self) -> None:
        self._series: dict[str, Sequence[float]] = {}
        self._indexes: dict[Hashable, CompletedIndex] = {}

    def __getitem__(self, name: str) -> Sequence[float]:
        return self._series[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    def add(self, name: str, series: Sequence[float]) -> None:
        """Record that trial ``name`` completed with ``series``; nothing if it already had."""
        if self._series.get(name) is series:
            return
        self.discard(name)
        self._series[name] = series
        for index in self._indexes.values():
            index.add(series)

    def discard(self, name: str) -> None:
        """Record that trial ``name`` is not (or no longer) completed."""
        if self._series.pop(name, None) is not None:
            self._indexes.clear()

    def index(self, key: Hashable, factory: Callable[[], IndexT]) -> IndexT:
        """The index under ``key``, built by ``factory`` and fed every series on first use.
        ``key`` names everything the index depends on (the rule, and settings it reads)."""
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = factory()
            for series in self._series.values():
                index.add(series)
        return index  # type: ignore[return-value]  # the factory stored under key built it


def int_at_least(name: str, minimum: int, message: str, default: int) -> Setting:
    """An int setting that must be >= ``minimum``; ``message`` is reported when it is not."""
    return Setting(name, int, lambda v: v >= minimum, message, default)


def fmt(value: float) -> str:
    """A value as messages show it: short, but exact enough to compare by eye."""
    return f"{value:.6g}"
