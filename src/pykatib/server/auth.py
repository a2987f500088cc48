"""Bearer tokens, namespace scopes and the request size limit, checked before any handler runs.

A token file holds one token per line, optionally followed by the namespaces it may use
(``TOKEN ns1,ns2``); blank lines and ``#`` comments are skipped. A missing or unknown token is
answered 401 Unauthorized, a namespace outside the token's scope (or a list across all
namespaces by a scoped token) 403 Forbidden, and neither reaches a handler, so neither changes
anything. ``/version`` and the health checks need no token, as on Kubernetes, nor the web UI's
page and assets (``/``, ``/ui/static/``), which hold no data: its data calls need the token.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pykatib.server.errors import status_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 4 * 1024 * 1024
PUBLIC_PATHS = ("/version", "/healthz", "/readyz", "/livez", "/")
PUBLIC_PREFIXES = ("/ui/static/",)  # the web UI's assets: code, no data (pykatib/ui/static.py)
_NAMESPACED = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+|ui/api)/namespaces/([^/]+)(/.*)?$")
_NAMESPACE_OBJECT = re.compile(r"^/api/v1/namespaces/([^/]+)$")
_ALL_NAMESPACES = re.compile(
    r"^/(?:api/v1/(?:pods|events)|apis/kubeflow\.org/[^/]+/(?:experiments|trials|suggestions)"
    r"|ui/api/(?:experiments|changes))$"
)


class TokenFileError(ValueError):
    """The token file can't be read or holds a malformed line."""


@dataclass(frozen=True)
class Token:
    secret: str
    namespaces: frozenset[str] | None  # None: every namespace


def load_tokens(path: str | Path) -> list[Token]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc.strerror}") from None
    tokens = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) > 2:
            raise TokenFileError(
                f"{path}, line {n}: expected TOKEN or TOKEN ns1,ns2 (no spaces in the list)"
            )
        namespaces = None
        if len(parts) == 2:
            namespaces = frozenset(ns for ns in parts[1].split(",") if ns)
        tokens.append(Token(parts[0], namespaces))
    if not tokens:
        raise TokenFileError(f"{path} holds no token")
    return tokens


def find_token(tokens: list[Token], presented: str) -> Token | None:
    found = None
    for token in tokens:  # compare with every token, in constant time each
        if hmac.compare_digest(token.secret.encode(), presented.encode()):
            found = token
    return found


async def _answer(send: Send, code: int, reason: str, message: str) -> None:
    body = json.dumps(status_body(code, reason, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="pykatib"'))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: authentication, namespace scopes, and the body size limit."""

    def __init__(self, app: ASGIApp, tokens: list[Token] | None, max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.tokens = tokens
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if self.tokens is not None and not public:
            headers = dict(scope["headers"])
            auth = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, presented = auth.partition(" ")
            token = (
                find_token(self.tokens, presented.strip()) if scheme.lower() == "bearer" else None
            )
            if token is None:
                await _answer(send, 401, "Unauthorized", "Unauthorized")
                return
            denied = self._denied(token, path)
            if denied:
                await _answer(send, 403, "Forbidden", denied)
                return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _answer(send, 413, "RequestEntityTooLarge", self._too_large())
            return
        await self.app(scope, self._limited(receive, send), send)

    def _denied(self, token: Token, path: str) -> str | None:
        if token.namespaces is None:
            return None
        m = _NAMESPACED.match(path) or _NAMESPACE_OBJECT.match(path)
        if m:
            ns = m.group(1)
            if ns not in token.namespaces:
                return f'this token may not use namespace "{ns}"'
            return None
        if _ALL_NAMESPACES.match(path) or path == "/api/v1/namespaces":
            return (
                "this token is scoped to namespaces "
                f"{', '.join(sorted(token.namespaces))}: list within one of them (-n NAMESPACE)"
            )
        return None  # discovery and OpenAPI

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_body} bytes"

    def _limited(self, receive: Receive, send: Send) -> Receive:
        seen = 0
        limit = self.max_body

        async def guarded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(self._too_large())
            return message

        return guarded


class BodyTooLarge(Exception):
    """A chunked request body grew past the limit while it was read."""


__all__ = ["MAX_BODY_BYTES", "Guard", "Token", "TokenFileError", "load_tokens"]
