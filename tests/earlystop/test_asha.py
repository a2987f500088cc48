"""asha: rungs on the step axis, the top 1/reduction_factor of the trials at the rung go on."""

from __future__ import annotations

import math

import pytest

from ._helpers import negated, rule


@pytest.mark.parametrize(
    ("settings", "rungs"),
    [
        ({}, {0: None, 1: 1, 2: 1, 3: 3, 8: 3, 9: 9, 26: 9, 27: 27}),
        ({"min_resource": "2", "reduction_factor": "2"}, {1: None, 2: 2, 3: 2, 4: 4, 7: 4, 8: 8}),
        ({"grace_period": "5"}, {1: None, 4: None, 8: None, 9: 9, 27: 27}),
        ({"grace_period": "3"}, {2: None, 3: 3, 9: 9}),
    ],
)
def test_rungs(settings: dict[str, str], rungs: dict[int, int | None]) -> None:
    asha = rule("asha", **settings)
    assert {reports: asha.rung(reports) for reports in rungs} == rungs  # type: ignore[attr-defined]


# Six trials at rung 3 (rf 3): the top 6 // 3 = 2 go on. Best of each one's first 3 reports:
#   a 0.25, b 0.5, c 0.75, d 1.0, e 1.0 (its later 0.0 is past the rung).
COMPLETED = {"a": [1.0, 0.25, 0.5], "b": [0.5, 0.5, 0.5, 0.5], "e": [1.0, 1.0, 1.0, 0.0]}
RUNNING = {"c": [0.75, 1.0, 1.0], "d": [1.0, 1.0, 1.0, 1.0, 1.0], "short": [0.0, 0.0]}


@pytest.mark.parametrize(
    ("series", "stops"),
    [
        ([0.0, 1.0, 1.0], False),  # best of all
        ([0.5, 1.0, 1.0], False),  # ties the 2nd best: goes on
        ([0.625, 1.0, 1.0], True),  # 3rd of 6
        ([0.625, 1.0, 1.0, 0.0, 0.0], True),  # judged at rung 3 by its first 3 reports
        # rung 1, 7 trials (short counts there), top 2: short 0.0, then b 0.5
        ([0.375, 2.0], False),
        ([0.625, 2.0], True),
    ],
)
def test_top_fraction_at_the_rung(series: list[float], stops: bool) -> None:
    decision = rule("asha").should_stop("t", series, COMPLETED, running=RUNNING)
    assert (decision is not None) is stops


def test_maximize_mirrors_minimize() -> None:
    maximize = rule("asha", "maximize")
    completed, running = negated(COMPLETED), negated(RUNNING)
    assert maximize.should_stop("t", [-0.5, -1.0, -1.0], completed, running=running) is None
    assert maximize.should_stop("t", [-0.625, -1.0, -1.0], completed, running=running) is not None


def test_message_says_why() -> None:
    message = rule("asha").should_stop("t", [0.625, 1.0, 1.0], COMPLETED, running=RUNNING)
    assert message == (
        "best loss 0.625 in its first 3 reports is not in the top 1/3 of the 6 trials that "
        "reached rung 3 (the top 2 are at 0.5 or better)"
    )


def test_running_trials_count() -> None:
    # Without the running ones only a, b, e and t are at rung 3: the top 1 goes on.
    assert rule("asha").should_stop("t", [0.375, 1.0, 1.0], COMPLETED) is not None
    assert rule("asha").should_stop("t", [0.375, 1.0, 1.0], COMPLETED, running=RUNNING) is None


def test_nobody_is_stopped_with_fewer_trials_at_the_rung_than_the_factor() -> None:
    completed = {"a": [0.0]}
    assert rule("asha").should_stop("t", [9.0], completed) is None
    assert rule("asha").should_stop("t", [9.0], completed, running={"b": [0.0]}) is not None


def test_before_the_first_rung_nobody_is_stopped() -> None:
    completed = {n: [0.0] * 9 for n in "abcdef"}
    asha = rule("asha", grace_period="5")
    assert asha.should_stop("t", [9.0] * 8, completed) is None
    assert asha.should_stop("t", [9.0] * 9, completed) is not None


def test_the_trial_itself_is_not_its_own_competitor() -> None:
    completed = {"t": [9.0], "a": [0.0]}
    assert rule("asha").should_stop("t", [1.0], completed, running={"t": [9.0]}) is None


def test_nan_ranks_last() -> None:
    completed = {"a": [math.nan], "b": [math.nan]}
    assert rule("asha").should_stop("t", [9.0], completed) is None
    assert rule("asha").should_stop("t", [math.nan], {"a": [9.0], "b": [9.0]}) is not None
