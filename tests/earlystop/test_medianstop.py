"""medianstop: the median of the completed trials' running averages at the trial's step."""

from __future__ import annotations

import math

import pytest

from ._helpers import negated, rule

# Running averages worked by hand (minimize), by number of reports S:
#   a: S=2 -> (1.0+0.5)/2 = 0.75   S=3 -> (1.0+0.5+0.0)/3 = 0.5
#   b: S=2 -> (0.5+0.5)/2 = 0.5    S=3 -> (0.5+0.5+0.5)/3 = 0.5
#   c: S=2 -> (1.0+1.0)/2 = 1.0    S=3 -> (1.0+1.0+1.0)/3 = 1.0
#   d: one report only: counts at no step >= 2
COMPLETED = {
    "a": [1.0, 0.5, 0.0, 0.0],
    "b": [0.5, 0.5, 0.5],
    "c": [1.0, 1.0, 1.0],
    "d": [0.25],
}
# At S=2: median(0.75, 0.5, 1.0) = 0.75.  At S=3: median(0.5, 0.5, 1.0) = 0.5.


def medianstop(type_: str = "minimize", **settings: str):
    return rule("medianstop", type_, **{"start_step": "2", **settings})


@pytest.mark.parametrize(
    ("series", "stops"),
    [
        ([1.0, 0.875], True),  # best 0.875 > median 0.75
        ([1.0, 0.75], False),  # equal to the median: not strictly worse
        ([0.5, 2.0], False),  # the best so far counts, not the latest
        ([2.0, 2.0, 0.625], True),  # S=3: best 0.625 > median 0.5
        ([2.0, 2.0, 0.5], False),
    ],
)
def test_best_so_far_against_median_of_running_averages(series: list[float], stops: bool) -> None:
    assert (medianstop().should_stop("t", series, COMPLETED) is not None) is stops


@pytest.mark.parametrize("series", [[1.0, 0.875], [1.0, 0.75], [2.0, 2.0, 0.625], [2.0, 2.0, 0.5]])
def test_maximize_mirrors_minimize(series: list[float]) -> None:
    minimize = medianstop().should_stop("t", series, COMPLETED)
    maximize = medianstop("maximize").should_stop("t", [-v for v in series], negated(COMPLETED))
    assert (minimize is None) == (maximize is None)


def test_message_says_why() -> None:
    message = medianstop().should_stop("t", [1.0, 0.875], COMPLETED)
    assert message == (
        "best loss 0.875 in its first 2 reports is worse than 0.75, the median of 3 completed "
        "trials' running averages over their first 2 reports"
    )


def test_nothing_is_stopped_before_start_step() -> None:
    assert medianstop(start_step="3").should_stop("t", [9.0, 9.0], COMPLETED) is None
    assert medianstop(start_step="3").should_stop("t", [9.0, 9.0, 9.0], COMPLETED) is not None


def test_default_start_step_is_four() -> None:
    completed = {n: [0.0] * 4 for n in "abc"}
    assert rule("medianstop").should_stop("t", [9.0] * 3, completed) is None
    assert rule("medianstop").should_stop("t", [9.0] * 4, completed) is not None


def test_only_completed_trials_with_that_many_steps_count() -> None:
    # At S=4 only "a" has four reports: fewer than min_trials_required (3).
    assert medianstop().should_stop("t", [9.0] * 4, COMPLETED) is None
    assert medianstop(min_trials_required="1").should_stop("t", [9.0] * 4, COMPLETED) == (
        "best loss 9 in its first 4 reports is worse than 0.375, the median of 1 completed "
        "trials' running averages over their first 4 reports"
    )


def test_min_trials_required() -> None:
    # At S=3: a, b and c count.
    assert medianstop(min_trials_required="4").should_stop("t", [9.0] * 3, COMPLETED) is None
    assert medianstop(min_trials_required="3").should_stop("t", [9.0] * 3, COMPLETED) is not None


def test_even_count_takes_the_mean_of_the_middle_two() -> None:
    completed = {"a": [0.5, 0.5], "b": [0.75, 0.75], "c": [1.0, 1.0], "d": [1.5, 1.5]}
    # median(0.5, 0.75, 1.0, 1.5) = 0.875
    assert medianstop().should_stop("t", [1.0, 0.875], completed) is None
    assert medianstop().should_stop("t", [1.0, 0.9], completed) is not None


def test_later_steps_use_later_averages_not_katibs_first_start_step_mean() -> None:
    # Katib's service would compare with the mean of the first start_step (2) values: 1.0.
    completed = {n: [1.0, 1.0, 0.0, 0.0] for n in "abc"}
    # At S=4 the running averages are 0.5, so 0.75 is worse.
    assert medianstop().should_stop("t", [1.0, 1.0, 0.75, 0.75], completed) is not None


def test_the_trial_itself_is_not_its_own_competitor() -> None:
    completed = {"t": [9.0, 9.0], "a": [0.0, 0.0], "b": [0.0, 0.0]}
    assert medianstop().should_stop("t", [1.0, 1.0], completed) is None


def test_nan_is_skipped_in_averages_and_in_the_best() -> None:
    completed = {"a": [math.nan, 0.5], "b": [0.5, 0.5], "c": [math.nan, math.nan]}
    # a averages 0.5 (NaN skipped); c has no number in 2 reports and does not count.
    rule_ = medianstop(min_trials_required="2")
    assert rule_.should_stop("t", [math.nan, 0.5], completed) is None
    assert rule_.should_stop("t", [0.75, math.nan], completed) is not None
    assert medianstop(min_trials_required="3").should_stop("t", [9.0, 9.0], completed) is None


def test_a_trial_with_only_nan_is_stopped_once_there_is_a_median() -> None:
    message = medianstop().should_stop("t", [math.nan, math.nan], COMPLETED)
    assert message is not None and message.startswith("best loss nan ")


def test_infinity_is_taken_at_face_value() -> None:
    assert medianstop().should_stop("t", [math.inf, math.inf], COMPLETED) is not None
    assert medianstop().should_stop("t", [math.inf, -math.inf], COMPLETED) is None
    # +inf in a completed trial makes its running average +inf: the median is still finite.
    completed = {**COMPLETED, "e": [math.inf, 0.0]}
    # median(0.75, 0.5, 1.0, inf) = 0.875
    assert medianstop().should_stop("t", [1.0, 0.875], completed) is None
