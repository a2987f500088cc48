"""The search space of an experiment, as the algorithms see it.

:meth:`SearchSpace.from_experiment` turns ``spec.parameters`` into an ordered tuple of
:class:`Parameter`, with Katib's defaults applied (``distribution`` uniform, an ``int``'s
``step`` 1). A parameter also knows how Katib writes its values (:meth:`Parameter.format`), how to
read them back (:meth:`Parameter.parse`), and its finite list of values where it has one
(:meth:`Parameter.values`), so that every algorithm formats, compares and enumerates alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pykatib.api.models import Experiment, ParameterSpec

PARAMETER_TYPES = ("double", "int", "discrete", "categorical")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")

Value = float | int | str


class SearchSpaceError(ValueError):
    """The parameters cannot form a search space; ``problems`` are ``path: message`` strings."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _decimals(x: float) -> int:
    """Digits after the point in the shortest writing of ``x`` (0.25 -> 2, 1e-05 -> 5)."""
    exponent = Decimal(repr(x)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True)
class Parameter:
    """One hyperparameter.

    ``low``/``high``/``step`` are set for ``double`` and ``int`` (``step`` is ``None`` for a
    continuous double, and at least 1 for an int); ``choices`` for ``discrete`` and
    ``categorical``, whose values are the list's strings, in order.
    """

    name: str
    type: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    choices: tuple[str, ...] = ()
    distribution: str = "uniform"

    @property
    def is_numeric(self) -> bool:
        """``double`` or ``int``: drawn from [low, high] rather than from a list."""
        return self.type in ("double", "int")

    @property
    def is_log(self) -> bool:
        return self.distribution in ("logUniform", "logNormal")

    @property
    def is_finite(self) -> bool:
        """Whether :meth:`values` can list every value."""
        return not self.is_numeric or self.step is not None

    @property
    def n_steps(self) -> int:
        """How many step points a stepped numeric has: low, low + step, ... up to high."""
        if self.step is None:
            raise ValueError(f"parameter {self.name!r} has no step")
        # The small slack keeps 0.1..0.3 step 0.1 at 3 points despite binary floating point.
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1

    def values(self) -> list[Value]:
        """Every value, in order: the step points of a numeric, or the list of a discrete one."""
        if not self.is_numeric:
            return list(self.choices)
        return [self.point(k) for k in range(self.n_steps)]

    def point(self, k: int) -> float | int:
        """The ``k``-th step point, written without floating-point noise (0.1 * 3 -> 0.3)."""
        assert self.step is not None
        x = self.low + k * self.step
        if self.type == "int":
            return round(x)
        digits = max(_decimals(self.low), _decimals(self.step))
        return round(x, digits)

    def snap(self, x: float) -> float | int:
        """The nearest value of this parameter to the number ``x``, inside [low, high]."""
        if not self.is_numeric:
            raise ValueError(f"parameter {self.name!r} is {self.type}, not numeric")
        if self.step is None:
            return min(max(float(x), self.low), self.high)
        k = round((x - self.low) / self.step)
        return self.point(min(max(k, 0), self.n_steps - 1))

    def format(self, value: Value) -> str:
        """The value as Katib writes it in a trial's assignments: ``3``, ``0.01``, ``adam``."""
        if self.type == "int":
            return str(round(float(value)))
        if self.type == "double":
            return repr(float(value))
        text = str(value)
        if text not in self.choices:
            raise ValueError(
                f"{text!r} is not one of parameter {self.name!r}'s {list(self.choices)}"
            )
        return text

    def parse(self, text: str) -> Value:
        """A value read back from an assignment: an int, a float, or one of the list's strings.

        A discrete value is matched numerically too ("1.0" is the list's "1").
        """
        if self.type == "int":
            return round(float(text))
        if self.type == "double":
            return float(text)
        if text in self.choices:
            return text
        if self.type == "discrete":
            try:
                number = float(text)
                for choice in self.choices:
                    if float(choice) == number:
                        return choice
            except ValueError:
                pass
        raise ValueError(f"{text!r} is not one of parameter {self.name!r}'s {list(self.choices)}")

    def canonical(self, text: str) -> str:
        """The assignment written the one way this parameter writes it, to compare assignments."""
        value = self.parse(text)
        if self.is_numeric and self.step is not None:
            value = self.snap(float(value))
        return self.format(value)


