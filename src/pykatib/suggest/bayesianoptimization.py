"""Katib's ``bayesianoptimization``: a surrogate model of the objective and an acquisition function.

Katib runs scikit-optimize, which is unmaintained; this takes its settings and does the same
thing on numpy/scipy:

- ``base_estimator`` ``GP`` (default): a Gaussian process (:mod:`pykatib.suggest._gp`);
  ``RF``, ``ET``, ``GBRT``: scikit-learn's random forest, extra trees, or gradient boosting
  with quantile losses, as scikit-optimize builds them (scikit-learn must be installed).
- ``n_initial_points`` (10): the first trials are an initial design, a scrambled Sobol sequence
  seeded by ``random_state`` (scikit-optimize's ``initial_point_generator="sobol"``; its default
  and Katib's draw them at random, which leaves more runs stuck in the basin their first good
  point happened to fall in: 3 of 8 seeds on Hartmann6, see ``bench/results/quality.md``).
- ``acq_func``: ``EI`` (computed as log-EI), ``PI`` (an improvement of at least 0.01 in the
  objective's units, scikit-optimize's ``xi``), ``LCB``, or ``gp_hedge`` (default), which
  picks one of the three at each proposal with probabilities that grow with how low the model
  predicts their past picks to be, in the objective's units (scikit-optimize's portfolio).
  While trials are in flight, ``gp_hedge`` on the GP proposes by EI (see below):
  scikit-optimize's portfolio never sees running trials, and its usual pick, PI, leaves the best
  region there.
  ``EIps`` and ``PIps`` divide by a trial's predicted duration in scikit-optimize; a trial's
  duration is not an objective here (nor in Katib, which never passes it), so they act as ``EI``
  and ``PI``.
- ``acq_optimizer``: ``sampling`` scores quasi-random candidates; ``lbfgs`` also runs L-BFGS-B
  from the best candidate, from others drawn with probability growing with their score (so
  that a search can leave the incumbent's basin), and from the best trial (so that it can
  refine it); ``auto`` is ``lbfgs`` for ``GP`` and
  ``sampling`` for trees. Trees cannot run ``lbfgs``, as scikit-optimize says.
- ``random_state``: the seed; without it one is drawn and kept through :meth:`state`.

Each parameter is modelled as its quantile (:mod:`pykatib.suggest.unit`), so every
``distribution`` is honoured: a ``logUniform`` parameter is searched in log scale, a ``normal``
one with most candidates near its mean. ``categorical`` parameters are categories to the model;
``discrete`` ones are ordered as listed.

Trials still running, and the proposals made so far in a batch, are pending: every model takes
each at its own prediction (the Kriging believer); the GP's acquisition conditions its variance
on them with the joint posterior (:class:`~pykatib.suggest._acquisition.BatchAcquisition`), so a
batch spreads out without abandoning the best region. No proposal repeats a trial or another
proposal. The proposals depend only on the history, the seed and (for ``gp_hedge``) the
portfolio's gains, kept in :meth:`state`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from scipy.stats import qmc

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest._acquisition import (
    ACQUISITIONS,
    BatchAcquisition,
    Scorer,
    pi_margin,
    polish,
)
from pykatib.suggest._gp import GaussianProcess
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
from pykatib.suggest.random import sample_assignments
from pykatib.suggest.settings import RANDOM_STATE, Setting, non_negative_int, read, validate
from pykatib.suggest.space import SearchSpace
from pykatib.suggest.unit import from_unit, to_unit

BASE_ESTIMATORS = ("GP", "RF", "ET", "GBRT")
ACQ_FUNCS = ("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps")
ACQ_OPTIMIZERS = ("auto", "sampling", "lbfgs")


def _one_of(setting: str, allowed: tuple[str, ...], default: str) -> Setting:
    return Setting(
        setting,
        str,
        lambda v: v in allowed,
        setting + " {value} is not supported in Bayesian optimization",
        default,
    )


SCHEMA = (
    _one_of("base_estimator", BASE_ESTIMATORS, "GP"),
    non_negative_int("n_initial_points", default=10),
    _one_of("acq_func", ACQ_FUNCS, "gp_hedge"),
    _one_of("acq_optimizer", ACQ_OPTIMIZERS, "auto"),
    RANDOM_STATE,
)

_CANDIDATES = 2048  # scored before polishing the best ones
_SAMPLED_CANDIDATES = 10000  # scored when not polishing (scikit-optimize's n_points)
_POLISHED = 10
_KEPT = 50  # unpolished candidates kept as fallbacks when polished ones repeat a trial
_LEADERS = 3  # the best trials, each a start of L-BFGS-B
_MAX_RANDOM_DRAWS = 100


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """The GP's matrices are small: a multi-threaded BLAS only adds contention (tens of ms per
    Cholesky on a busy machine instead of a fraction of one). threadpoolctl is optional."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class _Model(Protocol):
    y_std: float  # the objective's standard deviation: the model works on standardised values

    def predict(self, xs: np.ndarray, gradient: bool = False) -> tuple[Any, Any, Any, Any]: ...


