"""The errors pykatib raises at its edges (loading, validating, storing), as one small hierarchy.

Every message says what is wrong and what to do; callers (the CLI, the REST API) print ``str(err)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class PykatibError(Exception):
    """Base of every error pykatib raises on purpose."""


class InvalidExperimentError(PykatibError):
    """An experiment (or the file it came from) is invalid.

    ``errors`` holds every problem found, each as ``path: message`` where the path uses Katib's
    wire names (``spec.parameters[0].feasibleSpace.min``), prefixed by the document when the file
    holds several. ``str()`` lists them one per line.
    """

    def __init__(self, errors: Iterable[str], source: str | None = None):
        self.errors: list[str] = [one_line(e) for e in errors]
        self.source = source
        super().__init__("\n".join(self.errors))

    def __str__(self) -> str:
        return "\n".join(self.errors)


# What str.splitlines() breaks a line at, and other control characters (a terminal's escapes).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(message: str) -> str:
    """``message`` with line breaks and control characters escaped (``\\n``, ``\\x1b``), so that a
    value quoted from a file (a name with a newline in it) can't break a list of problems that is
    shown one per line."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), message)


def unknown_field(name: str, allowed: Iterable[str]) -> str:
    """The message for a field that does not exist: the closest allowed name, or all of them."""
    import difflib

    allowed = list(allowed)
    # Katib's names are camelCase; a snake_case spelling of one is the likeliest slip.
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
    close = [camel] if camel in allowed else difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f'unknown field "{name}"; did you mean "{close[0]}"?'
    return f'unknown field "{name}"; allowed: {", ".join(allowed)}'


class NotFoundError(PykatibError):
    """A named resource (experiment, trial, suggestion) does not exist."""


class ConflictError(PykatibError):
    """A write lost a race or would overwrite something that already exists."""
