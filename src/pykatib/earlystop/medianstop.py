"""Katib's ``medianstop``: Katib's settings, and the rule Katib's documentation describes.

From ``start_step`` reports on, at every report, a trial is stopped if its best value in its first
S reports is strictly worse than the median of the running averages (the mean of the first S
values) of the completed trials that made at least S reports, when there are at least
``min_trials_required`` such trials (the median stopping rule of Google Vizier).

Katib's own code differs: when a trial is created it fixes one number, the *mean* over the
succeeded trials of the average of their first ``start_step`` values, and compares the trial's
best value with it once, at its ``start_step``-th report. See ``docs/katib-differences.md``
(section Early stopping).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pykatib.earlystop.base import CompletedSeries, EarlyStoppingRule, fmt, int_at_least


class MedianStop(EarlyStoppingRule):
    """The median stopping rule; settings ``min_trials_required`` (3) and ``start_step`` (4)."""

    name = "medianstop"
    SETTINGS = (
        int_at_least(
            "min_trials_required", 1, "min_trials_required must be greater than zero (>0)", 3
        ),
        int_at_least("start_step", 1, "start_step must be greater or equal than one (>=1)", 4),
    )

    def should_stop(
        self,
        trial: str,
        series: Sequence[float],
        completed: Mapping[str, Sequence[float]],
        *,
        running: Mapping[str, Sequence[float]] | None = None,
    ) -> str | None:
        step = len(series)
        if step < self.values["start_step"]:
            return None
        count, median = self._median(completed, step, trial)
        if count < self.values["min_trials_required"]:
            return None
        best = self.best(series)
        if not self.is_worse(best, median):
            return None
        return (
            f"best {self.metric} {fmt(best)} in its first {step} reports is worse than "
            f"{fmt(median)}, the median of {count} completed trials' running averages "
            f"over their first {step} reports"
        )

    def trial_rules(self, completed: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
        """Katib's medianstop rule (medianstop/service.py GetEarlyStoppingRules): the objective
        compared with the median at ``start_step``, once ``min_trials_required`` trials have
        completed that many reports; ``less`` for maximize, ``greater`` for minimize."""
        start = self.values["start_step"]
        count, median = self._median(completed, start)
        if count < self.values["min_trials_required"]:
            return []
        return [
            {
                "name": self.metric,
                "value": str(median),
                "comparison": "less" if self.maximize else "greater",
                "startStep": start,
            }
        ]

    @staticmethod
    def _median(
        completed: Mapping[str, Sequence[float]], step: int, trial: str | None = None
    ) -> tuple[int, float]:
        """How many completed trials other than ``trial`` have a running average over their
        first ``step`` reports, and the median of those averages (NaN when there are none)."""
        if isinstance(completed, CompletedSeries) and trial not in completed:
            averages = completed.index("medianstop", StepAverages).at(step)
        else:
            averages = sorted(
                average
                for name, values in completed.items()
                if name != trial and len(values) >= step
                if not math.isnan(average := running_average(values[:step]))
            )
        return len(averages), sorted_median(averages)


class StepAverages:
    """Per step S, the sorted running averages over their first S reports of the completed
    trials that made S reports or more (NaN averages left out): what the median is taken of.

    Values added to a sorted list are inserted in place; a list filled since it was last asked
    for (many completed trials loaded at once, on a restart) is sorted when it is next asked for,
    once, rather than a value at a time."""

    def __init__(self) -> None:
        self._averages: list[list[float]] = []  # [S - 1] -> averages over the first S reports
        self._unsorted: set[int] = set()

    def add(self, series: Sequence[float]) -> None:
        total: float = 0  # summed as running_average's sum() does, so the averages are equal
        numbers = 0
        for step, value in enumerate(series, start=1):
            if not math.isnan(value):
                total += value
                numbers += 1
            if numbers and not math.isnan(average := total / numbers):
                if len(self._averages) < step:
                    self._averages.extend([] for _ in range(step - len(self._averages)))
                averages = self._averages[step - 1]
                if averages and step not in self._unsorted:
                    bisect.insort(averages, average)  # one more trial: keep it sorted
                else:
                    averages.append(average)
                    self._unsorted.add(step)

    def at(self, step: int) -> list[float]:
        """The sorted averages at ``step`` (do not change the list)."""
        if step > len(self._averages):
            return []
        if step in self._unsorted:
            self._unsorted.discard(step)
            self._averages[step - 1].sort()
        return self._averages[step - 1]


def sorted_median(values: Sequence[float]) -> float:
    """The median of sorted ``values``, as :func:`statistics.median` takes it; NaN if empty."""
    n = len(values)
    if n == 0:
        return math.nan
    if n % 2:
        return values[n // 2]
    return (values[n // 2 - 1] + values[n // 2]) / 2


def running_average(values: Sequence[float]) -> float:
    """The mean of ``values`` without NaNs; NaN when none is left (or +inf meets -inf)."""
    numbers = [v for v in values if not math.isnan(v)]
    return sum(numbers) / len(numbers) if numbers else math.nan
