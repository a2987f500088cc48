"""Running an Optuna sampler as a pykatib :class:`Algorithm`.

Each :meth:`OptunaAlgorithm.suggest` asks, ``n`` times, a fresh sampler seeded from (seed, number
of trials) on an in-memory study that holds the history (finished trials with their values,
running ones as RUNNING so that constant-liar samplers spread a batch). The proposals therefore
depend only on the seed and the history: a restart repeats nothing and loses nothing, and only
the seed (when ``random_state`` is not given) needs to be kept.

The study is built from the whole history at the first call of a process and then kept
(:class:`_HistoryStudy`): later calls add the new trials and update the ones that were pending or
running, and the trials asked during a call are dropped after it, so each call sees exactly the
study a rebuild would give, at a cost that grows with the new trials rather than the history.

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
from optuna.storages import InMemoryStorage
from optuna.study import StudyDirection
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


class _HistoryStorage(InMemoryStorage):
    """Optuna's in-memory storage, plus the two edits a mirrored history needs: put a trial at a
    number (append one, or replace one whose state changed), and forget the trials from a number
    on (those asked during a call). Trial ids equal numbers, as in a study built in one go.

    Optuna has no public way to do either, so this edits the storage's private fields: the
    reason pyproject.toml bounds optuna above (tests/suggest/test_incremental.py checks them)."""

    def put(self, study_id: int, trial: FrozenTrial) -> None:
        info = self._studies[study_id]
        number = trial.number
        trial._trial_id = number
        if number == len(info.trials):
            info.trials.append(trial)
            self._trial_id_to_study_id_and_number[number] = (study_id, number)
            self._max_trial_id = number
        else:
            info.trials[number] = trial
        best = info.best_trial_id
        if trial.state == TrialState.COMPLETE and (
            best is None or _takes_over(info.directions, trial, info.trials[best])
        ):
            info.best_trial_id = number

    def truncate(self, study_id: int, length: int) -> None:
        """Drop the trials from number ``length`` on, and what the sampler kept on the study."""
        info = self._studies[study_id]
        for trial in info.trials[length:]:
            del self._trial_id_to_study_id_and_number[trial._trial_id]
        del info.trials[length:]
        self._max_trial_id = length - 1
        self._prev_waiting_trial_number[study_id] = 0
        info.param_distribution, info.system_attrs, info.user_attrs = {}, {}, {}


def _takes_over(directions: list[StudyDirection], trial: FrozenTrial, best: FrozenTrial) -> bool:
    """Whether a study given its trials in order would hold ``trial`` as best rather than
    ``best``: the first complete trial with the best value (the first complete one when there
    are several objectives)."""
    if len(directions) == 1 and trial.values[0] != best.values[0]:
        if directions[0] == StudyDirection.MAXIMIZE:
            return trial.values[0] > best.values[0]
        return trial.values[0] < best.values[0]
    return trial.number < best.number


class _HistoryStudy:
    """A study mirroring a history: its ``k``-th trial is the ``k``-th history entry in the space.

    :meth:`sync` reads the new entries and re-reads those that were pending or running (completed
    ones never change); :meth:`rewind` drops the trials asked since. It also keeps the keys of
    the running and the finished entries, which :meth:`OptunaAlgorithm._ask` avoids.
    """

    def __init__(self, algorithm: OptunaAlgorithm, directions: list[str]):
        self.algorithm = algorithm
        self.storage = _HistoryStorage()
        self.study = optuna.create_study(
            storage=self.storage,
            directions=directions,  # type: ignore[arg-type]
        )
        self.study_id = self.storage.get_study_id_from_name(self.study.study_name)
        self.synced = 0  # history entries read
        self.n_trials = 0  # trials of the study that are history entries
        self.numbers: list[int | None] = []  # each entry's trial number, None outside the space
        self.open: dict[int, TrialResult] = {}  # entries not completed when last read
        self.open_keys: dict[int, tuple[str, ...]] = {}
        self.finished_keys: set[tuple[str, ...]] = set()
        self.sampler: optuna.samplers.BaseSampler | None = None  # the last call's

    def sync(self, history: Sequence[TrialResult]) -> bool:
        """Catch up with ``history``; ``False`` when it does not continue the last one."""
        if len(history) < self.synced:
            return False
        for i, last in list(self.open.items()):
            t = history[i]
            if t != last:
                if t.assignments != last.assignments:
                    return False
                del self.open[i]
                self._read(i, t)
        for i in range(self.synced, len(history)):
            self._read(i, history[i])
        self.synced = len(history)
        return True

    def _read(self, i: int, t: TrialResult) -> None:
        alg = self.algorithm
        key = self.open_keys.pop(i, None) or alg._key(t.assignments)
        if t.completed:
            self.finished_keys.add(key)
        else:
            self.open[i], self.open_keys[i] = t, key
        frozen = alg._frozen(t)
        if i == len(self.numbers):  # a new entry
            self.numbers.append(None if frozen is None else self.n_trials)
            self.n_trials += frozen is not None
        number = self.numbers[i]
        if frozen is not None and number is not None:
            frozen.number = number
            self.storage.put(self.study_id, frozen)

    def rewind(self) -> None:
        """Forget the trials asked since the last :meth:`sync`."""
        self.storage.truncate(self.study_id, self.n_trials)


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
        self._mirror: _HistoryStudy | None = None  # the study of the last call's history

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        return algorithm_settings.validate(cls.name, cls.SCHEMA, settings)

    def sampler(
        self, seed: int, previous: optuna.samplers.BaseSampler | None = None
    ) -> optuna.samplers.BaseSampler:
        """A new sampler for one :meth:`suggest` call, seeded with ``seed``. ``previous`` is the
        last call's sampler on the same study: the new one may take over what it computed from
        the study's finished trials (never its random state)."""
        raise NotImplementedError

    def running_state(self) -> TrialState:
        """The state the study gives the history's pending and running trials. A sampler that
        should not see them returns FAIL, which samplers ignore; the trials it asks during a
        call still run as RUNNING."""
        return TrialState.RUNNING

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
            mirror = self._history_study(history)
            mirror.study.sampler = mirror.sampler = self.sampler(call_seed, mirror.sampler)
            try:
                return self._ask(mirror, n, np.random.default_rng(call_seed))
            finally:
                mirror.rewind()

    def _history_study(self, history: Sequence[TrialResult]) -> _HistoryStudy:
        """The study of ``history``: the kept one brought up to date, or a new one."""
        mirror, self._mirror = self._mirror, None  # none kept if reading fails half-way
        if mirror is None or not mirror.sync(history):
            directions = [d for _, d in self.objectives] or [self.direction]
            mirror = _HistoryStudy(self, directions)
            mirror.sync(history)
        self._mirror = mirror
        return mirror

    def _ask(self, mirror: _HistoryStudy, n: int, rng: np.random.Generator) -> list[Proposal]:
        study, finished = mirror.study, mirror.finished_keys
        taken = set(mirror.open_keys.values())
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
                mirror.storage.get_trial_system_attrs(
                    mirror.storage.get_trial_id_from_study_id_trial_number(
                        mirror.study_id, trial.number
                    )
                )
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
            return tuple(f"{k}={v}" for k, v in sorted(assignments.items()))

    def _frozen(self, t: TrialResult) -> FrozenTrial | None:
        """The trial as Optuna would have recorded it; ``None`` when it is outside the space."""
        try:
            params = {name: c.internal(t.assignments[name]) for name, c in self._codecs.items()}
        except (KeyError, ValueError):
            return None
        state = _STATES.get(t.state, TrialState.FAIL)
        if state == TrialState.RUNNING:
            state = self.running_state()
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
