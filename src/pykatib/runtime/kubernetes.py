"""Runs trials as objects in a Kubernetes cluster (``pykatib run --runtime kubernetes``).

Each rendered trial object, of any kind (Job, PyTorchJob, TFJob, MPIJob, XGBoostJob, TrainJob, an
Argo Workflow, a Tekton PipelineRun, any custom resource), is created in the cluster as written,
through the official client's CustomObjects API (by apiVersion, kind and the plural the API
server's discovery gives), with:

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

Stopping (early stopping, the experiment's end or deletion) deletes the object with
``propagationPolicy: Background``; a finished one is deleted once its status is stored, unless
the template says ``retain: true``. The run's record names the object; a control plane that
restarts finds it again by its trial label and watches it from where the stored record says the
log was read.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import select
import threading
import time
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from pykatib.control.conditions import ConditionError, job_verdict
from pykatib.metrics.collectors import FileCollector, collector_path
from pykatib.metrics.parsers import (
    FILE_COLLECTOR,
    PROMETHEUS_COLLECTOR,
    PUSH_COLLECTOR,
    STDOUT_COLLECTOR,
    TFEVENT_COLLECTOR,
)
from pykatib.metrics.push import SERVER_ENV, PushRecordParser
from pykatib.metrics.remote_report import NAMESPACE_ENV, TOKEN_ENV, TRIAL_NAME_ENV
from pykatib.metrics.timestamps import format_rfc3339, parse_rfc3339
from pykatib.runtime import replicas, shim
from pykatib.runtime.attempt import Attempt, Layout
from pykatib.runtime.base import Drained, RunRequest, RunStatus, TrialKey, TrialRunner
from pykatib.runtime.paths import attempt_dir, attempt_numbers

log = logging.getLogger("pykatib.runtime")

RUNTIME = "kubernetes"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
TRIAL_LABEL = "katib.kubeflow.org/trial"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
OWNER_ANNOTATION = "pykatib.kubeflow.org/owner"
# Where a trial's pods reach the server with Push reports (a Service's address in a cluster).
REPORT_URL_ENV = "PYKATIB_REPORT_URL"
KUBECONFIG_ENV = "PYKATIB_KUBECONFIG"
# File, TensorFlowEvent and PrometheusMetric metrics are read in the pod, by `pykatib collect`
# in a native sidecar running pykatib's image (pykatib.cli.collect).
SIDECAR_COLLECTORS = (FILE_COLLECTOR, TFEVENT_COLLECTOR, PROMETHEUS_COLLECTOR)
COLLECTOR_CONTAINER = "pykatib-metrics-collector"
COLLECTOR_VOLUME = "pykatib-metrics"
COLLECTOR_IMAGE_ENV = "PYKATIB_COLLECTOR_IMAGE"
DEFAULT_COLLECTOR_IMAGE = "pykatib:latest"
POLL_SECONDS = 1.0
# Kinds whose pods come from no pod template in the object (so they can't carry the trial's
# label): the label their operator gives each pod, naming the object.
POD_OWNER_LABELS = {
    "Workflow": "workflows.argoproj.io/workflow",
    "PipelineRun": "tekton.dev/pipelineRun",
}
# How far before the last line read the log is asked for again (clocks of the control plane and
# the node may differ); what was read is skipped by its timestamp.
LOG_OVERLAP_SECONDS = 30


class KubernetesRuntimeError(RuntimeError):
    """No cluster to talk to: no kubeconfig, no in-cluster service account."""


def load_api_client(context: str | None = None) -> k8s.ApiClient:
    """A client configured in-cluster (a pod's service account) or from the kubeconfig
    (``PYKATIB_KUBECONFIG``, ``KUBECONFIG``, else ``~/.kube/config``)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            k8s_config.load_incluster_config()
            return k8s.ApiClient()
        except k8s_config.ConfigException:
            pass  # a pod without a service account token: try a kubeconfig
    try:
        configuration = k8s.Configuration()
        # As the variables are now (the client reads KUBECONFIG once, when imported).
        k8s_config.load_kube_config(
            config_file=_kubeconfig() or None,
            context=context,
            client_configuration=configuration,
        )
    except (k8s_config.ConfigException, OSError) as exc:
        where = _kubeconfig() or "~/.kube/config"
        raise KubernetesRuntimeError(
            f"--runtime kubernetes needs a cluster: no usable kubeconfig at {where} ({exc}) and "
            "not running in a pod; set KUBECONFIG, or run pykatib inside the cluster"
        ) from exc
    return k8s.ApiClient(configuration)


def _kubeconfig() -> str | None:
    """``PYKATIB_KUBECONFIG`` (the cluster trials run in, when ``KUBECONFIG`` is kubectl's for
    a pykatib server), else ``KUBECONFIG``."""
    return os.environ.get(KUBECONFIG_ENV) or os.environ.get("KUBECONFIG")


@dataclass(frozen=True)
class ObjectRef:
    """Where a trial's object is: apiVersion, kind, namespace, name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def group_version(self) -> tuple[str, str]:
        group, _, version = self.api_version.rpartition("/")
        return group, version

    def to_json(self) -> dict[str, str]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    created: datetime
    containers: tuple[str, ...]


class ClusterApi:
    """The calls the runner makes to the API server. ``CALLS``: each one's verb and resource
    (``*``: the trial's own kind), which the deployment's RBAC must grant."""

    CALLS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("create", "*"),
        ("get", "*"),
        ("list", "*"),
        ("delete", "*"),
        ("list", "pods"),
        ("get", "pods/log"),
    )

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.api_client = api_client
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self._plurals: dict[tuple[str, str], str] = {}

    def plural(self, api_version: str, kind: str) -> str:
        """The resource name of ``kind``, as the API server's discovery gives it."""
        key = (api_version, kind)
        found = self._plurals.get(key)
        if found is not None:
            return found
        group, _, version = api_version.rpartition("/")
        try:
            listing = self.custom.get_api_resources(group, version)
        except ApiException as exc:
            if exc.status == 404:
                raise KubernetesRuntimeError(
                    f"the cluster does not serve {api_version} (is its operator or CRD "
                    "installed?)"
                ) from exc
            raise
        for resource in listing.resources or []:
            if resource.kind == kind and "/" not in resource.name:
                self._plurals[key] = resource.name
                return str(resource.name)
        raise KubernetesRuntimeError(f"the cluster's {api_version} has no kind {kind}")

    def _where(self, ref: ObjectRef) -> tuple[str, str, str, str]:
        group, version = ref.group_version
        return group, version, ref.namespace, self.plural(ref.api_version, ref.kind)

    def create(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.custom.create_namespaced_custom_object(*self._where(ref), body))

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return dict(self.custom.get_namespaced_custom_object(*self._where(ref), ref.name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def find(self, ref: ObjectRef, selector: str) -> list[dict[str, Any]]:
        """The objects of ``ref``'s kind in its namespace that ``selector`` matches."""
        found = self.custom.list_namespaced_custom_object(
            *self._where(ref), label_selector=selector
        )
        return list(found.get("items") or [])

    def delete(self, ref: ObjectRef) -> bool:
        """Delete the object and, in the background, what it owns; False if it was gone."""
        try:
            self.custom.delete_namespaced_custom_object(
                *self._where(ref), ref.name, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def pods(self, namespace: str, selector: str) -> list[Pod]:
        listing = self.core.list_namespaced_pod(namespace, label_selector=selector)
        pods = []
        for item in listing.items or []:
            spec = item.spec
            every = [*((spec.containers if spec else None) or [])]
            every += (spec.init_containers if spec else None) or []
            containers = tuple(c.name for c in every)
            created = item.metadata.creation_timestamp or datetime.now(timezone.utc)
            phase = (item.status.phase if item.status else None) or "Pending"
            pods.append(Pod(item.metadata.name, phase, created, containers))
        return sorted(pods, key=lambda p: (p.created, p.name))

    def log(self, namespace: str, pod: str, container: str, since_seconds: int | None) -> str:
        kwargs: dict[str, Any] = {"container": container, "timestamps": True}
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        return str(self.core.read_namespaced_pod_log(pod, namespace, **kwargs))


@dataclass
class LogCursor:
    """How far the primary pod's log was read: its pod, the last line's timestamp and how many
    lines had that timestamp (they are skipped when the log is read again)."""

    pod: str = ""
    stamp: str = ""
    count: int = 0
    size: int = 0  # the attempt's log file's size once those lines were appended

    def to_json(self) -> dict[str, Any]:
        return {"pod": self.pod, "stamp": self.stamp, "count": self.count, "size": self.size}

    @classmethod
    def from_json(cls, data: Any) -> LogCursor:
        if not isinstance(data, dict):
            return cls()
        return cls(
            str(data.get("pod") or ""),
            str(data.get("stamp") or ""),
            int(data.get("count") or 0),
            int(data.get("size") or 0),
        )

    def take(self, text: str) -> list[str]:
        """The lines of ``text`` (``TIMESTAMP message`` each) not read before; moves on."""
        new = []
        before = _stamp_key(self.stamp) if self.stamp else None  # the last line read before
        before_count, seen = self.count, 0
        last = before
        for line in text.splitlines():
            stamp, _, message = line.partition(" ")
            key = _stamp_key(stamp)
            if key is None:  # not a timestamped line: part of the one before
                new.append(line)
                continue
            if before is not None and key < before:
                continue
            if before is not None and key == before:
                seen += 1
                if seen <= before_count:
                    continue
            if key == last:
                self.count += 1
            else:
                last, self.stamp, self.count = key, stamp, 1
            new.append(message)
        return new


def _stamp_key(stamp: str) -> tuple[int, int] | None:
    """An RFC 3339 timestamp with up to nanoseconds as (epoch seconds, nanoseconds)."""
    if not stamp or not stamp[:1].isdigit():
        return None
    text, nanos = stamp, 0
    if "." in stamp:
        head, _, rest = stamp.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        nanos = int((digits + "000000000")[:9]) if digits else 0
        text = head + zone
    moment = parse_rfc3339(text)
    return None if moment is None else (int(moment.timestamp()), nanos)


def pod_templates(node: Any) -> list[dict[str, Any]]:
    """Every pod template in a trial object (``template: {metadata, spec: {containers}}``,
    at any depth: a Job's, each replica's of a training job, a custom resource's)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                key == "template"
                and isinstance(value, dict)
                and isinstance((value.get("spec") or {}).get("containers"), list)
            ):
                found.append(value)
            else:
                found += pod_templates(value)
    elif isinstance(node, list):
        for item in node:
            found += pod_templates(item)
    return found


class KubernetesTrial:
    """One trial's object in the cluster, watched by :attr:`thread`."""

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
        spec = request.run_spec
        meta = spec.get("metadata") or {}
        self.ref = ObjectRef(
            str(spec.get("apiVersion") or ""),
            str(spec.get("kind") or ""),
            str(meta.get("namespace") or request.key[0]),
            str(meta.get("name") or request.key[1]),
        )
        self.layout = Layout(request, 0.0)
        self.sidecar = self.layout.kind in SIDECAR_COLLECTORS
        self.status = RunStatus("running", job=None)
        self._lock = threading.Lock()
        self._points: list[Any] = []
        self._position: dict[str, Any] = {}
        self._offset = 0
        self._drained_offset = 0
        self._record_changed = False
        self._cursor = LogCursor()
        self._cursor_stored = LogCursor()  # as of the points handed over
        self._attempt: Attempt | None = None
        self._number = 1
        self._uid = ""
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
        """Create the trial's object (a new attempt folder on this side); returns the record."""
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
        body = self._body()
        try:
            created = self.api.create(self.ref, body)
        except ApiException as exc:
            if exc.status != 409 or not self._take_existing(attempt):
                self._fail_now(attempt, "CreateFailed", _api_error("create", self.ref, exc))
                return self.record()
        except (KubernetesRuntimeError, OSError) as exc:
            self._fail_now(attempt, "CreateFailed", f"can't create {self._what()}: {exc}")
            return self.record()
        else:
            self._uid = str((created.get("metadata") or {}).get("uid") or "")
            attempt.note(f"created {self._what()} in the cluster")
        return self.record()

    def _take_existing(self, attempt: Attempt) -> bool:
        """The object exists already: ours (a control plane created it and went before it stored
        the record) is watched; another's is not touched."""
        existing = self.api.get(self.ref) or {}
        labels = (existing.get("metadata") or {}).get("labels") or {}
        if labels.get(TRIAL_LABEL) != self.request.key[1]:
            return False
        self._uid = str((existing.get("metadata") or {}).get("uid") or "")
        attempt.note(f"found {self._what()} in the cluster already: watching it")
        return True

    def _fail_now(self, attempt: Attempt, reason: str, message: str) -> None:
        attempt.note(f"error: {message}")
        job = {"status": {"conditions": [_condition("Failed", reason, message)]}}
        self.status = RunStatus("failed", reason, message, job=job)

    def adopt(self, record: dict[str, Any]) -> bool:
        """Watch again the object ``record`` names, found by its trial label; False if it is
        gone from the cluster (or the record is another runtime's)."""
        number = record.get("attempt")
        if record.get("runtime") != RUNTIME or not isinstance(number, int):
            return False
        if record.get("host") != shim.HOST:
            return False  # the attempt's files (log, reports) are on another machine
        try:
            found = self.api.find(self.ref, f"{TRIAL_LABEL}={self.request.key[1]}")
        except (ApiException, KubernetesRuntimeError, OSError) as exc:
            log.warning("trial %s: can't look for its object: %s", self.request.key[1], exc)
            return False
        mine = [o for o in found if (o.get("metadata") or {}).get("name") == self.ref.name]
        if not mine:
            return False
        self._uid = str((mine[0].get("metadata") or {}).get("uid") or "")
        self._number = number
        started = parse_rfc3339(str(record.get("jobStartTime") or "")) or self._started
        self._started = started
        attempt = self._open(number, started, fresh=False)
        cursor = LogCursor.from_json(record.get("logs"))
        # Lines appended after the stored record are read from the cluster again.
        mirror = self._mirror(attempt)
        if mirror.exists() and mirror.stat().st_size > cursor.size:
            os.truncate(mirror, cursor.size)
        attempt.collector.restore(record.get("positions") or {})
        self._cursor = LogCursor(**cursor.to_json())
        self._cursor_stored = cursor
        self._position = attempt.collector.position()
        self._offset = self._drained_offset = int(getattr(attempt.collector, "offset", 0))
        self._attempt = attempt
        attempt.note(f"watching {self._what()} again (a control plane restarted)")
        return True

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

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "runtime": RUNTIME,
            "attempt": self._number,
            "dir": str(attempt_dir(self.request.trial_dir, self._number)),
            "host": shim.HOST,
            "object": {**self.ref.to_json(), "uid": self._uid},
            "jobStartTime": format_rfc3339(self._started),
            "positions": self._position,
            "logs": self._cursor_stored.to_json(),
        }
        return record

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
        self._released = True
        self._bell.set()

    def delete(self) -> None:
        """Delete the object (Background propagation), once."""
        if self._deleted:
            return
        self._deleted = True
        try:
            if self.api.delete(self.ref) and self._attempt is not None:
                self._attempt.note(f"deleted {self._what()} (propagationPolicy Background)")
        except (ApiException, KubernetesRuntimeError, OSError) as exc:
            log.warning("trial %s: can't delete %s: %s", self.request.key[1], self._what(), exc)

    def _what(self) -> str:
        return f"{self.ref.kind} {self.ref.namespace}/{self.ref.name}"

    def _body(self) -> dict[str, Any]:
        """The trial's object with Katib's labels, the owner annotation and the primary
        container's environment."""
        body = deepcopy(self.request.run_spec)
        namespace, trial = self.request.key
        meta = body.setdefault("metadata", {})
        meta["name"], meta["namespace"] = self.ref.name, self.ref.namespace
        ours = {TRIAL_LABEL: trial}
        experiment = self.request.labels.get(EXPERIMENT_LABEL)
        if experiment:
            ours[EXPERIMENT_LABEL] = experiment
        meta["labels"] = {**(meta.get("labels") or {}), **ours, MANAGED_BY_LABEL: "pykatib"}
        annotations = meta.get("annotations") or {}
        meta["annotations"] = {**annotations, OWNER_ANNOTATION: f"Trial {namespace}/{trial}"}
        env = {TRIAL_NAME_ENV: trial, NAMESPACE_ENV: namespace}
        if self.layout.kind == PUSH_COLLECTOR and self.report_url:
            env[SERVER_ENV] = self.report_url
            if self.token:
                env[TOKEN_ENV] = self.token
        leader = self._leader_template(body)
        for template in pod_templates(body):
            template_meta = template.setdefault("metadata", {})
            template_meta["labels"] = {**(template_meta.get("labels") or {}), **ours}
            primary = None
            for container in template["spec"]["containers"]:
                name = self.request.primary_container_name
                if name is not None and container.get("name") != name:
                    continue
                primary = primary or container
                given = {e.get("name") for e in container.get("env") or []}
                extra = [{"name": k, "value": v} for k, v in env.items() if k not in given]
                container["env"] = [*(container.get("env") or []), *extra]
            if self.sidecar and primary is not None and leader in (None, template):
                self._add_collector(template["spec"], primary)
        return body

    def _leader_template(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """A training job's leader replica's pod template (its pod is the primary one)."""
        if not replicas.is_training_kind(body):
            return None
        leader = next((r for r in replicas.replicas(body) if r.leader), None)
        if leader is None:
            return None
        specs = replicas.replica_specs(body)
        return (specs.get(leader.type) or {}).get("template")  # type: ignore[return-value]

    def _add_collector(self, pod: dict[str, Any], primary: dict[str, Any]) -> None:
        """`pykatib collect` as a native sidecar, sharing the collector path's folder."""
        spec = self.request.metrics_collector
        command = [
            "pykatib",
            "collect",
            "--spec",
            json.dumps(spec.model_dump(by_alias=True, exclude_none=True, mode="json")),
            "--metric-names",
            ",".join(self.request.metric_names),
        ]
        sidecar: dict[str, Any] = {
            "name": COLLECTOR_CONTAINER,
            "image": os.environ.get(COLLECTOR_IMAGE_ENV) or DEFAULT_COLLECTOR_IMAGE,
            "restartPolicy": "Always",
            "command": command,
        }
        path = collector_path(spec)
        folder = "/tmp"
        if path:
            folder = path if self.layout.kind == TFEVENT_COLLECTOR else posixpath.dirname(path)
            mounts = primary.get("volumeMounts") or []
            volume = next((m["name"] for m in mounts if m.get("mountPath") == folder), None)
            if volume is None:
                volume = COLLECTOR_VOLUME
                primary["volumeMounts"] = [*mounts, {"name": volume, "mountPath": folder}]
                pod["volumes"] = [*(pod.get("volumes") or []), {"name": volume, "emptyDir": {}}]
            sidecar["volumeMounts"] = [{"name": volume, "mountPath": folder}]
        # The trial starts once the collector handles SIGTERM (its last read at the trial's end).
        ready = posixpath.join(folder, f".{COLLECTOR_CONTAINER}-ready")
        command += ["--ready-file", ready]
        sidecar["startupProbe"] = {
            "exec": {"command": ["test", "-e", ready]},
            "periodSeconds": 1,
            "failureThreshold": 300,
        }
        pod["initContainers"] = [*(pod.get("initContainers") or []), sidecar]

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            status = self._watch()
        except Exception as exc:  # a bug here must not leave the trial running forever
            log.exception("trial %s: runner error", self.request.key[1])
            status = RunStatus("failed", "RunnerError", str(exc))
        if status is None:
            return  # released: another control plane watches it
        self.status = status
        self.wake()

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
            except (ApiException, KubernetesRuntimeError, OSError) as exc:
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
                job = {"status": {"conditions": [_condition("Failed", "Deleted", message)]}}
                return RunStatus("failed", "Deleted", message, job=job)
            verdict = self._verdict(job)
            if verdict is not None:
                self._collect(attempt, final=True)
                attempt.note(f"{self._what()} {verdict.phase}")
                return RunStatus(verdict.phase, verdict.reason, verdict.message, job=job)
            self._wait(attempt)

    def _verdict(self, job: dict[str, Any]) -> Any:
        try:
            return job_verdict(
                job, self.request.success_condition, self.request.failure_condition
            )
        except ConditionError:
            # The control plane fails the trial with this error; the job has ended for it.
            return _Invalid()

    def _wait(self, attempt: Attempt) -> None:
        channel = attempt.channel
        bell = channel.fileno() if channel is not None else None
        if bell is None:
            self._bell.wait(self.poll_seconds)
        else:
            # A Push report rings the channel; stop() rings _bell (looked at every 0.1 s).
            deadline = time.monotonic() + self.poll_seconds
            while not self._bell.is_set() and time.monotonic() < deadline:
                if select.select([bell], [], [], 0.1)[0]:
                    channel.clear()  # type: ignore[union-attr]
                    break
        self._bell.clear()

    def _read_logs(self, attempt: Attempt) -> None:
        """Append the primary pod's new lines to the attempt's log."""
        pods = self.api.pods(self.ref.namespace, self._pod_selector())
        container = COLLECTOR_CONTAINER if self.sidecar else self.request.primary_container_name
        pods = [p for p in pods if container is None or container in p.containers]
        if not pods:
            return
        pod = pods[-1]  # the newest: a Job's retry makes a new pod
        if pod.phase == "Pending":
            return
        cursor = self._cursor
        if pod.name != cursor.pod:
            cursor.pod, cursor.stamp, cursor.count = pod.name, "", 0
            attempt.note(f"the log of pod {pod.name}")
        since = None
        if cursor.stamp:
            last = _stamp_key(cursor.stamp)
            if last is not None:
                since = max(1, int(time.time() - last[0]) + LOG_OVERLAP_SECONDS)
        text = self.api.log(
            self.ref.namespace, pod.name, container or pod.containers[0], since
        )
        lines = cursor.take(text)
        mirror = self._mirror(attempt)
        if lines:
            with open(mirror, "ab") as f:
                f.write("".join(line + "\n" for line in lines).encode())
        cursor.size = mirror.stat().st_size if mirror.exists() else 0

    def _pod_selector(self) -> str:
        labels = {TRIAL_LABEL: self.request.key[1]}
        owner_label = POD_OWNER_LABELS.get(self.ref.kind)
        if owner_label and not pod_templates(self.request.run_spec):
            labels = {owner_label: self.ref.name}  # its operator's pods carry no template's
        primary = self.request.primary_pod_labels
        if primary:
            labels.update({k: v for k, v in primary.items() if k != replicas.JOB_NAME_LABEL})
        elif replicas.is_training_kind(self.request.run_spec):
            leader = next((r for r in replicas.replicas(self.request.run_spec) if r.leader), None)
            if leader is not None:
                labels[replicas.REPLICA_TYPE_LABEL] = leader.type.lower()
                labels[replicas.REPLICA_INDEX_LABEL] = str(leader.index)
        return ",".join(f"{k}={v}" for k, v in labels.items())

    def _collect(self, attempt: Attempt, final: bool = False) -> None:
        collector = attempt.collector
        with attempt.reading:
            if attempt.closed:
                return
            points = collector.close() if final else collector.poll()
            attempt.closed = final
            with self._lock:
                cursor_moved = self._cursor.to_json() != self._cursor_stored.to_json()
                if self.layout.kind != STDOUT_COLLECTOR and cursor_moved:
                    self._record_changed = True
                self._cursor_stored = LogCursor(**self._cursor.to_json())
                if not points:
                    return
                self._points.extend(points)
                self._position = collector.position()
                self._offset = int(getattr(collector, "offset", 0))
        self.wake()


class _Invalid:
    """A condition that can't be parsed: the run is over, the control plane says why."""

    phase = "failed"
    reason = "InvalidCondition"
    message = "the trial's successCondition or failureCondition can't be evaluated"


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    now = format_rfc3339(datetime.now(timezone.utc))
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


def _api_error(verb: str, ref: ObjectRef, exc: ApiException) -> str:
    what = f"{ref.kind} {ref.namespace}/{ref.name}"
    detail = exc.reason or ""
    body = getattr(exc, "body", None)
    if body:
        try:
            detail = json.loads(body).get("message") or detail
        except (ValueError, AttributeError):
            pass
    return f"can't {verb} {what}: the API server answered {exc.status}: {detail}"


class KubernetesJobRunner(TrialRunner):
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

    def shutdown(self, timeout: float = 10.0) -> None:
        live = [t for t in self._trials.values() if not t.status.finished]
        for trial in live:
            trial.stop("pykatib is shutting down")
        for trial in live + self._ending:
            if trial.thread.is_alive():
                trial.thread.join(timeout)
        self._ending.clear()


__all__ = [
    "ClusterApi",
    "KubernetesJobRunner",
    "KubernetesRuntimeError",
    "load_api_client",
    "pod_templates",
]
