"""A trial's object as the Kubernetes runner creates it, and how its primary pod is found.

:func:`render` takes the rendered trial object and adds Katib's labels (on the object and on
every pod template in it), the owner annotation, the primary container's environment (the
trial's name and namespace; for Push, the server's report address and token) and, for the File,
TensorFlowEvent and PrometheusMetric collectors, ``pykatib collect`` as a native sidecar
(:mod:`pykatib.cli.collect`). :func:`pod_selector` is the label selector of the primary pod.
"""

from __future__ import annotations

import json
import os
import posixpath
from copy import deepcopy
from typing import Any

from pykatib.metrics.collectors import collector_kind, collector_path
from pykatib.metrics.parsers import (
    FILE_COLLECTOR,
    PROMETHEUS_COLLECTOR,
    PUSH_COLLECTOR,
    TFEVENT_COLLECTOR,
)
from pykatib.metrics.push import SERVER_ENV
from pykatib.metrics.remote_report import NAMESPACE_ENV, TOKEN_ENV, TRIAL_NAME_ENV
from pykatib.runtime import replicas
from pykatib.runtime.base import RunRequest
from pykatib.runtime.kubernetes_api import ObjectRef

EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
TRIAL_LABEL = "katib.kubeflow.org/trial"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
OWNER_ANNOTATION = "pykatib.kubeflow.org/owner"
# Kinds whose pods come from no pod template in the object (so they can't carry the trial's
# label): the label their operator gives each pod, naming the object.
POD_OWNER_LABELS = {
    "Workflow": "workflows.argoproj.io/workflow",
    "PipelineRun": "tekton.dev/pipelineRun",
}
# File, TensorFlowEvent and PrometheusMetric metrics are read in the pod, by `pykatib collect`
# in a native sidecar running pykatib's image.
SIDECAR_COLLECTORS = (FILE_COLLECTOR, TFEVENT_COLLECTOR, PROMETHEUS_COLLECTOR)
COLLECTOR_CONTAINER = "pykatib-metrics-collector"
COLLECTOR_VOLUME = "pykatib-metrics"
COLLECTOR_IMAGE_ENV = "PYKATIB_COLLECTOR_IMAGE"
DEFAULT_COLLECTOR_IMAGE = "pykatib:latest"


def experiment_owner(namespace: str, experiment: str) -> ObjectRef:
    """The ConfigMap that stands for an experiment in the cluster: its trials' objects name it
    in their ownerReferences, so that deleting it (the experiment's deletion) has the cluster's
    garbage collector delete them all, retained or not, of any kind, as Katib's Experiment ->
    Trial -> job ownerReferences do."""
    return ObjectRef("v1", "ConfigMap", namespace, f"pykatib-experiment-{experiment}")


def object_ref(request: RunRequest) -> ObjectRef:
    """Where the trial's object goes: its kind, the trial's namespace and name."""
    spec = request.run_spec
    meta = spec.get("metadata") or {}
    return ObjectRef(
        str(spec.get("apiVersion") or ""),
        str(spec.get("kind") or ""),
        str(meta.get("namespace") or request.key[0]),
        str(meta.get("name") or request.key[1]),
    )


def has_sidecar(request: RunRequest) -> bool:
    """The trial's metrics are read in its pod by ``pykatib collect``."""
    return collector_kind(request.metrics_collector) in SIDECAR_COLLECTORS


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


def render(
    request: RunRequest, report_url: str | None, token: str | None, owner_uid: str = ""
) -> dict[str, Any]:
    """The trial's object with Katib's labels, the owner annotation, the ownerReference to its
    experiment's ConfigMap (``owner_uid``: :func:`experiment_owner`), the primary container's
    environment and, where its metrics are read in the pod, the collector beside it."""
    ref = object_ref(request)
    body = deepcopy(request.run_spec)
    namespace, trial = request.key
    meta = body.setdefault("metadata", {})
    meta["name"], meta["namespace"] = ref.name, ref.namespace
    ours = {TRIAL_LABEL: trial}
    experiment = request.labels.get(EXPERIMENT_LABEL)
    if experiment:
        ours[EXPERIMENT_LABEL] = experiment
    meta["labels"] = {**(meta.get("labels") or {}), **ours, MANAGED_BY_LABEL: "pykatib"}
    annotations = meta.get("annotations") or {}
    meta["annotations"] = {**annotations, OWNER_ANNOTATION: f"Trial {namespace}/{trial}"}
    if experiment and owner_uid:
        owner = experiment_owner(ref.namespace, experiment)
        reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner.name, "uid": owner_uid}
        meta["ownerReferences"] = [*(meta.get("ownerReferences") or []), reference]
    env = {TRIAL_NAME_ENV: trial, NAMESPACE_ENV: namespace}
    if collector_kind(request.metrics_collector) == PUSH_COLLECTOR and report_url:
        env[SERVER_ENV] = report_url
        if token:
            env[TOKEN_ENV] = token
    leader = _leader_template(body)
    for template in pod_templates(body):
        template_meta = template.setdefault("metadata", {})
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **ours}
        primary = None
        for container in template["spec"]["containers"]:
            name = request.primary_container_name
            if name is not None and container.get("name") != name:
                continue
            primary = primary or container
            given = {e.get("name") for e in container.get("env") or []}
            extra = [{"name": k, "value": v} for k, v in env.items() if k not in given]
            container["env"] = [*(container.get("env") or []), *extra]
        if has_sidecar(request) and primary is not None and leader in (None, template):
            _add_collector(request, template["spec"], primary)
    return body


def _leader_template(body: dict[str, Any]) -> dict[str, Any] | None:
    """A training job's leader replica's pod template (its pod is the primary one)."""
    if not replicas.is_training_kind(body):
        return None
    leader = next((r for r in replicas.replicas(body) if r.leader), None)
    if leader is None:
        return None
    template = (replicas.replica_specs(body).get(leader.type) or {}).get("template")
    return template if isinstance(template, dict) else None


def _add_collector(request: RunRequest, pod: dict[str, Any], primary: dict[str, Any]) -> None:
    """``pykatib collect`` as a native sidecar, sharing the collector path's folder."""
    spec = request.metrics_collector
    command = [
        "pykatib",
        "collect",
        "--spec",
        json.dumps(spec.model_dump(by_alias=True, exclude_none=True, mode="json")),
        "--metric-names",
        ",".join(request.metric_names),
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
        tfevent = collector_kind(spec) == TFEVENT_COLLECTOR
        folder = path if tfevent else posixpath.dirname(path)
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


def pod_selector(request: RunRequest) -> str:
    """The label selector of the trial's primary pod: the trial's label (an Argo Workflow's or
    Tekton PipelineRun's: its operator's) and ``primaryPodLabels`` (default for a training job:
    its leader replica)."""
    ref = object_ref(request)
    labels = {TRIAL_LABEL: request.key[1]}
    owner_label = POD_OWNER_LABELS.get(ref.kind)
    if owner_label and not pod_templates(request.run_spec):
        labels = {owner_label: ref.name}
    primary = request.primary_pod_labels
    if primary:
        labels.update({k: v for k, v in primary.items() if k != replicas.JOB_NAME_LABEL})
    elif replicas.is_training_kind(request.run_spec):
        leader = next((r for r in replicas.replicas(request.run_spec) if r.leader), None)
        if leader is not None:
            labels[replicas.REPLICA_TYPE_LABEL] = leader.type.lower()
            labels[replicas.REPLICA_INDEX_LABEL] = str(leader.index)
    return ",".join(f"{k}={v}" for k, v in labels.items())
