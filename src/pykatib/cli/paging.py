"""``get trials --limit N --continue TOKEN``: trials a page at a time, in creation order.

The token names the last trial of the page before (its namespace and name, base64url JSON, as
the server's ``metadata.continue`` names the last item), so a page read later goes on from
there even when trials were created since.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

import click

Key = tuple[str, str]


def encode(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode(token: str) -> Key:
    """The trial a ``--continue`` token names; a usage error when it is not one."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        key = None
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise click.BadParameter(
            "not a token that `get trials --limit` printed; list again without it",
            param_hint="--continue",
        )
    return key[0], key[1]


def trials(
    reader: Any,
    backend: Callable[[], Any],
    namespace: str | None,
    experiment: str | None,
    after: Key | None,
    limit: int | None,
) -> tuple[list[Any], str | None]:
    """A page of trials, and the token of the next page (None on the last): from ``reader``
    (the CLI's fast reader: JSON) unless it has none or is None, else from ``backend()``."""
    args = (namespace, experiment, after, None if limit is None else limit + 1)
    found = reader.list_trials(*args) if reader is not None else None
    if found is None:
        found = backend().list_trials(*args)
    if limit is None or len(found) <= limit:
        return found, None
    page = found[:limit]
    last = page[-1]
    meta = last["metadata"] if isinstance(last, dict) else last.metadata.to_dict()
    return page, encode((meta.get("namespace") or "default", meta["name"]))
