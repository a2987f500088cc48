"""unit: from_unit and to_unit are inverse, and quantiles follow each distribution."""

from __future__ import annotations

import math

import pytest

from pykatib.suggest.unit import from_unit, to_unit

from ._helpers import param, space


@pytest.mark.parametrize(
    "parameter",
    [
        param("x", "double", min="-3", max="7"),
        param("x", "double", min="0.001", max="10", distribution="logUniform"),
        param("x", "double", min="0", max="12", distribution="normal"),
        param("x", "double", min="1", max="1000", distribution="logNormal"),
    ],
)
def test_round_trip(parameter: dict) -> None:
    p = space(parameter).parameters[0]
    for u in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert to_unit(p, from_unit(p, u)) == pytest.approx(u, abs=1e-9)


def test_quantiles() -> None:
    normal = space(param("x", "double", min="0", max="12", distribution="normal")).parameters[0]
    assert from_unit(normal, 0.5) == pytest.approx(6)
    assert from_unit(normal, 0.0) == 0 and from_unit(normal, 1.0) == 12
    log = space(param("x", "double", min="0.01", max="100", distribution="logUniform")).parameters[
        0
    ]
    assert from_unit(log, 0.5) == pytest.approx(1)
    ints = space(param("n", "int", min="1", max="4")).parameters[0]
    assert [from_unit(ints, u) for u in (0.0, 0.24, 0.26, 0.99)] == [1, 1, 2, 4]
    assert to_unit(ints, 2) == pytest.approx(0.375)
    cat = space(param("c", "categorical", list_=["a", "b"])).parameters[0]
    assert [from_unit(cat, u) for u in (0.0, 0.49, 0.5, 1.0)] == ["a", "a", "b", "b"]
    assert to_unit(cat, "b") == 0.75
    assert math.isclose(
        from_unit(space(param("d", "double", min="2", max="2")).parameters[0], 0.3), 2
    )
