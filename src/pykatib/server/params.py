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


__all__ = ["integer"]
