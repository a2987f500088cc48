"""Runs a ``batch/v1`` Job trial as local processes that outlive the control plane.

Each attempt of a trial runs under a shim (:mod:`pykatib.runtime.shim`), in a folder of its own
(:mod:`pykatib.runtime.paths`), as :mod:`pykatib.runtime.attempt` lays it out; stdout and
stderr go, merged as Katib's ``2>&1`` capture does, to the attempt's log. The collector tails
files while the attempt runs (:mod:`pykatib.metrics.collectors`). Nothing connects a trial to
the control plane but files, so a trial survives a crash of the control plane, and the next
one adopts it (:meth:`LocalJobRunner.adopt`). :mod:`pykatib.runtime.trial` keeps Kubernetes'
Job semantics (``backoffLimit``, ``activeDeadlineSeconds``, the grace period), and
``RunStatus.job`` is the Job as the API server would show it (:mod:`pykatib.runtime.job`),
which the trial template's ``successCondition`` / ``failureCondition`` are judged against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

from pykatib.runtime import SUPPORTED_TRIAL_KINDS, replicas
from pykatib.runtime.attempt import primary_container
from pykatib.runtime.base import KeyedTrialRunner, RunRequest, TrialKey
from pykatib.runtime.resources import MACHINE, Grant, Machine, trial_needs
from pykatib.runtime.trial import WATCHER, LocalTrial

_CONTAINERS_PATH = "spec.template.spec.containers"


class LocalJobRunner(KeyedTrialRunner):
    """Trials of kind ``Job`` as local processes, each attempt under a shim; the training
    operator's kinds (PyTorchJob...) as a gang of processes, one per replica."""

    kinds: ClassVar[dict[str, str]] = SUPPORTED_TRIAL_KINDS

    def __init__(self, wake: Callable[[], None], machine: Machine | None = None) -> None:
        super().__init__(wake)
        self.machine = machine or MACHINE
        self.machine.subscribe(wake)  # a trial anywhere in this process freed what it held
        self._grants: dict[TrialKey, Grant] = {}
        self._trials: dict[TrialKey, LocalTrial] = {}
        # Forgotten while being stopped: shutdown() still waits for them.
        self._ending: list[LocalTrial] = []

    @classmethod
    def check(
        cls,
        trial_spec: dict[str, Any],
        primary_container_name: str | None,
        primary_pod_labels: dict[str, str] | None = None,
    ) -> list[str]:
        if replicas.is_training_kind(trial_spec):
            return replicas.check(trial_spec, primary_container_name, primary_pod_labels)
        base = "spec.trialTemplate.trialSpec"
        i, container, containers = primary_container(trial_spec, primary_container_name)
        if not containers:
            return [f"{base}.{_CONTAINERS_PATH}: a Job needs at least one container"]
        if container is None:
            names = ", ".join(str(c.get("name")) for c in containers)
            return [
                (
                    f"spec.trialTemplate.primaryContainerName: no container named "
                    f'"{primary_container_name}" (containers: {names})'
                )
            ]
        if not container.get("command"):
            return [
                (
                    f"{base}.{_CONTAINERS_PATH}[{i}].command: a local trial needs a command to "
                    "run (an image's entrypoint can't run outside its container); "
                    "write the entrypoint as the container's command"
                )
            ]
        return []

    @classmethod
    def warnings(cls, trial_spec: dict[str, Any], primary_container_name: str | None) -> list[str]:
        """What will run differently from a cluster (shown when the experiment is applied)."""
        if replicas.is_training_kind(trial_spec):
            return []
        _, container, containers = primary_container(trial_spec, primary_container_name)
        others = [str(c.get("name")) for c in containers if c is not container]
        if container is None or not others:
            return []
        names = ", ".join(others)
        primary = container.get("name")
        return [
            f'spec.trialTemplate.trialSpec: containers {names} are ignored: only the primary container "{primary}" runs locally'
        ]

    @classmethod
    def check_collector(cls, custom_collector: dict[str, Any] | None) -> list[str]:
        """A Custom collector runs locally too, so it needs a command."""
        if custom_collector is not None and not custom_collector.get("command"):
            return [
                (
                    "spec.metricsCollectorSpec.collector.customCollector.command: a Custom "
                    "collector runs locally beside the trial, so it needs a command (an image's "
                    "entrypoint can't run outside its container); write the collector's "
                    "entrypoint as its command, or use the Push collector"
                )
            ]
        return []

    def reserve(self, request: RunRequest) -> str | None:
        needs = trial_needs(request.run_spec, request.primary_container_name)
        if not any(needs.values()):
            return None  # asks for nothing: parallelTrialCount alone limits it
        grant = self.machine.grant(request.key, needs)
        if isinstance(grant, str):
            return grant
        self._grants[request.key] = grant
        return None

    def start(self, request: RunRequest) -> dict[str, Any]:
        grant = self._grants.get(request.key)
        if grant is not None:
            request = replace(request, devices=dict(grant.devices))
        trial = LocalTrial(request, self.wake, self._releaser(request.key))
        record = trial.begin()
        self._trials[request.key] = trial
        WATCHER.add(trial)
        return record

    def adopt(self, request: RunRequest, record: dict[str, Any]) -> bool:
        devices = record.get("devices") or {}
        if isinstance(devices, dict):
            request = replace(request, devices={k: tuple(v) for k, v in devices.items()})
        trial = LocalTrial(request, self.wake, self._releaser(request.key))
        if not trial.adopt(record):
            return False
        needs = trial_needs(request.run_spec, request.primary_container_name)
        if any(needs.values()):  # it runs already, with what it was given
            self.machine.grant(request.key, needs, devices=request.devices)
        self._trials[request.key] = trial
        WATCHER.add(trial)
        return True

    def _releaser(self, key: TrialKey) -> Callable[[], None]:
        def release() -> None:
            self._grants.pop(key, None)
            self.machine.release(key)

        return release

    def forget(self, key: TrialKey) -> None:
        self._releaser(key)()
        trial = self._trials.pop(key, None)
        if trial is None or trial.status.finished:
            return
        if trial.stopping:
            # The watcher sees it to the end (SIGKILL after the grace period).
            self._ending = [t for t in self._ending if not t.done.is_set()] + [trial]
        else:
            trial.release()  # left running: another control plane watches it now

    def shutdown(self, timeout: float = 10.0) -> None:
        live = [t for t in self._trials.values() if not t.status.finished]
        for trial in live:
            trial.stop("pykatib is shutting down")
        for trial in live + self._ending:
            trial.done.wait(timeout)
        self._ending.clear()
        for key in list(self._grants):
            self._releaser(key)()


__all__ = ["LocalJobRunner", "primary_container"]
