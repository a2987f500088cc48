"""The read queries of ``get`` and ``describe`` against a ``pykatib server`` (``--server URL``),
through the stdlib's ``http.client``: importing httpx and building the models would take longer
than the whole command should.

It answers only what went well: any answer but a 200 (or no answer) gives ``None``, and the
command asks again through the SDK's transport (:class:`pykatib.cli.backend.Remote`), whose
errors say what went wrong and what to do about it.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

BASE = "/apis/kubeflow.org/v1beta1"  # pykatib.sdk.remote.BASE
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
ATTEMPTS_ANNOTATION = "pykatib.kubeflow.org/attempts"  # pykatib.sdk.remote's
Doc = dict[str, Any]


class ServerReader:
    """GETs of the server at ``url`` (``http://HOST:PORT``), with ``token`` as its bearer."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urlsplit(url)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        connection = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self.conn = connection(parts.netloc, timeout=30)

    def close(self) -> None:
        self.conn.close()

    def _body(self, path: str, **params: str) -> bytes | None:
        query = f"?{urlencode(params)}" if params else ""
        try:
            self.conn.request("GET", f"{self.prefix}{path}{query}", headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return None
        return body if response.status == 200 else None

    def _get(self, path: str, **params: str) -> Any:
        body = self._body(path, **params)
        try:
            return json.loads(body) if body is not None else None
        except ValueError:
            return None

    def _one(self, plural: str, namespace: str, name: str) -> Doc | None:
        found = self._get(f"{BASE}/namespaces/{quote(namespace)}/{plural}/{quote(name)}")
        return found if isinstance(found, dict) else None

    def _all(self, plural: str, namespace: str | None, **params: str) -> list[Doc] | None:
        """Every item, in creation order (the server lists by name), following its pages."""
        path = f"{BASE}/namespaces/{quote(namespace)}/{plural}" if namespace else f"{BASE}/{plural}"
        items: list[Doc] = []
        while True:
            page = self._get(path, **params)
            if not isinstance(page, dict):
                return None
            items += page.get("items") or []
            after = (page.get("metadata") or {}).get("continue")
            if not after:
                break
            params = {**params, "continue": after}
        # RFC 3339 in UTC sorts as the times do; a stable sort keeps the server's order in a tie.
        return sorted(items, key=lambda o: (o.get("metadata") or {}).get("creationTimestamp") or "")

    # ``trial_lists`` as the lean reader's: the API serves whole experiments, lists and all.
    def experiment(self, namespace: str, name: str, trial_lists: bool = True) -> Doc | None:
        return self._one("experiments", namespace, name)

    def experiments(self, namespace: str | None, trial_lists: bool = True) -> list[Doc] | None:
        return self._all("experiments", namespace)

    def trial(self, namespace: str, name: str) -> Doc | None:
        return self._one("trials", namespace, name)

    def list_trials(
        self,
        namespace: str | None,
        experiment: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[Doc] | None:
        """As :meth:`pykatib.cli.backend.Remote.list_trials`: the page is cut here."""
        selector = {"labelSelector": f"{EXPERIMENT_LABEL}={experiment}"} if experiment else {}
        found = self._all("trials", namespace, **selector)
        if found is None:
            return None
        if after is not None:
            keys = [_key(t) for t in found]
            found = found[keys.index(after) + 1 :] if after in keys else []
        return found if limit is None else found[:limit]

    def events(self, namespace: str, kind: str, name: str) -> list[Doc] | None:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        page = self._get(f"/api/v1/namespaces/{quote(namespace)}/events", fieldSelector=selector)
        return (page.get("items") or []) if isinstance(page, dict) else None

    def latest_log(self, namespace: str, trial: str) -> bytes | None:
        """The output of the trial's latest attempt, as ``pykatib logs TRIAL --server`` prints
        it (:meth:`pykatib.cli.backend.Remote.print_logs`); None before it started."""
        pods = self._get(
            f"/api/v1/namespaces/{quote(namespace)}/pods",
            labelSelector=f"katib.kubeflow.org/trial={trial}",
        )
        items = (pods.get("items") or []) if isinstance(pods, dict) else []
        if not items:
            return None
        annotations = (items[0].get("metadata") or {}).get("annotations") or {}
        listed = annotations.get(ATTEMPTS_ANNOTATION)
        if listed is None:
            return None  # a server that does not say: the SDK's transport knows what to do
        numbers = [int(n) for n in listed.split(",") if n.strip().isdigit()]
        if not numbers:
            return None
        path = f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(trial)}/log"
        return self._body(path, attempt=str(numbers[-1]))


def _key(obj: Doc) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "default", meta.get("name") or ""
