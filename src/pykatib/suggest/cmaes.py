"""Katib's ``cmaes``: CMA-ES (the ``cmaes`` library, as Optuna's CmaEsSampler uses it).

The ``double`` and ``int`` parameters are searched in the unit cube, each axis being the
parameter's quantile (:mod:`pykatib.suggest.unit`), so every ``distribution`` is honoured and a
log-scaled parameter is searched in log scale; ``categorical`` and ``discrete`` ones are drawn at
random, as Katib's Goptuna service does. ``sigma`` is the initial step size in that cube
(default 1/6). ``restart_strategy`` ``ipop`` restarts with a doubled population once the
strategy has converged; ``bipop`` alternates such large-population runs with runs at the first
population size; ``none`` (Katib's default) never restarts.

A generation is told to the optimizer once ``population_size`` of its trials have finished with a
value. The optimizer, the generation each proposal belongs to, and the restart count are kept
through :meth:`CmaEs.state`, so that a restart of the control plane continues the same run.
Within a process the history read so far is kept as the keys it takes and the solutions of each
generation, so a call reads only the new entries and those that were pending or running.
"""

from __future__ import annotations

import bisect
import pickle
import secrets
from collections.abc import Sequence
from typing import Any

import cmaes as cmaes_lib
import numpy as np

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
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
        # Kept pickled, and unpickled for every call, so that a process that keeps running
        # computes exactly what a restarted one does (the library drops caches when pickled).
        self._optimizer_blob: bytes | None = None
        self._restarts = 0
        self._generation_of: dict[str, int] = {}  # proposal key -> optimizer generation
        self._forget_history()

    def _forget_history(self) -> None:
        self._read = 0  # history entries read
        self._open: dict[int, TrialResult] = {}  # entries not completed when last read
        self._taken: set[str] = set()  # keys of the entries read
        # generation -> (history index, point, signed value) of its succeeded trials, in order
        self._solutions: dict[int, list[tuple[int, np.ndarray, float]]] = {}

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
                    solutions = self._solutions.setdefault(generation, [])
                    bisect.insort(solutions, (i, x, sign * t.value), key=lambda s: s[0])
        self._read = len(history)

    def _tell(self, optimizer: cmaes_lib.CMA) -> cmaes_lib.CMA:
        while True:
            solutions = self._solutions.get(optimizer.generation, [])
            if len(solutions) < optimizer.population_size:
                return optimizer
            optimizer.tell([(x, value) for _, x, value in solutions[: optimizer.population_size]])
            if self.restart_strategy in ("ipop", "bipop") and optimizer.should_stop():
                optimizer = self._restart()

    # --- the algorithm ----------------------------------------------------------------------

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        try:
            self._read_history(history)
        except BaseException:
            self._forget_history()  # read it all again next time, rather than half of it twice
            raise
        optimizer = self._tell(self.optimizer or self._new_optimizer(None))
        taken: set[str] = set()  # this call's proposals, besides the history's keys
        rng = np.random.default_rng([self.seed, len(history)])
        optimizer.reseed_rng(int(rng.integers(2**31)))
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
                break  # the strategy keeps landing on taken points: nothing new now
            taken.add(key)
            self._generation_of[key] = optimizer.generation
            proposals.append(Proposal(assignments))
        self._optimizer_blob = pickle.dumps(optimizer)
        return proposals

    @property
    def optimizer(self) -> cmaes_lib.CMA | None:
        """The strategy as of the last call, or ``None`` before the first."""
        return pickle.loads(self._optimizer_blob) if self._optimizer_blob else None

    def state(self) -> dict[str, Any] | None:
        return {
            "seed": self.seed,
            "restarts": self._restarts,
            "optimizer": self._optimizer_blob.hex() if self._optimizer_blob else None,
            "generation_of": dict(self._generation_of),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if self.random_state is None and "seed" in state:
            self.seed = int(state["seed"])
        self._restarts = int(state.get("restarts", 0))
        if state.get("optimizer"):
            self._optimizer_blob = bytes.fromhex(state["optimizer"])
        self._generation_of = {str(k): int(v) for k, v in state.get("generation_of", {}).items()}
        self._forget_history()
