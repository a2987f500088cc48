"""A protocol-level FAKE of the Kubernetes API server, for the Kubernetes runner's tests.

This is not a cluster. It is an HTTP server on 127.0.0.1 that answers the REST calls the
official ``kubernetes`` client makes (through a kubeconfig it writes), for the paths the runner
uses: discovery of a group/version, create / get / list (label selectors) / delete of namespaced
objects of any kind, pods listed by label, and a pod's log (``container``, ``timestamps``,
``sinceSeconds``). It records every request (verb and resource, for the RBAC check), every
created object as received and every deletion with its ``propagationPolicy``.

It plays status transitions as the real controllers would, for two kinds:

* ``batch/v1`` Job: a pod per attempt, labelled as the Job controller labels it (the template's
  labels, ``job-name``, ``batch.kubernetes.io/job-name``, ``controller-uid``); the pod's first
  container **runs as a local process** (its ``command`` + ``args``, its ``env`` on top of this
  process's), whose output, each line stamped with the time it was read, is the pod's log; exit
  0 completes the Job (``SuccessCriteriaMet``, ``Complete``), else another pod runs until
  ``backoffLimit`` is spent (``FailureTarget``, ``Failed``, ``BackoffLimitExceeded``);
* ``kubeflow.org/v1`` PyTorchJob: a pod per replica (labelled as the training operator does),
  each a local process; ``Created``, ``Running``, then ``Succeeded`` once the master exits 0, or
  ``Failed`` once any replica fails.

A pod's native sidecars (init containers with ``restartPolicy: Always``, such as the runner's
``pykatib collect``) run as processes too, and get SIGTERM once the main container exits, as
the kubelet sends it; each container's output is its own log. Any other kind is stored as
created; ``on_create`` (a test's stand-in for its operator) is
called for it, and may set its status (:meth:`FakeKubernetes.set_status`) and add pods with a
log given as text (:meth:`FakeKubernetes.add_pod`). Deleting an object kills its processes and
removes its pods (what Background propagation ends with), and plays the garbage collector:
every object whose ``ownerReferences`` name the deleted one's uid is deleted too (recorded with
the policy ``GarbageCollector``). ConfigMaps can be got, created and deleted (the runner's
owner of an experiment's trial objects).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

TRAINING = "training.kubeflow.org"
KINDS: dict[str, dict[str, str]] = {
    "batch/v1": {"Job": "jobs"},
    "kubeflow.org/v1": {"PyTorchJob": "pytorchjobs", "TFJob": "tfjobs"},
    "argoproj.io/v1alpha1": {"Workflow": "workflows"},
    "tekton.dev/v1": {"PipelineRun": "pipelineruns"},
}


def stamp(moment: float | None = None) -> str:
    """RFC 3339 with nanoseconds, as the kubelet stamps log lines."""
    ns = time.time_ns() if moment is None else int(moment * 1e9)
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


@dataclass
class FakePod:
    namespace: str
    name: str
    labels: dict[str, str]
    containers: list[str]
    owner: tuple[str, str, str] | None  # (plural, namespace, name) of the object owning it
    phase: str = "Pending"
    logs: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # (time, text)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The main container's process."""
        return self.procs.get(self.containers[0]) if self.containers else None

    created: str = field(default_factory=lambda: stamp()[:19] + "Z")

    def json(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": self.labels,
                "creationTimestamp": self.created,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.name)),
            },
            "spec": {"containers": [{"name": c, "image": "fake"} for c in self.containers]},
            "status": {"phase": self.phase},
        }


def matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeKubernetes:
    """The fake API server (see the module's docstring); ``folder`` holds its processes' cwd."""

    def __init__(
        self,
        folder: Path,
        on_create: Callable[[FakeKubernetes, dict[str, Any]], None] | None = None,
    ) -> None:
        self.folder = folder
        self.on_create = on_create
        # Called with each object before it is stored (a test's way to be there first).
        self.before_create: Callable[[FakeKubernetes, dict[str, Any]], None] | None = None
        # Every create of a trial object answered with this Status (code, reason, message).
        self.refuse_create: tuple[int, str, str] | None = None
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name)
        self.pods: dict[tuple[str, str], FakePod] = {}
        self.created: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str, str, str | None]] = []  # plural, ns, name, policy
        self.requests: list[tuple[str, str]] = []  # (verb, resource)
        self.started_pods: list[str] = []
        self.changed = threading.Condition(self.lock)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # --- for the tests -----------------------------------------------------------------------

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake"}},
            ],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def set_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        with self.lock:
            obj = self.objects.get((plural, namespace, name))
            if obj is not None:
                obj["status"] = status
                self.changed.notify_all()

    def add_pod(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str],
        text: str,
        owner: tuple[str, str, str] | None = None,
        phase: str = "Succeeded",
    ) -> None:
        """A pod whose log is ``text`` (each line stamped now)."""
        now = time.time()
        pod = FakePod(namespace, name, labels, ["main"], owner, phase)
        pod.logs["main"] = [(now, line) for line in text.splitlines()]
        with self.lock:
            self.pods[(namespace, name)] = pod

    def wait_for(self, what: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Wait until ``what()`` is true (looked at whenever the fake's state changes)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = what()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the fake API server never reached the state waited for")
                self.changed.wait(min(left, 0.5))

    def objects_of(self, plural: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o for (p, _, _), o in self.objects.items() if p == plural]

    def close(self) -> None:
        with self.lock:
            pods = list(self.pods.values())
        for pod in pods:
            _kill(pod)
        self.server.shutdown()
        self.server.server_close()

    # --- HTTP -------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(req.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        length = int(req.headers.get("Content-Length") or 0)
        body = json.loads(req.rfile.read(length) or b"null") if length else None
        try:
            code, answer = self._route(method, parts, query, body)
        except KeyError as exc:
            code, answer = 404, _status(404, "NotFound", f"{exc.args[0]} not found")
        if isinstance(answer, str):
            data, ctype = answer.encode(), "text/plain"
        else:
            data, ctype = json.dumps(answer).encode(), "application/json"
        req.send_response(code)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _route(
        self, method: str, parts: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if parts[:2] == ["api", "v1"] and len(parts) >= 5 and parts[4] == "pods":
            namespace = parts[3]
            if len(parts) == 5 and method == "GET":
                self.requests.append(("list", "pods"))
                with self.lock:
                    items = [
                        p.json()
                        for p in self.pods.values()
                        if p.namespace == namespace
                        and matches(p.labels, query.get("labelSelector", ""))
                    ]
                return 200, {"apiVersion": "v1", "kind": "PodList", "items": items}
            if len(parts) == 7 and parts[6] == "log" and method == "GET":
                self.requests.append(("get", "pods/log"))
                return 200, self._log(namespace, parts[5], query)
        if parts[:2] == ["api", "v1"] and len(parts) >= 5 and parts[4] == "configmaps":
            name = parts[5] if len(parts) > 5 else ""
            return self._config_map(method, parts[3], name, query, body)
        if parts[:1] == ["apis"] and len(parts) == 3 and method == "GET":
            return 200, self._discovery(f"{parts[1]}/{parts[2]}")
        if parts[:1] == ["apis"] and len(parts) >= 6 and parts[3] == "namespaces":
            api_version, namespace, plural = f"{parts[1]}/{parts[2]}", parts[4], parts[5]
            resource = f"{parts[1]}/{plural}"
            if plural not in KINDS.get(api_version, {}).values():
                return 404, _status(404, "NotFound", f"the server could not find {plural}")
            if len(parts) == 6 and method == "POST":
                self.requests.append(("create", resource))
                return self._create(api_version, plural, namespace, body)
            if len(parts) == 6 and method == "GET":
                self.requests.append(("list", resource))
                selector = query.get("labelSelector", "")
                with self.lock:
                    items = [
                        o
                        for (p, ns, _), o in self.objects.items()
                        if p == plural
                        and ns == namespace
                        and matches(o["metadata"].get("labels") or {}, selector)
                    ]
                return 200, {"apiVersion": api_version, "kind": "List", "items": items}
            if len(parts) == 7:
                key = (plural, namespace, parts[6])
                if method == "GET":
                    self.requests.append(("get", resource))
                    with self.lock:
                        return 200, self.objects[key]
                if method == "DELETE":
                    self.requests.append(("delete", resource))
                    policy = query.get("propagationPolicy") or (body or {}).get("propagationPolicy")
                    return self._delete(key, policy)
        return 404, _status(404, "NotFound", "no such path in the fake API server")

    def _discovery(self, api_version: str) -> dict[str, Any]:
        kinds = KINDS.get(api_version)
        if kinds is None:
            raise KeyError(api_version)
        resources = []
        for kind, plural in kinds.items():
            resources.append(
                {
                    "name": plural,
                    "singularName": kind.lower(),
                    "namespaced": True,
                    "kind": kind,
                    "verbs": ["create", "delete", "get", "list", "watch"],
                }
            )
            resources.append(
                {
                    "name": f"{plural}/status",
                    "singularName": "",
                    "namespaced": True,
                    "kind": kind,
                    "verbs": ["get"],
                }
            )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": api_version,
            "resources": resources,
        }

    def _create(
        self, api_version: str, plural: str, namespace: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        name = body["metadata"]["name"]
        key = (plural, namespace, name)
        if self.before_create is not None:
            self.before_create(self, body)
        if self.refuse_create is not None:
            return self.refuse_create[0], _status(*self.refuse_create)
        with self.lock:
            if key in self.objects:
                return 409, _status(409, "AlreadyExists", f'{plural} "{name}" already exists')
            self.created.append(json.loads(json.dumps(body)))
            obj = json.loads(json.dumps(body))
            obj["metadata"].update(
                uid=str(uuid.uuid4()), resourceVersion="1", creationTimestamp=stamp()[:19] + "Z"
            )
            self.objects[key] = obj
            self.changed.notify_all()
        kind = obj.get("kind")
        if kind == "Job":
            threading.Thread(target=self._run_job, args=(key,), daemon=True).start()
        elif kind == "PyTorchJob":
            threading.Thread(target=self._run_pytorchjob, args=(key,), daemon=True).start()
        elif self.on_create is not None:
            threading.Thread(target=self.on_create, args=(self, obj), daemon=True).start()
        return 201, obj

    def _config_map(
        self, method: str, namespace: str, name: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if method == "POST" and not name:
            self.requests.append(("create", "configmaps"))
            name = body["metadata"]["name"]
            with self.lock:
                if ("configmaps", namespace, name) in self.objects:
                    return 409, _status(409, "AlreadyExists", f'configmaps "{name}" exists')
                obj = {**body, "apiVersion": "v1", "kind": "ConfigMap"}
                obj["metadata"] = {**body["metadata"], "namespace": namespace}
                obj["metadata"]["uid"] = str(uuid.uuid4())
                self.objects[("configmaps", namespace, name)] = obj
                self.changed.notify_all()
            return 201, obj
        if method == "GET" and name:
            self.requests.append(("get", "configmaps"))
            with self.lock:
                return 200, self.objects[("configmaps", namespace, name)]
        if method == "DELETE" and name:
            self.requests.append(("delete", "configmaps"))
            policy = query.get("propagationPolicy") or (body or {}).get("propagationPolicy")
            return self._delete(("configmaps", namespace, name), policy)
        return 404, _status(404, "NotFound", "no such path in the fake API server")

    def _delete(self, key: tuple[str, str, str], policy: str | None) -> tuple[int, Any]:
        with self.lock:
            obj = self.objects.pop(key, None)
            if obj is None:
                return 404, _status(404, "NotFound", f'{key[0]} "{key[2]}" not found')
            self.deleted.append((*key, policy))
            owned = [p for p in self.pods.values() if p.owner == key]
            for pod in owned:
                del self.pods[(pod.namespace, pod.name)]
            uid = obj["metadata"].get("uid")
            dependents = [
                k
                for k, o in self.objects.items()
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
            ]
            self.changed.notify_all()
        for pod in owned:
            _kill(pod)
        for dependent in dependents:  # the garbage collector's part
            self._delete(dependent, "GarbageCollector")
        return 200, _status(200, "", "deleted", status="Success")

    def _log(self, namespace: str, name: str, query: dict[str, str]) -> str:
        with self.lock:
            pod = self.pods[(namespace, name)]
            lines = list(pod.logs.get(query.get("container") or pod.containers[0], []))
        since = query.get("sinceSeconds")
        if since is not None:
            lines = [(t, s) for t, s in lines if t >= time.time() - int(since)]
        timestamps = query.get("timestamps") == "true"
        return "".join((f"{stamp(t)} {s}\n" if timestamps else f"{s}\n") for t, s in lines)

    # --- the controllers it plays -------------------------------------------------------------

    def _alive(self, key: tuple[str, str, str]) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get(key)

    def _update(self, key: tuple[str, str, str], status: dict[str, Any]) -> None:
        with self.lock:
            obj = self.objects.get(key)
            if obj is not None:
                obj["status"] = {**(obj.get("status") or {}), **status}
                self.changed.notify_all()

    def _start_pod(
        self, key: tuple[str, str, str], name: str, template: dict[str, Any], labels: dict[str, str]
    ) -> FakePod | None:
        """Run the pod's first container, and its native sidecars (init containers with
        ``restartPolicy: Always``), as local processes."""
        spec = template.get("spec") or {}
        sidecars = [
            c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
        ]
        main = (spec.get("containers") or [{}])[0]
        pod = FakePod(
            key[1],
            name,
            {**((template.get("metadata") or {}).get("labels") or {}), **labels},
            [c.get("name", "main") for c in [*(spec.get("containers") or []), *sidecars]],
            key,
        )
        with self.lock:
            if key not in self.objects:
                return None  # deleted meanwhile
            self.pods[(pod.namespace, pod.name)] = pod
            self.started_pods.append(pod.name)
        for container in [*sidecars, main]:  # each sidecar started (its startupProbe) first
            cname = container.get("name", "main")
            env = dict(os.environ)
            env.update({e["name"]: str(e.get("value", "")) for e in container.get("env") or []})
            argv = [*(container.get("command") or []), *(container.get("args") or [])]
            with self.lock:
                if key not in self.objects:
                    return pod  # deleted meanwhile: its processes are killed
                pod.logs[cname] = []
                pod.procs[cname] = subprocess.Popen(
                    argv,
                    cwd=container.get("workingDir") or str(self.folder),
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            probe = ((container.get("startupProbe") or {}).get("exec") or {}).get("command")
            while probe and subprocess.run(probe, check=False).returncode != 0:
                if pod.procs[cname].poll() is not None:
                    break  # exited before it was ready: the kubelet would restart it
                time.sleep(0.05)  # the kubelet's probe period, shortened
        with self.lock:
            pod.phase = "Running"
            self.changed.notify_all()
        return pod

    def _read(self, pod: FakePod, container: str) -> None:
        proc = pod.procs[container]
        assert proc.stdout is not None
        for raw in proc.stdout:
            with self.lock:
                pod.logs[container].append((time.time(), raw.decode(errors="replace").rstrip("\n")))
                self.changed.notify_all()

    def _finish_pod(self, pod: FakePod) -> int:
        """Wait for the main container; then SIGTERM its sidecars, as the kubelet does."""
        main = pod.containers[0]
        readers = [
            threading.Thread(target=self._read, args=(pod, c), daemon=True)
            for c in pod.procs
            if c != main
        ]
        for reader in readers:
            reader.start()
        self._read(pod, main)
        code = pod.procs[main].wait()
        for cname, proc in pod.procs.items():
            if cname != main and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for cname, proc in pod.procs.items():
            if cname != main:
                proc.wait()
        for reader in readers:
            reader.join()
        with self.lock:
            pod.phase = "Succeeded" if code == 0 else "Failed"
            self.changed.notify_all()
        return code

    def _run_job(self, key: tuple[str, str, str]) -> None:
        obj = self._alive(key)
        assert obj is not None
        spec = obj.get("spec") or {}
        limit = int(spec.get("backoffLimit", 6))
        uid = obj["metadata"]["uid"]
        self._update(key, {"startTime": stamp()[:19] + "Z", "active": 1})
        failed = 0
        while True:
            name = f"{key[2]}-{uuid.uuid4().hex[:5]}"
            labels = {
                "job-name": key[2],
                "batch.kubernetes.io/job-name": key[2],
                "controller-uid": uid,
            }
            pod = self._start_pod(key, name, spec.get("template") or {}, labels)
            if pod is None:
                return
            code = self._finish_pod(pod)
            if self._alive(key) is None:
                return
            if code == 0:
                now = stamp()[:19] + "Z"
                self._update(
                    key,
                    {
                        "active": 0,
                        "succeeded": 1,
                        "failed": failed,
                        "completionTime": now,
                        "conditions": [
                            _condition("SuccessCriteriaMet", "CompletionsReached", now),
                            _condition("Complete", "CompletionsReached", now),
                        ],
                    },
                )
                return
            failed += 1
            self._update(key, {"failed": failed})
            if failed > limit:
                now = stamp()[:19] + "Z"
                self._update(
                    key,
                    {
                        "active": 0,
                        "conditions": [
                            _condition("FailureTarget", "BackoffLimitExceeded", now),
                            _condition("Failed", "BackoffLimitExceeded", now),
                        ],
                    },
                )
                return

    def _run_pytorchjob(self, key: tuple[str, str, str]) -> None:
        obj = self._alive(key)
        assert obj is not None
        specs = (obj.get("spec") or {}).get("pytorchReplicaSpecs") or {}
        now = stamp()[:19] + "Z"
        created = _condition("Created", "PyTorchJobCreated", now)
        self._update(key, {"conditions": [created], "startTime": now})
        pods: list[tuple[str, FakePod]] = []
        for rtype, rspec in specs.items():
            for index in range(int(rspec.get("replicas", 1))):
                labels = {
                    f"{TRAINING}/job-name": key[2],
                    f"{TRAINING}/replica-type": rtype.lower(),
                    f"{TRAINING}/replica-index": str(index),
                    f"{TRAINING}/operator-name": "pytorchjob-controller",
                }
                if rtype == "Master" and index == 0:
                    labels[f"{TRAINING}/job-role"] = "master"
                name = f"{key[2]}-{rtype.lower()}-{index}"
                pod = self._start_pod(key, name, rspec.get("template") or {}, labels)
                if pod is None:
                    return
                pods.append((rtype, pod))
        running = _condition("Running", "PyTorchJobRunning", stamp()[:19] + "Z")
        self._update(key, {"conditions": [created, running]})
        codes = {pod.name: (rtype, self._finish_pod(pod)) for rtype, pod in pods}
        if self._alive(key) is None:
            return
        now = stamp()[:19] + "Z"
        stopped = {**running, "status": "False"}
        if all(code == 0 for _, code in codes.values()):
            end = _condition("Succeeded", "PyTorchJobSucceeded", now)
        else:
            end = _condition("Failed", "PyTorchJobFailed", now)
        self._update(key, {"conditions": [created, stopped, end], "completionTime": now})


def _condition(kind: str, reason: str, now: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": reason,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def _status(code: int, reason: str, message: str, status: str = "Failure") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": status,
        "reason": reason,
        "message": message,
        "code": code,
    }


def _kill(pod: FakePod) -> None:
    for proc in pod.procs.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