class SearchSpace:
    """The experiment's parameters, in ``spec.parameters`` order."""

    def __init__(self, parameters: Sequence[Parameter] = ()):
        self.parameters: tuple[Parameter, ...] = tuple(parameters)
        self._by_name = {p.name: p for p in self.parameters}

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> SearchSpace:
        """The space of ``experiment.spec.parameters`` (empty for a NAS experiment)."""
        return cls.from_parameters(experiment.spec.parameters or [])

    @classmethod
    def from_parameters(cls, specs: Sequence[ParameterSpec]) -> SearchSpace:
        """Build the space; raise :class:`SearchSpaceError` listing every parameter that makes none."""
        parameters: list[Parameter] = []
        problems: list[str] = []
        seen: set[str] = set()
        for i, spec in enumerate(specs):
            path = f"spec.parameters[{i}]"
            try:
                parameter = _parameter(spec, path)
            except SearchSpaceError as e:
                problems.extend(e.problems)
                continue
            if parameter.name in seen:
                problems.append(f"{path}.name: duplicate parameter name {parameter.name!r}")
            seen.add(parameter.name)
            parameters.append(parameter)
        if problems:
            raise SearchSpaceError(problems)
        return cls(parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.parameters)!r})"

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def size(self) -> int | None:
        """How many distinct assignments there are, or ``None`` when a parameter is continuous."""
        total = 1
        for p in self.parameters:
            if not p.is_finite:
                return None
            total *= len(p.choices) if not p.is_numeric else p.n_steps
        return total

    def format_assignments(self, values: Mapping[str, Value]) -> dict[str, str]:
        """Values for every parameter, as Katib writes them, in parameter order."""
        missing = [p.name for p in self.parameters if p.name not in values]
        if missing:
            raise ValueError(f"no value for parameter(s) {missing}")
        return {p.name: p.format(values[p.name]) for p in self.parameters}

    def parse_assignments(self, assignments: Mapping[str, str]) -> dict[str, Value]:
        """A trial's assignments back as values; names outside the space are ignored."""
        missing = [p.name for p in self.parameters if p.name not in assignments]
        if missing:
            raise ValueError(f"assignments {dict(assignments)} lack parameter(s) {missing}")
        return {p.name: p.parse(assignments[p.name]) for p in self.parameters}

    def key(self, assignments: Mapping[str, str]) -> tuple[str, ...]:
        """A hashable identity of an assignment, equal for equal values however written."""
        return tuple(p.canonical(assignments[p.name]) for p in self.parameters)


def _number(text: str | None, path: str, problems: list[str]) -> float | None:
    if text is None or text == "":
        problems.append(f"{path}: must be specified")
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{path}: {text!r} is not a number")
        return None
    if not math.isfinite(value):
        problems.append(f"{path}: {text!r} is not a finite number")
        return None
    return value


def _parameter(spec: ParameterSpec, path: str) -> Parameter:
    problems: list[str] = []
    fs = spec.feasible_space
    name = spec.name or ""
    if not name:
        problems.append(f"{path}.name: must be specified")
    type_ = spec.parameter_type or ""
    distribution = fs.distribution or "uniform"
    fs_path = f"{path}.feasibleSpace"
    if type_ not in PARAMETER_TYPES:
        problems.append(f"{path}.parameterType: {type_!r} is not one of {list(PARAMETER_TYPES)}")
    if distribution not in DISTRIBUTIONS:
        problems.append(
            f"{fs_path}.distribution: {distribution!r} is not one of {list(DISTRIBUTIONS)}"
        )
    if problems:
        raise SearchSpaceError(problems)

    if type_ in ("discrete", "categorical"):
        choices = tuple(str(c) for c in fs.list_ or [])
        if not choices:
            problems.append(f"{fs_path}.list: must have at least one value for {type_}")
        elif len(set(choices)) != len(choices):
            problems.append(f"{fs_path}.list: has duplicate values {list(choices)}")
        if problems:
            raise SearchSpaceError(problems)
        return Parameter(name, type_, choices=choices, distribution=distribution)

    low = _number(fs.min, f"{fs_path}.min", problems)
    high = _number(fs.max, f"{fs_path}.max", problems)
    step: float | None = None
    if fs.step not in (None, ""):
        step = _number(fs.step, f"{fs_path}.step", problems)
        if step is not None and step <= 0:
            problems.append(f"{fs_path}.step: must be greater than zero, got {fs.step!r}")
    if type_ == "int":
        for field, value in (("min", low), ("max", high), ("step", step)):
            if value is not None and value != int(value):
                problems.append(f"{fs_path}.{field}: must be an integer for int, got {value!r}")
        step = step or 1.0
    if low is not None and high is not None:
        if low > high:
            problems.append(f"{fs_path}: min {fs.min} is greater than max {fs.max}")
        if distribution in ("logUniform", "logNormal") and low <= 0:
            problems.append(f"{fs_path}.min: must be greater than zero for {distribution}")
    if problems:
        raise SearchSpaceError(problems)
    assert low is not None and high is not None
    return Parameter(name, type_, low=low, high=high, step=step, distribution=distribution)
