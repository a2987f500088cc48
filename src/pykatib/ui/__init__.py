"""The web UI served by ``pykatib server`` at ``/``: the built front end (:mod:`.static`) and
the JSON it reads beyond the Kubernetes-style API (:mod:`.api`). See docs/ui.md."""

from __future__ import annotations

from typing import Any

from pykatib.ui.static import mount

__all__ = ["mount", "warm"]


def warm(app: Any) -> None:
    """Start reading the newest experiments' rows for the UI (:func:`pykatib.ui.api.warm`)."""
    from pykatib.ui import api  # as mount does: the API needs the server's modules

    api.warm(app)
