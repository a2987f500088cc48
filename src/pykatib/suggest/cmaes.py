"""Katib's ``cmaes``: CMA-ES (the ``cmaes`` library, as Optuna's CmaEsSampler uses it).

The ``double`` and ``int`` parameters are searched in the unit cube, each axis being the
parameter's quantile (:mod:`pykatib.suggest.unit`), so every ``distribution`` is honoured and a
log-scaled parameter is searched in log scale; ``categorical`` and ``discrete`` ones are drawn at
random, as Katib's Goptuna service does. ``sigma`` is the initial step size in that cube
(default 1/6). ``restart_strategy`` ``ipop`` restarts with a doubled population once the
strategy has converged; ``bipop`` alternates such large-population runs with runs at the first
population size; ``none`` (Katib's default) never restarts.

A generation is told to the optimizer once ``population_size`` trials have finished with a value,
its own or (with trials in flight) those proposed from an earlier generation of the same run and
told to none: with P trials in flight a generation's surplus proposals finish after it was told,
and telling them with the next one wastes none (as pycma injects solutions). Such an older
solution's step from the current mean is shortened to a Mahalanobis length of at most
``0.75 sqrt(n)`` for the update, so a point drawn from an older distribution cannot drag it far.
Within a process the optimizer is kept, and the history read so far is kept as the keys it takes
and the solutions not yet told, so a call reads only the new entries and those that were pending
or running. A strategy that keeps landing on taken points (converged on a finite space) is given
a random new point instead, which no generation counts: no proposal repeats a trial.

The stored state (:meth:`CmaEs.state`) is data, never code: the seed, and for each generation
(numbered by the strategy run and the generation within it) the keys of the proposals made from
it and the names of the trials told for it (some may be an earlier generation's). A restarted
control plane rebuilds the optimizer by replaying those tells from the trials' assignments and
values (``tell`` is deterministic, and the library's random state is reseeded at every call), so
it computes exactly what an uninterrupted one does. A pickled optimizer, as pykatib stored it
before ``schemaVersion``, is never unpickled: unpickling what a shared database holds would run
code for anyone who can write to it.
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Sequence
from typing import Any, NamedTuple

import cmaes as cmaes_lib
import numpy as np

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
from pykatib.suggest.random import sample_assignments
from pykatib.suggest.settings import Setting, non_negative_int, read, validate
from pykatib.suggest.space import SearchSpace
from pykatib.suggest.unit import from_unit, to_unit

RESTART_STRATEGIES = ("ipop", "bipop", "none", "None")

SCHEMA = (
    Setting(
        "restart_strategy",
        str,
        lambda v: v in RESTART_STRATEGIES,
        "restart_strategy {value} is not supported in CMAES optimization",
        default="none",
    ),
    Setting("sigma", float, lambda v: v >= 0, "sigma should be greate or equal than zero"),
    non_negative_int("random_state", "random_state should be greate or equal than zero"),
)

_MAX_DRAWS = 20

# The layout of CmaEs.state(); a state without it is an older pykatib's (a pickled optimizer).
STATE_SCHEMA_VERSION = 1

# (strategy run, generation within the run): the run is the number of restarts before it.
Generation = tuple[int, int]


class _Solution(NamedTuple):
    position: int  # in the history
    name: str  # the trial's
    generation: Generation  # the one it was proposed from
    x: np.ndarray  # in the unit cube
    value: float  # signed so that lower is better


class CmaEs(Algorithm):
    """CMA-ES over the numeric parameters, with optional IPOP / BIPOP restarts."""

    name = "cmaes"

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        options = read(SCHEMA, settings)
        self.random_state: int | None = options["random_state"]
        self.restart_strategy = str(options["restart_strategy"]).lower()
        self.sigma: float = options["sigma"] or 1 / 6
        self.numeric = [p for p in space if p.is_numeric]
        self.seed = self.random_state if self.random_state is not None else secrets.randbits(32)
        self._optimizer: cmaes_lib.CMA | None = None  # None: rebuilt from the records when needed
        self._restarts = 0
        # The records the state holds: each proposal's generation, the proposals of each
        # generation (in the order made), and the trials told for each generation told.
        self._generation_of: dict[str, Generation] = {}
        self._proposed: dict[Generation, list[str]] = {}
        self._told: dict[Generation, list[str]] = {}
        self._forget_history()

    def _forget_history(self) -> None:
        self._read = 0  # history entries read
        self._open: dict[int, TrialResult] = {}  # entries not completed when last read
        self._taken: set[str] = set()  # keys of the entries read
        # strategy run -> its succeeded trials not yet told, in history order
        self._untold: dict[int, list[_Solution]] = {}

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        problems = validate(cls.name, SCHEMA, settings)
        if sum(p.is_numeric for p in space) < 2:
            problems.append(
                "spec.parameters: CMA-ES only supports two or more dimensional continuous "
                "search space."
            )
        return problems

    # --- the optimizer ----------------------------------------------------------------------

    def _new_optimizer(self, population_size: int | None) -> cmaes_lib.CMA:
        dim = len(self.numeric)
        return cmaes_lib.CMA(
            mean=np.full(dim, 0.5),
            sigma=self.sigma,
            bounds=np.array([[0.0, 1.0]] * dim),
            seed=int(np.random.SeedSequence([self.seed, self._restarts]).generate_state(1)[0]),
            population_size=population_size,
        )

    def _restart(self) -> cmaes_lib.CMA:
        self._restarts += 1
        first = self._new_optimizer(None).population_size
        if self.restart_strategy == "ipop":
            return self._new_optimizer(first * 2**self._restarts)
        # bipop: odd restarts double the large population, even ones go back to the first size.
        if self._restarts % 2 == 0:
            return self._new_optimizer(first)
        return self._new_optimizer(first * 2 ** ((self._restarts + 1) // 2))

    def _key(self, assignments: dict[str, str]) -> str:
        try:
            return "\x1f".join(self.space.key(assignments))
        except (KeyError, ValueError):
            return ""

    def _read_history(self, history: Sequence[TrialResult]) -> None:
        """Take in the entries that are new or were pending or running at the last call."""
        if len(history) < self._read:  # not the history read so far: read it afresh
            self._forget_history()
            self._optimizer = None  # and rebuild the optimizer from the records
        changed = [i for i, last in self._open.items() if history[i] != last]
        for i in [*changed, *range(self._read, len(history))]:
            t = history[i]
            self._open.pop(i, None)
            key = self._key(t.assignments)
            self._taken.add(key)
            if not t.completed:
                self._open[i] = t
            elif t.state == "succeeded" and t.value is not None:
                # A key's generation is set when it is proposed, before it is in the history.
                generation = self._generation_of.get(key)
                if generation is not None:
                    sign = -1.0 if self.objective.type == "maximize" else 1.0
                    x = np.array([to_unit(p, p.parse(t.assignments[p.name])) for p in self.numeric])
                    solution = _Solution(i, t.name, generation, x, sign * t.value)
                    untold = self._untold.setdefault(generation[0], [])
                    bisect.insort(untold, solution, key=lambda s: s.position)
        self._read = len(history)

    def _chosen(self, generation: Generation, size: int) -> list[_Solution] | None:
        """The solutions to tell for ``generation``, or ``None`` while too few have finished:
        those told before (by this process, or by one before a restart), else the first ``size``
        not yet told that were proposed from it or an earlier generation of its run."""
        solutions = [s for s in self._untold.get(generation[0], []) if s.generation <= generation]
        names = self._told.get(generation)
        if names is not None and len(names) == size:
            by_name = {s.name: s for s in solutions}
            if all(name in by_name for name in names):
                return [by_name[name] for name in names]
        return solutions[:size] if len(solutions) >= size else None

    def _tell(self, optimizer: cmaes_lib.CMA) -> cmaes_lib.CMA:
        """Tell every generation that is complete; the optimizer of the current one."""
        while True:
            generation = (self._restarts, optimizer.generation)
            chosen = self._chosen(generation, optimizer.population_size)
            if chosen is None:
                return optimizer
            optimizer.tell(
                [
                    (_step_bounded(optimizer, s.x) if s.generation != generation else s.x, s.value)
                    for s in chosen
                ]
            )
            told = self._told[generation] = [s.name for s in chosen]
            untold = self._untold[generation[0]]
            self._untold[generation[0]] = [s for s in untold if s.name not in told]
            if self.restart_strategy in ("ipop", "bipop") and optimizer.should_stop():
                optimizer = self._restart()

    def _rebuilt(self) -> cmaes_lib.CMA:
        """The optimizer of the records, from the first run: each told generation is told again
        (from the history read), restarting where the strategy restarted."""
        self._restarts = 0
        return self._new_optimizer(None)

    # --- the algorithm ----------------------------------------------------------------------

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        try:
            self._read_history(history)
            optimizer = self._optimizer = self._tell(self._optimizer or self._rebuilt())
            return self._ask(optimizer, history, n)
        except BaseException:
            # Half-done: read it all again and rebuild the optimizer next time.
            self._optimizer = None
            self._forget_history()
            raise

    def _ask(
        self, optimizer: cmaes_lib.CMA, history: Sequence[TrialResult], n: int
    ) -> list[Proposal]:
        taken: set[str] = set()  # this call's proposals, besides the history's keys
        # Reseeded at every call, so the draws depend on the seed and the history alone.
        rng = np.random.default_rng([self.seed, len(history)])
        optimizer.reseed_rng(int(rng.integers(2**31)))
        generation = (self._restarts, optimizer.generation)
        proposals: list[Proposal] = []
        for _ in range(n):
            for _ in range(_MAX_DRAWS):
                x = optimizer.ask()
                values = {p.name: from_unit(p, u) for p, u in zip(self.numeric, x)}
                for p in self.space:
                    if not p.is_numeric:
                        values[p.name] = p.choices[int(rng.integers(len(p.choices)))]
                assignments = self.space.format_assignments(values)
                key = self._key(assignments)
                if key not in self._taken and key not in taken:
                    break
            else:
                # The strategy keeps landing on taken points (it has converged on a finite
                # space): a random new point, which no generation counts, else nothing new now.
                found = self._random_new(taken, rng)
                if found is None:
                    break
                key, assignments = found
                taken.add(key)
                proposals.append(Proposal(assignments))
                continue
            taken.add(key)
            self._record(key, generation)
            proposals.append(Proposal(assignments))
        return proposals

    def _random_new(
        self, taken: set[str], rng: np.random.Generator
    ) -> tuple[str, dict[str, str]] | None:
        for _ in range(_MAX_DRAWS):
            assignments = sample_assignments(self.space, rng)
            key = self._key(assignments)
            if key not in self._taken and key not in taken:
                return key, assignments
        return None

    def _record(self, key: str, generation: Generation) -> None:
        self._generation_of[key] = generation
        self._proposed.setdefault(generation, []).append(key)

    @property
    def optimizer(self) -> cmaes_lib.CMA | None:
        """The strategy as of the last call, or ``None`` before the first (after a restore)."""
        return self._optimizer

    # --- the stored state -------------------------------------------------------------------

    def state(self) -> dict[str, Any] | None:
        return {
            "schemaVersion": STATE_SCHEMA_VERSION,
            "seed": self.seed,
            "generations": [
                {
                    "run": run,
                    "generation": generation,
                    "proposed": self._proposed.get((run, generation), []),
                    "told": self._told.get((run, generation)),
                }
                # A generation told only trials of earlier ones was proposed from by none.
                for run, generation in sorted(self._proposed.keys() | self._told.keys())
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Reload the seed and the records; the optimizer is rebuilt from them at the next call.

        A state that is not this layout's is read as data only: an older pykatib's (no
        ``schemaVersion``) gives its seed and each proposal's generation, and its pickled
        optimizer is ignored, never unpickled; the optimizer is then rebuilt from the history
        (told as each generation completes). A newer or malformed one gives at most its seed.
        """
        self._optimizer = None
        self._restarts = 0
        self._generation_of, self._proposed, self._told = {}, {}, {}
        self._forget_history()
        if not isinstance(state, dict):
            return
        seed = state.get("seed")
        if self.random_state is None and isinstance(seed, int) and not isinstance(seed, bool):
            self.seed = seed
        try:
            version = state.get("schemaVersion")
            if version == STATE_SCHEMA_VERSION:
                self._restore_records(state["generations"])
            elif version is None:
                self._restore_legacy_records(state.get("generation_of") or {})
        except (KeyError, TypeError, ValueError):
            self._generation_of, self._proposed, self._told = {}, {}, {}

    def _restore_records(self, generations: list[dict[str, Any]]) -> None:
        for entry in generations:
            generation = (_integer(entry["run"]), _integer(entry["generation"]))
            for key in entry["proposed"]:
                self._record(_text(key), generation)
            if entry.get("told") is not None:
                self._told[generation] = [_text(name) for name in entry["told"]]

    def _restore_legacy_records(self, generation_of: dict[str, Any]) -> None:
        """An older pykatib's ``generation_of`` (key -> generation within its run, in the order
        proposed); its run is inferred: the generation goes back down only after a restart."""
        run, last = 0, -1
        for key, value in generation_of.items():
            generation = _integer(value)
            if generation < last:
                run += 1
            last = generation
            self._record(_text(key), (run, generation))


