"""Katib's ``pbt``: Population Based Training, in generations of ``n_population`` trials.

Settings, as Katib's: ``suggestion_trial_dir`` (the checkpoint directory the trials write to),
``n_population`` (at least 5), ``truncation_threshold`` (in [0, 1]), ``resample_probability``
(optional, in [0, 1]); pykatib also takes ``random_state``.

Generation 0 is ``n_population`` random members (every ``distribution`` honoured). Once every
member of a generation has finished, the next one is bred, one child per member, ranked by the
objective: a member in the bottom ``truncation_threshold`` fraction is replaced by a copy of a
member drawn from the top fraction (*exploit*: the child takes that member's parameters and
checkpoint); any other member is continued (*explore*: from its own checkpoint, each parameter
perturbed, a number times 0.8 or 1.2 and a list value moved to a neighbour, or, with
``resample_probability`` set, redrawn with that probability). Katib's exploit child resumes from
the *bottom* member's checkpoint with the top member's parameters; here it resumes from the top
member's, as in the PBT paper. A failed member is retried with the same parameters and parent,
as Katib re-queues it. A generation may be filled over any number of requests.

Each proposal carries Katib's labels :data:`GENERATION_LABEL` and, from generation 1 on,
:data:`PARENT_LABEL`, the name of the trial whose checkpoint it continues from. Everything is
worked out from those labels, so a restart needs nothing but the seed.

The runtime's part: before starting a trial whose labels name a parent
(:func:`checkpoint_parent`), copy ``<suggestion_trial_dir>/<parent>`` to
``<suggestion_trial_dir>/<trial>`` (with ``suggestion_trial_dir`` remapped per trial as the
runtime remaps it); a trial without a parent starts from an empty ``<suggestion_trial_dir>/<trial>``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pykatib.api.models import ObjectiveSpec
from pykatib.suggest.base import Algorithm, Proposal, TrialResult
from pykatib.suggest.random import sample_value
from pykatib.suggest.settings import RANDOM_STATE, SETTINGS_PATH, read, validate
from pykatib.suggest.space import Parameter, SearchSpace, Value

GENERATION_LABEL = "pbt.suggestion.katib.kubeflow.org/generation"
PARENT_LABEL = "pbt.suggestion.katib.kubeflow.org/parent"
MEMBER_LABEL = "pbt.pykatib.io/member"  # pykatib's: which member of its generation a trial is
REQUIRED_SETTINGS = ("suggestion_trial_dir", "n_population", "truncation_threshold")
_FAILED = ("failed", "killed", "metrics_unavailable")


def checkpoint_parent(labels: Mapping[str, str]) -> str | None:
    """The trial whose checkpoint directory a pbt trial with these labels starts from."""
    return labels.get(PARENT_LABEL) or None


def _problem(message: str) -> list[str]:
    return [f"{SETTINGS_PATH}: {message}"]


class Pbt(Algorithm):
    """Population Based Training with truncation selection."""

    name = "pbt"

    def __init__(self, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]):
        super().__init__(space, objective, settings)
        self.trial_dir = settings["suggestion_trial_dir"]
        self.population = int(settings["n_population"])
        self.truncation = float(settings["truncation_threshold"])
        resample = settings.get("resample_probability")
        self.resample: float | None = float(resample) if resample not in (None, "") else None
        self.random_state: int | None = read((RANDOM_STATE,), settings)["random_state"]
        self.seed = self.random_state if self.random_state is not None else secrets.randbits(32)

    @classmethod
    def validate_settings(
        cls, space: SearchSpace, objective: ObjectiveSpec, settings: dict[str, str]
    ) -> list[str]:
        missing = [k for k in REQUIRED_SETTINGS if k not in settings]
        if missing:
            return _problem(f"Required params missing: {', '.join(missing)}")
        try:
            if int(settings["n_population"]) < 5:
                return _problem("Param(n_population) should be >= 5")
            if not 0 <= float(settings["truncation_threshold"]) <= 1:
                return _problem("Param(truncation_threshold) should be between 0 and 1, inclusive")
            resample = settings.get("resample_probability")
            if resample not in (None, "") and not 0 <= float(resample) <= 1:
                return _problem(
                    "Param(resample_probability) should be null to perturb at 0.8 or 1.2, "
                    "or be between 0 and 1, inclusive, to resample"
                )
        except ValueError as e:
            return _problem(f"failed to validate settings: {e}")
        if "random_state" in settings:
            return validate(cls.name, (RANDOM_STATE,), {"random_state": settings["random_state"]})
        return []

    # --- proposals ----------------------------------------------------------------------------

    def suggest(self, history: Sequence[TrialResult], n: int) -> list[Proposal]:
        generations: dict[int, list[TrialResult]] = {}
        for t in history:
            try:
                generations.setdefault(int(t.labels[GENERATION_LABEL]), []).append(t)
            except (KeyError, ValueError):
                continue
        g = max(generations, default=0)
        members = generations.get(g, [])
        alive = [t for t in members if t.state not in _FAILED]
        if len(alive) >= self.population and all(t.completed for t in alive):
            g, members, alive = g + 1, [], []  # the generation is done: breed the next one
        planned = self._plan(g, generations.get(g - 1, []))
        # Members proposed so far, by their plan index; failed ones are proposed again.
        done = {self._index(t) for t in alive}
        proposals: list[Proposal] = []
        for index, proposal in enumerate(planned):
            if len(proposals) >= n:
                break
            if index not in done:
                proposals.append(proposal)
                done.add(index)
        return proposals

    @staticmethod
    def _index(t: TrialResult) -> int:
        return int(t.labels.get(MEMBER_LABEL, "-1"))

    def _plan(self, g: int, parents: list[TrialResult]) -> list[Proposal]:
        """The ``n_population`` members of generation ``g``, bred from ``parents``."""
        rng = np.random.default_rng([self.seed, g])
        if g == 0:
            return [
                self._proposal(
                    g, i, {p.name: sample_value(p, rng) for p in self.space}, parent=None
                )
                for i in range(self.population)
            ]
        sign = 1.0 if self.objective.type == "maximize" else -1.0
        ranked = [t for t in parents if t.state == "succeeded" and t.value is not None]
        ranked.sort(key=lambda t: (-sign * float(t.value), self._index(t)))  # type: ignore[arg-type]
        ranked = ranked[: self.population]
        cut = int(len(ranked) * self.truncation)
        top, bottom = ranked[: max(cut, 1)], ranked[len(ranked) - cut :] if cut else []
        plan = []
        for i, member in enumerate(ranked):
            if member in bottom:
                source = top[int(rng.integers(len(top)))]
                values = self.space.parse_assignments(source.assignments)
                plan.append(self._proposal(g, i, values, parent=source.name))
            else:
                values = self._explore(self.space.parse_assignments(member.assignments), rng)
                plan.append(self._proposal(g, i, values, parent=member.name))
        return plan

    def _explore(self, values: dict[str, Value], rng: np.random.Generator) -> dict[str, Value]:
        out = {}
        for p in self.space:
            if self.resample is None:
                out[p.name] = _perturb(p, values[p.name], rng)
            elif rng.random() < self.resample:
                out[p.name] = sample_value(p, rng)
            else:
                out[p.name] = values[p.name]
        return out

    def _proposal(
        self, g: int, index: int, values: dict[str, Value], parent: str | None
    ) -> Proposal:
        labels = {GENERATION_LABEL: str(g), MEMBER_LABEL: str(index)}
        if parent is not None:
            labels[PARENT_LABEL] = parent
        return Proposal(self.space.format_assignments(values), labels)

    def state(self) -> dict[str, Any] | None:
        return None if self.random_state is not None else {"seed": self.seed}

    def restore(self, state: dict[str, Any]) -> None:
        if self.random_state is None and "seed" in state:
            self.seed = int(state["seed"])


def _perturb(p: Parameter, value: Value, rng: np.random.Generator) -> Value:
    """Katib's perturbation: a number times 0.8 or 1.2 (inside its range), a list value moved to
    the next or previous one (wrapping)."""
    if p.is_numeric:
        return p.snap(float(value) * float(rng.choice([0.8, 1.2])))
    i = p.choices.index(str(value)) + int(rng.choice([-1, 1]))
    return p.choices[i % len(p.choices)]
