"""The Kubernetes API as the Kubernetes runner (:mod:`pykatib.runtime.kubernetes`) calls it,
through the official client: the client from the kubeconfig or in-cluster, the calls it makes
(:attr:`ClusterApi.CALLS`, which the deployment's RBAC grants), and reading a pod's log on from
where it was read (:class:`LogCursor`)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from pykatib.metrics.timestamps import parse_rfc3339

# The cluster trials run in, when KUBECONFIG is kubectl's for a pykatib server.
KUBECONFIG_ENV = "PYKATIB_KUBECONFIG"


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
        ("get", "configmaps"),
        ("create", "configmaps"),
        ("delete", "configmaps"),
    )

    def __init__(self, api_client: k8s.ApiClient) -> None:
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
                    f"the cluster does not serve {api_version} (is its operator or CRD installed?)"
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

    def config_map_uid(self, namespace: str, name: str, labels: dict[str, str]) -> str:
        """The uid of ConfigMap ``name``, made (with ``labels``) if it is not there."""
        try:
            return str(self.core.read_namespaced_config_map(name, namespace).metadata.uid)
        except ApiException as exc:
            if exc.status != 404:
                raise
        meta = k8s.V1ObjectMeta(name=name, namespace=namespace, labels=labels)
        try:
            made = self.core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(metadata=meta))
        except ApiException as exc:
            if exc.status != 409:
                raise
            made = self.core.read_namespaced_config_map(name, namespace)  # made meanwhile
        return str(made.metadata.uid)

    def delete_config_map(self, namespace: str, name: str) -> bool:
        """Delete the ConfigMap and, in the background, what it owns; False if it was gone."""
        try:
            self.core.delete_namespaced_config_map(name, namespace, propagation_policy="Background")
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

    def since_seconds(self, overlap: int) -> int | None:
        """How far back to ask for the log: past the last line read by ``overlap`` seconds (the
        node's clock and this one's may differ); None: from its start."""
        last = _stamp_key(self.stamp) if self.stamp else None
        if last is None:
            return None
        return max(1, int(time.time() - last[0]) + overlap)

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


def api_error(verb: str, ref: ObjectRef, exc: ApiException) -> str:
    """What the API server said, as one sentence."""
    detail = exc.reason or ""
    body = getattr(exc, "body", None)
    if body:
        try:
            detail = json.loads(body).get("message") or detail
        except (ValueError, AttributeError):
            pass
    what = f"{ref.kind} {ref.namespace}/{ref.name}"
    return f"can't {verb} {what}: the API server answered {exc.status}: {detail}"
