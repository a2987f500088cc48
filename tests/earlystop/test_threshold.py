"""threshold: the latest value against fixed bounds; NaN and infinity always stop."""

from __future__ import annotations

import math

import pytest

from ._helpers import rule


@pytest.mark.parametrize(
    ("settings", "latest", "stops"),
    [
        ({"upper": "1.5"}, 1.5, False),  # on the bound: inside
        ({"upper": "1.5"}, 1.75, True),
        ({"upper": "1.5"}, -100.0, False),
        ({"lower": "0.5"}, 0.5, False),
        ({"lower": "0.5"}, 0.25, True),
        ({"lower": "0.5"}, 100.0, False),
        ({"lower": "0", "upper": "1"}, 0.5, False),
        ({"lower": "0", "upper": "1"}, -0.5, True),
        ({"lower": "0", "upper": "1"}, 1.5, True),
    ],
)
def test_bounds(settings: dict[str, str], latest: float, stops: bool) -> None:
    decision = rule("threshold", **settings).should_stop("t", [0.5, latest], {})
    assert (decision is not None) is stops


def test_direction_does_not_matter() -> None:
    for type_ in ("minimize", "maximize"):
        assert rule("threshold", type_, upper="1").should_stop("t", [2.0], {}) is not None


def test_messages() -> None:
    assert rule("threshold", upper="1").should_stop("t", [0.5, 2.0], {}) == (
        "loss 2 at report 2 is above the upper bound 1"
    )
    assert rule("threshold", lower="1").should_stop("t", [0.5], {}) == (
        "loss 0.5 at report 1 is below the lower bound 1"
    )
    assert rule("threshold", upper="1").should_stop("t", [math.nan], {}) == (
        "loss nan at report 1 is not a finite number"
    )


def test_only_the_latest_value_counts() -> None:
    assert rule("threshold", upper="1").should_stop("t", [5.0, 0.5], {}) is None
    assert rule("threshold", upper="1").should_stop("t", [], {}) is None


def test_start_step() -> None:
    threshold = rule("threshold", upper="1", start_step="3")
    assert threshold.should_stop("t", [5.0, 5.0], {}) is None
    assert threshold.should_stop("t", [5.0, 5.0, 5.0], {}) is not None


@pytest.mark.parametrize("latest", [math.nan, math.inf, -math.inf])
def test_non_finite_always_stops(latest: float) -> None:
    threshold = rule("threshold", lower="-1e300", upper="1e300", start_step="10")
    assert threshold.should_stop("t", [0.0, latest], {}) is not None
