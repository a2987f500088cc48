"""The server: one process holding the control plane (:class:`~pykatib.control.manager.Manager`)
and the Kubernetes-style HTTP API, on FastAPI and uvicorn.

Handlers read and write the store only (their own connection pool); the manager, in its own
thread with its own pool, does the work. On Ctrl-C or SIGTERM uvicorn stops accepting, open
watches end, requests in flight finish, and then the manager stops the trials (Pending again,
so the experiments resume; a cluster's jobs run on, for the next server to adopt) and releases
its leases.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pykatib.control.manager import Manager
from pykatib.server import core, discovery, observations, pods, resources
from pykatib.server.auth import BodyTooLarge, Guard, Token
from pykatib.server.errors import ApiError, status_body
from pykatib.store import Store, default_home
from pykatib.ui import mount as ui_mount
from pykatib.ui import warm as ui_warm

log = logging.getLogger("pykatib.server")
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
}


class ServerState:
    """What the handlers share: their store, the manager to wake, the stop signal."""

    def __init__(self, store: Store, manager: Manager | None, home: Path) -> None:
        self.store = store
        self.manager = manager
        self.home = home  # where trials keep their folders and logs
        self.stopping = threading.Event()

    def wake(self, key: tuple[str, str] | None = None) -> None:
        if self.manager is not None:
            self.manager.wake(key)

    def stop(self) -> None:
        self.stopping.set()

    async def wait_stopping(self, timeout: float) -> None:
        """Sleep ``timeout`` seconds, or less when the server is stopping."""
        step = 0.05
        waited = 0.0
        while waited < timeout and not self.stopping.is_set():
            await asyncio.sleep(step)
            waited += step


def create_app(
    db: str | None = None,
    home: Path | None = None,
    tokens: list[Token] | None = None,
    control_plane: bool = True,
    db_manager: str | None = None,
    tls: tuple[str, str] | None = None,
) -> Any:
    """The ASGI application; with ``control_plane`` it runs a manager while it lives, with
    ``db_manager`` (``host:port``) Katib's DB manager gRPC service too (TLS with ``tls``)."""
    api_store = Store(db)
    manager = Manager(Store(api_store.url), home) if control_plane else None
    state = ServerState(api_store, manager, home or default_home())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        grpc_server = None
        if manager is not None:
            manager.start()
        ui_warm(app)  # the web UI's rows of the newest experiments, read in the background
        try:
            if db_manager is not None:
                from pykatib.server import dbmanager

                grpc_server = dbmanager.start(api_store, db_manager, tokens, state.stopping, tls)
            yield
        finally:
            state.stop()
            if grpc_server is not None:
                await asyncio.to_thread(lambda: grpc_server.stop(grace=5).wait())
            if manager is not None:
                await asyncio.to_thread(manager.stop)
                manager.store.close()
            api_store.close()

    app = FastAPI(
        title="pykatib",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.pykatib = state
    app.include_router(discovery.router)
    app.include_router(core.router)
    app.include_router(pods.router)
    app.include_router(observations.router)
    app.include_router(resources.router)
    ui_mount(app)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.code)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(status_body(413, "RequestEntityTooLarge", str(exc)), status_code=413)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = exc.status_code
        message = exc.detail if code != 404 else "the server could not find the requested resource"
        return JSONResponse(
            status_body(code, _REASONS.get(code, "InternalError"), str(message)), status_code=code
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_body(400, "BadRequest", str(exc)), status_code=400)

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # A body nested thousands deep (JSON or YAML) overflows the parser, or the merge and
        # validation that recurse through it: the request's fault, not the server's.
        message = "the request body is nested too deeply"
        return JSONResponse(status_body(400, "BadRequest", message), status_code=400)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            status_body(500, "InternalError", f"internal error: {type(exc).__name__}: {exc}"),
            status_code=500,
        )

    return Guard(app, tokens), state


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """uvicorn's server, ending open watches as soon as a signal asks it to stop (else it
    would wait for them: they never end on their own)."""

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.pykatib = state

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.pykatib.stop()
        super().handle_exit(sig, frame)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    db: str | None = None,
    tokens: list[Token] | None = None,
    home: Path | None = None,
    tls: tuple[str, str] | None = None,
    db_manager_port: int | None = None,
) -> None:
    """Run the server until Ctrl-C or SIGTERM; HTTPS with ``tls`` (certificate, key files);
    with ``db_manager_port`` Katib's DB manager gRPC service on that port of ``host``."""
    db_manager = f"{host}:{db_manager_port}" if db_manager_port is not None else None
    if db_manager is not None and ":" in host:
        db_manager = f"[{host}]:{db_manager_port}"
    app, state = create_app(db, home, tokens, db_manager=db_manager, tls=tls)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        log_level="warning",
        timeout_graceful_shutdown=30,
        proxy_headers=False,
        server_header=False,
    )
    _Server(config, state).run()


__all__ = ["create_app", "is_loopback", "serve"]
