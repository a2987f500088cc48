"""Is one side's regret significantly worse than another's? bench/quality.py's tests beside its
IQR verdict.

The IQR verdict (a median above the other side's third quartile misses) has no stated error
rate: with 10 seeds, two runs of one algorithm miss some cells by chance (bench/results/
quality-null.md measures how many). So each cell also gets a one-sided Mann-Whitney U test of "our
regrets over the seeds tend to be larger than theirs" (``scipy.stats.mannwhitneyu``,
``alternative="greater"``, exact when no value repeats), and a summary row's cells are corrected
together by Holm's step-down procedure, which holds the row's family-wise error at ``ALPHA``
whatever the dependence between its cells (the budgets of one problem are nested prefixes of the
same runs).

The test is unpaired: the problems are deterministic functions (no instance or noise drawn per
seed), and two libraries draw from different generators, so seed s of one side is no nearer seed
s of the other than any other seed. The only thing the sides share per seed is the trials'
durations at P > 1, which order the results, not the points. A side against its own P = 1 shares
the seed's generator (``random`` draws the same points at every P), so its runs are positively
correlated pair by pair; the unpaired test is then conservative: it tends to miss a difference
rather than invent one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import mannwhitneyu

ALPHA = 0.05


def worse_p(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """The one-sided p-value of "``ours`` tends to be larger (worse) than ``theirs``": small when
    our regrets are mostly above theirs; 1 when every value is tied."""
    if not len(ours) or not len(theirs):
        raise ValueError("a significance test needs at least one run on each side")
    # Exact when no value repeats (scipy's "auto" is exact only up to 8 runs a side); with ties,
    # the normal approximation that corrects for them.
    tied = len(set(ours) | set(theirs)) < len(ours) + len(theirs)
    method = "asymptotic" if tied else "exact"
    p = float(mannwhitneyu(ours, theirs, alternative="greater", method=method).pvalue)
    return 1.0 if math.isnan(p) else p  # NaN: no variation at all, nothing to reject


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given: the i-th smallest of m is multiplied by
    ``m - i`` (i from 0), kept at least the previous adjusted one, capped at 1. A cell is
    significant at level alpha when its adjusted p-value is at most alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def fmt_p(p: float) -> str:
    """A p-value to two significant digits."""
    return f"{p:.2g}"
