"""``threshold``: stop a trial whose latest value leaves fixed bounds (a pykatib extension).

Settings: ``lower`` and ``upper`` (at least one; ``lower <= upper``) and ``start_step`` (default 0):
the bounds apply once the trial has made ``start_step`` reports (0 and 1 both mean from its first
report). A latest value below ``lower`` or above ``upper`` stops the trial; so does a latest value
that is NaN or ±inf, whatever the bounds and ``start_step`` (a diverged run never recovers).
Only the latest value is looked at: a batch of reports is judged by its last one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pykatib.earlystop.base import SETTINGS_PATH, EarlyStoppingRule, fmt, int_at_least
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest.settings import Setting


def _bound(name: str) -> Setting:
    return Setting(name, float, lambda v: not math.isnan(v), "{name} must be a number")


class Threshold(EarlyStoppingRule):
    """Fixed bounds on the objective; settings ``lower``, ``upper``, ``start_step`` (0)."""

    name = "threshold"
    SETTINGS = (
        _bound("lower"),
        _bound("upper"),
        int_at_least("start_step", 0, "start_step must be greater or equal than zero (>=0)", 0),
    )

    @classmethod
    def validate_settings(cls, settings: dict[str, str]) -> list[str]:
        problems = super().validate_settings(settings)
        if problems:
            return problems
        values = algorithm_settings.read(cls.SETTINGS, settings)
        lower, upper = values["lower"], values["upper"]
        if lower is None and upper is None:
            return [f"{SETTINGS_PATH}: threshold needs a lower bound, an upper bound or both"]
        if lower is not None and upper is not None and lower > upper:
            return [
                f"{SETTINGS_PATH}.upper: upper must be greater or equal than lower ({fmt(lower)})"
            ]
        return []

    def should_stop(
        self,
        trial: str,
        series: Sequence[float],
        completed: Mapping[str, Sequence[float]],
        *,
        running: Mapping[str, Sequence[float]] | None = None,
    ) -> str | None:
        if not series:
            return None
        latest, reports = series[-1], len(series)
        if not math.isfinite(latest):
            return f"{self.metric} {fmt(latest)} at report {reports} is not a finite number"
        if reports < self.values["start_step"]:
            return None
        lower, upper = self.values["lower"], self.values["upper"]
        if lower is not None and latest < lower:
            return f"{self.metric} {fmt(latest)} at report {reports} is below the lower bound {fmt(lower)}"
        if upper is not None and latest > upper:
            return f"{self.metric} {fmt(latest)} at report {reports} is above the upper bound {fmt(upper)}"
        return None
