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

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from pykatib.earlystop.base import EarlyStoppingRule, fmt, int_at_least


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
        averages = [
            average
            for name, values in completed.items()
            if name != trial and len(values) >= step
            if not math.isnan(average := running_average(values[:step]))
        ]
        if len(averages) < self.values["min_trials_required"]:
            return None
        median = statistics.median(averages)
        best = self.best(series)
        if not self.is_worse(best, median):
            return None
        return (
            f"best {self.metric} {fmt(best)} in its first {step} reports is worse than "
            f"{fmt(median)}, the median of {len(averages)} completed trials' running averages "
            f"over their first {step} reports"
        )

    def trial_rules(self, completed: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
        """Katib's medianstop rule (medianstop/service.py GetEarlyStoppingRules): the objective
        compared with the median at ``start_step``, once ``min_trials_required`` trials have
        completed that many reports; ``less`` for maximize, ``greater`` for minimize."""
        start = self.values["start_step"]
        averages = [
            average
            for values in completed.values()
            if len(values) >= start
            if not math.isnan(average := running_average(values[:start]))
        ]
        if len(averages) < self.values["min_trials_required"]:
            return []
        return [
            {
                "name": self.metric,
                "value": str(statistics.median(averages)),
                "comparison": "less" if self.maximize else "greater",
                "startStep": start,
            }
        ]


def running_average(values: Sequence[float]) -> float:
    """The mean of ``values`` without NaNs; NaN when none is left (or +inf meets -inf)."""
    numbers = [v for v in values if not math.isnan(v)]
    return sum(numbers) / len(numbers) if numbers else math.nan
