"""Which runtime runs this process's trials: ``local`` (the default), ``dask`` or ``kubernetes``.

Chosen once per process, as the machine's capacity is (:mod:`pykatib.runtime.resources`), by
``pykatib run`` / ``pykatib server`` (``--runtime``, ``--dask-scheduler``; Kubernetes from the
kubeconfig or in-cluster); every control plane
built afterwards (:class:`~pykatib.control.controller.Controller`) runs its trials with it, and
admission (:mod:`pykatib.control.admission`) holds experiments to what it can run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pykatib.runtime.base import TrialRunner
from pykatib.runtime.local import LocalJobRunner

RUNTIMES = ("local", "dask", "kubernetes")


@dataclass(frozen=True)
class Runtime:
    name: str = "local"
    dask_scheduler: str | None = None

    @property
    def runner(self) -> Any:
        """The runner class (its ``check``, ``warnings`` and ``check_collector`` for admission)."""
        if self.name == "kubernetes":
            from pykatib.runtime.kubernetes import KubernetesJobRunner

            return KubernetesJobRunner
        if self.name == "dask":
            from pykatib.runtime.dask import DaskJobRunner

            return DaskJobRunner
        return LocalJobRunner

    @property
    def runs_any_kind(self) -> bool:
        """Trials of any kind the cluster serves (custom resources too), not only Job and the
        training operator's kinds."""
        return self.name == "kubernetes"

    @property
    def uses_this_machine(self) -> bool:
        """Trials run here, so they must fit in this machine's capacity."""
        return self.name == "local"

    def factory(self) -> Callable[[Callable[[], None]], TrialRunner]:
        if self.name == "kubernetes":
            from pykatib.runtime.kubernetes import KubernetesJobRunner
            from pykatib.runtime.kubernetes_api import load_api_client

            api_client = load_api_client()  # once: every control plane shares its pool
            return lambda wake: KubernetesJobRunner(wake, api_client)
        if self.name == "dask":
            from pykatib.runtime.dask import DaskJobRunner

            scheduler = self.dask_scheduler
            assert scheduler is not None
            return lambda wake: DaskJobRunner(wake, scheduler)
        return LocalJobRunner


_current = Runtime()


def use(runtime: Runtime) -> None:
    """Run this process's trials with ``runtime`` from now on."""
    global _current
    _current = runtime


def current() -> Runtime:
    return _current


def kubernetes_problem() -> str | None:
    """Why ``--runtime kubernetes`` can't run here (no client, no cluster), or None."""
    if importlib.util.find_spec("kubernetes") is None:
        return '--runtime kubernetes needs the Kubernetes client: pip install "pykatib[kubernetes]"'
    from pykatib.runtime.kubernetes_api import KubernetesRuntimeError, load_api_client

    try:
        load_api_client()
    except KubernetesRuntimeError as exc:
        return str(exc)
    return None
