"""The web UI served by ``pykatib server`` at ``/``: the built front end (:mod:`.static`) and
the JSON it reads beyond the Kubernetes-style API (:mod:`.api`). See docs/ui.md."""

from pykatib.ui.static import mount

__all__ = ["mount"]
