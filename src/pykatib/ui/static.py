"""The web UI's files: ``index.html`` at ``/`` and the built assets under ``/ui/static/``
(built from ``ui/`` in the repository by ``npm --prefix ui run build``, committed, and shipped
inside the package, so that no Node.js is needed to serve them). They hold no data: every
request for data carries the token, so these paths are public (server/auth.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/ui/static"
_NOT_BUILT = """<!doctype html><title>pykatib</title>
<p>The web UI is not built in this installation. Build it with
<code>npm --prefix ui ci &amp;&amp; npm --prefix ui run build</code> (see docs/ui.md).</p>"""

router = APIRouter()


@router.get("/", include_in_schema=False)
def index() -> Response:
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        return HTMLResponse(_NOT_BUILT, status_code=503)
    # Never cached: it names the hashed assets of the build being served.
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


class _Assets(StaticFiles):
    """The built files. Those under ``assets/`` are named after a hash of their content, so a
    browser may keep them for good: a new build names its files anew."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        if path.startswith("assets/") and response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def mount(app: FastAPI) -> None:
    """Serve the UI on ``app``: the page, its assets, and its API (:mod:`pykatib.ui.api`)."""
    from pykatib.ui import api
    from pykatib.ui.timing import ServerTiming

    app.add_middleware(ServerTiming, prefix=api.PREFIX)
    app.include_router(router)
    app.include_router(api.router)
    app.mount(STATIC_PATH, _Assets(directory=STATIC_DIR, check_dir=False), name="ui-static")
