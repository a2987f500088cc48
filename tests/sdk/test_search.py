"""pykatib.search: Katib's ParameterSpec fields, with the list in the right place."""

from __future__ import annotations

import pytest

import pykatib
from pykatib.api.models import ParameterSpec
from pykatib.sdk import search


def test_double_and_int_ranges() -> None:
    assert search.double(min=0.01, max=0.1).to_dict() == {
        "parameterType": "double",
        "feasibleSpace": {"min": "0.01", "max": "0.1"},
    }
    assert search.double(0.001, 1.0, step=0.01, distribution="logUniform").to_dict() == {
        "parameterType": "double",
        "feasibleSpace": {
            "min": "0.001",
            "max": "1.0",
            "step": "0.01",
            "distribution": "logUniform",
        },
    }
    assert search.int(min=1, max=8, step=2).to_dict() == {
        "parameterType": "int",
        "feasibleSpace": {"min": "1", "max": "8", "step": "2"},
    }


def test_categorical_list_goes_to_feasible_space_list() -> None:
    # The Katib SDK passes the list positionally, into feasibleSpace.distribution.
    spec = search.categorical(["sgd", "adam"])
    assert spec.to_dict() == {
        "parameterType": "categorical",
        "feasibleSpace": {"list": ["sgd", "adam"]},
    }
    assert isinstance(spec, ParameterSpec)
    assert spec.feasible_space.list_ == ["sgd", "adam"]
    assert spec.feasible_space.distribution is None


def test_discrete_keeps_the_original_values() -> None:
    spec = search.discrete([16, 32, 0.5])
    assert spec.to_dict()["feasibleSpace"] == {"list": ["16", "32", "0.5"]}
    assert spec.values == [16, 32, 0.5]
    assert search.categorical([True, "x"]).values == [True, "x"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: search.double(0, 1, distribution="gaussian"),
        lambda: search.int(0.5, 3),
        lambda: search.categorical([]),
        lambda: search.categorical("abc"),
        lambda: search.discrete(["a"]),
    ],
)
def test_bad_spaces_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


def test_exported_from_pykatib() -> None:
    assert pykatib.search is search
    assert pykatib.KatibClient.__name__ == "KatibClient"
    assert callable(pykatib.report_metrics)
