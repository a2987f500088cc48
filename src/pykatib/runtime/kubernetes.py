"""Runs trials as objects in a Kubernetes cluster (``pykatib run --runtime kubernetes``).

Each rendered trial object, of any kind (Job, PyTorchJob, TFJob, MPIJob, XGBoostJob, TrainJob, an
Argo Workflow, a Tekton PipelineRun, any custom resource), is created in the cluster as written,
through the official client's CustomObjects API (by apiVersion, kind and the plural the API
server's discovery gives: :mod:`pykatib.runtime.kubernetes_api`), with
(:mod:`pykatib.runtime.kubernetes_objects`):

* Katib's labels ``katib.kubeflow.org/experiment`` and ``katib.kubeflow.org/trial`` on the object
  and on every pod template in it, ``app.kubernetes.io/managed-by: pykatib``, and the annotation
  ``pykatib.kubeflow.org/owner`` naming the trial (there is no Trial object in the cluster for an
  ownerReference to point at);
* the primary container's environment: ``KATIB_TRIAL_NAME`` and ``PYKATIB_TRIAL_NAMESPACE``, and
  for the Push collector ``PYKATIB_SERVER`` (the server's report address, from
  ``PYKATIB_REPORT_URL``) and ``PYKATIB_TOKEN`` when one is set, so ``report_metrics`` reaches the
  server over HTTP (:mod:`pykatib.metrics.remote_report`).

A thread per trial polls the object and judges it with the trial's ``successCondition`` /
``failureCondition`` (:mod:`pykatib.control.conditions`, pykatib's GJSON evaluator), as Katib's
trial controller does. The primary pod's log (the pods carrying the trial's label and the
primary pod labels: a training job's master role by default) is read through the API with
``timestamps=true`` and ``sinceSeconds`` reaching back to the last line read (lines at or before
it are skipped by their timestamps), and appended to the attempt's log on the control plane's
side, where the StdOut collector reads it as it reads a local trial's: no sidecar, no webhook.
File, TensorFlowEvent and PrometheusMetric metrics are read in the pod by ``pykatib collect``,
which the runner adds as a native sidecar (:mod:`pykatib.cli.collect`); its log, read the same
way, holds Push report lines.

Stopping (early stopping, the experiment's end or deletion, Ctrl-C of ``pykatib run``) deletes
the object with ``propagationPolicy: Background``; a finished one is deleted once its status is
stored, unless the template says ``retain: true``. A control plane that stops cleanly (a
server's SIGTERM, a rollout) leaves the objects running (:meth:`KubernetesJobRunner.detach`),
as Katib's trials run on while its controller restarts. The run's record names the object; a
control plane that restarts finds it again by its trial label and watches it from where the
stored record says the log was read.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pykatib.control.conditions import ConditionError, JobVerdict, job_verdict
from pykatib.metrics.collectors import FileCollector
from pykatib.metrics.parsers import PUSH_COLLECTOR, STDOUT_COLLECTOR
from pykatib.metrics.push import PushRecordParser
from pykatib.metrics.remote_report import TOKEN_ENV
from pykatib.metrics.timestamps import format_rfc3339, parse_rfc3339
from pykatib.runtime import shim
from pykatib.runtime.attempt import Attempt, Layout
from pykatib.runtime.base import Drained, KeyedTrialRunner, RunRequest, RunStatus, TrialKey
from pykatib.runtime.kubernetes_api import (
    ClusterApi,
    KubernetesRuntimeError,
    LogCursor,
    api_error,
    load_api_client,
)
from pykatib.runtime.kubernetes_objects import (
    COLLECTOR_CONTAINER,
    EXPERIMENT_LABEL,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    TRIAL_LABEL,
    experiment_owner,
    has_sidecar,
    object_ref,
    pod_selector,
    render,
)
from pykatib.runtime.paths import attempt_dir, attempt_numbers

log = logging.getLogger("pykatib.runtime")

RUNTIME = "kubernetes"
# Where a trial's pods reach the server with Push reports (a Service's address in a cluster).
REPORT_URL_ENV = "PYKATIB_REPORT_URL"
POLL_SECONDS = 1.0
# How far before the last line read the log is asked for again (clocks of the control plane and
# the node may differ); what was read is skipped by its timestamp.
LOG_OVERLAP_SECONDS = 30
# What talking to the cluster can raise: an answer that is an error, no cluster, no network.
_API_ERRORS = (ApiException, KubernetesRuntimeError, OSError)


class KubernetesTrial:
    """One trial's object in the cluster, created and watched by :attr:`thread`."""

    def __init__(
        self,
        request: RunRequest,
        wake: Any,
        api: ClusterApi,
        report_url: str | None,
        token: str | None,
        poll_seconds: float,
    ) -> None:
        self.request = request
        self.wake = wake
        self.api = api
        self.report_url = report_url
        self.token = token
        self.poll_seconds = poll_seconds
        self.ref = object_ref(request)
        self.layout = Layout(request, 0.0)
        self.sidecar = has_sidecar(request)
        self.status = RunStatus("running", job=None)
        self._lock = threading.Lock()
        self._points: list[Any] = []
        self._position: dict[str, Any] = {}
        self._offset = 0
        self._drained_offset = 0
        self._record_changed = False
        self._cursor = LogCursor()
        self._cursor_stored = LogCursor()  # as of the points handed over
        # With a collector in the pod: how far the main container's log (the trial's) was read.
        self._trial_log = LogCursor()
        self._trial_log_stored = LogCursor()
        self._attempt: Attempt | None = None
        self._number = 1
        self._uid = ""
        self._created = False  # the object is in the cluster (created, found, or adopted)
        self._started = datetime.now(timezone.utc)
        self._stopped: str | None = None
        self._released = False
        self._deleted = False
        self._bell = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"k8s-trial-{request.key[1]}", daemon=True
        )

    # --- control-plane side ----------------------------------------------------------------

    def begin(self) -> dict[str, Any]:
        """A new run: its folder on this side (the thread creates the object); the record."""
        numbers = attempt_numbers(self.request.trial_dir)
        self._number = (numbers[-1] if numbers else 0) + 1
        attempt = self._open(self._number, self._started, fresh=True)
        self._attempt = attempt
        if self.layout.kind == PUSH_COLLECTOR and not self.report_url:
            self._fail_now(
                attempt,
                "PushNeedsServer",
                f"a Push trial's pods report to the server over HTTP: set {REPORT_URL_ENV} to "
                "the address they reach it at (in a cluster, the pykatib Service's)",
            )
        return self.record()

    def adopt(self, record: dict[str, Any]) -> bool:
        """Watch again the object ``record`` names, found by its trial label; False if it is
        gone from the cluster, being deleted, or the record is another runtime's."""
        number = record.get("attempt")
        if record.get("runtime") != RUNTIME or not isinstance(number, int):
            return False
        if record.get("host") != shim.HOST and not Path(str(record.get("dir"))).is_dir():
            return False  # the attempt's files are on another machine (no shared volume)
        try:
            found = self.api.find(self.ref, f"{TRIAL_LABEL}={self.request.key[1]}")
        except _API_ERRORS as exc:
            log.warning("trial %s: can't look for its object: %s", self.request.key[1], exc)
            return False
        mine = [o for o in found if (o.get("metadata") or {}).get("name") == self.ref.name]
        if not mine or mine[0]["metadata"].get("deletionTimestamp"):
            return False
        self._uid = str(mine[0]["metadata"].get("uid") or "")
        self._number, self._created = number, True
        started = parse_rfc3339(str(record.get("jobStartTime") or "")) or self._started
        self._started = started
        attempt = self._open(number, started, fresh=False)
        cursor = LogCursor.from_json(record.get("logs"))
        trial_log = LogCursor.from_json(record.get("trialLog"))
        # Lines appended after the stored record are read from the cluster again.
        read = [(self._mirror(attempt), cursor)]
        if self.sidecar and "trialLog" in record:
            read.append((attempt.files.log, trial_log))
        for path, up_to in read:
            if path.exists() and path.stat().st_size > up_to.size:
                os.truncate(path, up_to.size)
        self._trial_log = LogCursor(**trial_log.to_json())
        self._trial_log_stored = trial_log
        attempt.collector.restore(record.get("positions") or {})
        self._cursor = LogCursor(**cursor.to_json())
        self._cursor_stored = cursor
        self._position = attempt.collector.position()
        self._offset = self._drained_offset = int(getattr(attempt.collector, "offset", 0))
        self._attempt = attempt
        attempt.note(f"watching {self._what()} again (a control plane restarted)")
        return True

    def record(self) -> dict[str, Any]:
        """The run as the store keeps it (the trial's ``pykatib.kubeflow.org/attempt``)."""
        return {
            "runtime": RUNTIME,
            "attempt": self._number,
            "dir": str(attempt_dir(self.request.trial_dir, self._number)),
            "host": shim.HOST,
            "object": {**self.ref.to_json(), "uid": self._uid},
            "jobStartTime": format_rfc3339(self._started),
            "positions": self._position,
            "logs": self._cursor_stored.to_json(),
            **({"trialLog": self._trial_log_stored.to_json()} if self.sidecar else {}),
        }

    def drain(self) -> Drained:
        with self._lock:
            points, self._points = self._points, []
            record = self.record() if points or self._record_changed else None
            self._record_changed = False
            self._drained_offset = self._offset
        return Drained(points, record)

    def acknowledge(self) -> None:
        with self._lock:
            attempt, offset = self._attempt, self._drained_offset
            if self._stopped is not None or attempt is None or attempt.channel is None:
                return
        attempt.channel.ack(offset)

    def stop(self, message: str) -> None:
        with self._lock:
            if self._stopped is None:
                self._stopped = message
        self._bell.set()

    @property
    def stopping(self) -> bool:
        return self._stopped is not None

    def release(self) -> None:
        """Stop watching (and leave the object in the cluster)."""
        self._released = True
        self._bell.set()

    def delete(self) -> None:
        """Delete the object (Background propagation), once."""
        if self._deleted or not self._created:
            return
        self._deleted = True
        try:
            if self.api.delete(self.ref) and self._attempt is not None:
                self._attempt.note(f"deleted {self._what()} (propagationPolicy Background)")
        except _API_ERRORS as exc:
            log.warning("trial %s: can't delete %s: %s", self.request.key[1], self._what(), exc)

    def _open(self, number: int, started: datetime, fresh: bool) -> Attempt:
        attempt = self.layout.open(number, started, fresh)
        if self.sidecar:
            # What `pykatib collect` prints in the pod is read as Push reports are.
            parser = PushRecordParser(list(self.request.metric_names))
            attempt.collector = FileCollector(attempt.files.metrics, parser)
        return attempt

    def _mirror(self, attempt: Attempt) -> Path:
        """Where the log read from the pod goes: the attempt's log, or with a collector in the
        pod, its report file (what the collector printed)."""
        return attempt.files.metrics if self.sidecar else attempt.files.log

    def _fail_now(self, attempt: Attempt, reason: str, message: str) -> None:
        """Fail the run for a reason of the runner's (no job to judge by its conditions)."""
        attempt.note(f"error: {message}")
        self.status = RunStatus("failed", reason, message, job=None)

    def _what(self) -> str:
        return f"{self.ref.kind} {self.ref.namespace}/{self.ref.name}"

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            status = self._create() or self._watch()
        except Exception as exc:  # a bug here must not leave the trial running forever
            log.exception("trial %s: runner error", self.request.key[1])
            status = RunStatus("failed", "RunnerError", str(exc))
        if status is None:
            return  # released: another control plane watches it
        self.status = status
        self.wake()

    def _create(self) -> RunStatus | None:
        """Create the object; None once it is in the cluster, else how the run ended. One of
        this trial's that is there already (its control plane went before it stored that it
        had created it) is taken; one still being deleted (the trial's run before) is waited
        for."""
        attempt = self._attempt
        assert attempt is not None
        experiment = self.request.labels.get(EXPERIMENT_LABEL)
        owner_uid = ""
        if experiment:
            owner = experiment_owner(self.ref.namespace, experiment)
            labels = {EXPERIMENT_LABEL: experiment, MANAGED_BY_LABEL: "pykatib"}
            try:
                owner_uid = self.api.config_map_uid(owner.namespace, owner.name, labels)
            except ApiException as exc:
                self._fail_now(attempt, "CreateFailed", api_error("create", owner, exc))
                return self.status
            except (KubernetesRuntimeError, OSError) as exc:
                message = f"can't create ConfigMap {owner.namespace}/{owner.name}: {exc}"
                self._fail_now(attempt, "CreateFailed", message)
                return self.status
        body = render(self.request, self.report_url, self.token, owner_uid)
        while not self._created:
            if self._released:
                return None
            if self._stopped is not None:
                attempt.note(f"stopped before it was created: {self._stopped}")
                return RunStatus("stopped", "Stopped", self._stopped)
            try:
                created = self.api.create(self.ref, body)
            except ApiException as exc:
                if exc.status != 409:
                    message = api_error("create", self.ref, exc)
                    self._fail_now(attempt, "CreateFailed", message)
                    return self.status
                existing = self.api.get(self.ref) or {}
                meta = existing.get("metadata") or {}
                if existing and (meta.get("labels") or {}).get(TRIAL_LABEL) != self.request.key[1]:
                    message = f"{self._what()} exists already and is not this trial's"
                    self._fail_now(attempt, "CreateFailed", message)
                    return self.status
                if existing and not meta.get("deletionTimestamp"):
                    attempt.note(f"found {self._what()} in the cluster already: watching it")
                    created = existing
                else:
                    self._bell.wait(self.poll_seconds)  # the one before is still being deleted
                    continue
            except (KubernetesRuntimeError, OSError) as exc:
                self._fail_now(attempt, "CreateFailed", f"can't create {self._what()}: {exc}")
                return self.status
            else:
                attempt.note(f"created {self._what()} in the cluster")
            with self._lock:
                self._uid = str((created.get("metadata") or {}).get("uid") or "")
                self._created = self._record_changed = True
        return None

    def _watch(self) -> RunStatus | None:
        attempt = self._attempt
        assert attempt is not None
        job: dict[str, Any] | None = None
        complained = ""
        while True:
            if self._released:
                return None
            stopped = self._stopped
            try:
                job = self.api.get(self.ref)
                self._read_logs(attempt)
                complained = ""
            except _API_ERRORS as exc:
                problem = str(exc).splitlines()[0] if str(exc) else repr(exc)
                if problem != complained:  # said once, not at every poll
                    attempt.note(f"warning: can't reach the cluster: {problem}")
                    complained = problem
                if stopped is None:
                    self._wait(attempt)
                    continue
            self._collect(attempt)
            if stopped is not None:
                self.delete()
                self._collect(attempt, final=True)
                attempt.note(f"stopped: {stopped}")
                return RunStatus("stopped", "Stopped", stopped, job=job)
            if job is None:
                message = f"{self._what()} was deleted from the cluster"
                attempt.note(f"error: {message}")
                self._collect(attempt, final=True)
                return RunStatus("failed", "Deleted", message, job=None)
            verdict = self._verdict(job)
            if verdict is not None:
                self._collect(attempt, final=True)
                attempt.note(f"{self._what()} {verdict.phase}")
                return RunStatus(verdict.phase, verdict.reason, verdict.message, job=job)
            self._wait(attempt)

    def _verdict(self, job: dict[str, Any]) -> JobVerdict | None:
        try:
            return job_verdict(job, self.request.success_condition, self.request.failure_condition)
        except ConditionError as exc:
            # Over for the runner; the control plane fails the trial saying why.
            return JobVerdict("failed", "InvalidCondition", str(exc))

    def _wait(self, attempt: Attempt) -> None:
        channel = attempt.channel
        bell = channel.fileno() if channel is not None else None
        if channel is None or bell is None:
            self._bell.wait(self.poll_seconds)
        else:
            # A Push report rings the channel; stop() rings _bell (looked at every 0.1 s).
            deadline = time.monotonic() + self.poll_seconds
            while not self._bell.is_set() and time.monotonic() < deadline:
                if select.select([bell], [], [], 0.1)[0]:
                    channel.clear()
                    break
        self._bell.clear()

    def _read_logs(self, attempt: Attempt) -> None:
        """Append the primary pod's new lines to the attempt's log; with a collector in the
        pod, its lines to the report file and the main container's to the attempt's log (the
        trial's log, for ``pykatib logs``)."""
        pods = self.api.pods(self.ref.namespace, pod_selector(self.request))
        container = COLLECTOR_CONTAINER if self.sidecar else self.request.primary_container_name
        pods = [p for p in pods if container is None or container in p.containers]
        if not pods:
            return
        pod = pods[-1]  # the newest: a Job's retry makes a new pod
        if pod.phase == "Pending":
            return
        if pod.name != self._cursor.pod:
            attempt.note(f"the log of pod {pod.name}")
        self._read_log(
            pod.name, container or pod.containers[0], self._cursor, self._mirror(attempt)
        )
        if self.sidecar:
            main = self.request.primary_container_name or pod.containers[0]
            self._read_log(pod.name, main, self._trial_log, attempt.files.log)

    def _read_log(self, pod: str, container: str, cursor: LogCursor, path: Path) -> None:
        """Append ``container``'s new lines to ``path``; ``cursor`` moves on."""
        if pod != cursor.pod:
            cursor.pod, cursor.stamp, cursor.count = pod, "", 0
        since = cursor.since_seconds(LOG_OVERLAP_SECONDS)
        lines = cursor.take(self.api.log(self.ref.namespace, pod, container, since))
        if lines:
            with open(path, "ab") as f:
                f.write("".join(line + "\n" for line in lines).encode())
        cursor.size = path.stat().st_size if path.exists() else 0

    def _collect(self, attempt: Attempt, final: bool = False) -> None:
        collector = attempt.collector
        with attempt.reading:
            if attempt.closed:
                return
            points = collector.close() if final else collector.poll()
            attempt.closed = final
            with self._lock:
                cursor_moved = self._cursor.to_json() != self._cursor_stored.to_json()
                cursor_moved |= self._trial_log.to_json() != self._trial_log_stored.to_json()
                if self.layout.kind != STDOUT_COLLECTOR and cursor_moved:
                    self._record_changed = True
                self._cursor_stored = LogCursor(**self._cursor.to_json())
                self._trial_log_stored = LogCursor(**self._trial_log.to_json())
                if not points:
                    return
                self._points.extend(points)
                self._position = collector.position()
                self._offset = int(getattr(collector, "offset", 0))
        self.wake()


