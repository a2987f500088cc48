"""``/api/v1``: the core resources kubectl reads beside Katib's: namespaces (those that hold
experiments, and ``default``) and events (``kubectl describe`` lists an object's)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from pykatib.server import errors as e
from pykatib.server.selectors import field_matcher

router = APIRouter()
DEFAULT_NAMESPACE = "default"
_VALID = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _namespaces(request: Request) -> list[str]:
    store = request.app.state.pykatib.store
    found = {exp.namespace for exp in store.list_experiments(trial_lists=False)}
    return sorted(found | {DEFAULT_NAMESPACE})


@router.get("/api/v1/namespaces")
def list_namespaces(request: Request) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "NamespaceList",
        "metadata": {},
        "items": [_namespace(n) for n in _namespaces(request)],
    }


@router.get("/api/v1/namespaces/{name}")
def get_namespace(request: Request, name: str) -> dict[str, Any]:
    # Namespaces are implicit in pykatib: any valid name is one (an experiment may go there).
    if not _VALID.fullmatch(name):
        raise e.ApiError(
            404, "NotFound", f'namespaces "{name}" not found', name=name, kind="namespaces"
        )
    return _namespace(name)


_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
EVENT_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "type",
    "reason",
    "source",
    *(f"involvedObject.{key}" for key in _INVOLVED),
)


def _event_fields(event: dict[str, Any]) -> dict[str, str]:
    ref = event.get("involvedObject") or {}
    meta = event.get("metadata") or {}
    fields = {
        "metadata.name": meta.get("name") or "",
        "metadata.namespace": meta.get("namespace") or "",
        "type": event.get("type") or "",
        "reason": event.get("reason") or "",
        "source": (event.get("source") or {}).get("component") or "",
    }
    for key in _INVOLVED:
        fields[f"involvedObject.{key}"] = ref.get(key) or ""
    return fields


@router.get("/api/v1/namespaces/{namespace}/events")
def list_events(request: Request, namespace: str) -> dict[str, Any]:
    store = request.app.state.pykatib.store
    matches = field_matcher(request.query_params.get("fieldSelector"), _event_fields, EVENT_FIELDS)
    items: list[dict[str, Any]] = []
    for event in store.list_events(namespace):
        data = event.to_dict()
        if matches(data):
            data.setdefault("metadata", {}).setdefault("resourceVersion", str(len(items) + 1))
            items.append(data)
    return {"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": items}


__all__ = ["router"]
