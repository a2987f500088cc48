"""The default conditions' shape (``status.conditions.#(type=="T")#|#(status=="True")#``) is read
without gjson's walk; what it selects must be exactly what the walk selects, on any document."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

import pytest

from pykatib.api import defaults
from pykatib.control import conditions
from pykatib.control.conditions import _select, job_verdict
from pykatib.control.gjson import get
from pykatib.runtime.job import job_resource

PATHS = [
    defaults.JOB_SUCCESS_CONDITION,
    defaults.JOB_FAILURE_CONDITION,
    defaults.KUBEFLOW_JOB_SUCCESS_CONDITION,
    'status.conditions.#(type=="Ready")#|#(status=="True")#',
]
# Values gjson compares by its own rules: numbers (a non-number string reads as 0), booleans
# (against "true" / "false"), null, objects and arrays (never equal).
FIELD_VALUES = ["Complete", "Failed", "Succeeded", "Ready", "True", "true", "False", "complete"]
FIELD_VALUES += [0, 1, 0.0, True, False, None, [], {}, ["True"]]
MISSING_FIELD = object()


def _condition(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return rng.choice(["Complete", 0, None, [{"type": "Complete", "status": "True"}], True])
    condition: dict[str, Any] = {"reason": "r", "message": "m"}
    for field in ("type", "status"):
        value = rng.choice([*FIELD_VALUES, MISSING_FIELD])
        if value is not MISSING_FIELD:
            condition[field] = value
    return condition


def _document(rng: random.Random) -> dict[str, Any]:
    items = [_condition(rng) for _ in range(rng.randrange(4))]
    listed = rng.choice([items] * 6 + [{"type": "Complete", "status": "True"}, "x", None])
    status = rng.choice([{"conditions": listed}] * 6 + [{}, [listed], None])
    return {"kind": "Job", "status": status}


@pytest.mark.parametrize("seed", range(20))
def test_the_shortcut_selects_what_gjson_selects(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        document = _document(rng)
        for path in PATHS:
            assert _select(document, path) == get(document, path), (document, path)


def test_a_path_of_another_shape_is_walked() -> None:
    document = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    path = 'status.conditions.#(type=="Complete")#'
    assert _select(document, path) == get(document, path) == document["status"]["conditions"]


@pytest.mark.parametrize("phase", ["succeeded", "failed"])
def test_a_local_job_is_judged_without_the_walk(
    phase: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = job_resource(
        {"kind": "Job"}, phase, "BackoffLimitExceeded", "m", datetime.now(timezone.utc), 1
    )
    expected = job_verdict(job, defaults.JOB_SUCCESS_CONDITION, defaults.JOB_FAILURE_CONDITION)

    def walk(document: Any, path: str) -> Any:
        raise AssertionError(f"walked {path}")

    monkeypatch.setattr(conditions, "get", walk)
    verdict = job_verdict(job, defaults.JOB_SUCCESS_CONDITION, defaults.JOB_FAILURE_CONDITION)
    assert verdict == expected
    assert (verdict.phase if verdict else None) == {
        "succeeded": "succeeded",
        "failed": "failed",
    }.get(phase)
