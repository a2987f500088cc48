"""Acquisition functions of ``bayesianoptimization`` and their maximisation.

Every function scores a posterior (mean, standard deviation) of a *minimised*, standardised
objective, higher being better, and gives its derivatives with respect to the mean and the
standard deviation, so that L-BFGS-B can polish the best candidates of a random search.
EI is computed as log-EI (Ament et al., 2023), which keeps its gradient alive far from the
incumbent where plain EI underflows to zero.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize, special

SQRT_HALF_PI = np.sqrt(np.pi / 2.0)
SQRT_2PI = np.sqrt(2.0 * np.pi)
LCB_KAPPA = 1.96  # scikit-optimize's default
PI_XI = 0.01

Scores = tuple[np.ndarray, np.ndarray, np.ndarray]
Acquisition = Callable[[np.ndarray, np.ndarray, float], Scores]
# (xs, gradient) -> (mean, std, dmean/dx, dstd/dx), as GaussianProcess.predict
Posterior = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


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
    q = np.where(zf < -20.0, zf**-2 - 3.0 * zf**-4 + 15.0 * zf**-6, 1.0 + zf * r)
    log_h = np.where(near, np.log(h), -0.5 * zf**2 - np.log(SQRT_2PI) + np.log(q))
    d_mean = np.where(near, -cdf / h, -r / q) / std
    d_std = np.where(near, pdf / h, 1.0 / q) / std
    return np.log(std) + log_h, d_mean, d_std


def log_pi(mean: np.ndarray, std: np.ndarray, best: float) -> Scores:
    """log P[f < best - xi]."""
    z = (best - PI_XI - mean) / std
    value = special.log_ndtr(z)
    ratio = np.exp(-0.5 * z**2 - 0.5 * np.log(2 * np.pi) - value)  # phi(z) / Phi(z)
    return value, -ratio / std, -ratio * z / std


def negative_lcb(mean: np.ndarray, std: np.ndarray, best: float) -> Scores:
    """-(mean - kappa std): the lower confidence bound, negated so that higher is better."""
    return -(mean - LCB_KAPPA * std), -np.ones_like(mean), np.full_like(std, LCB_KAPPA)


ACQUISITIONS: dict[str, Acquisition] = {"EI": log_ei, "PI": log_pi, "LCB": negative_lcb}


def polish(
    posterior: Posterior,
    acquisition: Acquisition,
    best: float,
    start: np.ndarray,
    continuous: np.ndarray,
    length: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Local maximisation from ``start`` over the continuous inputs in [0, 1] (L-BFGS-B).

    With the model's ``length`` scales, the search runs in units of length scale (x / length),
    where the acquisition is about as steep along every input: L-BFGS-B then converges in far
    fewer steps when the length scales differ by orders of magnitude (as Optuna preconditions).
    """
    x = start.copy()
    index = np.flatnonzero(continuous)
    scale = np.ones(len(index)) if length is None else length[index]

    def negative(u: np.ndarray) -> tuple[float, np.ndarray]:
        x[index] = u * scale
        mean, std, dmean, dstd = posterior(x[None, :], True)
        value, d_mean, d_std = acquisition(mean, std, best)
        grad = d_mean[0] * dmean[0, index] + d_std[0] * dstd[0, index]
        return -float(value[0]), -grad * scale

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
