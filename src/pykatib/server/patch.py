"""The patch types kubectl sends, applied to an object as a plain dict.

For custom resources the API server takes a strategic merge patch as a JSON merge patch (a CRD
has no patch strategies), and server-side apply's configuration is merged the same way here
(pykatib keeps no managedFields: fields are never taken away by apply, only by an explicit null).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from pykatib.server.errors import ApiError, bad_request

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, APPLY)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy and test, in order, all or nothing."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for n, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise bad_request(f"JSON patch operation {n}: must be an object with an op")
        kind, path = op["op"], op.get("path")
        if not isinstance(path, str):
            raise bad_request(f"JSON patch operation {n}: missing path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"JSON patch operation {n} ({kind}): missing value")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise bad_request(f"JSON patch operation {n} ({kind}): missing from")
            if kind == "move":
                doc, value = _remove(doc, source)
            else:
                value = copy.deepcopy(_get(doc, source))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise ApiError(422, "Invalid", f"JSON patch test failed at {path}")
        else:
            raise bad_request(f'JSON patch operation {n}: unknown op "{kind}"')
    return doc


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f'JSON pointer "{path}" must start with /')
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, adding: bool = False) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit():
        raise bad_request(f'JSON patch: "{token}" in {path} is not an array index')
    index = int(token)
    if index > len(container) or (index == len(container) and not adding):
        raise bad_request(f"JSON patch: index {index} out of range at {path}")
    return index


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise bad_request("JSON patch: the whole document cannot be the target")
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, path)
    return node, tokens[-1]


def _child(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise bad_request(f"JSON patch: {path} does not exist")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, path)]
    raise bad_request(f"JSON patch: {path} does not exist")


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in _tokens(path):
        node = _child(node, token, path)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, path, adding=True), value)
    else:
        raise bad_request(f"JSON patch: the parent of {path} is not an object or array")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        if token not in parent:
            raise bad_request(f"JSON patch: {path} does not exist")
        return doc, parent.pop(token)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, token, path))
    raise bad_request(f"JSON patch: {path} does not exist")


def parse_body(body: bytes, content_type: str) -> Any:
    """The patch document: JSON, or YAML for server-side apply."""
    try:
        if content_type == APPLY:
            return yaml.safe_load(body.decode("utf-8"))
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(
            f"the patch is not valid {'YAML' if content_type == APPLY else 'JSON'}: {exc}"
        ) from None


def apply_patch(target: dict[str, Any], patch: Any, content_type: str) -> Any:
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("a merge patch must be a JSON object")
    return merge_patch(target, patch)


__all__ = [
    "APPLY",
    "JSON_PATCH",
    "MERGE",
    "PATCH_TYPES",
    "STRATEGIC",
    "apply_patch",
    "json_patch",
    "merge_patch",
    "parse_body",
]
