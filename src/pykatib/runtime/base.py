"""The trial runner interface: how the trial reconciler starts, watches and stops trials.

Lifecycle, as the trial reconciler drives it:

1. ``check(trial_spec, primary_container_name)`` when an experiment is applied: problems that
   make the template impossible to run with this runner, as ``path: message``.
2. ``reserve(request)`` before each start: None once what the trial needs of the machine is
   held for it, else why it waits (Pending; asked again after a ``wake()``); then
   ``start(request)`` once per run of a trial; it returns the run's *record* (JSON, or None),
   which the reconciler stores with the trial (the ``pykatib.kubeflow.org/attempt``
   annotation) in the transaction that marks it Running. The runner calls ``wake()`` (given at
   construction) whenever something changed that the control plane should look at: a trial
   ended, or new observations arrived. It never writes to the store itself.
3. ``status(key)`` is read on every reconcile. ``None`` means the runner knows nothing of that
   trial: it was started by a control plane that is gone. The reconciler then calls
   ``adopt(request, record)`` with the stored record: the runner watches the run again, or
   takes the result it left (True), or says it is lost (False), and the reconciler starts the
   trial again.
4. ``drain(key)`` hands over the observations collected since the last call, with the record as
   of them (where its collector goes on reading), which the reconciler stores in the same
   transaction as the observations; ``restarted`` says that a new attempt began (a
   ``backoffLimit`` retry), so that the observations stored before are void. After acting on
   them (early stopping), the reconciler calls ``acknowledge(key)``, which releases a trial
   blocked in a synchronous ``report_metrics``.
5. ``stop(key)`` ends a trial early (experiment done, Ctrl-C, early stopping); ``forget(key)``
   releases a finished trial's bookkeeping once its final status is stored, or stops watching a
   running one that another control plane takes over (it keeps running).
6. ``shutdown()`` stops every trial still running (Ctrl-C of ``pykatib run``). When the control
   plane stops cleanly (a server's SIGTERM), ``detach()`` comes first: a runner whose trials
   outlive its process (a cluster's jobs) stops watching them and leaves them running, for the
   next control plane to adopt.
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
    # The trial's own folder: each attempt gets a folder in it, where container paths of
    # collectors (and ``mapped_paths``) and the attempt's log live.
    trial_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    mapped_paths: tuple[str, ...] = ()
    # Another trial's folder whose final attempt's ``mapped_paths`` are copied into each
    # attempt of this trial before it starts (pbt: a child resumes from its parent's checkpoint).
    seed_from: Path | None = None
    # Early stopping is on: observations are handed over at once, and Push reports wait for
    # :meth:`TrialRunner.acknowledge`.
    sync_reports: bool = False
    # A training job's (PyTorchJob...) replicas whose metrics count (None: Katib's default,
    # the master role).
    primary_pod_labels: dict[str, str] | None = None
    # The GPUs each replica was given ("job": a Job's one), from :meth:`TrialRunner.reserve`.
    devices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The trial's labels (katib.kubeflow.org/experiment...), its template's conditions and
    # retain: for a runner whose jobs live in a cluster, which judges and labels them itself.
    labels: dict[str, str] = field(default_factory=dict)
    success_condition: str = ""
    failure_condition: str = ""
    retain: bool = False


@dataclass(frozen=True)
class RunStatus:
    """What the runner observed of a trial. ``phase``: running, succeeded, failed or stopped.

    ``job`` is the trial's job as the Kubernetes API server would show it (for a ``batch/v1``
    Job: ``status.conditions`` Complete or Failed once it ended), for Katib's
    ``successCondition`` / ``failureCondition`` (:mod:`pykatib.control.conditions`). A failed
    run without one is the runner's own failure (the cluster refused the job, the runner
    broke): the trial fails with ``reason`` and ``message``, its conditions unread.
    """

    phase: str
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    job: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.phase != "running"


@dataclass(frozen=True)
class Drained:
    """Observations read since the last :meth:`TrialRunner.drain`, and the run's record as of
    them (None: unchanged). ``restarted``: a new attempt began, so the observations handed over
    before belong to an attempt that no longer counts."""

    points: list[ObservationPoint] = field(default_factory=list)
    record: dict[str, Any] | None = None
    restarted: bool = False


class TrialRunner(ABC):
    """Runs rendered trials of the kinds in ``kinds`` (kind -> apiVersion)."""

    kinds: ClassVar[dict[str, str]] = {}

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    @classmethod
    def check(cls, trial_spec: dict[str, Any], primary_container_name: str | None) -> list[str]:
        return []

    def reserve(self, request: RunRequest) -> str | None:
        """Hold what the trial needs of the machine before :meth:`start`: None when it is held,
        else why the trial must wait (it is asked again after ``wake()``)."""
        return None

    @abstractmethod
    def start(self, request: RunRequest) -> dict[str, Any] | None:
        """Run the trial; returns its record, to be stored with the trial."""

    def adopt(self, request: RunRequest, record: dict[str, Any]) -> bool:
        """Watch again a run that a control plane now gone started, described by the ``record``
        it stored. True: the runner knows the trial now (``status`` says whether it still runs);
        False: the run is lost, and the trial must be started again."""
        return False

    @abstractmethod
    def status(self, key: TrialKey) -> RunStatus | None: ...

    @abstractmethod
    def drain(self, key: TrialKey) -> Drained: ...

    def acknowledge(self, key: TrialKey) -> None:
        """The control plane has looked at everything drained so far (synchronous Push)."""

    @abstractmethod
    def stop(self, key: TrialKey, message: str) -> None: ...

    @abstractmethod
    def forget(self, key: TrialKey) -> None: ...

    def experiment_deleted(self, namespace: str, name: str) -> None:
        """The experiment is gone from the store (its running trials stopped): remove what its
        trials left where they ran (a cluster's retained jobs)."""

    def detach(self) -> bool:
        """The control plane stops, its trials' status unstored: stop watching them and leave
        them running (True), or say they end with this process (False: ``shutdown`` stops
        them)."""
        return False

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every trial still running and wait for them to exit."""


class KeyedTrialRunner(TrialRunner):
    """A runner that keeps an object per trial it runs, by key, and answers the control plane's
    per-trial calls from it (a trial it does not know has no status and nothing to drain)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__(wake)
        self._trials: dict[TrialKey, Any] = {}

    def status(self, key: TrialKey) -> RunStatus | None:
        trial = self._trials.get(key)
        return trial.status if trial else None

    def drain(self, key: TrialKey) -> Drained:
        trial = self._trials.get(key)
        return trial.drain() if trial else Drained()

    def acknowledge(self, key: TrialKey) -> None:
        trial = self._trials.get(key)
        if trial:
            trial.acknowledge()

    def stop(self, key: TrialKey, message: str) -> None:
        trial = self._trials.get(key)
        if trial:
            trial.stop(message)
