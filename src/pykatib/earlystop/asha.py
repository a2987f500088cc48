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

Cost: each completed trial's values at its rungs are kept sorted as it completes
(:class:`RungRanks`), so a report looks only at the running trials.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

from pykatib.earlystop.base import CompletedSeries, EarlyStoppingRule, fmt, int_at_least


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
        mine = self.best(series[:rung])
        if isinstance(completed, CompletedSeries) and trial not in completed:
            # The completed trials' ranks at the rung are kept as they complete; only the
            # running trials are looked at here.
            settings = tuple(self.values[s.name] for s in self.SETTINGS)  # the rungs'
            done = completed.index(("asha", self.maximize, settings), self._rung_ranks)
            ranked, unranked = done.at(rung)
            others = [s for n, s in (running or {}).items() if n != trial and n not in completed]
        else:
            ranked, unranked = [], 0
            everyone = {**(running or {}), **completed}
            everyone.pop(trial, None)
            others = list(everyone.values())
        values = [mine] + [self.best(s[:rung]) for s in others if len(s) >= rung]
        factor = self.values["reduction_factor"]
        n = len(values) + len(ranked) + unranked
        top = n // factor
        if top == 0:
            return None
        # Worse than the top-th best value <=> at least `top` values are strictly better.
        better = sum(self.is_worse(mine, v) for v in values) + (
            len(ranked) if math.isnan(mine) else bisect.bisect_left(ranked, self._key(mine))
        )
        if better < top:
            return None
        mixed = sorted(self._key(v) for v in values if not math.isnan(v))
        cutoff = self._key(_kth_smallest(ranked, mixed, top))  # the key of a key is the value
        return (
            f"best {self.metric} {fmt(mine)} in its first {rung} reports is not in the top "
            f"1/{factor} of the {n} trials that reached rung {rung} "
            f"(the top {top} are at {fmt(cutoff)} or better)"
        )

    def _rung_ranks(self) -> RungRanks:
        return RungRanks(self)

    def _key(self, value: float) -> float:
        # smaller is better; for numbers only (NaN ranks last, and is counted apart)
        return -value if self.maximize else value


class RungRanks:
    """Per rung, the sorted rank keys of the completed trials' best values in their first
    ``rung`` reports, and how many of those values are NaN."""

    def __init__(self, rule: Asha) -> None:
        self._rule = rule
        self._ranked: dict[int, list[float]] = {}
        self._unranked: dict[int, int] = {}

    def add(self, series: Sequence[float]) -> None:
        rule = self._rule
        rung = rule.rung(len(series))
        while rung is not None:  # every rung the trial reached, highest first
            best = rule.best(series[:rung])
            if math.isnan(best):
                self._unranked[rung] = self._unranked.get(rung, 0) + 1
            else:
                bisect.insort(self._ranked.setdefault(rung, []), rule._key(best))
            rung = rule.rung(rung - 1)

    def at(self, rung: int) -> tuple[list[float], int]:
        """The sorted keys (do not change the list) and the NaN count at ``rung``."""
        return self._ranked.get(rung, []), self._unranked.get(rung, 0)


def _kth_smallest(a: list[float], b: list[float], k: int) -> float:
    """The ``k``-th smallest (from 1) of sorted ``a`` and ``b`` together; ``b`` is short.
    Costs O(len(b) log len(a)), so a long ``a`` is not walked."""
    candidates = [x for x in b if bisect.bisect_right(a, x) + bisect.bisect_right(b, x) >= k][:1]
    lo, hi = 0, len(a)  # the first j with j + 1 + (b's values <= a[j]) >= k
    while lo < hi:
        mid = (lo + hi) // 2
        if mid + 1 + bisect.bisect_right(b, a[mid]) >= k:
            hi = mid
        else:
            lo = mid + 1
    if lo < len(a):
        candidates.append(a[lo])
    return min(candidates)
