"""``report_metrics`` to a ``pykatib server``: for a trial whose work runs on another machine
than its control plane, so that no report file can be written (Katib's ``report_metrics`` sends
to its DB manager over gRPC; this sends JSON over HTTP, with the standard library only).

The report is POSTed to the trial's observation log,
``$PYKATIB_SERVER/apis/kubeflow.org/v1beta1/namespaces/NS/trials/NAME/observationlog``, as
``{"metricLogs": [{"timeStamp": ..., "metric": {"name": ..., "value": ...}, "step": ...}]}``,
with ``Authorization: Bearer $PYKATIB_TOKEN`` when set. ``NAME`` is ``KATIB_TRIAL_NAME`` (set in
every trial's environment: pass it on to where the work runs), ``NS`` is
``PYKATIB_TRIAL_NAMESPACE``, else the namespace of Katib's service account file, else
``default``. The server answers once the report is stored; an error answer is raised as a
RuntimeError with the server's message.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

TOKEN_ENV = "PYKATIB_TOKEN"
TRIAL_NAME_ENV = "KATIB_TRIAL_NAME"
NAMESPACE_ENV = "PYKATIB_TRIAL_NAMESPACE"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
TIMEOUT_SECONDS = 60.0  # the server waits up to 30 s for its control plane to store a report


def trial_namespace() -> str:
    namespace = os.environ.get(NAMESPACE_ENV)
    if namespace:
        return namespace
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as f:
            return f.readline().strip() or "default"
    except OSError:
        return "default"


def send(server: str, values: Mapping[str, str], stamp: str, step: int | None) -> None:
    """POST one report (metric name -> value string, all at ``stamp``) to ``server``."""
    name = os.environ.get(TRIAL_NAME_ENV)
    if not name:
        raise RuntimeError(
            f"report_metrics to a server needs the trial's name in {TRIAL_NAME_ENV} "
            "(every trial has it: pass it on to where its work runs)"
        )
    namespace = trial_namespace()
    logs: list[dict[str, Any]] = []
    for metric, value in values.items():
        entry: dict[str, Any] = {"timeStamp": stamp, "metric": {"name": metric, "value": value}}
        if step is not None:
            entry["step"] = step
        logs.append(entry)
    quote = urllib.parse.quote
    url = (
        f"{server.rstrip('/')}/apis/kubeflow.org/v1beta1/namespaces/{quote(namespace, safe='')}"
        f"/trials/{quote(name, safe='')}/observationlog"
    )
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    token = os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps({"metricLogs": logs}).encode(), headers=headers, method="POST"
    )
    where = f"trial {namespace}/{name} at {server}"
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"Unable to report metrics for {where}: {_status(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"Unable to report metrics for {where}: {reason}") from None


def _status(exc: urllib.error.HTTPError) -> str:
    """The server's Status message (its causes too), or the bare HTTP error."""
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return f"{exc.code} {body.get('reason') or exc.reason}: {message}" if message else str(exc)


__all__ = ["send", "trial_namespace"]
