"""The trial runner interface: how the trial reconciler starts, watches and stops trials.

Lifecycle, as the trial reconciler drives it:

1. ``check(trial_spec, primary_container_name)`` when an experiment is applied: problems that
   make the template impossible to run with this runner, as ``path: message``.
2. ``start(request)`` once per trial run. The runner calls ``wake()`` (given at construction)
   whenever something changed that the control plane should look at: a trial ended, or new
   observations arrived. It never writes to the store itself.
3. ``status(key)`` is read on every reconcile; ``None`` means the runner knows nothing of that
   trial (it was started by a process that is gone), and the reconciler starts it again.
4. ``drain(key)`` hands over the observations collected since the last call; after acting on
   them (early stopping), the reconciler calls ``acknowledge(key)``, which releases a trial
   blocked in a synchronous ``report_metrics``.
5. ``stop(key)`` ends a trial early (experiment done, Ctrl-C, early stopping); ``forget(key)``
   releases a finished trial's bookkeeping once its final status is stored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pykatib.api.models import MetricsCollectorSpec
from pykatib.metrics.observation import ObservationPoint

TrialKey = tuple[str, str]  # (namespace, trial name)


@dataclass(frozen=True)
class RunRequest:
    """Everything a runner needs to run one trial."""

    key: TrialKey
    run_spec: dict[str, Any]
    primary_container_name: str | None
    metrics_collector: MetricsCollectorSpec
    metric_names: tuple[str, ...]
    working_dir: Path
    log_path: Path
    # The trial's own folder: container paths of collectors (and ``mapped_paths``) live here.
    trial_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    mapped_paths: tuple[str, ...] = ()
    # Another trial's folder whose ``mapped_paths`` are copied into this trial's before it
    # starts (pbt: a child resumes from its parent's checkpoint).
    seed_from: Path | None = None
    # Early stopping is on: observations are handed over at once, and Push reports wait for
    # :meth:`TrialRunner.acknowledge`.
    sync_reports: bool = False


@dataclass(frozen=True)
class RunStatus:
    """What the runner observed of a trial. ``phase``: running, succeeded, failed or stopped.

    ``job`` is the trial's job as the Kubernetes API server would show it (for a ``batch/v1``
    Job: ``status.conditions`` Complete or Failed once it ended), for Katib's
    ``successCondition`` / ``failureCondition`` (:mod:`pykatib.control.conditions`).
    """

    phase: str
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    job: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.phase != "running"


class TrialRunner(ABC):
    """Runs rendered trials of the kinds in ``kinds`` (kind -> apiVersion)."""

    kinds: ClassVar[dict[str, str]] = {}

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    @classmethod
    def check(cls, trial_spec: dict[str, Any], primary_container_name: str | None) -> list[str]:
        return []

    @abstractmethod
    def start(self, request: RunRequest) -> None: ...

    @abstractmethod
    def status(self, key: TrialKey) -> RunStatus | None: ...

    @abstractmethod
    def drain(self, key: TrialKey) -> list[ObservationPoint]: ...

    def acknowledge(self, key: TrialKey) -> None:
        """The control plane has looked at everything drained so far (synchronous Push)."""

    @abstractmethod
    def stop(self, key: TrialKey, message: str) -> None: ...

    @abstractmethod
    def forget(self, key: TrialKey) -> None: ...

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every trial still running and wait for them to exit."""
