"""The status's JSON made incrementally says what a dump from scratch says (issue 13), and a
trial joining the end of a list costs its own name, not the list's (counted, not timed)."""

from __future__ import annotations

import json

import pytest

from pykatib.api.models import Condition, ExperimentStatus
from pykatib.control import status_text
from pykatib.control.status_text import StatusText


def _same(text: str, status: ExperimentStatus) -> None:
    assert json.loads(text) == status.to_dict()


def test_the_text_says_what_to_dict_says_as_lists_grow_shrink_and_empty() -> None:
    maker = StatusText()
    status = ExperimentStatus()
    _same(maker.of(status), status)  # nothing at all: "{}"
    status.succeeded_trial_list = [f"t{i}" for i in range(5)]
    _same(maker.of(status), status)  # lists alone
    status.trials, status.trials_succeeded = 5, 5
    status.conditions = [Condition(type="Running", status="True", reason="R", message="m")]
    for i in range(5, 9):  # the usual case: appended
        status.succeeded_trial_list = [*status.succeeded_trial_list, f"t{i}"]
        _same(maker.of(status), status)
    status.succeeded_trial_list.append("in-place")  # changed in place, as a caller may
    _same(maker.of(status), status)
    status.succeeded_trial_list = ["t0", "t2"]  # shrunk (a trial left the list)
    _same(maker.of(status), status)
    status.running_trial_list = ["r1"]
    status.succeeded_trial_list = ["t0", "t1", "t2"]  # one inserted before the end
    _same(maker.of(status), status)
    status.running_trial_list = None
    status.succeeded_trial_list = []
    _same(maker.of(status), status)


def test_a_name_appended_is_all_that_is_dumped(monkeypatch: pytest.MonkeyPatch) -> None:
    maker = StatusText()
    status = ExperimentStatus(succeeded_trial_list=[f"t{i}" for i in range(1000)])
    maker.of(status)
    dumped: list[object] = []
    dumps = status_text._dumps
    monkeypatch.setattr(status_text, "_dumps", lambda v: dumped.append(v) or dumps(v))
    status.succeeded_trial_list = [*status.succeeded_trial_list, "t1000"]
    _same(maker.of(status), status)
    lists = [v for v in dumped if isinstance(v, list)]
    assert lists == [["t1000"]]
    dumped.clear()
    _same(maker.of(status), status)  # unchanged: no list dumped at all
    assert not [v for v in dumped if isinstance(v, list)]
