"""Runs a ``batch/v1`` Job trial as a local process.

The primary container's ``command`` + ``args`` run as written, never through a shell (a command
that is itself ``sh -c ...`` runs as written). The process gets the container's ``env`` plus
``KATIB_TRIAL_NAME``, runs in ``workingDir`` (default: the experiment file's folder), and its
stdout and stderr go, merged as Katib's ``2>&1`` capture does, to the trial's log file and, line
by line while it runs, to the StdOut collector. Other collectors read files, event files,
endpoints or the Push pipe while the trial runs (:mod:`pykatib.metrics.collectors`); container
paths they name are remapped into the trial's folder (:mod:`pykatib.runtime.paths`).

Kubernetes' Job semantics that matter locally are kept: ``backoffLimit`` (default 6) retries a
failed run (immediately: there is no pod scheduling to back off from), and
``activeDeadlineSeconds`` on the Job (all attempts) or the pod (one attempt) kills the run and
fails it with reason ``DeadlineExceeded``. ``RunStatus.job`` is the Job as the API server would
show it (``status.conditions`` as the job controller writes them), which the trial template's
``successCondition`` / ``failureCondition`` are judged against.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, ClassVar

from pykatib.metrics import collectors as _collectors
from pykatib.metrics.collectors import Collector, collector_kind, collector_path, make_collector
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.parsers import CUSTOM_COLLECTOR, PUSH_COLLECTOR
from pykatib.runtime.base import RunRequest, RunStatus, TrialKey, TrialRunner
from pykatib.runtime.paths import METRICS_PATH_ENV, TRIAL_DIR_ENV, PathMap
from pykatib.runtime.push_channel import PushChannel

log = logging.getLogger("pykatib.runtime")

DEFAULT_BACKOFF_LIMIT = 6
DEFAULT_GRACE_SECONDS = 5.0
# How long a Custom collector may go on after the trial exits, to report its last values.
CUSTOM_COLLECTOR_GRACE_SECONDS = 30.0
LIVE_UPDATE_SECONDS = 0.5
_CONTAINERS_PATH = "spec.template.spec.containers"


def primary_container(
    trial_spec: dict[str, Any], primary_name: str | None
) -> tuple[int, dict[str, Any] | None, list[dict[str, Any]]]:
    """(index, the primary container, all containers) of a Job spec."""
    pod = ((trial_spec.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    for i, c in enumerate(containers):
        if primary_name is None or c.get("name") == primary_name:
            return i, c, containers
    return -1, None, containers


class LocalJobRunner(TrialRunner):
    """Trials of kind ``Job`` as child processes of this one."""

    kinds: ClassVar[dict[str, str]] = {"Job": "batch/v1"}

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__(wake)
        self._trials: dict[TrialKey, _LocalTrial] = {}

    @classmethod
    def check(cls, trial_spec: dict[str, Any], primary_container_name: str | None) -> list[str]:
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

    def start(self, request: RunRequest) -> None:
        trial = _LocalTrial(request, self.wake)
        self._trials[request.key] = trial
        trial.thread.start()

    def status(self, key: TrialKey) -> RunStatus | None:
        trial = self._trials.get(key)
        return trial.status if trial else None

    def drain(self, key: TrialKey) -> list[ObservationPoint]:
        trial = self._trials.get(key)
        return trial.drain() if trial else []

    def acknowledge(self, key: TrialKey) -> None:
        trial = self._trials.get(key)
        if trial:
            trial.acknowledge()

    def stop(self, key: TrialKey, message: str) -> None:
        trial = self._trials.get(key)
        if trial:
            trial.stop(message)

    def forget(self, key: TrialKey) -> None:
        self._trials.pop(key, None)

    def shutdown(self, timeout: float = 10.0) -> None:
        live = [t for t in self._trials.values() if not t.status.finished]
        for trial in live:
            trial.stop("pykatib is shutting down")
        for trial in live:
            trial.thread.join(timeout)


class _LocalTrial:
    """One trial's process(es), read by its own thread."""

    def __init__(self, request: RunRequest, wake: Callable[[], None]) -> None:
        self.request = request
        self.wake = wake
        self._lock = threading.Lock()
        self._points: list[ObservationPoint] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped: str | None = None
        self._deadline_hit = False
        self._start_time = _now()  # the Job's creationTimestamp and startTime
        self._failed_pods = 0
        self.status = RunStatus("running", job=self._job("running"))
        # Synchronous Push: reports read, reports handed over by drain(), reports acknowledged.
        self._reports_read = self._reports_drained = self._reports_acked = 0
        self._channel: PushChannel | None = None
        spec = request.run_spec.get("spec") or {}
        self._pod = (spec.get("template") or {}).get("spec") or {}
        self._backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT))
        self._job_deadline = spec.get("activeDeadlineSeconds")
        self._pod_deadline = self._pod.get("activeDeadlineSeconds")
        self._grace = float(self._pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
        mc = request.metrics_collector
        self.kind = collector_kind(mc)
        path = collector_path(mc)
        self.paths = PathMap(request.trial_dir, [p for p in (path, *request.mapped_paths) if p])
        self._collector_local_path = self.paths.local(path) if path else None
        self.thread = threading.Thread(
            target=self._run, name=f"trial-{request.key[1]}", daemon=True
        )

    # --- control-plane side ----------------------------------------------------------------

    def drain(self) -> list[ObservationPoint]:
        with self._lock:
            points, self._points = self._points, []
            self._reports_drained = self._reports_read
        return points

    def acknowledge(self) -> None:
        with self._lock:
            channel, pending = self._channel, self._reports_drained - self._reports_acked
            self._reports_acked = self._reports_drained
        if channel is not None:
            channel.ack(pending)

    def stop(self, message: str) -> None:
        with self._lock:
            if self._stopped is None:
                self._stopped = message
            proc = self._proc
        if proc is not None:
            self._terminate(proc)

    def _extend(self, points: list[ObservationPoint]) -> None:
        with self._lock:
            self._points.extend(points)

    def _report_done(self) -> None:
        with self._lock:
            self._reports_read += 1
        self.wake()  # a report is complete (in synchronous mode, its sender waits)

    def _add(self, points: list[ObservationPoint]) -> None:
        if points:
            with self._lock:
                self._points.extend(points)
            self.wake()

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            status = self._attempts()
        except Exception as exc:  # a bug here must not leave the trial running forever
            log.exception("trial %s: runner error", self.request.key[1])
            status = RunStatus("failed", "RunnerError", str(exc))
        # One assignment: a reader sees the final phase and its Job together.
        self.status = replace(status, job=self._job(status.phase, status.reason, status.message))
        self.wake()

    def _attempts(self) -> RunStatus:
        req = self.request
        _, container, containers = primary_container(req.run_spec, req.primary_container_name)
        assert container is not None
        container = self.paths.rewrite_container(container)
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        req.log_path.parent.mkdir(parents=True, exist_ok=True)
        req.trial_dir.mkdir(parents=True, exist_ok=True)
        if req.seed_from is not None:
            self._seed(req.seed_from)
        if self._collector_local_path is not None:
            # Katib mounts a volume at the collector path's folder: it exists when the trial starts.
            folder = self._collector_local_path
            if self.kind != "TensorFlowEvent":
                folder = folder.parent
            folder.mkdir(parents=True, exist_ok=True)
        job_timer = self._timer(self._job_deadline)
        try:
            with open(req.log_path, "ab") as logfile:
                if len(containers) > 1:
                    others = [
                        c.get("name") for c in containers if c.get("name") != container.get("name")
                    ]
                    self._note(
                        logfile,
                        f"warning: containers {others} are ignored: only the "
                        "primary container runs locally",
                    )
                env = self._environment(container, logfile)
                cwd = container.get("workingDir") or str(req.working_dir)
                code = 0
                for attempt in range(self._backoff_limit + 1):
                    if attempt:
                        self._note(
                            logfile, f"attempt {attempt + 1} (backoffLimit {self._backoff_limit})"
                        )
                    self.status = RunStatus("running", job=self._job("running"))
                    code = self._run_once(argv, env, cwd, logfile)
                    if code != 0 and self._stopped is None:
                        self._failed_pods += 1
                    if self._stopped is not None:
                        self._note(logfile, f"stopped: {self._stopped}")
                        return RunStatus("stopped", "Stopped", self._stopped, code)
                    if self._deadline_hit:
                        return RunStatus(
                            "failed",
                            "DeadlineExceeded",
                            "Job was active longer than specified deadline",
                            code,
                        )
                    if code == 0:
                        return RunStatus("succeeded", exit_code=0)
                return RunStatus(
                    "failed",
                    "BackoffLimitExceeded",
                    f"Job has reached the specified backoff limit (last exit code {code})",
                    code,
                )
        finally:
            if job_timer is not None:
                job_timer.cancel()

    def _run_once(self, argv: list[str], env: dict[str, str], cwd: str, logfile: IO[bytes]) -> int:
        collector = make_collector(
            self.request.metrics_collector, self.request.metric_names, self._collector_local_path
        )
        env = {**env, **collector.environment()}
        channel = None
        if self.kind in (PUSH_COLLECTOR, CUSTOM_COLLECTOR):
            channel = PushChannel(self.request.metric_names, self._extend, self._report_done)
        if channel is not None and self.kind == PUSH_COLLECTOR:
            env.update(channel.child_env(sync=self.request.sync_reports))
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own process group, so stop() reaches children
                pass_fds=channel.child_fds() if channel and self.kind == PUSH_COLLECTOR else (),
            )
        except OSError as exc:
            self._note(logfile, f"error: can't start {argv[0]!r}: {exc.strerror or exc}")
            if channel is not None:
                channel.abandon()
            return 127
        custom = (
            self._start_custom_collector(channel, env, cwd, logfile)
            if channel and self.kind == CUSTOM_COLLECTOR
            else None
        )
        if channel is not None:
            channel.started()
            with self._lock:
                self._channel = channel
        with self._lock:
            self._proc = proc
            stopped = self._stopped
        if stopped is not None:
            self._terminate(proc)
        pod_timer = self._timer(self._pod_deadline)
        done = threading.Event()
        poller = None
        if collector.polls:
            poller = threading.Thread(target=self._poll, args=(collector, done), daemon=True)
            poller.start()
        try:
            self._pump(proc, logfile, collector)
            code = proc.wait()
        finally:
            done.set()
            if pod_timer is not None:
                pod_timer.cancel()
            with self._lock:
                self._proc = None
        if poller is not None:
            poller.join()
        self._add(collector.close())
        for note in collector.notes:
            self._note(logfile, note)
        if custom is not None:
            self._finish_custom_collector(custom, failed=code != 0 or self._stopped is not None)
        if channel is not None:
            with self._lock:
                self._channel = None
            channel.close()
        return code

    def _poll(self, collector: Collector, done: threading.Event) -> None:
        while not done.wait(_collectors.POLL_SECONDS):
            self._add(collector.poll())

    def _pump(
        self, proc: subprocess.Popen[bytes], logfile: IO[bytes], collector: Collector
    ) -> None:
        assert proc.stdout is not None
        feed = collector.feed_line if collector.reads_output else None
        # With early stopping on, every observation is looked at at once; otherwise the control
        # plane is woken at most every LIVE_UPDATE_SECONDS (a chatty trial mustn't keep it busy).
        eager = self.request.sync_reports
        next_wake = 0.0
        for raw in proc.stdout:
            logfile.write(raw)
            if feed is not None:
                found = feed(raw.decode("utf-8", "replace"))
                if found:
                    with self._lock:
                        self._points.extend(found)
                    if eager or time.monotonic() >= next_wake:
                        next_wake = time.monotonic() + LIVE_UPDATE_SECONDS
                        self.wake()
        logfile.flush()

    def _start_custom_collector(
        self, channel: PushChannel, env: dict[str, str], cwd: str, logfile: IO[bytes]
    ) -> subprocess.Popen[bytes] | None:
        spec = self.request.metrics_collector.collector
        container = self.paths.rewrite_container((spec.custom_collector if spec else None) or {})
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        cenv = {**env, **channel.child_env(sync=False)}
        for item in container.get("env") or []:
            if "value" in item:
                cenv[str(item["name"])] = str(item["value"])
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=cenv,
                cwd=container.get("workingDir") or cwd,
                start_new_session=True,
                pass_fds=channel.child_fds(),
            )
        except OSError as exc:
            self._note(logfile, f"error: can't start the custom collector {argv[:1]}: {exc}")
            return None

    def _finish_custom_collector(self, proc: subprocess.Popen[bytes], failed: bool) -> None:
        """Let the collector report the trial's last values, unless the trial failed."""
        if failed:
            _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=self._grace if failed else CUSTOM_COLLECTOR_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()

    def _environment(self, container: dict[str, Any], logfile: IO[bytes]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.request.env)
        for item in container.get("env") or []:
            if "value" in item:
                env[str(item["name"])] = str(item["value"])
            elif "valueFrom" in item:
                self._note(
                    logfile,
                    f"warning: env {item.get('name')} uses valueFrom, which "
                    "has no meaning locally; it is left unset",
                )
        env["KATIB_TRIAL_NAME"] = self.request.key[1]
        env[TRIAL_DIR_ENV] = str(self.request.trial_dir)
        if self._collector_local_path is not None:
            env[METRICS_PATH_ENV] = str(self._collector_local_path)
        return env

    def _seed(self, source_dir: Path) -> None:
        """Copy another trial's mapped folders into this trial's (a pbt parent's checkpoint)."""
        source = PathMap(source_dir, self.request.mapped_paths)
        for path in self.request.mapped_paths:
            src, dst = source.local(path), self.paths.local(path)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)

    def _job(self, phase: str, reason: str = "", message: str = "") -> dict[str, Any]:
        """The trial's Job as the API server shows it, with the conditions Kubernetes' job
        controller writes (v1.31 and later: SuccessCriteriaMet / FailureTarget first)."""
        now = _now()
        kinds: tuple[str, ...] = ()
        if phase == "succeeded":
            kinds = ("SuccessCriteriaMet", "Complete")
            reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
        elif phase == "failed":
            kinds = ("FailureTarget", "Failed")
        job_status: dict[str, Any] = {}
        if kinds:
            job_status["conditions"] = [
                {
                    "type": kind,
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
                for kind in kinds
            ]
        job_status["startTime"] = self._start_time
        if phase == "succeeded":
            job_status.update(completionTime=now, succeeded=1)
        if phase == "running":
            job_status["active"] = 1
        if self._failed_pods:  # the API server leaves zero counts out
            job_status["failed"] = self._failed_pods
        job_status.update(terminating=0, uncountedTerminatedPods={})
        job_status["ready"] = 1 if phase == "running" else 0
        spec = self.request.run_spec
        return {
            "apiVersion": spec.get("apiVersion", "batch/v1"),
            "kind": spec.get("kind", "Job"),
            "metadata": {
                **deepcopy(spec.get("metadata") or {}),
                "creationTimestamp": self._start_time,
            },
            "spec": deepcopy(spec.get("spec") or {}),
            "status": job_status,
        }

    def _timer(self, seconds: Any) -> threading.Timer | None:
        if seconds is None:
            return None
        timer = threading.Timer(float(seconds), self._deadline)
        timer.daemon = True
        timer.start()
        return timer

    def _deadline(self) -> None:
        self._deadline_hit = True
        with self._lock:
            proc = self._proc
        if proc is not None:
            self._terminate(proc)

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc, signal.SIGTERM)
        killer = threading.Timer(self._grace, _signal_group, (proc, signal.SIGKILL))
        killer.daemon = True
        killer.start()

    @staticmethod
    def _note(logfile: IO[bytes], text: str) -> None:
        logfile.write(f"[pykatib] {text}\n".encode())
        logfile.flush()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is not None and sig == signal.SIGKILL:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


__all__ = ["LocalJobRunner", "primary_container"]