class _Trees:
    """scikit-optimize's tree surrogates: mean and spread of an ensemble (RF, ET), or the
    0.16 / 0.5 / 0.84 quantiles of gradient boosting (GBRT)."""

    def __init__(self, kind: str, x: np.ndarray, y: np.ndarray, seed: int):
        self.kind, self.seed = kind, seed
        self.y_mean, self.y_std = float(y.mean()), float(y.std()) or 1.0
        self.x, self.y = x, (y - self.y_mean) / self.y_std
        self._fit()

    def _fit(self) -> None:
        from sklearn import ensemble

        seed = self.seed
        if self.kind == "GBRT":
            self.models = [
                ensemble.GradientBoostingRegressor(
                    loss="quantile", alpha=a, n_estimators=30, random_state=seed
                ).fit(self.x, self.y)
                for a in (0.16, 0.5, 0.84)
            ]
        else:
            cls = (
                ensemble.RandomForestRegressor
                if self.kind == "RF"
                else ensemble.ExtraTreesRegressor
            )
            self.models = [
                cls(n_estimators=50, min_samples_leaf=3, random_state=seed).fit(self.x, self.y)
            ]

    def predict(self, xs: np.ndarray, gradient: bool = False) -> tuple[Any, Any, Any, Any]:
        if self.kind == "GBRT":
            low, mean, high = (m.predict(xs) for m in self.models)
            std = np.abs(high - low) / 2.0
        else:
            per_tree = np.stack([t.predict(xs) for t in self.models[0].estimators_])
            mean, std = per_tree.mean(axis=0), per_tree.std(axis=0)
        return mean, np.maximum(std, 1e-9), None, None

    def believe(self, x: np.ndarray) -> float:
        """The prediction at ``x``: what a pending trial there is taken to find."""
        return float(self.predict(x[None, :])[0][0])

    def add(self, x: np.ndarray, y_standardised: float) -> None:
        self.x = np.vstack([self.x, x[None, :]])
        self.y = np.append(self.y, y_standardised)
        self._fit()


