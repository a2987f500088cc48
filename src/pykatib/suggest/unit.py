"""A parameter's values <-> the unit interval, through its distribution's CDF.

``from_unit(p, u)`` is the value at quantile ``u`` of ``p``'s distribution, so a uniform ``u``
gives a draw from it (``random``), a low-discrepancy ``u`` a quasi-random one (``sobol``), and a
model over ``u`` a model whose prior is the distribution (``normal`` for the Optuna samplers).
``to_unit`` is the inverse, for reading a trial's values back.

The distributions are Katib's: ``uniform`` and ``logUniform`` over [min, max]; ``normal`` with
mean (min + max) / 2 and standard deviation (max - min) / 6 (as Katib's hyperopt service sets
them) and ``logNormal`` the same in log space, both truncated to [min, max]. A stepped parameter
(every ``int``) spans [min - step/2, top + step/2] before rounding to the nearest step point, so
that ``uniform`` gives every point the same share.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from pykatib.suggest.space import Parameter, Value


def _bounds(p: Parameter) -> tuple[float, float]:
    """The interval the continuous value is drawn from, before snapping to a step point."""
    if p.step is None:
        return p.low, p.high
    lo, hi = p.low - p.step / 2, p.low + (p.n_steps - 1) * p.step + p.step / 2
    if p.is_log and lo <= 0:
        lo = p.low
    return lo, hi


def _normal(p: Parameter) -> tuple[NormalDist | None, float, float]:
    """The (untruncated) normal of a normal or logNormal parameter, in its own scale, and the
    interval it is truncated to in that scale."""
    lo, hi = _bounds(p)
    low, high = p.low, p.high
    if p.distribution == "logNormal":
        lo, hi, low, high = math.log(lo), math.log(hi), math.log(low), math.log(high)
    sigma = (high - low) / 6
    return (NormalDist((low + high) / 2, sigma) if sigma > 0 else None), lo, hi


def from_unit(p: Parameter, u: float) -> Value:
    """The value of ``p`` at quantile ``u`` in [0, 1]."""
    u = min(max(float(u), 0.0), 1.0)
    if not p.is_numeric:
        return p.choices[min(int(u * len(p.choices)), len(p.choices) - 1)]
    if p.distribution in ("normal", "logNormal"):
        normal, lo, hi = _normal(p)
        if normal is None or u in (0.0, 1.0):  # the ends exactly, not through inv_cdf
            x = lo if normal is None or u == 0.0 else hi
        else:
            a, b = normal.cdf(lo), normal.cdf(hi)
            q = min(max(a + u * (b - a), 1e-15), 1 - 1e-15)
            x = min(max(normal.inv_cdf(q), lo), hi)
        x = math.exp(x) if p.distribution == "logNormal" else x
    else:
        lo, hi = _bounds(p)
        if p.distribution == "logUniform":
            x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            x = lo + u * (hi - lo)
    return p.snap(x)


def to_unit(p: Parameter, value: Value) -> float:
    """The quantile of ``value`` in ``p``'s distribution (a step point's middle for a stepped one)."""
    if not p.is_numeric:
        return (p.choices.index(str(value)) + 0.5) / len(p.choices)
    x = float(value)
    if p.distribution in ("normal", "logNormal"):
        normal, lo, hi = _normal(p)
        if normal is None:
            return 0.5
        x = math.log(x) if p.distribution == "logNormal" else x
        a, b = normal.cdf(lo), normal.cdf(hi)
        u = (normal.cdf(x) - a) / (b - a)
    else:
        lo, hi = _bounds(p)
        if hi <= lo:
            return 0.5
        if p.distribution == "logUniform":
            u = (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        else:
            u = (x - lo) / (hi - lo)
    return min(max(u, 0.0), 1.0)
