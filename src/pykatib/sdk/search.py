"""Search spaces for :meth:`KatibClient.tune`, as ``kubeflow.katib.search`` writes them.

Each helper returns a :class:`~pykatib.api.models.ParameterSpec` without a name: ``tune`` names it
after its key in the ``parameters`` dict. Values are kept as strings, as Katib's API holds them.
Unlike the Katib SDK, ``categorical`` puts its list in ``feasibleSpace.list`` (the Katib SDK
passes it positionally, so it lands in ``feasibleSpace.distribution``), and every helper takes
Katib's optional ``distribution``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from pydantic import PrivateAttr

from pykatib.api.models import FeasibleSpace, ParameterSpec

# Katib's distributions (FeasibleSpace.distribution).
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")

__all__ = ["DISTRIBUTIONS", "SearchSpace", "categorical", "discrete", "double", "int"]


class SearchSpace(ParameterSpec):
    """A :class:`ParameterSpec` that remembers the values its list was given as, so that
    ``tune`` hands the function ``16``, not ``"16"``."""

    _values: builtins.list[Any] = PrivateAttr(default_factory=builtins.list)

    @property
    def values(self) -> builtins.list[Any]:
        """The values of ``categorical`` / ``discrete`` as given (empty for a range)."""
        return self._values


def double(
    min: float, max: float, step: float | None = None, distribution: str | None = None
) -> SearchSpace:
    """A float between ``min`` and ``max`` (on a grid of ``step``, if given)."""
    return _range("double", min, max, step, distribution)


def int(
    min: builtins.int,
    max: builtins.int,
    step: builtins.int | None = None,
    distribution: str | None = None,
) -> SearchSpace:
    """An integer between ``min`` and ``max`` (every ``step``-th, if given)."""
    for what, value in (("min", min), ("max", max), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, builtins.int)):
            raise ValueError(f"search.int: {what} must be an integer, got {value!r}")
    return _range("int", min, max, step, distribution)


def categorical(list: Sequence[Any], distribution: str | None = None) -> SearchSpace:
    """One of the values of ``list`` (each kept as its ``str``; ``tune`` hands the function the
    original value back)."""
    return _listed("categorical", list, distribution)


def discrete(list: Sequence[Any], distribution: str | None = None) -> SearchSpace:
    """One of the numbers of ``list``."""
    for value in list:
        if isinstance(value, bool) or not isinstance(value, (builtins.int, float)):
            raise ValueError(f"search.discrete: values must be numbers, got {value!r}")  # noqa: TRY004 - Katib raises ValueError
    return _listed("discrete", list, distribution)


def _range(kind: str, low: Any, high: Any, step: Any, distribution: str | None) -> SearchSpace:
    _check_distribution(distribution)
    space = FeasibleSpace(
        min=str(low),
        max=str(high),
        step=None if step is None else str(step),
        distribution=distribution,
    )
    return SearchSpace(parameter_type=kind, feasible_space=space)


def _listed(kind: str, values: Sequence[Any], distribution: str | None) -> SearchSpace:
    _check_distribution(distribution)
    if isinstance(values, (str, bytes)) or not builtins.list(values):
        raise ValueError(f"search.{kind}: expected a non-empty list of values, got {values!r}")
    space = FeasibleSpace(list=[str(v) for v in values], distribution=distribution)
    spec = SearchSpace(parameter_type=kind, feasible_space=space)
    spec._values = builtins.list(values)
    return spec


def _check_distribution(distribution: str | None) -> None:
    if distribution is not None and distribution not in DISTRIBUTIONS:
        raise ValueError(
            f'distribution "{distribution}" is not one of Katib\'s: {", ".join(DISTRIBUTIONS)}'
        )
