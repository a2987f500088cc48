"""``kubectl get`` output: meta.k8s.io/v1 Tables with the printer columns of Katib's CRDs.

kubectl asks for a Table (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``) and prints
the cells as they come; as the API server does for a CRD, the ``Age`` cell is already formatted
(``5m``, ``2d3h``), and each row carries the object's metadata (or the object itself, with
``includeObject=Object``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

# Katib's additionalPrinterColumns (manifests/v1beta1/components/crd/*.yaml), by plural.
PRINTER_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "experiments": [
        ("Type", "string", ".status.conditions[-1:].type"),
        ("Status", "string", ".status.conditions[-1:].status"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ],
    "trials": [
        ("Type", "string", ".status.conditions[-1:].type"),
        ("Status", "string", ".status.conditions[-1:].status"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ],
    "suggestions": [
        ("Type", "string", ".status.conditions[-1:].type"),
        ("Status", "string", ".status.conditions[-1:].status"),
        ("Requested", "string", ".spec.requests"),
        ("Assigned", "string", ".status.suggestionCount"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ],
}

TABLE_MEDIA = "as=Table"


def wants_table(accept: str | None) -> bool:
    """kubectl get's Accept header asks for a meta.k8s.io Table (v1 or v1beta1)."""
    if not accept:
        return False
    return any(TABLE_MEDIA in part and "g=meta.k8s.io" in part for part in accept.split(","))


def _path_value(obj: dict[str, Any], path: str) -> Any:
    """The few JSONPath forms the CRDs use: ``.a.b``, ``.a.list[-1:].c``."""
    node: Any = obj
    for part in path.strip(".").split("."):
        index = None
        if part.endswith("[-1:]"):
            part, index = part[: -len("[-1:]")], -1
        node = node.get(part) if isinstance(node, dict) else None
        if index is not None:
            node = node[index] if isinstance(node, list) and node else None
        if node is None:
            return None
    return node


def human_duration(since: str | None, now: datetime | None = None) -> str:
    """Kubernetes' HumanDuration of the time since an RFC 3339 timestamp (``<unknown>``)."""
    if not since:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = int(((now or datetime.now(timezone.utc)) - then).total_seconds())
    if seconds < 0:
        return "0s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60 * 2:
        return f"{seconds}s"
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m{s}s" if s else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    if hours < 8:
        m = minutes % 60
        return f"{hours}h{m}m" if m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{days}d{h}h" if h else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        d = days % 365
        return f"{days // 365}y{d}d" if d else f"{days // 365}y"
    return f"{days // 365}y"


def column_definitions(plural: str) -> list[dict[str, Any]]:
    columns = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name must be unique within a namespace.",
            "priority": 0,
        }
    ]
    for name, type_, path in PRINTER_COLUMNS[plural]:
        columns.append(
            {"name": name, "type": type_, "format": "", "description": path, "priority": 0}
        )
    return columns


def row(plural: str, obj: dict[str, Any], include: str = "Metadata") -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    cells: list[Any] = [meta.get("name")]
    for _name, type_, path in PRINTER_COLUMNS[plural]:
        value = _path_value(obj, path)
        if type_ == "date":
            cells.append(human_duration(value))
        else:
            cells.append(value)
    result: dict[str, Any] = {"cells": cells}
    if include == "Object":
        result["object"] = obj
    elif include != "None":
        result["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
        }
    return result


def table(
    plural: str,
    objects: list[dict[str, Any]],
    resource_version: str | None = None,
    include: str = "Metadata",
    headers: bool = True,
    continue_token: str | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(plural) if headers else [],
        "rows": [row(plural, o, include) for o in objects],
    }


__all__ = ["PRINTER_COLUMNS", "column_definitions", "human_duration", "row", "table", "wants_table"]
