"""Katib's ``successCondition`` / ``failureCondition``: GJSON paths judged against a trial's job.

Katib's trial controller (``pkg/controller.v1beta1/trial/util/job_util.go``,
``GetDeployedJobStatus``) serializes the job (keys sorted, as Go's ``encoding/json`` writes a
map), evaluates ``failureCondition`` and then ``successCondition`` with tidwall/gjson (v1.14.1,
Katib's ``go.mod``), and takes a condition as met when its result is an object or a non-empty
array. The first element (or the object) is read as ``{condition, reason, message}``. When
neither is met the trial stays as it is (Running).

The paths are evaluated by :mod:`pykatib.control.gjson`. A path that can't be parsed is an
error here (:func:`check_condition` when the experiment is applied), where gjson finds nothing
and the trial would wait forever.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, NamedTuple

from pykatib.api import defaults
from pykatib.control.gjson import PathSyntaxError, compile_path, get

__all__ = ["ConditionError", "JobVerdict", "check_condition", "job_verdict", "judge_job"]

# The default conditions (pykatib.api.defaults): paths whose result is the same in any key order.
_ORDER_FREE = frozenset(
    {
        defaults.JOB_SUCCESS_CONDITION,
        defaults.JOB_FAILURE_CONDITION,
        defaults.KUBEFLOW_JOB_SUCCESS_CONDITION,
        defaults.KUBEFLOW_JOB_FAILURE_CONDITION,
        defaults.TRAIN_JOB_SUCCESS_CONDITION,
        defaults.TRAIN_JOB_FAILURE_CONDITION,
    }
)


class ConditionError(ValueError):
    """A success or failure condition can't be parsed, or what it matched can't be read."""


class JobVerdict(NamedTuple):
    """A met condition: ``phase`` is "succeeded" or "failed"; reason and message as matched."""

    phase: str
    reason: str
    message: str


def check_condition(expression: str) -> str | None:
    """Why ``expression`` is not a GJSON path pykatib can evaluate, or ``None`` when it is."""
    try:
        compile_path(expression)
    except PathSyntaxError as exc:
        return str(exc)
    return None


def job_verdict(
    job: dict[str, Any], success_condition: str, failure_condition: str
) -> JobVerdict | None:
    """Which condition ``job`` meets, failure first, as Katib's ``GetDeployedJobStatus``;
    ``None`` when it meets neither (the trial stays Running).

    Raises :class:`ConditionError` when a condition can't be parsed, or when what it matched
    can't be read as a job condition (Katib logs that and leaves the trial as it is).
    """
    conditions = (
        ("failed", "failureCondition", failure_condition),
        ("succeeded", "successCondition", success_condition),
    )
    for _, name, expression in conditions:
        problem = check_condition(expression)
        if problem:
            raise ConditionError(f"{name}: {problem}")
    # Katib judges the job as encoding/json writes it: object keys sorted. The defaults read
    # one array by its elements' fields, which no key order changes: judged as the job is (a
    # trial's end is judged once, and the copy costs twice the look-ups).
    if success_condition in _ORDER_FREE and failure_condition in _ORDER_FREE:
        document = job
    else:
        document = json.loads(json.dumps(job, sort_keys=True))
    for phase, name, expression in conditions:
        found = _select(document, expression)
        if isinstance(found, dict) or (isinstance(found, list) and found):
            reason, message = _job_condition(name, expression, found)
            return JobVerdict(phase, reason, message)
    return None


# The shape of every default condition: the job's conditions of one type whose status is "True".
_TYPE_TRUE = re.compile(r'status\.conditions\.#\(type=="(\w+)"\)#\|#\(status=="True"\)#')


@lru_cache(maxsize=64)
def _type_selected(expression: str) -> str | None:
    """The condition type ``expression`` selects, when it has the default conditions' shape."""
    shape = _TYPE_TRUE.fullmatch(expression)
    return shape[1] if shape else None


def _select(document: dict[str, Any], expression: str) -> Any:
    """gjson's ``get``; for the default conditions' shape, read directly when every condition
    is an object whose type and status are strings (or absent), where gjson compares strings.
    Other values (a number, null, a non-object) gjson compares by its own rules: walked."""
    type_ = _type_selected(expression)
    status = document.get("status") if type_ is not None and isinstance(document, dict) else None
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conditions, list):
        return get(document, expression)
    found = []
    for condition in conditions:
        if not isinstance(condition, dict):
            return get(document, expression)
        kind, value = condition.get("type", ""), condition.get("status", "")
        if not isinstance(kind, str) or not isinstance(value, str):
            return get(document, expression)
        if kind == type_ and value == "True":
            found.append(condition)
    return found


def judge_job(job: dict[str, Any], success_condition: str, failure_condition: str) -> str | None:
    """The phase ``job`` is in by its conditions: "succeeded", "failed", or ``None`` for
    neither (see :func:`job_verdict`)."""
    verdict = job_verdict(job, success_condition, failure_condition)
    return verdict.phase if verdict else None


def _job_condition(
    name: str, expression: str, found: dict[str, Any] | list[Any]
) -> tuple[str, str]:
    """reason and message of the match, read as Katib's ``json.Unmarshal`` into TrialJobStatus
    reads it: the object itself, or the first element's JSON text (a string's own text)."""
    first = found[0] if isinstance(found, list) else found
    value = first
    if isinstance(first, str):
        try:
            value = json.loads(first)
        except ValueError:
            value = first
        if value is None:
            return "", ""
    if not isinstance(value, dict):
        raise ConditionError(
            f"{name} {expression!r} matched {json.dumps(found)[:200]}, whose first element is "
            "not an object: Katib reads it as a job condition with a reason and a message; "
            'select condition objects, e.g. status.conditions.#(type=="Failed")#'
        )
    fields = {"condition": "", "reason": "", "message": ""}
    for key, item in value.items():  # encoding/json matches field names case-insensitively
        field = key.lower()
        if field not in fields or item is None:  # null leaves a Go string as it was
            continue
        if not isinstance(item, str):
            raise ConditionError(
                f"{name} {expression!r} matched a condition whose {key!r} is "
                f"{json.dumps(item)[:100]}, not a string"
            )
        fields[field] = item
    return fields["reason"], fields["message"]