class KubernetesJobRunner(KeyedTrialRunner):
    """Trials of any kind as objects in the cluster ``api_client`` talks to."""

    kinds: ClassVar[dict[str, str]] = {}  # any kind the cluster serves

    def __init__(
        self,
        wake: Any,
        api_client: k8s.ApiClient | None = None,
        *,
        report_url: str | None = None,
        token: str | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__(wake)
        self.api = ClusterApi(api_client if api_client is not None else load_api_client())
        self.report_url = report_url if report_url is not None else os.environ.get(REPORT_URL_ENV)
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.poll_seconds = poll_seconds
        self._trials: dict[TrialKey, KubernetesTrial] = {}
        self._ending: list[KubernetesTrial] = []

    @classmethod
    def check(
        cls,
        trial_spec: dict[str, Any],
        primary_container_name: str | None,
        primary_pod_labels: dict[str, str] | None = None,
    ) -> list[str]:
        base = "spec.trialTemplate.trialSpec"
        api_version, kind = trial_spec.get("apiVersion"), trial_spec.get("kind")
        problems = []
        if not isinstance(api_version, str) or not api_version:
            problems.append(f"{base}.apiVersion: required (e.g. batch/v1)")
        elif "/" not in api_version:
            problems.append(
                f"{base}.apiVersion: {api_version} is the core group; a trial is a Job, a "
                "training job or a custom resource (group/version, e.g. batch/v1)"
            )
        if not isinstance(kind, str) or not kind:
            problems.append(f"{base}.kind: required (e.g. Job)")
        return problems

    @classmethod
    def warnings(cls, trial_spec: dict[str, Any], primary_container_name: str | None) -> list[str]:
        return []

    @classmethod
    def check_collector(cls, custom_collector: dict[str, Any] | None) -> list[str]:
        return [
            (
                "spec.metricsCollectorSpec.collector.kind: a Custom collector can't run with "
                "--runtime kubernetes yet (pykatib injects no sidecar); use StdOut or Push"
            )
        ]

    def start(self, request: RunRequest) -> dict[str, Any]:
        trial = self._trial(request)
        record = trial.begin()
        self._trials[request.key] = trial
        if not trial.status.finished:
            trial.thread.start()
        return record

    def adopt(self, request: RunRequest, record: dict[str, Any]) -> bool:
        trial = self._trial(request)
        if not trial.adopt(record):
            return False
        self._trials[request.key] = trial
        trial.thread.start()
        return True

    def _trial(self, request: RunRequest) -> KubernetesTrial:
        return KubernetesTrial(
            request, self.wake, self.api, self.report_url, self.token, self.poll_seconds
        )

    def forget(self, key: TrialKey) -> None:
        trial = self._trials.pop(key, None)
        if trial is None:
            return
        if trial.status.finished:
            if not trial.request.retain and trial.status.phase != "stopped":
                trial.delete()  # its status is stored: Katib deletes a finished trial's job
            return
        if trial.stopping:
            self._ending = [t for t in self._ending if t.thread.is_alive()] + [trial]
        else:
            trial.release()  # left running: another control plane watches it now

    def experiment_deleted(self, namespace: str, name: str) -> None:
        """Delete the experiment's ConfigMap: the cluster's garbage collector deletes every
        object of its trials (retained ones too), as Katib's deletes an experiment's trials and
        through them their jobs."""
        owner = experiment_owner(namespace, name)
        try:
            self.api.delete_config_map(owner.namespace, owner.name)
        except _API_ERRORS as exc:
            log.warning(
                "experiment %s/%s: can't delete ConfigMap %s: %s", namespace, name, owner.name, exc
            )

    def detach(self, timeout: float = 10.0) -> bool:
        """Stop watching every trial and leave its object in the cluster (a server's SIGTERM, a
        rollout: Katib's trials run on while its controller restarts); the trials already being
        stopped are waited for."""
        trials, self._trials = list(self._trials.values()), {}
        for trial in trials:
            if not trial.stopping:
                trial.release()
        for trial in trials + self._ending:
            if trial.thread.is_alive():
                trial.thread.join(timeout)
        self._ending.clear()
        return True

    def shutdown(self, timeout: float = 10.0) -> None:
        live = [t for t in self._trials.values() if not t.status.finished]
        for trial in live:
            trial.stop("pykatib is shutting down")
        for trial in live + self._ending:
            if trial.thread.is_alive():
                trial.thread.join(timeout)
        self._ending.clear()


__all__ = [
    "EXPERIMENT_LABEL",
    "OWNER_ANNOTATION",
    "TRIAL_LABEL",
    "KubernetesJobRunner",
    "KubernetesRuntimeError",
    "load_api_client",
]
