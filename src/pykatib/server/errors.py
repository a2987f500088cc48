"""Kubernetes ``Status`` bodies: every error the server answers with, as kubectl reads them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

GROUP = "kubeflow.org"


class ApiError(Exception):
    """An error answered as a ``Status`` (``reason`` is Kubernetes' StatusReason)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        group: str | None = None,
        causes: Iterable[dict[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details: dict[str, Any] = {}
        if name is not None:
            self.details["name"] = name
        if group is not None:
            self.details["group"] = group
        if kind is not None:
            self.details["kind"] = kind
        causes = list(causes)
        if causes:
            self.details["causes"] = causes

    def body(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def success(name: str, kind: str, uid: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "group": GROUP, "kind": kind}
    if uid:
        details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def not_found(plural: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{plural}.{GROUP} "{name}" not found',
        name=name,
        kind=plural,
        group=GROUP,
    )


def already_exists(plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{plural}.{GROUP} "{name}" already exists',
        name=name,
        kind=plural,
        group=GROUP,
    )


def conflict(plural: str, name: str, why: str | None = None) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {plural}.{GROUP} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    return ApiError(
        409,
        "Conflict",
        f"{message} ({why})" if why else message,
        name=name,
        kind=plural,
        group=GROUP,
    )


def invalid(kind: str, name: str, errors: Iterable[str]) -> ApiError:
    """422 Invalid, one cause per problem (``path: message``, as the CLI prints them);
    ``kind`` as the API server names it here (``Experiment``)."""
    errors = list(errors)
    causes = []
    for error in errors:
        field, sep, message = error.partition(": ")
        if not sep:
            field, message = "", error
        causes.append({"reason": "FieldValueInvalid", "message": message, "field": field})
    listed = "; ".join(errors)
    return ApiError(
        422,
        "Invalid",
        f'{kind}.{GROUP} "{name}" is invalid: {listed}',
        name=name,
        kind=kind,
        group=GROUP,
        causes=causes,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


__all__ = [
    "ApiError",
    "already_exists",
    "bad_request",
    "conflict",
    "invalid",
    "method_not_allowed",
    "not_found",
    "status_body",
    "success",
]
