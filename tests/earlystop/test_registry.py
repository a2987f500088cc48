"""The registry, settings validation (Katib's medianstop messages) and rule creation."""

from __future__ import annotations

from typing import Any

import pytest

from pykatib.api.models import ObjectiveSpec
from pykatib.earlystop import (
    EARLY_STOPPING_ALGORITHM_NAMES,
    Asha,
    MedianStop,
    Threshold,
    UnknownEarlyStoppingAlgorithmError,
    create_rule,
    get_rule,
    validate_early_stopping,
)

from ._helpers import experiment

S = "spec.earlyStopping.algorithmSettings"


def es(name: str, **settings: str) -> dict[str, Any]:
    return {
        "algorithmName": name,
        "algorithmSettings": [{"name": k, "value": v} for k, v in settings.items()],
    }


def test_names() -> None:
    assert EARLY_STOPPING_ALGORITHM_NAMES == ("medianstop", "asha", "threshold")
    assert [get_rule(n) for n in EARLY_STOPPING_ALGORITHM_NAMES] == [MedianStop, Asha, Threshold]


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownEarlyStoppingAlgorithmError) as err:
        get_rule("hyperband")
    assert str(err.value) == "unknown algorithm name hyperband; known: medianstop, asha, threshold"
    assert validate_early_stopping(experiment(es("hyperband"))) == [
        f"spec.earlyStopping.algorithmName: {err.value}"
    ]


def test_no_early_stopping() -> None:
    assert validate_early_stopping(experiment(None)) == []
    assert create_rule(experiment(None)) is None
    assert validate_early_stopping(experiment({"algorithmName": ""})) == [
        "spec.earlyStopping.algorithmName: must be specified"
    ]


# Katib's test_medianstop_service.py cases, one problem each; pykatib adds the path.
@pytest.mark.parametrize(
    ("settings", "problems"),
    [
        ({"min_trials_required": "2", "start_step": "5"}, []),
        ({}, []),
        (
            {"unknown_conf": "100"},
            [f"{S}.unknown_conf: unknown setting unknown_conf for algorithm medianstop"],
        ),
        (
            {"min_trials_required": "0"},
            [f"{S}.min_trials_required: min_trials_required must be greater than zero (>0)"],
        ),
        (
            {"start_step": "0"},
            [f"{S}.start_step: start_step must be greater or equal than one (>=1)"],
        ),
        (
            {"start_step": "two"},
            [
                (
                    f"{S}.start_step: failed to validate start_step(two): "
                    "invalid literal for int() with base 10: 'two'"
                )
            ],
        ),
    ],
)
def test_medianstop_settings(settings: dict[str, str], problems: list[str]) -> None:
    assert MedianStop.validate_settings(settings) == problems
    assert validate_early_stopping(experiment(es("medianstop", **settings))) == problems


@pytest.mark.parametrize(
    ("settings", "problems"),
    [
        ({"min_resource": "2", "reduction_factor": "4", "grace_period": "8"}, []),
        ({"min_resource": "0"}, [f"{S}.min_resource: min_resource must be greater than zero (>0)"]),
        (
            {"reduction_factor": "1"},
            [f"{S}.reduction_factor: reduction_factor must be greater or equal than two (>=2)"],
        ),
        (
            {"grace_period": "-1"},
            [f"{S}.grace_period: grace_period must be greater or equal than zero (>=0)"],
        ),
        ({"eta": "3"}, [f"{S}.eta: unknown setting eta for algorithm asha"]),
    ],
)
def test_asha_settings(settings: dict[str, str], problems: list[str]) -> None:
    assert Asha.validate_settings(settings) == problems


@pytest.mark.parametrize(
    ("settings", "problems"),
    [
        ({"upper": "1"}, []),
        ({"lower": "-1.5", "upper": "1e3", "start_step": "0"}, []),
        ({"lower": "1", "upper": "1"}, []),
        ({}, [f"{S}: threshold needs a lower bound, an upper bound or both"]),
        ({"start_step": "2"}, [f"{S}: threshold needs a lower bound, an upper bound or both"]),
        (
            {"lower": "2", "upper": "1"},
            [f"{S}.upper: upper must be greater or equal than lower (2)"],
        ),
        ({"upper": "nan"}, [f"{S}.upper: upper must be a number"]),
        (
            {"upper": "high"},
            [
                f"{S}.upper: failed to validate upper(high): could not convert string to float: 'high'"
            ],
        ),
        (
            {"upper": "1", "start_step": "-1"},
            [f"{S}.start_step: start_step must be greater or equal than zero (>=0)"],
        ),
    ],
)
def test_threshold_settings(settings: dict[str, str], problems: list[str]) -> None:
    assert Threshold.validate_settings(settings) == problems


def test_create_rule_reads_settings_and_objective() -> None:
    rule = create_rule(experiment(es("medianstop", start_step="2"), "maximize"))
    assert isinstance(rule, MedianStop)
    assert rule.values == {"min_trials_required": 3, "start_step": 2}
    assert rule.maximize and rule.metric == "loss"
    asha = create_rule(experiment(es("asha")))
    assert isinstance(asha, Asha) and not asha.maximize
    assert asha.values == {"min_resource": 1, "reduction_factor": 3, "grace_period": 0}


def test_rule_without_objective_type_minimizes() -> None:
    assert not MedianStop({}, ObjectiveSpec()).maximize
