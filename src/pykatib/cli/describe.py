"""``describe``: a resource laid out as ``kubectl describe`` lays out a Katib custom resource.

Keys become words ("currentOptimalTrial" -> "Current Optimal Trial"), maps nest by two spaces,
lists of maps repeat their keys, and runs of ``Key: value`` lines at one depth are aligned, as
kubectl's tabwriter aligns them.
"""

from __future__ import annotations

import re
from typing import Any

from pykatib.cli.tables import age

_ACRONYMS = {"api": "API", "id": "ID", "url": "URL", "uid": "UID", "ip": "IP", "json": "JSON"}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+|[A-Z]")


def label(key: str) -> str:
    words = _WORD.findall(key) or [key]
    return " ".join(_ACRONYMS.get(w.lower(), w[:1].upper() + w[1:]) for w in words)


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None or value == "":
        return "<none>" if value is None else ""
    return str(value)


def _lines(value: Any, indent: int, out: list[tuple[int, str, str | None]]) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            item = value[key]
            if isinstance(item, dict) and item:
                out.append((indent, label(str(key)), None))
                _lines(item, indent + 2, out)
            elif isinstance(item, list) and item:
                out.append((indent, label(str(key)), None))
                if all(not isinstance(i, (dict, list)) for i in item):
                    out.extend((indent + 2, "", _scalar(i)) for i in item)
                else:
                    for element in item:
                        _lines(element, indent + 2, out)
            elif isinstance(item, (dict, list)):
                continue  # empty: kubectl leaves it out
            else:
                out.append((indent, label(str(key)), _scalar(item)))
    elif isinstance(value, list):
        for element in value:
            _lines(element, indent, out)
    else:
        out.append((indent, "", _scalar(value)))


def render(lines: list[tuple[int, str, str | None]]) -> str:
    """Align consecutive ``Key: value`` lines at the same indent, as tabwriter does."""
    text: list[str] = []
    i = 0
    while i < len(lines):
        indent, key, value = lines[i]
        if value is None or not key:
            text.append(" " * indent + (f"{key}:" if value is None else value))
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j][0] == indent and lines[j][2] is not None and lines[j][1]:
            j += 1
        width = max(len(k) for _, k, _ in lines[i:j]) + 3
        for ind, k, v in lines[i:j]:
            text.append(" " * ind + f"{k}:".ljust(width) + str(v))
        i = j
    return "\n".join(text)


def describe(resource: dict[str, Any], events: list[str] | None = None) -> str:
    """The whole resource: header block, then Spec and Status, then Events."""
    meta = resource.get("metadata") or {}
    lines: list[tuple[int, str, str | None]] = [
        (0, "Name", meta.get("name", "")),
        (0, "Namespace", meta.get("namespace", "default")),
        (0, "Labels", _mapping(meta.get("labels"))),
        (0, "Annotations", _mapping(meta.get("annotations"))),
        (0, "API Version", resource.get("apiVersion", "")),
        (0, "Kind", resource.get("kind", "")),
    ]
    rest = {
        k: v for k, v in meta.items() if k not in ("name", "namespace", "labels", "annotations")
    }
    if rest:
        lines.append((0, "Metadata", None))
        _lines(rest, 2, lines)
    for part in ("spec", "status"):
        if resource.get(part):
            lines.append((0, label(part), None))
            _lines(resource[part], 2, lines)
    body = render(lines)
    return body + "\n" + ("Events:  <none>" if not events else "Events:\n" + "\n".join(events))


def event_lines(events: list[dict[str, Any]]) -> list[str]:
    """Events (core/v1 JSON) as kubectl describe lists them: Type, Reason, Age, From, Message."""
    rows = [
        ("Type", "Reason", "Age", "From", "Message"),
        ("----", "------", "----", "----", "-------"),
    ]
    for e in events:
        when = age(e.get("lastTimestamp"))
        count = e.get("count") or 1
        if count > 1:
            when = f"{when} (x{count} over {age(e.get('firstTimestamp'))})"
        source = (e.get("source") or {}).get("component", "")
        rows.append(
            (e.get("type") or "", e.get("reason") or "", when, source, e.get("message") or "")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]
        for row in rows
    ]


def _mapping(value: dict[str, str] | None) -> str:
    if not value:
        return "<none>"
    return "\n              ".join(f"{k}={v}" for k, v in sorted(value.items()))
