"""Query parameters read as Kubernetes reads them: a malformed one is a 400 BadRequest that
names it and what it takes, never silently ignored (nor a 500)."""

from __future__ import annotations

from collections.abc import Mapping

from pykatib.server.errors import bad_request


def integer(params: Mapping[str, str], name: str, minimum: int | None = None) -> int | None:
    """The integer query parameter ``name`` (None when absent or empty)."""
    text = params.get(name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"{name}: {text!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise bad_request(f"{name}: must be an integer from {minimum}, not {value}")
    return value


# Go's strconv.ParseBool, which the API server reads booleans with: the kubernetes Python
# client sends True as "True".
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def boolean(params: Mapping[str, str], name: str) -> bool:
    """The boolean query parameter ``name`` (false when absent or empty)."""
    text = params.get(name)
    if not text or text in _FALSE:
        return False
    if text in _TRUE:
        return True
    raise bad_request(f"{name}: {text!r} is not a boolean; use true or false")


__all__ = ["boolean", "integer"]
