"""``/ui/api``: what the web UI needs beyond the Kubernetes-style API, computed on the server so
that an experiment of 10,000 trials is one small response per view:

- ``GET /ui/api/experiments`` (every namespace) and ``/ui/api/namespaces/{ns}/experiments``:
  one summary line per experiment (:mod:`pykatib.ui.summaries`);
- ``GET .../experiments/{name}/trials``: a page of the trials table, sorted and filtered here
  (``offset``, ``limit``, ``sort`` = ``name`` | ``status`` | a metric | ``params.NAME``,
  ``order`` = ``asc`` | ``desc``, ``status``, ``q``: a substring of the name);
- ``GET .../experiments/{name}/columns``: every trial's number, name, status, parameters and
  metric values as columns, for the plots (history, parallel coordinates, slice, contour,
  Pareto front);
- ``GET .../experiments/{name}/importance``: parameter importance (:mod:`pykatib.ui.importance`);
- ``GET .../experiments/{name}/intermediate``: the objective by step of the latest trials
  (``steps`` and ``values`` of each; up to 300 trials and 10,000 points);
- ``GET /ui/api/changes`` and ``/ui/api/namespaces/{ns}/changes``: a stream of JSON lines, one
  each time an experiment or trial there changes, for live pages (fetch can send the token,
  which EventSource can't).

The trials are read from the store's tables as plain data (:mod:`pykatib.ui.reads`) into
rows kept while they are unchanged (:mod:`pykatib.ui.trials`); what is computed from them (the
columns and intermediate values as encoded JSON, parameter importance) is kept with them, and
:func:`warm` computes it for the newest experiments when the server starts. Each answer carries
its server time (``Server-Timing``, :mod:`pykatib.ui.timing`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from pykatib.api.errors import NotFoundError
from pykatib.server import errors as e
from pykatib.store import Store
from pykatib.ui import importance as imp
from pykatib.ui import reads
from pykatib.ui.changes import ChangeFeed
from pykatib.ui.summaries import summary
from pykatib.ui.trials import Rows, RowsCache, TrialRow

PREFIX = "/ui/api"
EXPERIMENT = PREFIX + "/namespaces/{namespace}/experiments/{name}"
MAX_PAGE = 500
# Intermediate values: the latest trials' curves, up to 300 trials and 10,000 points (100
# trials of 100 steps): more is a blur, megabytes, and seconds of drawing.
INTERMEDIATE_TRIALS, INTERMEDIATE_POINTS = 300, 10_000
router = APIRouter()
log = logging.getLogger("pykatib.ui")


def _store(request: Request) -> Store:
    store: Store = request.app.state.pykatib.store
    return store


def _shared(request: Request) -> tuple[RowsCache, ChangeFeed]:
    return _shared_of(request.app)


def _shared_of(app: Any) -> tuple[RowsCache, ChangeFeed]:
    """The app's rows cache and change feed (made on first use, one per app)."""
    state = app.state
    if not hasattr(state, "ui"):
        state.ui = (RowsCache(), ChangeFeed(state.pykatib.store))
    shared: tuple[RowsCache, ChangeFeed] = state.ui
    return shared


def warm(app: Any) -> threading.Thread:
    """Reads the newest experiments' rows, plot columns and parameter importance in a thread
    of their own, so that the first visit to an experiment of thousands of trials after the
    server starts finds them ready (a request that comes meanwhile waits for the warming's
    result rather than computing it again). Called once the server starts."""
    cache = _shared_of(app)[0]
    store: Store = app.state.pykatib.store

    def run() -> None:
        try:
            newest = store.list_experiments(trial_lists=False)[-cache.size :]
            for exp in reversed(newest):
                rows = cache.get(store, exp.metadata.namespace or "", exp.metadata.name or "")
                rows.derive("columns", _columns_json)
                metric = rows.objective.main
                rows.derive(
                    ("intermediate", metric), partial(_intermediate_json, store, metric=metric)
                )
                imp.importances(rows)
        except Exception:  # a deleted experiment, a store closed: nothing is lost
            log.debug("warming the web UI's caches stopped", exc_info=True)

    thread = threading.Thread(target=run, name="pykatib-ui-warm", daemon=True)
    thread.start()
    return thread


