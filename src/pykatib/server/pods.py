"""Trials as pods: each started trial's process, listed as the pod of its Job with Katib's labels,
and its log, so that ``kubectl get pods`` and ``kubectl logs -l katib.kubeflow.org/trial=NAME``
work. A local trial is one process, its primary container: the pod is named as its trial and
has that container, plus, as Katib injects it for every collector but Push and None, the metrics
collector's sidecar ``metrics-logger-and-collector`` (the Katib SDK's ``get_job_logs`` reads the
StdOut collector's log from it; its log here is the trial's output, which that sidecar echoes).
The pod is owned by its Job, as on Kubernetes; the Job's uid is derived from the trial's.

pykatib's additions, for ``pykatib logs --server``: the annotation
``pykatib.kubeflow.org/attempts`` lists the trial's attempts (``1,2``), the log's ``attempt=N``
reads an earlier attempt's, and ``follow=true`` (kubectl's ``logs -f``) streams the log until the
trial completes (or, with no ``attempt``, until its next attempt begins)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from pykatib.api.errors import NotFoundError
from pykatib.api.models import Trial
from pykatib.control import status as st
from pykatib.control.controller import EXPERIMENT_LABEL
from pykatib.runtime import replicas
from pykatib.runtime.paths import (
    AttemptFiles,
    attempt_dir,
    attempt_files,
    attempt_numbers,
    trial_dir,
    trial_log_path,
)
from pykatib.server import errors as e
from pykatib.server.params import boolean, integer
from pykatib.server.selectors import field_matcher, label_matcher
from pykatib.server.table import human_duration, wants_table

router = APIRouter()
TRIAL_LABEL = "katib.kubeflow.org/trial"
# Katib's metrics collector sidecar (mccommon.MetricCollectorContainerName)
COLLECTOR_CONTAINER = "metrics-logger-and-collector"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
ATTEMPTS = "pykatib.kubeflow.org/attempts"
FOLLOW_POLL_SECONDS = 0.25
_NO_SIDECAR = ("Push", "None")
_PHASES = {
    "Running": "Running",
    "Succeeded": "Succeeded",
    "MetricsUnavailable": "Succeeded",
    "EarlyStopped": "Succeeded",
    "Failed": "Failed",
    "Killed": "Failed",
}


def _phase(trial: Trial) -> str:
    for condition in reversed(trial.status.conditions or []):
        if condition.status == "True" and condition.type in _PHASES:
            return _PHASES[condition.type]
    return "Pending"


def _container(trial: Trial) -> dict[str, Any]:
    spec = (trial.spec.run_spec or {}).get("spec", {}).get("template", {}).get("spec", {})
    containers = spec.get("containers") or [{}]
    name = trial.spec.primary_container_name
    primary = next((c for c in containers if c.get("name") == name), containers[0])
    found = _fields(primary)
    found.setdefault("name", name or "")
    return found


def _fields(container: dict[str, Any]) -> dict[str, Any]:
    return {k: container[k] for k in ("name", "image", "command", "args") if k in container}


def _sidecar(trial: Trial) -> dict[str, Any] | None:
    """Katib's metrics collector sidecar, for the collectors it injects one for."""
    collector = trial.spec.metrics_collector
    kind = (collector.collector.kind if collector and collector.collector else None) or "StdOut"
    if kind in _NO_SIDECAR:
        return None
    return {"name": COLLECTOR_CONTAINER, "image": f"pykatib/{kind.lower()}-collector"}


def _job_uid(trial: Trial) -> str:
    return _uid(f"job:{trial.metadata.uid or trial.name}")


def _uid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pykatib:{text}"))


def _experiment_of(trial: Trial) -> str:
    return (trial.metadata.labels or {}).get(EXPERIMENT_LABEL, "")


def pod(trial: Trial, home: Path) -> dict[str, Any] | None:
    """The pod of a started Job trial (None before it started)."""
    found = pods(trial, home)
    return found[0] if found else None


