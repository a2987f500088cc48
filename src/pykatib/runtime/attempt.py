"""One attempt of a local trial: its folder, how it starts under a shim, how its end is told.

:class:`Layout` knows, for one trial, where an attempt's files go and what it runs: the primary
container's ``command`` + ``args`` as written (never through a shell), with the container's
``env`` plus ``KATIB_TRIAL_NAME``, ``PYKATIB_TRIAL_DIR`` and ``PYKATIB_METRICS_PATH``, in its
``workingDir`` (default: the experiment file's folder), container paths remapped into the
attempt's folder (:mod:`pykatib.runtime.paths`); a Custom collector beside it. :class:`Attempt`
is one such run; :class:`ExitWaiter` tells when its shim has exited (or was lost).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pykatib.metrics.collectors import Collector, collector_kind, collector_path, make_collector
from pykatib.metrics.parsers import CUSTOM_COLLECTOR, PUSH_COLLECTOR, STDOUT_COLLECTOR
from pykatib.runtime import gang, replicas, resources, shim
from pykatib.runtime.base import RunRequest
from pykatib.runtime.paths import (
    METRICS_PATH_ENV,
    TRIAL_DIR_ENV,
    AttemptFiles,
    PathMap,
    attempt_dir,
    latest_attempt_dir,
)
from pykatib.runtime.push_channel import PushChannel

# How long a Custom collector may go on after the trial exits, to report its last values.
CUSTOM_COLLECTOR_GRACE_SECONDS = 30.0


def primary_container(
    trial_spec: dict[str, Any], primary_name: str | None
) -> tuple[int, dict[str, Any] | None, list[dict[str, Any]]]:
    """(index, the primary container, all containers) of a Job spec (of a training job: of
    its leader's pod)."""
    containers = primary_pod(trial_spec).get("containers") or []
    for i, c in enumerate(containers):
        if primary_name is None or c.get("name") == primary_name:
            return i, c, containers
    return -1, None, containers


def primary_pod(trial_spec: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Job, or of a training job's leader replica."""
    if replicas.is_training_kind(trial_spec):
        found = replicas.replicas(trial_spec)
        return dict(found[0].pod_spec) if found else {}
    return ((trial_spec.get("spec") or {}).get("template") or {}).get("spec") or {}


@dataclass
class Attempt:
    """One attempt of a trial: its folder, collector, and shim."""

    number: int
    files: AttemptFiles
    started: datetime
    collector: Collector
    channel: PushChannel | None = None
    proc: subprocess.Popen[bytes] | None = None  # the shim, when this process started it
    ident: shim.Started | None = None
    ended: int | None = None  # run by this process's launcher: readable once it has exited
    stopping: str | None = None  # why the runner ended it: "stopped" or "deadline"
    kill_at: float | None = None  # when SIGKILL follows the SIGTERM (time.monotonic)
    closed: bool = False  # the collector has read its last
    # The collector is read by the watching thread, and by stop() for what came before it.
    reading: threading.Lock = field(default_factory=threading.Lock)

    def note(self, text: str) -> None:
        """A line of pykatib's own in the attempt's log."""
        with open(self.files.log, "ab") as logfile:
            logfile.write(f"[pykatib] {text}\n".encode())

    def signal(self, sig: int) -> None:
        """Signal the trial's (and the Custom collector's) process group."""
        ident = self.ident
        if ident is None:
            return
        # The group outlives its leader's pid only until the shim (its reaper) has written the
        # exit (a launcher runs on after).
        reaping = ident.shim.alive() and not self.files.exit.exists()
        for proc in (ident.trial, ident.sidecar):
            if proc is not None and (proc.alive() or reaping):
                proc.signal_group(sig)

    def mark_stopping(self, why: str) -> None:
        """Say in the folder why the runner ends the attempt, for a control plane adopting it."""
        try:
            tmp = self.files.state / ".stop.tmp"
            tmp.write_text(why)
            os.replace(tmp, self.files.stop)
        except OSError:
            pass


@dataclass(frozen=True)
class Launch:
    """What the shim of a new attempt runs."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    sidecar: tuple[str, list[str], dict[str, str]] | None  # a Custom collector: cwd, argv, env
    memory_limit: int | None = None  # bytes: the container's resources.limits.memory


class Layout:
    """Where a trial's attempts live and what each runs."""

    def __init__(self, request: RunRequest, grace: float) -> None:
        self.request = request
        self.grace = grace
        self.kind = collector_kind(request.metrics_collector)
        self.collector_path = collector_path(request.metrics_collector)

    def files(self, number: int) -> AttemptFiles:
        return AttemptFiles(attempt_dir(self.request.trial_dir, number))

    def paths(self, files: AttemptFiles, replica: str | None = None) -> PathMap:
        """Container paths mapped into the attempt's folder (a training job's other replicas:
        into a folder of each one's own, as each pod has its own filesystem)."""
        mapped = [p for p in (self.collector_path, *self.request.mapped_paths) if p]
        base = files.root if replica is None else files.root / "replicas" / replica
        return PathMap(base, mapped)

    def open(self, number: int, started: datetime, fresh: bool, made: bool = False) -> Attempt:
        """An attempt with its collector and channel (``fresh``: a new one, its folder made
        here unless :meth:`create` ``made`` it; else adopted)."""
        req = self.request
        files = self.files(number)
        if fresh and not made:  # a runner that runs it elsewhere (Kubernetes) keeps its log here
            os.makedirs(files.state, exist_ok=True)
        local = self.paths(files).local(self.collector_path) if self.collector_path else None
        if fresh and local is not None:
            # Katib mounts a volume at the collector path's folder: it exists when the trial starts.
            (local if self.kind == "TensorFlowEvent" else local.parent).mkdir(
                parents=True, exist_ok=True
            )
        collector = make_collector(
            req.metrics_collector, req.metric_names, local, files.log, files.metrics
        )
        if fresh and self.kind == STDOUT_COLLECTOR and files.log.exists():
            collector.restore({"offset": files.log.stat().st_size})  # pykatib's notes: no output
        channel = None
        if self.kind in (PUSH_COLLECTOR, CUSTOM_COLLECTOR):
            channel = PushChannel(files, sync=req.sync_reports and self.kind == PUSH_COLLECTOR)
            channel.open()
        return Attempt(number, files, started, collector, channel)

    def create(self, number: int, started: datetime, notes: list[str]) -> tuple[Attempt, Launch]:
        """A new attempt's folder (seeded, ``notes`` in its log), and what its shim will run."""
        req = self.request
        files = self.files(number)
        os.makedirs(files.state, exist_ok=True)  # pathlib's mkdir costs several times more
        if req.seed_from is not None:
            self._seed(req.seed_from, files)
        if replicas.is_training_kind(req.run_spec):
            return self._create_gang(number, started, files, notes)
        _, container, containers = primary_container(req.run_spec, req.primary_container_name)
        assert container is not None
        if len(containers) > 1:
            others = [c.get("name") for c in containers if c.get("name") != container.get("name")]
            notes.insert(
                0,
                f"warning: containers {others} are ignored: only the primary container runs "
                "locally",
            )
        paths = self.paths(files)
        container = paths.rewrite_container(container)
        env = self._environment(container, files, notes)
        if notes:
            with open(files.log, "ab") as logfile:
                logfile.write("".join(f"[pykatib] {n}\n" for n in notes).encode())
        attempt = self.open(number, started, fresh=True, made=True)
        env.update(attempt.collector.environment())
        sidecar = None
        if attempt.channel is not None:
            env.update(attempt.channel.environment(reporter=self.kind == PUSH_COLLECTOR))
            if self.kind == CUSTOM_COLLECTOR:
                sidecar = self._sidecar(paths, attempt.channel, container)
        cwd = container.get("workingDir") or str(req.working_dir)
        limits = (container.get("resources") or {}).get("limits") or {}
        memory = shim.memory_bytes(limits["memory"]) if limits.get("memory") else None
        return attempt, Launch(_argv(container), cwd, env, sidecar, memory)

    def _create_gang(
        self, number: int, started: datetime, files: AttemptFiles, notes: list[str]
    ) -> tuple[Attempt, Launch]:
        """A training job's attempt: the gang (:mod:`pykatib.runtime.gang`) runs every replica,
        each with the training operator's environment, the primary one with the collector's."""
        req = self.request
        spec = req.run_spec
        job_name = str((spec.get("metadata") or {}).get("name") or req.key[1])
        everyone = replicas.replicas(spec)
        primary = replicas.primaries(everyone, job_name, req.primary_pod_labels)[0]
        operator_env = replicas.environments(spec, everyone)
        attempt = self.open(number, started, fresh=True, made=True)
        plan: list[dict[str, Any]] = []
        sidecar = None
        for replica in everyone:
            container = replica.container(req.primary_container_name) or {}
            paths = self.paths(files, None if replica is primary else replica.name)
            container = paths.rewrite_container(container)
            env = self._environment(container, files, notes, replica.name)
            env.update(operator_env[replica.name])
            log = None
            if replica is primary:
                env.update(attempt.collector.environment())
                if attempt.channel is not None:
                    env.update(attempt.channel.environment(reporter=self.kind == PUSH_COLLECTOR))
                    if self.kind == CUSTOM_COLLECTOR:
                        sidecar = self._sidecar(paths, attempt.channel, container)
            else:
                log = files.replica_log(replica.name)
                log.parent.mkdir(parents=True, exist_ok=True)
                env.pop(METRICS_PATH_ENV, None)
            limits = (container.get("resources") or {}).get("limits") or {}
            plan.append(
                {
                    "name": replica.name,
                    "argv": _argv(container),
                    "cwd": container.get("workingDir") or str(req.working_dir),
                    "env": env,
                    "log": None if log is None else str(log),
                    "memory": shim.memory_bytes(limits["memory"]) if limits.get("memory") else None,
                    "leader": replica.leader,
                }
            )
        names = ", ".join(r.name for r in everyone)
        notes.insert(
            0, f"{spec.get('kind')} {job_name}: replicas {names}; this log is {primary.name}'s"
        )
        with open(files.log, "ab") as logfile:
            logfile.write("".join(f"[pykatib] {n}\n" for n in notes).encode())
        plan_file = files.gang
        plan_file.write_text(
            json.dumps(
                {
                    "grace": self.grace,
                    "states": str(files.replicas),
                    "success": "leader",
                    "replicas": plan,
                }
            )
        )
        argv = [sys.executable, "-I", "-S", gang.__file__, str(plan_file)]
        return attempt, Launch(argv, str(req.working_dir), dict(os.environ), sidecar)

    def spawn(self, attempt: Attempt, launch: Launch) -> None:
        """Start the attempt's shim; sets ``proc`` and ``ident``."""
        attempt.proc, attempt.ident, attempt.ended = shim.spawn(
            attempt.files,
            launch.argv,
            launch.cwd,
            launch.env,
            self.grace,
            CUSTOM_COLLECTOR_GRACE_SECONDS,
            launch.sidecar,
            launch.memory_limit,
        )

    def memory_limit(self) -> str | None:
        """The primary container's ``resources.limits.memory``, as written."""
        _, container, _ = primary_container(
            self.request.run_spec, self.request.primary_container_name
        )
        limits = ((container or {}).get("resources") or {}).get("limits") or {}
        return str(limits["memory"]) if limits.get("memory") else None

    def argv(self, attempt: Attempt) -> list[str]:
        """What the attempt runs (remapped into its folder)."""
        req = self.request
        _, container, _ = primary_container(req.run_spec, req.primary_container_name)
        return _argv(self.paths(attempt.files).rewrite_container(container or {}))

    def _sidecar(
        self, paths: PathMap, channel: PushChannel, trial_container: dict[str, Any]
    ) -> tuple[str, list[str], dict[str, str]]:
        """The Custom collector's (cwd, argv, env beyond the trial's)."""
        spec = self.request.metrics_collector.collector
        container = paths.rewrite_container((spec.custom_collector if spec else None) or {})
        extra = channel.environment(reporter=False)
        for item in container.get("env") or []:
            if "value" in item:
                extra[str(item["name"])] = str(item["value"])
        cwd = container.get("workingDir") or trial_container.get("workingDir")
        return cwd or str(self.request.working_dir), _argv(container), extra

    def _environment(
        self,
        container: dict[str, Any],
        files: AttemptFiles,
        notes: list[str],
        replica: str = resources.JOB_REPLICA,
    ) -> dict[str, str]:
        env = _environ()
        env.update(self.request.env)
        env.update(resources.thread_caps(container))  # its CPU limit, as thread pool sizes
        devices = self.request.devices.get(replica)
        if devices:  # the GPUs it was given: its own, as a pod's
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        for item in container.get("env") or []:
            if "value" in item:
                env[str(item["name"])] = str(item["value"])
            elif "valueFrom" in item:
                notes.append(
                    f"warning: env {item.get('name')} uses valueFrom, which "
                    "has no meaning locally; it is left unset"
                )
        env["KATIB_TRIAL_NAME"] = self.request.key[1]
        env[TRIAL_DIR_ENV] = str(files.root)
        if self.collector_path is not None:
            env[METRICS_PATH_ENV] = str(self.paths(files).local(self.collector_path))
        return env

    def _seed(self, source_trial: Path, files: AttemptFiles) -> None:
        """Copy another trial's final attempt's mapped folders into this attempt's (a pbt
        parent's checkpoint)."""
        source_dir = latest_attempt_dir(source_trial) or source_trial
        source = PathMap(source_dir, self.request.mapped_paths)
        target = self.paths(files)
        for path in self.request.mapped_paths:
            src, dst = source.local(path), target.local(path)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


class ExitWaiter:
    """Tells when an attempt has ended: at once through the launcher's pipe (run by this
    process's launcher) or a pidfd where Linux has them (the shim is this process's child, or an
    adopted one), else by looking at each poll."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self._fd, attempt.ended = attempt.ended, None
        self._pipe = self._fd is not None  # at its end once the launcher is done with it
        # Not this process's child nor its launcher's: its shim is looked at, its exit read.
        self._adopted = not self._pipe and attempt.proc is None
        if self._pipe:
            return
        pid = attempt.proc.pid if attempt.proc is not None else None
        if pid is None and attempt.ident is not None:
            pid = attempt.ident.shim.pid
        if pid is not None and hasattr(os, "pidfd_open"):
            try:
                self._fd = os.pidfd_open(pid)
            except OSError:
                self._fd = None

    def fileno(self) -> int | None:
        """Readable once the shim has exited (None: poll)."""
        return self._fd

    def poll(self) -> shim.Exited | None:
        """How the attempt ended, or None while it runs."""
        attempt = self.attempt
        if self._pipe:
            if not select.select([self._fd], [], [], 0)[0]:
                return None
        elif attempt.proc is not None:
            if attempt.proc.poll() is None:
                return None
        elif attempt.ident is None and not attempt.files.exit.exists():
            return shim.Exited(None, signal.SIGTERM, time.time(), None)  # stopped before it began
        exited = shim.read_exited(attempt.files)
        if exited is not None:
            return exited
        if attempt.ident is not None and self._adopted and attempt.ident.shim.alive():
            return None  # its shim runs on (an exit file being written is not there yet)
        end_orphan(attempt.files)
        return shim.Exited(None, None, time.time(), None, lost=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def end_orphan(files: AttemptFiles) -> None:
    """Kill what is left of an attempt that has no exit status (its shim is gone or must go)."""
    if files.exit.exists():
        return
    started = shim.read_started(files)
    if started is None or started.host != shim.HOST:
        return
    for proc in (started.trial, started.sidecar):
        if proc is not None and proc.alive():
            proc.signal_group(signal.SIGKILL)


def read_stopping(files: AttemptFiles) -> str | None:
    """Why a runner ended the attempt ("stopped" or "deadline"), if one did."""
    try:
        return files.stop.read_text() or None
    except OSError:
        return None


_ENVIRON: tuple[dict[bytes, bytes], dict[str, str]] = ({}, {})


def _environ() -> dict[str, str]:
    """A copy of this process's environment. ``dict(os.environ)`` decodes every variable at
    each copy (60 us a trial); this decodes them again only when the environment changed."""
    global _ENVIRON
    raw = getattr(os.environ, "_data", None)
    if not isinstance(raw, dict):
        return dict(os.environ)
    if _ENVIRON[0] != raw:
        _ENVIRON = (dict(raw), dict(os.environ))
    return dict(_ENVIRON[1])


def _argv(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
