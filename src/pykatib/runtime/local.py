"""Runs a ``batch/v1`` Job trial as a local process.

The primary container's ``command`` + ``args`` run as written, never through a shell (a command
that is itself ``sh -c ...`` runs as written). The process gets the container's ``env`` plus
``KATIB_TRIAL_NAME``, runs in ``workingDir`` (default: the experiment file's folder), and its
stdout and stderr go, merged as Katib's ``2>&1`` capture does, both to the trial's log file and
to the metrics parser, line by line while it runs.

Kubernetes' Job semantics that matter locally are kept: ``backoffLimit`` (default 6) retries a
failed run (immediately: there is no pod scheduling to back off from), and
``activeDeadlineSeconds`` on the Job (all attempts) or the pod (one attempt) kills the run and
fails it with reason ``DeadlineExceeded``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from typing import Any

from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.text import TextMetricsParser
from pykatib.runtime.base import RunRequest, RunStatus, TrialKey, TrialRunner

log = logging.getLogger("pykatib.runtime")

DEFAULT_BACKOFF_LIMIT = 6
DEFAULT_GRACE_SECONDS = 5.0
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

    kinds = {"Job": "batch/v1"}

    def __init__(self, wake: Any) -> None:
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
                f"spec.trialTemplate.primaryContainerName: no container named "
                f'"{primary_container_name}" (containers: {names})'
            ]
        if not container.get("command"):
            return [
                f"{base}.{_CONTAINERS_PATH}[{i}].command: a local trial needs a command to run "
                "(an image's entrypoint can't run outside its container); "
                "write the entrypoint as the container's command"
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

    def __init__(self, request: RunRequest, wake: Any) -> None:
        self.request = request
        self.wake = wake
        self.status = RunStatus("running")
        self._lock = threading.Lock()
        self._points: list[ObservationPoint] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped: str | None = None
        self._deadline_hit = False
        spec = request.run_spec.get("spec") or {}
        self._pod = (spec.get("template") or {}).get("spec") or {}
        self._backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT))
        self._job_deadline = spec.get("activeDeadlineSeconds")
        self._pod_deadline = self._pod.get("activeDeadlineSeconds")
        self._grace = float(self._pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
        source = request.metrics_collector.source
        filters = source.filter.metrics_format if source and source.filter else None
        self._parser = TextMetricsParser(request.metric_names, filters)
        self.thread = threading.Thread(
            target=self._run, name=f"trial-{request.key[1]}", daemon=True
        )

    # --- control-plane side ----------------------------------------------------------------

    def drain(self) -> list[ObservationPoint]:
        with self._lock:
            points, self._points = self._points, []
        return points

    def stop(self, message: str) -> None:
        with self._lock:
            if self._stopped is None:
                self._stopped = message
            proc = self._proc
        if proc is not None:
            self._terminate(proc)

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.status = self._attempts()
        except Exception as exc:  # a bug here must not leave the trial running forever
            log.exception("trial %s: runner error", self.request.key[1])
            self.status = RunStatus("failed", "RunnerError", str(exc))
        finally:
            self.wake()

    def _attempts(self) -> RunStatus:
        req = self.request
        _, container, containers = primary_container(req.run_spec, req.primary_container_name)
        assert container is not None
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        req.log_path.parent.mkdir(parents=True, exist_ok=True)
        job_timer = None
        if self._job_deadline is not None:
            job_timer = threading.Timer(float(self._job_deadline), self._deadline)
            job_timer.daemon = True
            job_timer.start()
        try:
            with open(req.log_path, "ab") as logfile:
                if len(containers) > 1:
                    others = [c.get("name") for c in containers if c is not container]
                    self._note(logfile, f"warning: containers {others} are ignored: only the "
                               "primary container runs locally")
                env = self._environment(container, logfile)
                cwd = container.get("workingDir") or str(req.working_dir)
                for attempt in range(self._backoff_limit + 1):
                    if attempt:
                        self._note(logfile, f"attempt {attempt + 1} (backoffLimit "
                                   f"{self._backoff_limit})")
                    code = self._run_once(argv, env, cwd, logfile)
                    if self._stopped is not None:
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

    def _run_once(self, argv: list[str], env: dict[str, str], cwd: str, logfile: Any) -> int:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own process group, so stop() reaches children
            )
        except OSError as exc:
            self._note(logfile, f"error: can't start {argv[0]!r}: {exc.strerror or exc}")
            return 127
        with self._lock:
            self._proc = proc
            stopped = self._stopped
        if stopped is not None:
            self._terminate(proc)
        pod_timer = None
        if self._pod_deadline is not None:
            pod_timer = threading.Timer(float(self._pod_deadline), self._deadline)
            pod_timer.daemon = True
            pod_timer.start()
        try:
            self._pump(proc, logfile)
            return proc.wait()
        finally:
            if pod_timer is not None:
                pod_timer.cancel()
            with self._lock:
                self._proc = None

    def _pump(self, proc: subprocess.Popen[bytes], logfile: Any) -> None:
        assert proc.stdout is not None
        feed = self._parser.feed
        for raw in proc.stdout:
            logfile.write(raw)
            found = feed(raw.decode("utf-8", "replace"))
            if found:
                with self._lock:
                    self._points.extend(found)
        logfile.flush()

    def _environment(self, container: dict[str, Any], logfile: Any) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.request.env)
        for item in container.get("env") or []:
            if "value" in item:
                env[str(item["name"])] = str(item["value"])
            elif "valueFrom" in item:
                self._note(logfile, f"warning: env {item.get('name')} uses valueFrom, which "
                           "has no meaning locally; it is left unset")
        env["KATIB_TRIAL_NAME"] = self.request.key[1]
        return env

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
    def _note(logfile: Any, text: str) -> None:
        logfile.write(f"[pykatib] {text}\n".encode())
        logfile.flush()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is not None and sig == signal.SIGKILL:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


__all__ = ["LocalJobRunner", "primary_container"]