async def _read_rows(request: Request, namespace: str, name: str) -> Rows:
    rows = _shared(request)[0]
    try:
        return await anyio.to_thread.run_sync(rows.get, _store(request), namespace, name)
    except NotFoundError:
        raise e.not_found("experiments", name) from None


# --- experiments -------------------------------------------------------------------------------


@router.get(PREFIX + "/experiments")
async def all_experiments(request: Request) -> dict[str, Any]:
    return await _experiments(request, None)


@router.get(PREFIX + "/namespaces/{namespace}/experiments")
async def experiments_in(request: Request, namespace: str) -> dict[str, Any]:
    return await _experiments(request, namespace)


async def _experiments(request: Request, namespace: str | None) -> dict[str, Any]:
    found = await anyio.to_thread.run_sync(
        partial(_store(request).list_experiments, namespace, trial_lists=False)
    )
    return {"items": [summary(exp) for exp in found]}


# --- the trials table --------------------------------------------------------------------------


def _sort_key(column: str) -> Any:
    """A key that puts missing values last whichever way the table is sorted (applied after a
    reversal by :func:`_page`)."""
    if column == "name":
        return lambda t: (0, t.number)
    if column == "status":
        return lambda t: (0, t.phase, t.number)
    if column.startswith("params."):
        param = column[len("params.") :]

        def by_param(t: TrialRow) -> Any:
            value = t.params.get(param)
            if value is None:
                return (1, 0.0, "")
            return (0, value, "") if isinstance(value, float) else (0, 0.0, str(value))

        return by_param

    def by_metric(t: TrialRow) -> Any:
        value = t.metrics.get(column)
        return (1, 0.0) if value is None else (0, value)

    return by_metric


def _sorted(trials: list[TrialRow], column: str, descending: bool) -> list[TrialRow]:
    key = _sort_key(column)
    ordered = sorted(trials, key=key, reverse=descending)
    if descending:  # missing values last in both directions
        ordered = [t for t in ordered if key(t)[0] == 0] + [t for t in ordered if key(t)[0] != 0]
    return ordered


def _page(rows: Rows, params: Any) -> dict[str, Any]:
    column = params.get("sort") or "name"
    valid = {
        "name",
        "status",
        *rows.metric_names,
        *(f"params.{p['name']}" for p in rows.parameters),
    }
    if column not in valid:
        raise e.bad_request(f"sort: {column!r} is none of {', '.join(sorted(valid))}")
    descending = params.get("order") == "desc"
    # Each order is sorted once per rows (a filter keeps it: the sort is stable).
    trials: list[TrialRow] = rows.derive(
        ("sorted", column, descending), lambda r: _sorted(r.trials, column, descending)
    )
    status = params.get("status")
    if status:
        wanted = set(status.split(","))
        trials = [t for t in trials if t.phase in wanted]
    query = (params.get("q") or "").strip().lower()
    if query:
        trials = [t for t in trials if query in t.name.lower()]
    offset = _int(params, "offset", 0)
    limit = min(_int(params, "limit", 50), MAX_PAGE)
    return {
        "total": len(trials),
        "offset": offset,
        "best": rows.best,
        "objective": {"names": rows.objective.names, "types": rows.objective.types},
        "metrics": rows.metric_names,
        "parameters": [p["name"] for p in rows.parameters],
        "items": [_item(t) for t in trials[offset : offset + limit]],
    }