def pods(trial: Trial, home: Path) -> list[dict[str, Any]]:
    """The pods of a started trial: a Job's one, named as the trial; a training job's one per
    replica, named ``<trial>-<type>-<index>`` with the training operator's labels, the primary
    ones (``primaryPodLabels``) with the collector's sidecar. None before it started."""
    folder = trial_dir(home, trial.namespace, _experiment_of(trial), trial.name)
    attempts = attempt_numbers(folder)
    if not attempts:
        return []
    katib = {EXPERIMENT_LABEL: _experiment_of(trial), TRIAL_LABEL: trial.name}
    run_spec = trial.spec.run_spec or {}
    sidecar = _sidecar(trial)
    if not replicas.is_training_kind(run_spec):
        containers = [_container(trial)] + ([sidecar] if sidecar else [])
        labels = {**(trial.spec.primary_pod_labels or {}), **katib}
        return [_pod(trial, trial.name, labels, containers, _phase(trial), attempts)]
    everyone = replicas.replicas(run_spec)
    primaries = replicas.primaries(everyone, trial.name, trial.spec.primary_pod_labels)
    files = AttemptFiles(attempt_dir(folder, attempts[-1]))
    states = {name: str(s.get("state")) for name, s in files.replica_states().items()}
    out = []
    for replica in everyone:
        container = _fields(replica.container(trial.spec.primary_container_name) or {})
        containers = [container] + ([sidecar] if sidecar and replica in primaries else [])
        phase = _REPLICA_PHASES.get(states.get(replica.name, ""), _phase(trial))
        labels = {**replica.labels(trial.name), **katib}
        name = f"{trial.name}-{replica.name}"
        out.append(_pod(trial, name, labels, containers, phase, attempts))
    return out


_REPLICA_PHASES = {"running": "Running", "succeeded": "Succeeded", "failed": "Failed"}


def _pod(
    trial: Trial,
    name: str,
    labels: dict[str, str],
    containers: list[dict[str, Any]],
    phase: str,
    attempts: list[int],
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}} if phase == "Running" else {}
    if phase in ("Succeeded", "Failed"):
        state = {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1, "reason": phase}}
    if phase == "Pending":
        state = {"waiting": {"reason": "ContainerCreating"}}
    meta = trial.metadata
    run_spec = trial.spec.run_spec or {}
    training = replicas.is_training_kind(run_spec)
    uid = meta.uid if name == trial.name else _uid(f"pod:{meta.uid or trial.name}:{name}")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": trial.namespace,
            "uid": uid,
            "resourceVersion": meta.resource_version,
            "creationTimestamp": trial.to_dict()["metadata"].get("creationTimestamp"),
            "labels": labels,
            "annotations": {
                DEFAULT_CONTAINER: containers[0]["name"],
                ATTEMPTS: ",".join(map(str, attempts)),
            },
            "ownerReferences": [
                {
                    "apiVersion": run_spec.get("apiVersion") if training else "batch/v1",
                    "kind": run_spec.get("kind") if training else "Job",
                    "name": trial.name,
                    "uid": _job_uid(trial),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"containers": containers, "restartPolicy": "Never"},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": phase == "Running",
                    "restartCount": len(attempts) - 1,
                    "started": phase == "Running",
                    "state": state,
                }
                for c in containers
            ],
        },
    }


POD_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "status.phase",
    "spec.nodeName",
    "spec.restartPolicy",
)


def _pods(request: Request, namespace: str | None) -> list[dict[str, Any]]:
    server = request.app.state.pykatib
    found = [p for t in server.store.list_trials(namespace) for p in pods(t, server.home)]
    labels = label_matcher(request.query_params.get("labelSelector"))
    fields = field_matcher(request.query_params.get("fieldSelector"), _pod_fields, POD_FIELDS)
    return [p for p in found if labels(p["metadata"]["labels"]) and fields(p)]


def _pod_fields(p: dict[str, Any]) -> dict[str, str]:
    return {
        "metadata.name": p["metadata"]["name"],
        "metadata.namespace": p["metadata"]["namespace"],
        "status.phase": p["status"]["phase"],
        "spec.nodeName": "",
        "spec.restartPolicy": "Never",
    }


def _table(pods: list[dict[str, Any]]) -> dict[str, Any]:
    columns = ["Name", "Ready", "Status", "Restarts", "Age"]
    rows = []
    for p in pods:
        statuses = p["status"]["containerStatuses"]
        status = statuses[0]
        ready = sum(1 for c in statuses if c["ready"])
        rows.append(
            {
                "cells": [
                    p["metadata"]["name"],
                    f"{ready}/{len(statuses)}",
                    p["status"]["phase"],
                    status["restartCount"],
                    human_duration(p["metadata"].get("creationTimestamp")),
                ],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": p["metadata"],
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            {"name": c, "type": "string", "format": "name" if c == "Name" else "", "priority": 0}
            for c in columns
        ],
        "rows": rows,
    }


def _list(request: Request, namespace: str | None) -> Response:
    pods = _pods(request, namespace)
    if wants_table(request.headers.get("accept")):
        return JSONResponse(_table(pods))
    return JSONResponse({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods})


@router.get("/api/v1/pods")
def list_all(request: Request) -> Response:
    return _list(request, None)


@router.get("/api/v1/namespaces/{namespace}/pods")
def list_namespaced(request: Request, namespace: str) -> Response:
    return _list(request, namespace)


