"""Acquisition functions of ``bayesianoptimization`` and their maximisation.

Every function scores a posterior (mean, standard deviation) of a *minimised*, standardised
objective, higher being better, and gives its derivatives with respect to the mean and the
standard deviation, so that L-BFGS-B can polish the best candidates of a random search.
EI is computed as log-EI (Ament et al., 2023), which keeps its gradient alive far from the
incumbent where plain EI underflows to zero.

Trials still running (and the proposals already made in a batch) are *pending*: their values are
unknown but not arbitrary. :class:`BatchAcquisition` takes each at the model's posterior mean (the
Kriging believer): the pending values leave the mean as it is, remove the uncertainty they would
resolve (the candidate's variance conditioned on them, from the model's joint posterior: GP-BUCB
for LCB), and lower the threshold to beat to the best of the trials and of the believed values.
A region with a pending trial in it is therefore worth less, by what the trial is expected to
find there, and not abandoned, as a pessimistic constant liar would have it. Integrating over
the pending values instead (128 joint draws, Optuna GPSampler's qLogEI) explored too much with
8 in flight: every draw in which some pending trial improves makes the regions away from all of
them the more attractive (bench/results/quality-gp.md). Nothing pending: the plain functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import linalg, optimize, special

SQRT_HALF_PI = np.sqrt(np.pi / 2.0)
SQRT_2PI = np.sqrt(2.0 * np.pi)
LCB_KAPPA = 1.96  # scikit-optimize's default
# PI's margin: scikit-optimize's xi = 0.01, in the objective's units (its GP predicts in them),
# divided by the objective's standard deviation here, where the model is standardised.
PI_XI = 0.01

Scores = tuple[np.ndarray, np.ndarray, np.ndarray]
Acquisition = Callable[[np.ndarray, np.ndarray, float], Scores]


def log_ei(mean: np.ndarray, std: np.ndarray, best: float) -> Scores:
    """log E[max(best - f, 0)] = log(std h(z)), h(z) = z Phi(z) + phi(z), z = (best - mean) / std.

    dEI/dmean = -Phi(z) and dEI/dstd = phi(z). Above z = -1, h is computed as written; below,
    h(z) = phi(z) (1 + z r) with r = Phi(z) / phi(z) exact through erfcx, and below -20 an
    asymptotic series replaces 1 + z r, which cancels towards 0.
    """
    z = (best - mean) / std
    near = z > -1.0
    zn, zf = np.where(near, z, 0.0), np.where(near, -1.0, z)  # each branch's safe inputs
    pdf, cdf = np.exp(-0.5 * zn**2) / SQRT_2PI, special.ndtr(zn)
    h = zn * cdf + pdf
    r = SQRT_HALF_PI * special.erfcx(-zf / np.sqrt(2.0))
    u = 1.0 / (zf * zf)  # not zf**-2: a negative power is 100 times slower in numpy
    q = np.where(zf < -20.0, u * (1.0 - u * (3.0 - 15.0 * u)), 1.0 + zf * r)
    log_h = np.where(near, np.log(h), -0.5 * zf**2 - np.log(SQRT_2PI) + np.log(q))
    d_mean = np.where(near, -cdf / h, -r / q) / std
    d_std = np.where(near, pdf / h, 1.0 / q) / std
    return np.log(std) + log_h, d_mean, d_std


def log_pi(mean: np.ndarray, std: np.ndarray, best: float) -> Scores:
    """log P[f < best]; the caller lowers ``best`` by PI's margin (:func:`pi_margin`)."""
    z = (best - mean) / std
    value = special.log_ndtr(z)
    ratio = np.exp(-0.5 * z**2 - 0.5 * np.log(2 * np.pi) - value)  # phi(z) / Phi(z)
    return value, -ratio / std, -ratio * z / std


def negative_lcb(mean: np.ndarray, std: np.ndarray, best: float) -> Scores:
    """-(mean - kappa std): the lower confidence bound, negated so that higher is better."""
    return -(mean - LCB_KAPPA * std), -np.ones_like(mean), np.full_like(std, LCB_KAPPA)