def _int(params: Any, key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise e.bad_request(f"{key}: {raw!r} is not a whole number")
    return int(raw)


def _item(t: TrialRow) -> dict[str, Any]:
    return {
        "number": t.number,
        "name": t.name,
        "status": t.phase,
        "params": t.params,
        "metrics": t.metrics,
        "created": t.created,
        "completed": t.completed,
    }


@router.get(EXPERIMENT + "/trials")
async def trials_page(request: Request, namespace: str, name: str) -> dict[str, Any]:
    rows = await _read_rows(request, namespace, name)
    return _page(rows, request.query_params)


# --- the plots' data ---------------------------------------------------------------------------


@router.get(EXPERIMENT + "/columns")
async def columns(request: Request, namespace: str, name: str) -> Response:
    rows = await _read_rows(request, namespace, name)
    body = await anyio.to_thread.run_sync(rows.derive, "columns", _columns_json)
    return Response(body, media_type="application/json")


def _columns_json(rows: Rows) -> bytes:
    """The columns as JSON, encoded once per rows (a megabyte at 10,000 trials)."""
    trials = rows.trials
    columns = {
        "best": rows.best,
        "objective": {"names": rows.objective.names, "types": rows.objective.types},
        "parameters": rows.parameters,
        "pareto": [p.best_trial_name for p in rows.experiment.status.pareto_optimal_trials or []],
        "number": [t.number for t in trials],
        "name": [t.name for t in trials],
        "status": [t.phase for t in trials],
        "params": {p["name"]: [t.params.get(p["name"]) for t in trials] for p in rows.parameters},
        "metrics": {m: [t.metrics.get(m) for t in trials] for m in rows.metric_names},
    }
    return json.dumps(columns, separators=(",", ":"), allow_nan=False).encode()


def _metric(rows: Rows, request: Request) -> str:
    """The ``metric`` asked for (one of the experiment's), else the objective."""
    metric = request.query_params.get("metric")
    if not metric:
        return rows.objective.main
    if metric not in rows.metric_names:
        allowed = ", ".join(rows.metric_names) or "none: the experiment has no objective"
        raise e.bad_request(
            f"metric: {metric!r} is not one of the experiment's metrics ({allowed})"
        )
    return metric


@router.get(EXPERIMENT + "/importance")
async def importance(request: Request, namespace: str, name: str) -> dict[str, Any]:
    rows = await _read_rows(request, namespace, name)
    return await anyio.to_thread.run_sync(imp.importances, rows, _metric(rows, request))


@router.get(EXPERIMENT + "/intermediate")
async def intermediate(request: Request, namespace: str, name: str) -> Response:
    rows = await _read_rows(request, namespace, name)
    metric = _metric(rows, request)
    store = _store(request)
    compute = partial(_intermediate_json, store, metric=metric)
    body = await anyio.to_thread.run_sync(rows.derive, ("intermediate", metric), compute)
    return Response(body, media_type="application/json")


def _intermediate_json(store: Store, rows: Rows, metric: str) -> bytes:
    """The latest trials' reports of ``metric`` by step, as JSON. Kept with the rows: a trial's
    observations are written with it (its collector's position), so new ones make new rows."""
    latest = rows.trials[-INTERMEDIATE_TRIALS:]
    namespace = rows.experiment.metadata.namespace or ""
    found = reads.observation_series(store, namespace, [t.name for t in latest], metric)
    series: list[dict[str, Any]] = []
    points = 0
    for t in reversed(latest):  # the newest first, while the points last
        steps, values = found.get(t.name, ([], []))
        if not values:
            continue
        points += len(values)
        if series and points > INTERMEDIATE_POINTS:
            break
        series.append({"name": t.name, "status": t.phase, "steps": steps, "values": values})
    series.reverse()
    body = {"metric": metric, "total": len(rows.trials), "series": series}
    return json.dumps(body, separators=(",", ":")).encode()


# --- changes -----------------------------------------------------------------------------------


@router.get(PREFIX + "/changes")
async def all_changes(request: Request) -> StreamingResponse:
    return _changes(request, None)


@router.get(PREFIX + "/namespaces/{namespace}/changes")
async def changes_in(request: Request, namespace: str) -> StreamingResponse:
    return _changes(request, namespace)


def _changes(request: Request, namespace: str | None) -> StreamingResponse:
    server = request.app.state.pykatib
    feed = _shared(request)[1]

    async def lines() -> AsyncIterator[bytes]:
        seen = None
        count = 0
        while not server.stopping.is_set() and not await request.is_disconnected():
            current = await anyio.to_thread.run_sync(feed.fingerprint, namespace)
            if current != seen:
                seen = current
                count += 1
                yield (json.dumps({"change": count}) + "\n").encode()
            await server.wait_stopping(feed.poll_seconds)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