def _trial_pod(request: Request, namespace: str, name: str) -> tuple[Trial, dict[str, Any]]:
    """The trial a pod belongs to (``<trial>``, or a training job's ``<trial>-<replica>``),
    and the pod."""
    server = request.app.state.pykatib
    missing = e.ApiError(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")
    replica = _REPLICA_POD.match(name)
    for trial_name in (name, replica.group(1) if replica else None):
        if trial_name is None:
            continue
        try:
            trial = server.store.get_trial(namespace, trial_name)
        except NotFoundError:
            continue
        for found in pods(trial, server.home):
            if found["metadata"]["name"] == name:
                return trial, found
    raise missing


_REPLICA_POD = re.compile(r"^(.+)-([a-z]+-[0-9]+)$")


@router.get("/api/v1/namespaces/{namespace}/pods/{name}")
def get(request: Request, namespace: str, name: str) -> Response:
    _, found = _trial_pod(request, namespace, name)
    if wants_table(request.headers.get("accept")):
        return JSONResponse(_table([found]))
    return JSONResponse(found)


@router.get("/api/v1/namespaces/{namespace}/pods/{name}/log")
def log(request: Request, namespace: str, name: str) -> Response:
    """The latest attempt's stdout and stderr (``tailLines``, ``limitBytes`` as kubectl sends;
    ``attempt=N`` for another attempt's, ``follow=true`` to stream it)."""
    trial, found = _trial_pod(request, namespace, name)
    params = request.query_params
    container = params.get("container")
    names = [c["name"] for c in found["spec"]["containers"]]
    if container and container not in names:
        raise e.bad_request(f"container {container} is not valid for pod {name}")
    home = request.app.state.pykatib.home
    experiment = _experiment_of(trial)
    replica = name[len(trial.name) + 1 :] if name != trial.name else None
    name = trial.name
    attempts = attempt_numbers(trial_dir(home, namespace, experiment, name))
    tail = integer(params, "tailLines", minimum=0)
    limit = integer(params, "limitBytes", minimum=1)
    attempt = integer(params, "attempt", minimum=1)
    if attempt is not None and attempt not in attempts:
        have = ", ".join(map(str, attempts)) or "none yet"
        raise e.ApiError(
            404,
            "NotFound",
            f'trial "{name}" has no attempt {attempt} (attempts: {have})',
            name=name,
            kind="pods",
        )
    number = attempt or (attempts[-1] if attempts else 1)
    path = trial_log_path(home, namespace, experiment, name, number)
    if replica is not None:  # a training job's replica: its own log
        path = (
            attempt_files(home, namespace, experiment, name, number)
            .replica_logs()
            .get(replica, path)
        )
    if boolean(params, "follow"):
        return StreamingResponse(
            _follow(request, trial, path, number, attempt is not None, tail, limit),
            media_type="text/plain",
        )
    try:
        text = path.read_bytes()
    except OSError:
        text = b""
    text = _tail(text, tail)
    return PlainTextResponse(text if limit is None else text[:limit])


def _tail(text: bytes, lines: int | None) -> bytes:
    """The last ``lines`` lines of ``text`` (all of it for None)."""
    if lines is None:
        return text
    return b"".join(text.splitlines(keepends=True)[-lines:]) if lines else b""


async def _follow(
    request: Request,
    trial: Trial,
    path: Path,
    number: int,
    pinned: bool,
    tail: int | None,
    limit: int | None,
) -> Any:
    """The log at ``path`` as it grows (its last ``tail`` lines so far first, at most ``limit``
    bytes in all, as Kubernetes follows), until the trial completes, the client goes, the server
    stops, or (not ``pinned``) the trial's next attempt begins."""
    server = request.app.state.pykatib
    namespace, name = trial.namespace, trial.name
    folder = trial_dir(server.home, namespace, _experiment_of(trial), name)
    position = 0
    first = True

    def read() -> bytes:
        try:
            with open(path, "rb") as f:
                f.seek(position)
                return f.read()
        except OSError:
            return b""

    def state() -> tuple[bool, bool]:
        """(completed, a newer attempt began)"""
        try:
            now = server.store.get_trial(namespace, name)
        except NotFoundError:
            return True, False
        newer = not pinned and any(n > number for n in attempt_numbers(folder))
        return st.trial_phase(now) in st.COMPLETED_PHASES, newer

    while True:
        done, newer = await anyio.to_thread.run_sync(state)
        chunk = await anyio.to_thread.run_sync(read)  # after the state: nothing written is lost
        position += len(chunk)
        if first:
            chunk, first = _tail(chunk, tail), False
        if limit is not None:
            chunk, limit = chunk[:limit], limit - len(chunk[:limit])
        if chunk:
            yield chunk
        if limit == 0:
            return
        if done or newer or server.stopping.is_set() or await request.is_disconnected():
            return
        await server.wait_stopping(FOLLOW_POLL_SECONDS)


__all__ = ["POD_FIELDS", "pod", "pods", "router"]