ACQUISITIONS: dict[str, Acquisition] = {"EI": log_ei, "PI": log_pi, "LCB": negative_lcb}


def pi_margin(y_std: float) -> float:
    """PI's xi in standardised units for an objective of standard deviation ``y_std``: 0.01 in
    the objective's own units, as scikit-optimize (Katib) has it. A margin of 0.01 standard
    deviations instead (50 times more on Branin, whose values spread over hundreds) left PI unable
    to refine a minimum closer than that: 3e-2 regret at 50 trials where EI reaches 8e-5."""
    return PI_XI / y_std


_JITTER = 1e-9


class BatchAcquisition:
    """``name`` (EI, PI or LCB) at candidate points of ``model`` (a
    :class:`~pykatib.suggest._gp.GaussianProcess`), given the trials at ``pending`` (k, d) whose
    values are not known yet, each believed at its posterior mean. ``best`` is the best (lowest)
    standardised value observed. Call it with points (m, d) to get the scores (m,) and, with
    ``gradient``, their gradients (m, d)."""

    def __init__(self, model: Any, name: str, best: float, pending: np.ndarray) -> None:
        self.model, self.name = model, name
        self.pending = pending if len(pending) else None
        if self.pending is None:
            self.inv_chol = np.zeros((0, 0))
        else:
            k = len(pending)
            cov = model.covariance(pending)
            jitter = _JITTER * np.eye(k) * max(1.0, np.trace(cov) / k)
            chol = linalg.cholesky(cov + jitter, lower=True)
            self.inv_chol = linalg.solve_triangular(chol, np.eye(k), lower=True)
            best = min(best, float(model.posterior(pending).mean.min()))
        self.threshold = best - (pi_margin(model.y_std) if name == "PI" else 0.0)

    def __call__(
        self, xs: np.ndarray, gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return self.at(self.model.posterior(xs, self.pending, gradient), gradient)

    def at(self, post: Any, gradient: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The scores at the points of ``post``, the model's posterior there given
        ``self.pending``: one posterior of the candidates serves every acquisition."""
        if post.cross is None:
            spread = np.zeros((len(post.mean), 0))
        else:
            spread = post.cross @ self.inv_chol.T  # (m, k): what the pending values explain
        std = np.sqrt(np.maximum(post.var - (spread**2).sum(axis=1), 1e-12))
        function = ACQUISITIONS[self.name]
        values, d_mean, d_std = function(post.mean, std, self.threshold)
        if not gradient:
            return values, None
        dvar = post.dvar
        if post.dcross is not None:
            dspread = np.einsum("ij,mjd->mid", self.inv_chol, post.dcross)  # (m, k, d)
            dvar = dvar - 2.0 * np.einsum("mk,mkd->md", spread, dspread)
        grad = d_mean[:, None] * post.dmean + d_std[:, None] * (dvar / (2.0 * std[:, None]))
        return values, grad


# (xs, gradient) -> (scores (m,), gradients (m, d) or None)
Scorer = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]


def polish(
    score: Scorer,
    start: np.ndarray,
    continuous: np.ndarray,
    length: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Local maximisation of ``score`` from ``start`` over the continuous inputs in [0, 1]
    (L-BFGS-B).

    With the model's ``length`` scales, the search runs in units of length scale (x / length),
    where the acquisition is about as steep along every input: L-BFGS-B then converges in far
    fewer steps when the length scales differ by orders of magnitude (as Optuna preconditions).
    """
    x = start.copy()
    index = np.flatnonzero(continuous)
    scale = np.ones(len(index)) if length is None else length[index]

    def negative(u: np.ndarray) -> tuple[float, np.ndarray]:
        x[index] = u * scale
        value, grad = score(x[None, :], True)
        assert grad is not None
        return -float(value[0]), -grad[0, index] * scale

    result = optimize.minimize(
        negative,
        start[index] / scale,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0 / s) for s in scale],
        options={"maxiter": 200},
    )
    x[index] = np.clip(result.x * scale, 0.0, 1.0)
    return x, -float(result.fun)
