"""The status's JSON as the store keeps it (issue 13): what ``to_dict`` says but for the
trial-name lists, which the store makes from the trials on read, so that its size does not
grow with the trials."""

from __future__ import annotations

import json

from pykatib.api.models import Condition, ExperimentStatus
from pykatib.store.unit import status_json

LISTS = (
    "runningTrialList",
    "pendingTrialList",
    "failedTrialList",
    "succeededTrialList",
    "killedTrialList",
    "earlyStoppedTrialList",
    "metricsUnavailableTrialList",
)


def test_the_text_is_to_dict_without_the_trial_lists() -> None:
    status = ExperimentStatus()
    assert status_json(status) == "{}"
    status.trials, status.trials_succeeded, status.trials_running = 6, 5, 1
    status.conditions = [Condition(type="Running", status="True", reason="R", message="m")]
    status.succeeded_trial_list = [f"t{i}" for i in range(5)]
    status.running_trial_list = ["t5"]
    text = status_json(status)
    whole = status.to_dict()
    assert {"succeededTrialList", "runningTrialList"} <= set(whole)
    assert json.loads(text) == {k: v for k, v in whole.items() if k not in LISTS}
    assert " " not in text  # compact
    status.succeeded_trial_list = [f"t{i}" for i in range(5000)]
    assert status_json(status) == text  # the lists never reach the stored text


def test_every_list_of_the_model_is_left_out() -> None:
    """A list added to the model would be stored again: the test names all seven."""
    names = [f for f in ExperimentStatus.model_fields if f.endswith("_trial_list")]
    status = ExperimentStatus(**{name: ["a"] for name in names})
    assert set(status.to_dict()) == set(LISTS)
    assert status_json(status) == "{}"
