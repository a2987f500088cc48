"""The server transport: the same calls, over ``pykatib server``'s Kubernetes-style HTTP API.

Objects are created, read, listed (``labelSelector``), patched (a JSON merge patch of the
budget) and deleted under ``/apis/kubeflow.org/v1beta1``; the server validates and admits what
is created (its 422 causes come back as :class:`InvalidExperimentError`'s errors, its ``Warning``
headers as warnings), and its control plane drives every experiment, so :meth:`Remote.watch` has
nothing to do. Needs ``httpx`` (``pip install "pykatib[server]"``).

Beyond the :class:`~pykatib.sdk.transport.Transport` calls, the CLI's (``pykatib --server``) go
through here too: :meth:`Remote.apply_experiment` (create or update, as ``kubectl apply``),
:meth:`Remote.list_events`, :meth:`Remote.watch_experiments` (the watch stream),
:meth:`Remote.attempts` and :meth:`Remote.log` (a trial's log, of any attempt, followed).

Errors: a missing object raises :class:`~pykatib.api.errors.NotFoundError` with the local
store's message, a taken name :class:`ConflictError`, a 422 :class:`InvalidExperimentError` with
one error per cause; a server that can't be reached :class:`ServerUnreachable`, a 401
:class:`Unauthorized`, a 403 :class:`Forbidden` and any other failure :class:`ServerError` (each
a ``RuntimeError`` too, as the Katib SDK raises).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pykatib.api.errors import (
    ConflictError,
    InvalidExperimentError,
    NotFoundError,
    PykatibError,
)
from pykatib.api.models import Event, Experiment, Suggestion, Trial
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.timestamps import parse_rfc3339

BASE = "/apis/kubeflow.org/v1beta1"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
# The attempts a trial's pod has had (a pykatib annotation of the pod), e.g. "1,2".
ATTEMPTS_ANNOTATION = "pykatib.kubeflow.org/attempts"
_WARNING = re.compile(r'299 - "((?:[^"\\]|\\.)*)"')
# The Katib SDK's names of the budget fields, as the API spells them.
_BUDGET = {
    "max_trial_count": "maxTrialCount",
    "parallel_trial_count": "parallelTrialCount",
    "max_failed_trial_count": "maxFailedTrialCount",
}
_SINGULAR = {"experiments": "experiment", "trials": "trial", "suggestions": "suggestion"}
WRITE_ATTEMPTS = 5
SOURCE_DIR_HEADER = "X-Pykatib-Source-Dir"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ServerError(PykatibError, RuntimeError):
    """The server refused or failed a call: ``code`` is its HTTP status (None when it could not
    be reached), ``reason`` and ``detail`` its Status body's reason and message."""

    def __init__(
        self,
        message: str,
        url: str = "",
        code: int | None = None,
        reason: str = "",
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.url = url
        self.code = code
        self.reason = reason
        self.detail = detail


class ServerUnreachable(ServerError):
    """No answer: nothing listens at the URL, the connection broke, or it timed out."""


class Unauthorized(ServerError):
    """401: no token, or not one of the server's."""


class Forbidden(ServerError):
    """403: the token may not reach that namespace (or list across every namespace)."""


class _NotFound(NotFoundError):
    """A 404, with its Status body's details (``name``, ``kind``)."""

    def __init__(self, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.details = details


class Remote:
    """A :class:`~pykatib.sdk.transport.Transport` to the server at ``url`` (``token``: its
    bearer token). ``http`` replaces the HTTP client (an ``httpx.Client``, e.g. a test's)."""

    def __init__(self, url: str | None = None, token: str | None = None, http: Any = None) -> None:
        if http is None:
            import httpx

            if not url:
                raise ValueError("the server's URL is needed, e.g. http://127.0.0.1:8080")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30.0)
        self.http = http
        self.url = url.rstrip("/") if url else str(getattr(http, "base_url", "")).rstrip("/")

    # --- experiments -----------------------------------------------------------------------

    def create_experiment(
        self,
        document: Mapping[str, Any],
        source: str,
        source_dir: Path,
        configmaps: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[Experiment, list[str]]:
        if configmaps:
            raise InvalidExperimentError(
                [
                    (
                        f"{source}: the ConfigMaps beside the experiment can't be sent to a "
                        "server; put the trial template in spec.trialTemplate.trialSpec"
                    )
                ],
                source,
            )
        namespace = document["metadata"]["namespace"]
        response = self._call(
            "POST",
            f"{BASE}/namespaces/{namespace}/experiments",
            json=document,
            headers=_source(source_dir),
        )
        return Experiment.model_validate(response.json()), _warnings(response)

    def apply_experiment(
        self, document: Mapping[str, Any], source_dir: Path | None = None
    ) -> tuple[Experiment, str, list[str]]:
        """Create the experiment ``document`` (Katib's JSON, its namespace set), or change the
        stored one's spec to it, as ``kubectl apply`` does: the server judges the change by
        Katib's update rules (only the trial budget may change). Returns the experiment as
        stored, ``"created"``, ``"configured"`` or ``"unchanged"``, and the server's warnings.
        A new experiment's trials run in ``source_dir`` where the server's machine has it."""
        meta = document.get("metadata") or {}
        namespace, name = meta["namespace"], meta["name"]
        path = f"{BASE}/namespaces/{namespace}/experiments"
        for _ in range(WRITE_ATTEMPTS):
            try:
                old = self.get_experiment(namespace, name)
            except NotFoundError:
                try:
                    response = self._call("POST", path, json=document, headers=_source(source_dir))
                except ConflictError:
                    continue  # created by someone else just now: apply to that one
                return Experiment.model_validate(response.json()), "created", _warnings(response)
            response = self._call(
                "PATCH",
                f"{path}/{name}",
                json={"spec": document.get("spec") or {}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
            new = Experiment.model_validate(response.json())
            same = new.metadata.resource_version == old.metadata.resource_version
            return new, "unchanged" if same else "configured", _warnings(response)
        raise ConflictError(f'experiment "{name}" was created and deleted meanwhile; apply again')

    def get_experiment(self, namespace: str, name: str) -> Experiment:
        return Experiment.model_validate(self._get("experiments", namespace, name))

    def list_experiments(self, namespace: str | None) -> list[Experiment]:
        return [Experiment.model_validate(o) for o in self._list("experiments", namespace)]

    def edit_experiment_budget(
        self, namespace: str, name: str, budget: Mapping[str, int]
    ) -> Experiment:
        patch = {"spec": {_BUDGET[k]: v for k, v in budget.items()}}
        response = self._call(
            "PATCH",
            f"{BASE}/namespaces/{namespace}/experiments/{name}",
            json=patch,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return Experiment.model_validate(response.json())

    def delete_experiment(self, namespace: str, name: str) -> None:
        try:
            self._call("DELETE", f"{BASE}/namespaces/{namespace}/experiments/{name}")
        except _NotFound as exc:
            raise _local_not_found(exc, "experiments", namespace, name) from None

    def watch_experiments(
        self, namespace: str | None, name: str | None = None, timeout_seconds: int = 60
    ) -> Iterator[tuple[str, Experiment]]:
        """The server's watch stream of the experiments of ``namespace`` (every namespace for
        None; only ``name`` with it): an ``ADDED`` event for each first, then ``MODIFIED`` and
        ``DELETED`` as they change, until the server ends the stream (after
        ``timeout_seconds``)."""
        path = f"{BASE}/namespaces/{namespace}/experiments" if namespace else f"{BASE}/experiments"
        params: dict[str, str] = {
            "watch": "true",
            "resourceVersion": "0",
            "timeoutSeconds": str(timeout_seconds),
        }
        if name:
            params["fieldSelector"] = f"metadata.name={name}"
        for line in self._stream_lines(path, params, timeout_seconds):
            event = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                raise ServerError(
                    f"the watch of experiments failed: {status.get('message', status)}",
                    self.url,
                    status.get("code"),
                    status.get("reason", ""),
                    status.get("message", ""),
                )
            yield event["type"], Experiment.model_validate(event["object"])

    # --- suggestions, trials, observations, events, logs -------------------------------------

    def get_suggestion(self, namespace: str, name: str) -> Suggestion:
        return Suggestion.model_validate(self._get("suggestions", namespace, name))

    def list_suggestions(self, namespace: str | None) -> list[Suggestion]:
        return [Suggestion.model_validate(o) for o in self._list("suggestions", namespace)]

    def get_trial(self, namespace: str, name: str) -> Trial:
        return Trial.model_validate(self._get("trials", namespace, name))

    def list_trials(self, namespace: str | None, experiment: str | None) -> list[Trial]:
        selector = f"{EXPERIMENT_LABEL}={experiment}" if experiment else None
        trials = [Trial.model_validate(o) for o in self._list("trials", namespace, selector)]
        # The server lists by name; the Katib SDK's callers expect creation order.
        return sorted(trials, key=lambda t: t.metadata.creation_timestamp or _EPOCH)

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]:
        path = f"{BASE}/namespaces/{namespace}/trials/{trial}/observationlog"
        try:
            logs = self._call("GET", path).json().get("metricLogs") or []
        except _NotFound as exc:
            raise _local_not_found(exc, "trials", namespace, trial) from None
        return [
            ObservationPoint(
                log["metric"]["name"],
                log["metric"]["value"],
                parse_rfc3339(log["timeStamp"]) or datetime.now(timezone.utc),
                int(log.get("step") or 0),
            )
            for log in logs
        ]

    def list_events(self, namespace: str, kind: str, name: str) -> list[Event]:
        """The events about the ``kind`` (``Experiment``, ``Trial``, ``Suggestion``) called
        ``name``, oldest first, as ``kubectl describe`` reads them."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        page = self._call(
            "GET", f"/api/v1/namespaces/{namespace}/events", params={"fieldSelector": selector}
        ).json()
        return [Event.model_validate(item) for item in page.get("items") or []]

    def attempts(self, namespace: str, trial: str) -> list[int]:
        """The numbers of the trial's attempts so far (none before it first started)."""
        # Its pods: a Job's one, a training job's one per replica, all with its label.
        listed_pods = self._call(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            params={"labelSelector": f"katib.kubeflow.org/trial={trial}"},
        ).json()
        items = listed_pods.get("items") or []
        if not items:
            return []
        pod = items[0]
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        listed = annotations.get(ATTEMPTS_ANNOTATION)
        if listed is not None:
            return [int(n) for n in listed.split(",") if n.strip().isdigit()]
        # A server without the annotation: one attempt per (re)start of its container.
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return list(range(1, int(statuses[0].get("restartCount") or 0) + 2))

    def log(
        self,
        namespace: str,
        trial: str,
        attempt: int | None = None,
        follow: bool = False,
        replica: str | None = None,
    ) -> Iterator[bytes]:
        """The output of the trial's ``attempt`` (default: its latest), in chunks; with
        ``follow``, as it is written, until the trial completes (or, with no ``attempt``, until
        another attempt begins). A training job's ``replica``'s (``worker-0``): its pod's."""
        pod = trial if replica is None else f"{trial}-{replica}"
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        params = {"attempt": str(attempt)} if attempt is not None else {}
        if not follow:
            yield self._call("GET", path, params=params).content
            return
        yield from self._stream_bytes(path, {**params, "follow": "true"})

    def read_logs(self, namespace: str, trial: str, follow: bool) -> Iterator[str]:
        pending = b""
        for chunk in self.log(namespace, trial, follow=follow):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
        if pending:
            yield pending.decode("utf-8", "replace")

    # --- the control plane is the server's ---------------------------------------------------

    def watch(self, namespace: str, name: str) -> None:
        return None

    def pause(self, namespace: str, name: str, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        self.http.close()

    # --- HTTP --------------------------------------------------------------------------------

    def _get(self, plural: str, namespace: str, name: str) -> Any:
        try:
            return self._call("GET", f"{BASE}/namespaces/{namespace}/{plural}/{name}").json()
        except _NotFound as exc:
            raise _local_not_found(exc, plural, namespace, name) from None

    def _list(self, plural: str, namespace: str | None, selector: str | None = None) -> list[Any]:
        path = f"{BASE}/namespaces/{namespace}/{plural}" if namespace else f"{BASE}/{plural}"
        params: dict[str, str] = {"labelSelector": selector} if selector else {}
        items: list[Any] = []
        while True:
            page = self._call("GET", path, params=params).json()
            items += page.get("items") or []
            after = (page.get("metadata") or {}).get("continue")
            if not after:
                return items
            params = {**params, "continue": after}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            self._raise(method, path, response.status_code, response.content)
        return response

    def _stream_lines(self, path: str, params: Mapping[str, str], timeout: float) -> Iterator[str]:
        pending = b""
        for chunk in self._stream_bytes(path, params, read_timeout=timeout + 30):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield line.decode("utf-8")

    def _stream_bytes(
        self, path: str, params: Mapping[str, str], read_timeout: float | None = None
    ) -> Iterator[bytes]:
        """A streamed answer's body, as it comes (a watch, a followed log)."""
        import httpx

        timeout = httpx.Timeout(30.0, read=read_timeout)
        try:
            with self.http.stream("GET", path, params=params, timeout=timeout) as response:
                if response.status_code >= 400:
                    self._raise("GET", path, response.status_code, response.read())
                yield from response.iter_bytes()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> ServerUnreachable:
        why = str(exc) or type(exc).__name__
        return ServerUnreachable(
            f"cannot reach the pykatib server at {self.url} ({why})", self.url, None, "", why
        )

    def _raise(self, method: str, path: str, code: int, content: bytes) -> None:
        try:
            body = json.loads(content)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        text = content.decode("utf-8", "replace").strip()
        message = body.get("message") or text or f"HTTP {code}"
        reason = body.get("reason") or ""
        if code == 404:
            raise _NotFound(message, body.get("details") or {})
        if code == 409:
            raise ConflictError(message)
        if code == 422:
            causes = (body.get("details") or {}).get("causes") or []
            errors = [
                f"{c['field']}: {c.get('message', '')}" if c.get("field") else c.get("message", "")
                for c in causes
            ]
            raise InvalidExperimentError(errors or [message])
        where = f"the pykatib server at {self.url}"
        if code == 401:
            raise Unauthorized(
                f"{where} answered 401 Unauthorized: a valid bearer token is needed",
                self.url,
                code,
                reason,
                message,
            )
        if code == 403:
            raise Forbidden(
                f"{where} answered 403 Forbidden: {message}", self.url, code, reason, message
            )
        raise ServerError(
            f"{where} answered {code} {reason or 'Error'} to {method} {path}: {message}",
            self.url,
            code,
            reason,
            message,
        )


def _source(source_dir: Path | None) -> dict[str, str]:
    """The header naming the folder where the new experiment's trials run (a pykatib extension:
    ``pykatib run -f`` runs them in the file's folder); the server uses it where it has it."""
    if source_dir is None:
        return {}
    return {SOURCE_DIR_HEADER: urllib.parse.quote(str(Path(source_dir).resolve()))}


def _warnings(response: Any) -> list[str]:
    return [m.replace('\\"', '"') for m in _WARNING.findall(response.headers.get("Warning", ""))]


def _local_not_found(exc: _NotFound, plural: str, namespace: str, name: str) -> NotFoundError:
    """A 404 about the object asked for, worded as the local store words it; any other 404 (a
    server without that path) as the server said it."""
    if exc.details.get("name") == name:
        return NotFoundError(f'{_SINGULAR[plural]} "{name}" not found in namespace "{namespace}"')
    return exc
