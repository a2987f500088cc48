"""The server transport: the same calls, over ``pykatib server``'s Kubernetes-style HTTP API.

Objects are created, read, listed (``labelSelector``), patched (a JSON merge patch of the
budget) and deleted under ``/apis/kubeflow.org/v1beta1``; the server validates and admits what
is created (its 422 causes come back as :class:`InvalidExperimentError`'s errors, its ``Warning``
headers as warnings), and its control plane drives every experiment, so :meth:`Remote.watch` has
nothing to do. Needs ``httpx`` (``pip install "pykatib[server]"``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pykatib.api.errors import ConflictError, InvalidExperimentError, NotFoundError
from pykatib.api.models import Experiment, Suggestion, Trial
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.timestamps import parse_rfc3339

BASE = "/apis/kubeflow.org/v1beta1"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
_WARNING = re.compile(r'299 - "((?:[^"\\]|\\.)*)"')
# The Katib SDK's names of the budget fields, as the API spells them.
_BUDGET = {
    "max_trial_count": "maxTrialCount",
    "parallel_trial_count": "parallelTrialCount",
    "max_failed_trial_count": "maxFailedTrialCount",
}


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
        response = self._call("POST", f"{BASE}/namespaces/{namespace}/experiments", json=document)
        warnings = [
            m.replace('\\"', '"') for m in _WARNING.findall(response.headers.get("Warning", ""))
        ]
        return Experiment.model_validate(response.json()), warnings

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
        self._call("DELETE", f"{BASE}/namespaces/{namespace}/experiments/{name}")

    # --- suggestions, trials, observations, logs -------------------------------------------

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
        return sorted(trials, key=lambda t: t.metadata.creation_timestamp or 0)

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]:
        path = f"{BASE}/namespaces/{namespace}/trials/{trial}/observationlog"
        logs = self._call("GET", path).json().get("metricLogs") or []
        return [
            ObservationPoint(
                log["metric"]["name"],
                log["metric"]["value"],
                parse_rfc3339(log["timeStamp"]) or datetime.now(timezone.utc),
                int(log.get("step") or 0),
            )
            for log in logs
        ]

    def read_logs(self, namespace: str, trial: str, follow: bool) -> Iterator[str]:
        if follow:
            raise NotImplementedError(
                "following a trial's log over the server is not supported yet: "
                "read it without follow, or run `pykatib logs -f TRIAL` on its machine"
            )
        text = self._call("GET", f"/api/v1/namespaces/{namespace}/pods/{trial}/log").text
        yield from text.splitlines()

    # --- the control plane is the server's ---------------------------------------------------

    def watch(self, namespace: str, name: str) -> None:
        return None

    def pause(self, namespace: str, name: str, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        self.http.close()

    # --- HTTP --------------------------------------------------------------------------------

    def _get(self, plural: str, namespace: str, name: str) -> Any:
        return self._call("GET", f"{BASE}/namespaces/{namespace}/{plural}/{name}").json()

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
        response = self.http.request(method, path, **kwargs)
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {}
        message = body.get("message") or response.text or f"HTTP {response.status_code}"
        if response.status_code == 404:
            raise NotFoundError(message)
        if response.status_code == 409:
            raise ConflictError(message)
        if response.status_code == 422:
            causes = (body.get("details") or {}).get("causes") or []
            errors = [
                f"{c['field']}: {c.get('message', '')}" if c.get("field") else c.get("message", "")
                for c in causes
            ]
            raise InvalidExperimentError(errors or [message])
        raise RuntimeError(
            f"{method} {path}: {response.status_code} {body.get('reason', '')}: {message}"
        )
