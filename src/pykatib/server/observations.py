"""Observation logs over HTTP: Katib's DB manager ``GetObservationLog`` and
``ReportObservationLog``, as JSON.

``GET /apis/kubeflow.org/v1beta1/namespaces/{ns}/trials/{name}/observationlog`` with optional
``metricName``, ``startTime`` and ``endTime`` (RFC 3339) returns Katib's ObservationLog shape::

    {"metricLogs": [{"timeStamp": "2024-03-04T17:55:08Z", "metric": {"name": "loss", "value": "0.1"}}]}

plus each report's ``step`` (a pykatib extension), in report order.

``POST`` to the same path appends a report in that shape (``timeStamp``, default now, and
``step``, default the next of its metric, optional) to a running Push trial, as the trial's own
``report_metrics`` would (:mod:`pykatib.server.reports`): 201 with the entries once the control
plane has stored them.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pykatib.api.errors import NotFoundError
from pykatib.metrics.timestamps import format_rfc3339, parse_rfc3339
from pykatib.server import errors as e
from pykatib.server.reports import deliver, parse_report

router = APIRouter()


def read_log(
    store: Any,
    namespace: str,
    name: str,
    metric: str | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
) -> list[dict[str, Any]]:
    """The trial's observation log, filtered as Katib's ``GetObservationLog`` filters it
    (empty filters are none); 400 for a bad time, 404 for an unknown trial."""
    bounds = []
    for key, text in (("startTime", start_time), ("endTime", end_time)):
        stamp = parse_rfc3339(text) if text else None
        if text and stamp is None:
            raise e.bad_request(f"{key}: {text!r} is not an RFC 3339 time")
        bounds.append(stamp)
    start, end = bounds
    try:
        points = store.list_observations(namespace, name)
    except NotFoundError:
        raise e.not_found("trials", name) from None
    return [
        {
            "timeStamp": format_rfc3339(p.timestamp),
            "metric": {"name": p.metric_name, "value": p.value},
            "step": p.step,
        }
        for p in points
        if (not metric or p.metric_name == metric)
        and (start is None or p.timestamp >= start)
        and (end is None or p.timestamp <= end)
    ]


@router.get("/apis/kubeflow.org/v1beta1/namespaces/{namespace}/trials/{name}/observationlog")
def observation_log(request: Request, namespace: str, name: str) -> JSONResponse:
    query = request.query_params
    logs = read_log(
        request.app.state.pykatib.store,
        namespace,
        name,
        query.get("metricName"),
        query.get("startTime"),
        query.get("endTime"),
    )
    return JSONResponse({"metricLogs": logs})


@router.post("/apis/kubeflow.org/v1beta1/namespaces/{namespace}/trials/{name}/observationlog")
async def report_observation_log(request: Request, namespace: str, name: str) -> JSONResponse:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise e.bad_request(f"the request body is not valid JSON: {exc}") from None
    report = parse_report(body, name)
    server = request.app.state.pykatib
    await anyio.to_thread.run_sync(
        deliver, server.store, namespace, name, report, server.stopping, limiter=_reporters(server)
    )
    headers = None
    if report.warnings:
        headers = {"Warning": ", ".join(f'299 - "{_header_safe(w)}"' for w in report.warnings)}
    return JSONResponse({"metricLogs": report.entries()}, status_code=201, headers=headers)


def _reporters(server: Any) -> anyio.CapacityLimiter:
    """Threads of their own for reports, which wait for the control plane (up to 30 s), so
    that they never hold up the other requests' threads (one limiter per server, made in its
    event loop)."""
    limiter = getattr(server, "reporters", None)
    if limiter is None:
        limiter = server.reporters = anyio.CapacityLimiter(64)
    return limiter


def _header_safe(text: str) -> str:
    return text.replace('"', "'").encode("ascii", "replace").decode("ascii")


__all__ = ["read_log", "router"]
