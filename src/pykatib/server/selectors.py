"""Label and field selectors, as Kubernetes parses them (``labelSelector``, ``fieldSelector``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pykatib.server.errors import bad_request

Match = Callable[[Mapping[str, str]], bool]

# Set-based terms first (`key in (a,b)`, `key notin (a)`), then `key`, `!key`, `key=v`,
# `key==v`, `key!=v`, each separated by commas outside parentheses.
_TERMS = re.compile(r"\s*([^,(]+(?:\([^)]*\))?)\s*(?:,|$)")
_SET = re.compile(r"^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQUALITY = re.compile(r"^([^\s!=]+)\s*(==|=|!=)\s*([^\s!=]*)$")
_EXISTS = re.compile(r"^(!?)([^\s!=(),]+)$")


def _terms(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    terms = []
    pos = 0
    while pos < len(text):
        m = _TERMS.match(text, pos)
        if m is None or m.end() == pos:
            raise bad_request(f'unable to parse requirement: "{text[pos:]}"')
        terms.append(m.group(1).strip())
        pos = m.end()
    return terms


def label_matcher(text: str | None) -> Match:
    """A function that says whether labels match the selector ``text`` (all: when empty)."""
    requirements: list[tuple[str, str, frozenset[str]]] = []  # (key, operator, values)
    for term in _terms(text or ""):
        if m := _SET.match(term):
            values = frozenset(v.strip() for v in m.group(3).split(","))
            requirements.append((m.group(1), m.group(2), values))
        elif m := _EQUALITY.match(term):
            op = "!=" if m.group(2) == "!=" else "in"
            requirements.append((m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS.match(term):
            requirements.append((m.group(2), "!" if m.group(1) else "exists", frozenset()))
        else:
            raise bad_request(f'unable to parse requirement: "{term}"')

    def match(labels: Mapping[str, str]) -> bool:
        for key, op, values in requirements:
            value = labels.get(key)
            if op == "in" and value not in values:
                return False
            if op in ("notin", "!=") and value in values:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "!" and key in labels:
                return False
        return True

    return match


def field_matcher(
    text: str | None,
    fields: Callable[[dict[str, Any]], dict[str, str]],
    supported: Collection[str],
) -> Callable[[dict[str, Any]], bool]:
    """A function that says whether an object (a dict) matches the field selector ``text``.

    ``fields`` gives an object's values of the ``supported`` fields (``metadata.name``, ...);
    selecting by another field is a 400 BadRequest, as Kubernetes answers, at once (not when
    the first object is matched: a watch's stream has begun by then, or there may be none).
    """
    wanted: list[tuple[str, str, str]] = []
    for term in _terms(text or ""):
        m = _EQUALITY.match(term)
        if m is None:
            raise bad_request(f'invalid selector: "{text}"; only =, == and != are supported')
        key, op, value = m.groups()
        if key not in supported:
            raise bad_request(
                f'field label not supported: "{key}"; supported: {", ".join(sorted(supported))}'
            )
        wanted.append((key, op, value))

    def match(obj: dict[str, Any]) -> bool:
        have = fields(obj)
        return all((have[key] == value) == (op != "!=") for key, op, value in wanted)

    return match


OBJECT_FIELDS = ("metadata.name", "metadata.namespace")


def object_fields(obj: dict[str, Any]) -> dict[str, str]:
    """The fields Kubernetes selects custom resources by."""
    meta = obj.get("metadata") or {}
    return {
        "metadata.name": meta.get("name") or "",
        "metadata.namespace": meta.get("namespace") or "",
    }


__all__ = ["OBJECT_FIELDS", "field_matcher", "label_matcher", "object_fields"]