class BayesianOptimization(Algorithm):
    """Bayesian optimisation with scikit-optimize's settings, as Katib runs it."""

    name = "bayesianoptimization"

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        options = read(SCHEMA, settings)
        self.base_estimator: str = options["base_estimator"]
        self.n_initial_points: int = options["n_initial_points"]
        self.acq_func: str = {"EIps": "EI", "PIps": "PI"}.get(
            options["acq_func"], options["acq_func"]
        )
        optimizer = options["acq_optimizer"]
        if optimizer == "auto":
            optimizer = "lbfgs" if self.base_estimator == "GP" else "sampling"
        self.polish = optimizer == "lbfgs"
        self.random_state: int | None = options["random_state"]
        self.seed = self.random_state if self.random_state is not None else secrets.randbits(32)
        self.categorical = np.array([p.type == "categorical" for p in space], dtype=bool)
        # gp_hedge: each acquisition's gain, and what each proposed at the last model-based call.
        self.gains = {name: 0.0 for name in ACQUISITIONS}
        self._last_picks: dict[str, list[float]] = {}

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        problems = validate(cls.name, SCHEMA, settings)
        if problems:
            return problems
        options = read(SCHEMA, settings)
        path = "spec.algorithm.algorithmSettings"
        estimator = options["base_estimator"]
        if estimator != "GP" and importlib.util.find_spec("sklearn") is None:
            problems.append(
                f"{path}.base_estimator: base_estimator {estimator} needs scikit-learn; "
                "install it (pip install scikit-learn) or use GP"
            )
        if estimator != "GP" and options["acq_optimizer"] == "lbfgs":
            problems.append(
                f"{path}.acq_optimizer: The regressor {estimator} should run with "
                "acq_optimizer='sampling'."
            )
        return problems

    # --- encoding: one column per parameter ---------------------------------------------------

    def _encode(self, assignments: dict[str, str]) -> np.ndarray:
        row = []
        for p in self.space:
            value = p.parse(assignments[p.name])
            row.append(
                float(p.choices.index(str(value))) if p.type == "categorical" else to_unit(p, value)
            )
        return np.array(row)

    def _decode(self, x: np.ndarray) -> dict[str, str]:
        values = {}
        for p, u in zip(self.space, x):
            if p.type == "categorical":
                values[p.name] = p.choices[round(u)]
            else:
                values[p.name] = from_unit(p, u)
        return self.space.format_assignments(values)

    def _key(self, assignments: dict[str, str]) -> tuple[str, ...] | None:
        try:
            return self.space.key(assignments)
        except (KeyError, ValueError):
            return None

    # --- proposals ----------------------------------------------------------------------------

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        if n <= 0:
            return []
        with _one_blas_thread():
            return self._suggest(history, n)

    def _suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, len(history)]))
        taken = {k for k in (self._key(t.assignments) for t in history) if k is not None}
        sign = -1.0 if self.objective.type == "maximize" else 1.0
        observed = [
            (t.assignments, sign * t.value)
            for t in history
            if t.state == "succeeded" and t.value is not None and self._key(t.assignments)
        ]
        pending = [
            self._encode(t.assignments)
            for t in history
            if not t.completed and self._key(t.assignments)
        ]
        proposals: list[Proposal] = []
        model: _Model | None = None
        for position in range(len(history), len(history) + n):
            if position < self.n_initial_points:
                assignments = self._initial(position, taken, rng)
            elif len(observed) < 2:
                assignments = self._random(taken, rng)
            else:
                if model is None:
                    model = self._model(observed, pending, rng)
                assignments = self._acquire(
                    model, observed, pending, taken, rng, first=not proposals
                )
            if assignments is None:
                break
            taken.add(self.space.key(assignments))
            proposals.append(Proposal(assignments))
            x = self._encode(assignments)
            pending.append(x)
            if isinstance(model, _Trees):
                model.add(x, model.believe(x))
        return proposals

    def _initial(
        self, position: int, taken: set[tuple[str, ...]], rng: np.random.Generator
    ) -> dict[str, str] | None:
        """Point ``position`` of the initial design: a scrambled Sobol sequence of
        ``n_initial_points`` (seeded), which covers the space more evenly than independent draws
        and so leaves fewer runs in a basin that happened to hold their best first point."""
        d = max(len(self.space), 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance needs powers of 2: not ours
            design = qmc.Sobol(d=d, scramble=True, seed=np.random.default_rng(self.seed)).random(
                self.n_initial_points
            )
        assignments = self.space.format_assignments(
            {p.name: from_unit(p, u) for p, u in zip(self.space, design[position])}
        )
        if self.space.key(assignments) in taken:
            return self._random(taken, rng)
        return assignments

    def _random(
        self, taken: set[tuple[str, ...]], rng: np.random.Generator
    ) -> dict[str, str] | None:
        for _ in range(_MAX_RANDOM_DRAWS):
            assignments = sample_assignments(self.space, rng)
            if self.space.key(assignments) not in taken:
                return assignments
        return None

    def _model(
        self,
        observed: list[tuple[dict[str, str], float]],
        pending: list[np.ndarray],
        rng: np.random.Generator,
    ) -> _Model:
        """The surrogate of the finished trials. The GP leaves the pending trials to the
        acquisition (:class:`BatchAcquisition`); trees, which have no joint posterior, are
        refitted with each pending trial at their own prediction."""
        x = np.array([self._encode(a) for a, _ in observed])
        y = np.array([v for _, v in observed])
        model: _Model
        if self.base_estimator == "GP":
            model = GaussianProcess(x, y, self.categorical)
        else:
            trees = _Trees(self.base_estimator, x, y, int(rng.integers(2**31)))
            for point in pending:
                trees.add(point, trees.believe(point))
            model = trees
        if self.acq_func == "gp_hedge" and self._last_picks:
            # In the objective's units, as scikit-optimize's GP predicts: on standardised means
            # the portfolio stayed mixed on an objective that spreads over hundreds, and a
            # batch kept mixing in the acquisitions that refine worse.
            y_std = model.y_std
            for name, pick in self._last_picks.items():
                mean, _, _, _ = model.predict(np.array([pick]))
                self.gains[name] -= float(mean[0]) * y_std
        return model

    def _candidates(self, rng: np.random.Generator) -> np.ndarray:
        d = len(self.space)
        count = _CANDIDATES if self.polish else _SAMPLED_CANDIDATES
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance needs powers of 2: not ours
            x = qmc.Sobol(d=max(d, 1), scramble=True, seed=rng).random(count)[:, :d]
        for j, p in enumerate(self.space):
            if self.categorical[j]:
                x[:, j] = np.minimum((x[:, j] * len(p.choices)).astype(int), len(p.choices) - 1)
        return x

    def _scorer(
        self,
        model: _Model,
        name: str,
        best: float,
        pending: list[np.ndarray],
        rng: np.random.Generator,
    ) -> Scorer:
        if isinstance(model, GaussianProcess):
            points = np.array(pending) if pending else np.zeros((0, len(self.space)))
            return BatchAcquisition(model, name, best, points)
        acquisition = ACQUISITIONS[name]
        if name == "PI":
            best -= pi_margin(model.y_std)

        def score(xs: np.ndarray, gradient: bool = False) -> tuple[np.ndarray, None]:
            mean, std, _, _ = model.predict(xs)
            return acquisition(mean, std, best)[0], None

        return score

    def _acquire(
        self,
        model: _Model,
        observed: list[tuple[dict[str, str], float]],
        pending: list[np.ndarray],
        taken: set[tuple[str, ...]],
        rng: np.random.Generator,
        first: bool,
    ) -> dict[str, str] | None:
        candidates = self._candidates(rng)
        y = np.asarray(model.y[: len(observed)])  # type: ignore[attr-defined]
        best = float(np.min(y))
        leaders = [self._encode(observed[i][0]) for i in np.argsort(y)[:_LEADERS]]
        names = list(ACQUISITIONS) if self.acq_func == "gp_hedge" else [self.acq_func]
        chosen = names[0]
        if self.acq_func == "gp_hedge":
            logits = np.array([self.gains[name] for name in names])
            probs = np.exp(logits - logits.max())
            chosen = names[int(rng.choice(len(names), p=probs / probs.sum()))]
            if pending and isinstance(model, GaussianProcess):
                # With trials in flight, EI given them (BatchAcquisition). The portfolio
                # settles on PI within a few trials, and PI, asked to beat the pending trials'
                # values by xi, leaves the best region: Branin at 50 trials, 4 in flight, 8
                # seeds: 8.6e-4 with the portfolio's pick, 1.3e-5 with EI (seeds 8..15: 1.7e-4,
                # 5e-6; both over drawn pending values). The draw above still happens, so that
                # the seed's stream is the same either way.
                chosen = "EI"
        picks: dict[str, list[tuple[float, np.ndarray]]] = {}
        shared = None  # the GP's posterior of the candidates, the same for every acquisition
        for name in names:
            score = self._scorer(model, name, best, pending, rng)
            if isinstance(score, BatchAcquisition):
                if shared is None:
                    shared = score.model.posterior(candidates, score.pending)
                scores = score.at(shared)[0]
            else:
                scores = score(candidates, False)[0]
            ranked = [(float(scores[i]), candidates[i]) for i in np.argsort(-scores)[:_KEPT]]
            if self.polish and name == chosen:
                # Only the chosen one is polished: the others' best candidates are enough for
                # their gains (gp_hedge), and polishing is most of a proposal's time.
                ranked += self._polished(model, score, leaders, candidates, scores, rng)
            picks[name] = sorted(ranked, key=lambda s: -s[0])
        if self.acq_func == "gp_hedge" and first:
            self._last_picks = {name: picks[name][0][1].tolist() for name in names}
        for _, x in picks[chosen]:
            assignments = self._decode(x)
            if self.space.key(assignments) not in taken:
                return assignments
        return self._random(taken, rng)

    def _polished(
        self,
        model: _Model,
        score: Scorer,
        leaders: list[np.ndarray],
        candidates: np.ndarray,
        scores: np.ndarray,
        rng: np.random.Generator,
    ) -> list[tuple[float, np.ndarray]]:
        """L-BFGS-B from the best candidate, from others drawn by a roulette on their score, and
        from the best trials (the starts Optuna's GPSampler uses, with a few more trials)."""
        continuous = ~self.categorical
        if not continuous.any():
            return []
        top = int(np.argmax(scores))
        weights = np.exp(scores - scores[top])
        weights[top] = 0.0
        count = min(_POLISHED - 1 - len(leaders), int(np.count_nonzero(weights > 0)))
        drawn = (
            rng.choice(len(candidates), size=count, replace=False, p=weights / weights.sum())
            if count > 0
            else np.empty(0, dtype=int)
        )
        inv_sq_length = getattr(model, "inv_sq_length", None)
        length = None if inv_sq_length is None else inv_sq_length**-0.5
        starts = [candidates[top], *candidates[drawn], *leaders]
        out = []
        for x in starts:
            polished, value = polish(score, x, continuous, length)
            out.append((value, polished))
        return out

    # --- state --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any] | None:
        state: dict[str, Any] = {}
        if self.random_state is None:
            state["seed"] = self.seed
        if self.acq_func == "gp_hedge":
            state["gains"] = dict(self.gains)
            state["last_picks"] = dict(self._last_picks)
        return state or None

    def restore(self, state: dict[str, Any]) -> None:
        if self.random_state is None and "seed" in state:
            self.seed = int(state["seed"])
        self.gains.update({k: float(v) for k, v in state.get("gains", {}).items()})
        self._last_picks = {
            k: [float(u) for u in v] for k, v in state.get("last_picks", {}).items()
        }
