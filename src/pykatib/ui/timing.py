"""How long the server took to answer each ``/ui/api`` request: a ``Server-Timing`` header
(shown by the browser's network panel, read by ``bench/ui.py``) and a DEBUG line on the
``pykatib.ui`` logger. The time runs to the response's first byte: what a view waits for."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("pykatib.ui")

Scope = dict[str, Any]
Receive = Any
Send = Any


class ServerTiming:
    """An ASGI middleware (plain ASGI: it leaves streamed responses streaming)."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.1f}".encode()))
                message = {**message, "headers": headers}
                log.debug("%s %s %d %.1f ms", scope["method"], scope["path"], message["status"], ms)
            await send(message)

        await self.app(scope, receive, timed)
