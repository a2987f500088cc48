"""Observation logs over HTTP: Katib's DB manager ``GetObservationLog``, as JSON.

``GET /apis/kubeflow.org/v1beta1/namespaces/{ns}/trials/{name}/observationlog`` with optional
``metricName``, ``startTime`` and ``endTime`` (RFC 3339) returns Katib's ObservationLog shape::

    {"metricLogs": [{"timeStamp": "2024-03-04T17:55:08Z", "metric": {"name": "loss", "value": "0.1"}}]}

plus each report's ``step`` (a pykatib extension), in report order.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pykatib.api.errors import NotFoundError
from pykatib.metrics.timestamps import format_rfc3339, parse_rfc3339
from pykatib.server import errors as e

router = APIRouter()


@router.get("/apis/kubeflow.org/v1beta1/namespaces/{namespace}/trials/{name}/observationlog")
def observation_log(request: Request, namespace: str, name: str) -> JSONResponse:
    store = request.app.state.pykatib.store
    query = request.query_params
    metric = query.get("metricName")
    bounds = []
    for key in ("startTime", "endTime"):
        text = query.get(key)
        stamp = parse_rfc3339(text) if text else None
        if text and stamp is None:
            raise e.bad_request(f"{key}: {text!r} is not an RFC 3339 time")
        bounds.append(stamp)
    start, end = bounds
    try:
        points = store.list_observations(namespace, name)
    except NotFoundError:
        raise e.ApiError(
            404, "NotFound", f'trials.kubeflow.org "{name}" not found', name=name, kind="trials"
        ) from None
    logs = [
        {
            "timeStamp": format_rfc3339(p.timestamp),
            "metric": {"name": p.metric_name, "value": p.value},
            "step": p.step,
        }
        for p in points
        if (metric is None or p.metric_name == metric)
        and (start is None or p.timestamp >= start)
        and (end is None or p.timestamp <= end)
    ]
    return JSONResponse({"metricLogs": logs})


__all__ = ["router"]
