"""Running an Optuna sampler as a pykatib :class:`Algorithm`.

Each :meth:`OptunaAlgorithm.suggest` rebuilds an in-memory study from the history (finished
trials with their values, running ones as RUNNING so that constant-liar samplers spread a batch),
creates a fresh sampler seeded from (seed, number of trials), and asks it ``n`` times. The
proposals therefore depend only on the seed and the history: a restart repeats nothing and loses
nothing, and only the seed (when ``random_state`` is not given) needs to be kept.

``uniform`` and ``logUniform`` map to Optuna's own distributions; ``normal`` and ``logNormal``,
which Optuna has not, are searched as their quantile in [0, 1] (:mod:`pykatib.suggest.unit`), so
the distribution is the prior the sampler starts from.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest import settings as algorithm_settings
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
from pykatib.suggest.random import sample_assignments
from pykatib.suggest.space import Parameter, SearchSpace, Value
from pykatib.suggest.unit import from_unit, to_unit

# Asks of the sampler for one proposal before falling back to a random draw.
_MAX_ASKS = 10
_MAX_RANDOM_DRAWS = 1000

_STATES = {
    "pending": TrialState.RUNNING,
    "running": TrialState.RUNNING,
    "succeeded": TrialState.COMPLETE,
    "early_stopped": TrialState.PRUNED,
}


class _Codec:
    """One parameter as Optuna sees it: its distribution and the conversions both ways."""

    def __init__(self, p: Parameter):
        self.parameter = p
        self.by_quantile = p.is_numeric and p.distribution in ("normal", "logNormal")
        self.distribution: BaseDistribution
        if not p.is_numeric:
            self.distribution = CategoricalDistribution(p.choices)
        elif self.by_quantile:
            self.distribution = FloatDistribution(0.0, 1.0)
        elif p.type == "int":
            assert p.step is not None
            top = int(p.point(p.n_steps - 1))
            if p.is_log:  # Optuna's log ints have step 1; other step points are snapped to
                self.distribution = IntDistribution(int(p.low), top, log=True)
            else:
                self.distribution = IntDistribution(int(p.low), top, step=int(p.step))
        elif p.is_log:  # likewise for a stepped logUniform double
            self.distribution = FloatDistribution(p.low, p.high, log=True)
        elif p.step is not None:
            self.distribution = FloatDistribution(p.low, p.point(p.n_steps - 1), step=p.step)
        else:
            self.distribution = FloatDistribution(p.low, p.high)

    def internal(self, text: str) -> Any:
        """What Optuna is told for the assignment ``text``."""
        value = self.parameter.parse(text)
        if not self.parameter.is_numeric:
            return value
        if self.by_quantile:
            return to_unit(self.parameter, value)
        return self.parameter.snap(float(value))

    def external(self, value: Any) -> Value:
        """The parameter's value for what Optuna suggested."""
        if self.by_quantile:
            return from_unit(self.parameter, value)
        return value if not self.parameter.is_numeric else self.parameter.snap(value)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's per-study log line and experimental-feature warnings, for one call."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class OptunaAlgorithm(Algorithm):
    """Base of the algorithms that drive an Optuna sampler; subclasses give ``SCHEMA`` and
    :meth:`sampler`.

    With more than one entry in ``objective.objectives`` the study has one direction per
    objective and a trial's values are :attr:`TrialResult.values` (or, when the control plane
    left them empty, its metrics of those names). ``SYSTEM_ATTR_LABELS`` maps system attributes
    that a sampler keeps on its trials (NSGA-II's generation) to the proposal labels that carry
    them, so that the rebuilt study has them too.
    """

    SCHEMA: tuple[algorithm_settings.Setting, ...] = (algorithm_settings.RANDOM_STATE,)
    SYSTEM_ATTR_LABELS: ClassVar[dict[str, str]] = {}

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        self.options = algorithm_settings.read(self.SCHEMA, settings)
        self.random_state: int | None = self.options.get("random_state")
        self.seed = self.random_state if self.random_state is not None else secrets.randbits(32)
        self._codecs = {p.name: _Codec(p) for p in space}
        self.distributions = {name: c.distribution for name, c in self._codecs.items()}

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        return algorithm_settings.validate(cls.name, cls.SCHEMA, settings)

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """A new sampler for one :meth:`suggest` call, seeded with ``seed``."""
        raise NotImplementedError

    @property
    def direction(self) -> str:
        return "maximize" if self.objective.type == "maximize" else "minimize"

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(metric name, direction) of each objective of a multi-objective experiment, else []."""
        items = self.objective.objectives or []
        if len(items) < 2:
            return []
        return [(o.name or "", "maximize" if o.type == "maximize" else "minimize") for o in items]

    def _values(self, t: TrialResult) -> list[float] | None:
        """The trial's objective value(s), or ``None`` when one is missing."""
        if not self.objectives:
            return None if t.value is None else [t.value]
        values: list[float | None] = list(t.values)
        if len(values) != len(self.objectives):
            values = [t.metrics.get(name) for name, _ in self.objectives]
        return None if any(v is None for v in values) else [float(v) for v in values]  # type: ignore[arg-type]

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        if n <= 0:
            return []
        call_seed = int(np.random.SeedSequence([self.seed, len(history)]).generate_state(1)[0])
        with _quiet():
            directions = [d for _, d in self.objectives] or [self.direction]
            study = optuna.create_study(directions=directions, sampler=self.sampler(call_seed))
            study.add_trials([t for t in map(self._frozen, history) if t is not None])
            return self._ask(study, history, n, np.random.default_rng(call_seed))

    def _ask(
        self,
        study: optuna.Study,
        history: Sequence[TrialResult],
        n: int,
        rng: np.random.Generator,
    ) -> list[Proposal]:
        finished = {self._key(t.assignments) for t in history if t.completed}
        taken = {self._key(t.assignments) for t in history if not t.completed}
        proposals: list[Proposal] = []
        for _ in range(n):
            assignments = None
            for _ in range(_MAX_ASKS):
                trial = study.ask(self.distributions)
                candidate = self.space.format_assignments(
                    {name: c.external(trial.params[name]) for name, c in self._codecs.items()}
                )
                key = self._key(candidate)
                if key not in taken and key not in finished:
                    assignments = candidate
                    break
            if assignments is None:  # the sampler keeps repeating: a random draw instead
                assignments = self._random(rng, taken, finished)
            if assignments is None:
                break  # everything is running or proposed: nothing distinct now
            taken.add(self._key(assignments))
            attrs = (
                study._storage.get_trial_system_attrs(trial._trial_id)
                if self.SYSTEM_ATTR_LABELS and assignments is candidate
                else {}
            )
            labels = {
                label: json.dumps(attrs[attr])
                for attr, label in self.SYSTEM_ATTR_LABELS.items()
                if attr in attrs
            }
            proposals.append(Proposal(assignments, labels))
        return proposals

    def _random(
        self, rng: np.random.Generator, taken: set[tuple[str, ...]], finished: set[tuple[str, ...]]
    ) -> dict[str, str] | None:
        fallback = None
        for _ in range(_MAX_RANDOM_DRAWS):
            candidate = sample_assignments(self.space, rng)
            key = self._key(candidate)
            if key not in taken:
                if key not in finished:
                    return candidate
                fallback = fallback or candidate
        return fallback

    def _key(self, assignments: dict[str, str]) -> tuple[str, ...]:
        try:
            return self.space.key(assignments)
        except (KeyError, ValueError):
            return tuple(sorted(assignments.items()))

    def _frozen(self, t: TrialResult) -> FrozenTrial | None:
        """The trial as Optuna would have recorded it; ``None`` when it is outside the space."""
        try:
            params = {name: c.internal(t.assignments[name]) for name, c in self._codecs.items()}
        except (KeyError, ValueError):
            return None
        state = _STATES.get(t.state, TrialState.FAIL)
        values = self._values(t)
        if state == TrialState.COMPLETE and values is None:
            state = TrialState.FAIL
        if state == TrialState.PRUNED and self.objectives:
            state = TrialState.FAIL  # Optuna has no pruned trials in multi-objective studies
        intermediate = dict(enumerate(t.intermediate)) if state == TrialState.PRUNED else None
        system_attrs = {}
        for attr, label in self.SYSTEM_ATTR_LABELS.items():
            with contextlib.suppress(KeyError, ValueError):
                system_attrs[attr] = json.loads(t.labels[label])
        return optuna.trial.create_trial(
            state=state,
            values=values if state == TrialState.COMPLETE else None,
            params=params,
            distributions=self.distributions,
            intermediate_values=intermediate,
            system_attrs=system_attrs or None,
        )

    def state(self) -> dict[str, Any] | None:
        return None if self.random_state is not None else {"seed": self.seed}

    def restore(self, state: dict[str, Any]) -> None:
        if self.random_state is None and "seed" in state:
            self.seed = int(state["seed"])
