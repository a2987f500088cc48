"""Watch: ``?watch=true`` streams of ``{"type": "ADDED|MODIFIED|DELETED", "object": ...}`` lines.

The store's ``resourceVersion`` is a counter per object, not one sequence for the whole store as
etcd's is; it only grows. So a watch remembers the version of each object it has sent and polls
the store's version columns (cheap: no JSON is read) for objects whose version differs, which
sees every writer of the database, other processes included.

A list's ``resourceVersion`` is the snapshot it was read at: each listed object's uid (its first
8 hex digits) and version, packed (``s1.<base64>``). A watch from it sends exactly what changed
since the list: ADDED, MODIFIED, DELETED. A watch from ``0`` (or none) starts with an ADDED event
per object; any other version (an object's own, a snapshot this server can't read) is answered
410 Gone (Expired), and the client lists again, as it does when etcd has compacted.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pykatib.server.errors import ApiError

TOKEN_PREFIX = "s1."
POLL_SECONDS = 0.25
# (namespace, name) of objects seen, by uid prefix: a DELETED event names the object it was.
_NAMES: dict[str, tuple[str, str]] = {}
_NAMES_LIMIT = 100_000


def _uid8(uid: str) -> str:
    return (uid.replace("-", "") + "0" * 8)[:8].lower()


def encode_snapshot(objects: list[dict[str, Any]]) -> str:
    """The ``resourceVersion`` of a list: its objects' uids and versions."""
    out = bytearray()
    for obj in objects:
        meta = obj.get("metadata") or {}
        try:
            uid = bytes.fromhex(_uid8(meta.get("uid") or ""))
        except ValueError:
            uid = b"\0\0\0\0"
        out += uid
        version = int(meta.get("resourceVersion") or 0)
        while True:  # unsigned varint
            byte, version = version & 0x7F, version >> 7
            out.append(byte | (0x80 if version else 0))
            if not version:
                break
    return TOKEN_PREFIX + base64.urlsafe_b64encode(zlib.compress(bytes(out))).decode().rstrip("=")


def decode_snapshot(token: str) -> dict[str, int] | None:
    """uid prefix -> version; None for ``0`` or empty (no snapshot). 410 Gone for anything
    else that is not a snapshot."""
    if token in ("", "0"):
        return None
    expired = ApiError(
        410,
        "Expired",
        f'too old resource version: "{token[:40]}" is not a list\'s resourceVersion of this '
        "server; list again and watch from its resourceVersion",
    )
    if not token.startswith(TOKEN_PREFIX):
        raise expired
    try:
        data = token[len(TOKEN_PREFIX) :]
        raw = zlib.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, zlib.error, ValueError):
        raise expired from None
    found: dict[str, int] = {}
    pos = 0
    while pos + 4 <= len(raw):
        uid = raw[pos : pos + 4].hex()
        pos += 4
        version, shift = 0, 0
        while pos < len(raw):
            byte = raw[pos]
            pos += 1
            version |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        found[uid] = version
    return found


@dataclass
class _Known:
    version: int
    matched: bool
    obj: dict[str, Any] | None = None


@dataclass
class WatchState:
    """What one watch stream has sent, object by object (by uid prefix)."""

    known: dict[str, _Known] = field(default_factory=dict)

    @classmethod
    def from_token(cls, token: str) -> WatchState:
        snapshot = decode_snapshot(token)
        state = cls()
        for uid, version in (snapshot or {}).items():
            state.known[uid] = _Known(version, True)
        return state

    def poll(
        self,
        versions: list[tuple[str, str, str, int]],
        fetch: Callable[[list[tuple[str, str]]], dict[tuple[str, str], dict[str, Any]]],
        matches: Callable[[dict[str, Any]], bool],
    ) -> list[tuple[str, dict[str, Any]]]:
        """The events since the last poll, given the store's ``versions`` now.

        ``fetch`` reads objects by (namespace, name); ``matches`` applies the selectors.
        """
        current: dict[str, tuple[str, str, int]] = {}
        for uid, ns, name, version in versions:
            u = _uid8(uid)
            current[u] = (ns, name, version)
            if len(_NAMES) < _NAMES_LIMIT:
                _NAMES[u] = (ns, name)
        changed = [
            u
            for u, (_, _, version) in current.items()
            if u not in self.known or self.known[u].version != version
        ]
        bodies = fetch([current[u][:2] for u in changed]) if changed else {}
        events: list[tuple[str, dict[str, Any]]] = []
        for u in changed:
            obj = bodies.get(current[u][:2])
            if obj is None or _uid8((obj.get("metadata") or {}).get("uid") or "") != u:
                continue  # deleted (or replaced) since the versions were read: next poll
            previous = self.known.get(u)
            matched = matches(obj)
            if matched:
                seen = previous is not None and previous.matched
                events.append(("MODIFIED" if seen else "ADDED", obj))
            elif previous is not None and previous.matched:
                events.append(("DELETED", obj))
            version = int((obj.get("metadata") or {}).get("resourceVersion") or current[u][2])
            self.known[u] = _Known(version, matched, obj if matched else None)
        for u in [u for u in self.known if u not in current]:
            gone = self.known.pop(u)
            if gone.matched:
                obj = gone.obj or _stub(u)
                if obj is not None:
                    events.append(("DELETED", obj))
        return events


def _stub(uid: str) -> dict[str, Any] | None:
    where = _NAMES.get(uid)
    if where is None:
        return None
    return {"metadata": {"namespace": where[0], "name": where[1]}}


__all__ = ["POLL_SECONDS", "WatchState", "decode_snapshot", "encode_snapshot"]