# An older generation's solution is told with its step bounded to this fraction of sqrt(n), the
# typical length of a fresh step. pycma bounds injected steps at sqrt(n) + 2n / (n + 2); with
# trials in flight that left P = 8 at 1.64x P = 1's median regret, 0.75 sqrt(n) at 1.30x
# (bench/results/quality-cmaes.md: 100 seeds, five problems).
_OLDER_STEP = 0.75


def _step_bounded(optimizer: cmaes_lib.CMA, x: np.ndarray) -> np.ndarray:
    """``x`` moved toward the mean along its step until the step's Mahalanobis length (in the
    strategy's current sigma and covariance) is at most ``_OLDER_STEP * sqrt(n)``: a point
    drawn from an older distribution counts in the update, with its direction and rank, but
    pulls it less than a point drawn from the current one typically does.

    The library keeps sigma and the covariance's eigen-decomposition private. The decomposition
    is the one ``ask`` and ``tell`` compute (and cache) from the same covariance, so taking it
    here changes no number, and a replayed tell computes exactly what the first one did."""
    axes, scales = optimizer._eigen_decomposition()
    sigma: float = optimizer._sigma
    step = x - optimizer.mean
    length = float(np.linalg.norm((axes.T @ step) / scales)) / sigma
    limit = _OLDER_STEP * np.sqrt(optimizer.dim)
    return x if length <= limit else optimizer.mean + step * (limit / length)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a generation number: {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value
