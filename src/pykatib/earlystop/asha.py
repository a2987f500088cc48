"""``asha``: asynchronous successive halving on the step axis (a pykatib extension).

Rungs lie at ``min_resource * reduction_factor**k`` reports (k = 0, 1, ...), leaving out those
below ``grace_period`` reports. A trial is judged at the highest rung it has reached, by its best
value in its first ``rung`` reports, against the same value of every other trial, running or
completed, that has reached that rung. It is stopped when it is not among the top
``n // reduction_factor`` of those ``n`` trials (ties go on). With fewer than ``reduction_factor``
trials at the rung there is no top ``1/reduction_factor`` yet, and nobody is stopped there.

Unlike Optuna's and Ray's ASHA, which judge a trial once, when it reaches a rung, this rule keeps
no record of past judgements: a trial between two rungs is judged again, at its rung, each time it
reports, as more trials reach that rung. That is what makes the rule stateless (a restart decides
the same), and it lets early trials pass a rung they reached alone only until enough others have
reached it to judge them. ``grace_period`` plays the part of Optuna's ``min_early_stopping_rate``
(s): ``grace_period = min_resource * reduction_factor**s`` leaves out the same rungs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pykatib.earlystop.base import EarlyStoppingRule, fmt, int_at_least


class Asha(EarlyStoppingRule):
    """Asynchronous successive halving; settings ``min_resource`` (1), ``reduction_factor`` (3),
    ``grace_period`` (0)."""

    name = "asha"
    SETTINGS = (
        int_at_least("min_resource", 1, "min_resource must be greater than zero (>0)", 1),
        int_at_least(
            "reduction_factor", 2, "reduction_factor must be greater or equal than two (>=2)", 3
        ),
        int_at_least("grace_period", 0, "grace_period must be greater or equal than zero (>=0)", 0),
    )

    def rung(self, reports: int) -> int | None:
        """The highest rung, in reports, at or below ``reports``; ``None`` before the first rung."""
        factor = self.values["reduction_factor"]
        rung = self.values["min_resource"]
        while rung < self.values["grace_period"]:
            rung *= factor
        if reports < rung:
            return None
        while rung * factor <= reports:
            rung *= factor
        return rung

    def should_stop(
        self,
        trial: str,
        series: Sequence[float],
        completed: Mapping[str, Sequence[float]],
        *,
        running: Mapping[str, Sequence[float]] | None = None,
    ) -> str | None:
        rung = self.rung(len(series))
        if rung is None:
            return None
        others = {**(running or {}), **completed}
        others.pop(trial, None)
        mine = self.best(series[:rung])
        values = [mine] + [self.best(s[:rung]) for s in others.values() if len(s) >= rung]
        factor = self.values["reduction_factor"]
        top = len(values) // factor
        if top == 0:
            return None
        cutoff = sorted(values, key=self._rank)[top - 1]
        if not self.is_worse(mine, cutoff):
            return None
        return (
            f"best {self.metric} {fmt(mine)} in its first {rung} reports is not in the top "
            f"1/{factor} of the {len(values)} trials that reached rung {rung} "
            f"(the top {top} are at {fmt(cutoff)} or better)"
        )

    def _rank(self, value: float) -> tuple[bool, float]:
        # best first, NaN last
        return (math.isnan(value), -value if self.maximize else value)
