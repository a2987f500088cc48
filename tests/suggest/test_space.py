"""SearchSpace: Katib's defaults, step points, formatting and parsing, nonsense rejected."""

from __future__ import annotations

import pytest

from pykatib.suggest.space import SearchSpaceError

from ._helpers import param, space


def test_parameters_keep_spec_order_and_katib_defaults() -> None:
    s = space(
        param("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
        param("layers", "int", min="1", max="5"),
        param("opt", "categorical", list_=["sgd", "adam"]),
        param("batch", "discrete", list_=["16", "32"]),
    )
    assert s.names == ["lr", "layers", "opt", "batch"]
    assert s["lr"].distribution == "logUniform" and s["lr"].step is None
    assert s["layers"].step == 1 and s["layers"].distribution == "uniform"
    assert s["opt"].choices == ("sgd", "adam")
    assert s.size() is None


def test_step_points_are_written_without_float_noise() -> None:
    s = space(param("x", "double", min="0.1", max="0.5", step="0.1"))
    assert s["x"].values() == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert [s["x"].format(v) for v in s["x"].values()][2] == "0.3"
    assert s.size() == 5


def test_step_not_dividing_the_range_stops_below_max() -> None:
    s = space(
        param("x", "double", min="1", max="11", step="2.5"),
        param("n", "int", min="1", max="6", step="2"),
    )
    assert s["x"].values() == [1.0, 3.5, 6.0, 8.5, 11.0]
    assert s["n"].values() == [1, 3, 5]
    assert s["n"].snap(6.2) == 5 and s["n"].snap(-3) == 1


def test_format_and_parse_round_trip() -> None:
    s = space(
        param("x", "double", min="0", max="1"),
        param("n", "int", min="1", max="9"),
        param("d", "discrete", list_=["1", "2.5"]),
    )
    written = s.format_assignments({"x": 0.25, "n": 3.0, "d": "2.5"})
    assert written == {"x": "0.25", "n": "3", "d": "2.5"}
    assert s.parse_assignments(written) == {"x": 0.25, "n": 3, "d": "2.5"}
    assert s["d"].parse("1.0") == "1"
    with pytest.raises(ValueError, match="not one of"):
        s["d"].parse("3")


def test_key_is_equal_for_equal_values_however_written() -> None:
    s = space(
        param("x", "double", min="0", max="1", step="0.1"), param("n", "int", min="1", max="9")
    )
    assert s.key({"x": "0.30000000000000004", "n": "3"}) == s.key({"x": "0.3", "n": "3.0"})


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (param("x", "double", min="2", max="1"), "min 2 is greater than max 1"),
        (param("x", "double", min="a", max="1"), "'a' is not a number"),
        (param("x", "double", max="1"), "feasibleSpace.min: must be specified"),
        (param("x", "double", min="0", max="1", step="0"), "must be greater than zero"),
        (param("x", "int", min="0", max="5", step="0.5"), "must be an integer"),
        (param("x", "double", min="0", max="1", distribution="logUniform"), "greater than zero"),
        (param("x", "categorical", list_=[]), "at least one value"),
        (param("x", "categorical", list_=["a", "a"]), "duplicate values"),
        (param("x", "float", min="0", max="1"), "parameterType: 'float' is not one of"),
        (param("x", "int", min="0", max="1", distribution="beta"), "'beta' is not one of"),
    ],
)
def test_nonsense_is_a_clear_error(parameter: dict, message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message) as info:
        space(parameter)
    assert info.value.problems[0].startswith("spec.parameters[0]")


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(SearchSpaceError) as info:
        space(
            param("x", "int", min="0", max="3"),
            param("x", "double", min="0", max="1"),
            param("y", "categorical"),
            param("z", "double", min="2", max="1"),
        )
    assert [p.split(":")[0] for p in info.value.problems] == [
        "spec.parameters[1].name",
        "spec.parameters[2].feasibleSpace.list",
        "spec.parameters[3].feasibleSpace",
    ]
