"""A Gaussian process on numpy/scipy, for ``bayesianoptimization``.

The kernel is Matern-5/2 with one length scale per input (ARD). An input is either continuous,
a coordinate in [0, 1], or categorical, an index whose distance is 0 for equal categories and 1
otherwise (as Optuna's GP does). The outputs are standardised; the kernel scale, the length scales
and the noise are fitted by maximising the marginal likelihood times weak priors (the ones
Optuna's GPSampler uses), by L-BFGS-B with analytic gradients from a few fixed starts, so the fit
depends only on the data. The noise may fall to :data:`NOISE_MIN`, far below Optuna's 1e-6 (and
scikit-optimize's 1e-5): on a deterministic objective the fit goes to the floor, and the floor
is then the model's resolution near the optimum (see :data:`NOISE_MIN`).

:meth:`GaussianProcess.predict` gives the posterior mean and standard deviation, and their
gradients with respect to the continuous inputs, for the acquisition functions.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize
from scipy.linalg import lapack

SQRT5 = np.sqrt(5.0)
# The least noise variance, in standardised units. A noise-free objective fits the floor, and a
# floor of 1e-6 (Optuna's) is a noise of 1e-3 standard deviations, about 0.02 on Branin (values
# spread over about 20 among the trials): the model cannot tell points apart by less than that,
# and the regret stalled near 1e-4 at 100 trials (8 seeds; 9e-7 with this floor, fitted noise at
# the floor after 60 trials). A noisy objective fits its own noise, well above either floor.
NOISE_MIN = 1e-9
# Bounds of the log-parameters: inverse squared length scales, kernel scale, noise above minimum.
_LOG_INV_SQ_LENGTH = (np.log(1e-3), np.log(1e4))
_LOG_SCALE = (np.log(1e-2), np.log(1e2))
_LOG_NOISE = (np.log(1e-9), np.log(1.0))


def _matern(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matern-5/2 of the squared scaled distance, and its derivative with respect to ``r2``."""
    r = np.sqrt(np.maximum(r2, 0.0))
    e = np.exp(-SQRT5 * r)
    k = (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e
    dk_dr2 = -5.0 / 6.0 * (1.0 + SQRT5 * r) * e
    return k, dk_dr2


def _pairwise(a: np.ndarray, b: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Per-input squared differences, shape (d, len(a), len(b)); 0/1 for categorical inputs."""
    diff = a.T[:, :, None] - b.T[:, None, :]
    out = diff**2
    out[categorical] = (diff[categorical] != 0).astype(float)
    return out


def _inverse(lower: np.ndarray) -> np.ndarray:
    """The inverse of ``L L^T`` from its Cholesky factor ``L`` (the lower triangle of ``lower``):
    LAPACK's potri, a third of the work of solving for the identity (the largest cost of a fit
    step at 200 trials)."""
    inverse, info = lapack.dpotri(lower, lower=1)
    if info:
        raise linalg.LinAlgError(f"potri failed: {info}")
    inverse = np.tril(inverse)
    return inverse + np.tril(inverse, -1).T


class GaussianProcess:
    """A GP fitted to ``(x, y)``; ``categorical[j]`` marks input ``j`` as categorical."""

    def __init__(self, x: np.ndarray, y: np.ndarray, categorical: np.ndarray):
        self.categorical = np.asarray(categorical, dtype=bool)
        self.x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        self.y_mean = float(y.mean())
        self.y_std = float(y.std()) or 1.0
        self.y = (y - self.y_mean) / self.y_std
        d = self.x.shape[1]
        self.inv_sq_length = np.ones(d)
        self.scale = 1.0
        self.noise = 1e-2
        self._fit()
        self._factor()

    # --- hyperparameters ---------------------------------------------------------------------

    def _unpack(self, theta: np.ndarray) -> tuple[np.ndarray, float, float]:
        d = self.x.shape[1]
        return np.exp(theta[:d]), float(np.exp(theta[d])), NOISE_MIN + float(np.exp(theta[d + 1]))

    def _neg_log_posterior(self, theta: np.ndarray, sq: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective of the fit and its gradient; ``sq`` is :func:`_pairwise` of the inputs,
        flattened to (d, n * n) so that the kernel and the gradient are matrix products."""
        lam, scale, noise = self._unpack(theta)
        n, d = self.x.shape
        base, dbase = _matern(lam @ sq)
        k = (scale * base).reshape(n, n)
        k.flat[:: n + 1] += noise
        try:
            chol = linalg.cho_factor(k, lower=True, check_finite=False)
        except linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = linalg.cho_solve(chol, self.y, check_finite=False)
        log_det = 2.0 * np.log(np.diag(chol[0])).sum()
        nll = 0.5 * self.y @ alpha + 0.5 * log_det
        w = np.outer(alpha, alpha) - _inverse(chol[0])  # d(log likelihood)/dK = w / 2
        w = w.ravel()
        grad = np.empty_like(theta)
        grad[:d] = -0.5 * scale * lam * (sq @ (w * dbase))
        grad[d] = -0.5 * scale * (w @ base)
        grad[d + 1] = -0.5 * w[:: n + 1].sum() * (noise - NOISE_MIN)
        # Priors: Gamma(3, 6) on the length scales (BoTorch's classic one: short length scales
        # keep the model from declaring an input irrelevant too early), Optuna's on the scale
        # and the noise.
        length = lam**-0.5
        log_prior = (
            (2.0 * np.log(length) - 6.0 * length).sum()
            + (np.log(scale) - scale)
            + (0.1 * np.log(noise) - 30.0 * noise)
        )
        grad[:d] -= -1.0 + 3.0 * length
        grad[d] -= 1.0 - scale
        grad[d + 1] -= (0.1 / noise - 30.0) * (noise - NOISE_MIN)
        return float(nll - log_prior), grad

    def _fit(self) -> None:
        d = self.x.shape[1]
        sq = _pairwise(self.x, self.x, self.categorical).reshape(d, -1)
        bounds = [_LOG_INV_SQ_LENGTH] * d + [_LOG_SCALE, _LOG_NOISE]
        best: tuple[float, np.ndarray] | None = None
        for log_lam in (0.0, np.log(10.0)):
            start = np.concatenate([np.full(d, log_lam), [0.0, np.log(1e-2)]])
            result = optimize.minimize(
                self._neg_log_posterior,
                start,
                args=(sq,),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 200},
            )
            if best is None or result.fun < best[0]:
                best = (float(result.fun), result.x)
        assert best is not None
        self.inv_sq_length, self.scale, self.noise = self._unpack(best[1])

    # --- posterior ---------------------------------------------------------------------------

    def _factor(self) -> None:
        k_xx, _ = self._kernel(self.x, self.x)
        k = k_xx + self.noise * np.eye(len(self.x))
        self._chol = linalg.cho_factor(k, lower=True, check_finite=False)
        self._alpha = linalg.cho_solve(self._chol, self.y, check_finite=False)

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """k(a, b) and its derivative with respect to the squared scaled distance."""
        base, dbase = _matern(
            np.tensordot(self.inv_sq_length, _pairwise(a, b, self.categorical), axes=1)
        )
        return self.scale * base, self.scale * dbase

    def _dkernel(self, xs: np.ndarray, others: np.ndarray, dk_dr2: np.ndarray) -> np.ndarray:
        """d k(xs_i, others_j) / d xs_i, shape (m, len(others), d); zero for categorical inputs."""
        diff = xs[:, None, :] - others[None, :, :]
        out = dk_dr2[:, :, None] * 2.0 * self.inv_sq_length * diff
        out[:, :, self.categorical] = 0.0
        return out

    def covariance(self, points: np.ndarray) -> np.ndarray:
        """The posterior covariance of the objective (without noise) at ``points`` (k, d)."""
        k_pp, _ = self._kernel(points, points)
        k_xp, _ = self._kernel(self.x, points)
        w = linalg.solve_triangular(self._chol[0], k_xp, lower=True, check_finite=False)
        return k_pp - w.T @ w

    def predict(
        self, xs: np.ndarray, gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Standardised posterior mean and standard deviation at ``xs`` (m, d); with
        ``gradient``, also their gradients (m, d) (zero for categorical inputs)."""
        post = self.posterior(xs, None, gradient)
        std = np.sqrt(post.var)
        if not gradient:
            return post.mean, std, None, None
        assert post.dvar is not None
        return post.mean, std, post.dmean, post.dvar / (2.0 * std[:, None])

    def posterior(
        self, xs: np.ndarray, pending: np.ndarray | None = None, gradient: bool = False
    ) -> Posterior:
        """The posterior at ``xs`` (m, d): mean and variance, their covariance with the objective
        at the ``pending`` points (k, d), and with ``gradient`` their gradients."""
        k_star, dk_star = self._kernel(xs, self.x)
        mean = k_star @ self._alpha
        v = linalg.solve_triangular(self._chol[0], k_star.T, lower=True, check_finite=False)
        var = np.maximum(self.scale - (v**2).sum(axis=0), 1e-12)
        post = Posterior(mean, var)
        if pending is not None and len(pending):
            k_xr, dk_xr = self._kernel(xs, pending)
            k_pr, _ = self._kernel(self.x, pending)
            w = linalg.solve_triangular(self._chol[0], k_pr, lower=True, check_finite=False)
            post.cross = k_xr - v.T @ w
        if not gradient:
            return post
        dk = self._dkernel(xs, self.x, dk_star)  # (m, n, d)
        post.dmean = np.einsum("mnd,n->md", dk, self._alpha)
        k_inv_k = linalg.solve_triangular(self._chol[0].T, v, lower=False, check_finite=False).T
        post.dvar = -2.0 * np.einsum("mnd,mn->md", dk, k_inv_k)
        if post.cross is not None:
            assert pending is not None
            k_inv_r = linalg.solve_triangular(self._chol[0].T, w, lower=False, check_finite=False)
            post.dcross = self._dkernel(xs, pending, dk_xr) - np.einsum("mnd,nk->mkd", dk, k_inv_r)
        return post


class Posterior:
    """What :meth:`GaussianProcess.posterior` gives at m points: ``mean`` and ``var`` (m,),
    ``cross`` (m, k): the covariance with the objective at k pending points; ``dmean``,
    ``dvar`` (m, d), ``dcross`` (m, k, d): their gradients with respect to the points."""

    def __init__(self, mean: np.ndarray, var: np.ndarray) -> None:
        self.mean, self.var = mean, var
        self.cross: np.ndarray | None = None
        self.dmean: np.ndarray | None = None
        self.dvar: np.ndarray | None = None
        self.dcross: np.ndarray | None = None
