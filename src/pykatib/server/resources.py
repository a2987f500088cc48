"""``/apis/kubeflow.org/v1beta1``: experiments, trials and suggestions, as the API server serves
custom resources (get, list with selectors and paging, watch, and the experiments' writes).

Trials and suggestions are written by the control plane alone: the API reads them.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import urllib.parse
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from pykatib.api.errors import NotFoundError
from pykatib.server import errors as e
from pykatib.server import table, writes
from pykatib.server.kinds import API_VERSION, KINDS, Kind
from pykatib.server.params import boolean, integer
from pykatib.server.patch import PATCH_TYPES, STRATEGIC, parse_body
from pykatib.server.selectors import OBJECT_FIELDS, field_matcher, label_matcher, object_fields
from pykatib.server.watch import POLL_SECONDS, WatchState, encode_snapshot

BASE = "/apis/kubeflow.org/v1beta1"
# A pykatib extension (pykatib's CLI sends it with `apply -f` / `run -f`): the folder of the
# experiment's file, percent-encoded, where its trials run when this machine has it.
SOURCE_DIR_HEADER = "x-pykatib-source-dir"
router = APIRouter()


def _kind(plural: str) -> Kind:
    kind = KINDS.get(plural)
    if kind is None:
        raise e.ApiError(404, "NotFound", "the server could not find the requested resource")
    return kind


def _state(request: Request) -> Any:
    return request.app.state.pykatib


def _respond(
    request: Request,
    kind: Kind,
    obj: dict[str, Any],
    code: int = 200,
    warnings: list[str] | None = None,
) -> Response:
    if table.wants_table(request.headers.get("accept")):
        body: dict[str, Any] = table.table(
            kind.plural, [obj], include=request.query_params.get("includeObject", "Metadata")
        )
    else:
        body = obj
    headers = (
        {"Warning": ", ".join(f'299 - "{_header_safe(w)}"' for w in warnings)} if warnings else None
    )
    return JSONResponse(body, status_code=code, headers=headers)


def _header_safe(text: str) -> str:
    return text.replace('"', "'").encode("ascii", "replace").decode("ascii")


# --- reads -------------------------------------------------------------------------------------


@router.get(BASE + "/{plural}")
async def list_all(request: Request, plural: str) -> Response:
    return await _list(request, _kind(plural), None)


@router.get(BASE + "/namespaces/{namespace}/{plural}")
async def list_namespaced(request: Request, namespace: str, plural: str) -> Response:
    return await _list(request, _kind(plural), namespace)


@router.get(BASE + "/namespaces/{namespace}/{plural}/{name}")
@router.get(BASE + "/namespaces/{namespace}/{plural}/{name}/status")
def get(request: Request, namespace: str, plural: str, name: str) -> Response:
    kind = _kind(plural)
    try:
        obj = kind.get(_state(request).store, namespace, name)
    except NotFoundError:
        raise e.not_found(plural, name) from None
    return _respond(request, kind, obj)


def _matcher(request: Request) -> Any:
    labels = label_matcher(request.query_params.get("labelSelector"))
    fields = field_matcher(request.query_params.get("fieldSelector"), object_fields, OBJECT_FIELDS)

    def matches(obj: dict[str, Any]) -> bool:
        return labels((obj.get("metadata") or {}).get("labels") or {}) and fields(obj)

    return matches


async def _list(request: Request, kind: Kind, namespace: str | None) -> Response:
    params = request.query_params
    if boolean(params, "watch"):
        return _watch(request, kind, namespace)
    matches = _matcher(request)
    store = _state(request).store
    objects = await anyio.to_thread.run_sync(kind.list_in, store, namespace)
    objects = [o for o in objects if matches(o)]
    objects.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"].get("name", "")))
    version = encode_snapshot(objects)
    after = _decode_continue(params.get("continue"))
    if after is not None:
        objects = [o for o in objects if _key(o) > after]
    limit = integer(params, "limit", minimum=0)
    next_token = None
    remaining = None
    if limit and len(objects) > limit:
        remaining = len(objects) - limit
        objects = objects[:limit]
        next_token = base64.urlsafe_b64encode(json.dumps(_key(objects[-1])).encode()).decode()
    if table.wants_table(request.headers.get("accept")):
        body = table.table(
            kind.plural,
            objects,
            version,
            params.get("includeObject", "Metadata"),
            continue_token=next_token,
        )
        return JSONResponse(body)
    meta: dict[str, Any] = {"resourceVersion": version}
    if next_token:
        meta["continue"] = next_token
        meta["remainingItemCount"] = remaining
    return JSONResponse(
        {"apiVersion": API_VERSION, "kind": f"{kind.kind}List", "metadata": meta, "items": objects}
    )


def _key(obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    return [meta.get("namespace") or "", meta.get("name") or ""]


def _decode_continue(token: str | None) -> list[str] | None:
    if not token:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise e.bad_request("invalid continue token; list again without it") from None
    if not (isinstance(after, list) and len(after) == 2 and all(isinstance(x, str) for x in after)):
        raise e.bad_request("invalid continue token; list again without it")
    return after


# --- watch -------------------------------------------------------------------------------------


def _watch(request: Request, kind: Kind, namespace: str | None) -> Response:
    params = request.query_params
    state = WatchState.from_token(params.get("resourceVersion") or "")
    matches = _matcher(request)
    as_table = table.wants_table(request.headers.get("accept"))
    include = params.get("includeObject", "Metadata")
    # An integer, as Kubernetes takes it (not float(): "inf" or "nan" would never end); 0: none.
    timeout = integer(params, "timeoutSeconds")
    server = _state(request)
    store = server.store

    def fetch(keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        if len(keys) > 20:
            return {tuple(_key(o)): o for o in kind.list_in(store, namespace)}  # type: ignore[misc]
        found = {}
        for key in keys:
            try:
                found[key] = kind.get(store, *key)
            except NotFoundError:
                pass
        return found

    def poll() -> list[tuple[str, dict[str, Any]]]:
        return state.poll(kind.versions(store, namespace), fetch, matches)

    async def stream() -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        while not server.stopping.is_set():
            for type_, obj in await anyio.to_thread.run_sync(poll):
                obj.setdefault("apiVersion", API_VERSION)
                obj.setdefault("kind", kind.kind)
                if as_table:
                    obj = table.table(kind.plural, [obj], include=include, headers=False)
                yield json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n"
            if deadline is not None and loop.time() >= deadline:
                return
            if await request.is_disconnected():
                return
            await server.wait_stopping(POLL_SECONDS)

    return StreamingResponse(stream(), media_type="application/json")


# --- writes (experiments) ----------------------------------------------------------------------


def _only_experiments(kind: Kind, verb: str) -> None:
    if kind.plural != "experiments":
        raise e.method_not_allowed(
            f"{kind.plural} are written by pykatib's control plane; {verb} the experiment instead"
        )


def _dry_run(request: Request, options: Any = None) -> bool:
    """Whether a write is a dry run: ``dryRun=All``, as ``kubectl --dry-run=server`` sends it,
    in the query or a delete's DeleteOptions; any other value is a 400, as Kubernetes answers."""
    values: list[Any] = request.query_params.getlist("dryRun")
    in_body = options.get("dryRun") if isinstance(options, dict) else None
    if in_body is not None:
        values += in_body if isinstance(in_body, list) else [in_body]
    for value in values:
        if value != "All":
            raise e.bad_request(f'dryRun: {value!r} is not supported; the one value is "All"')
    return bool(values)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        ctype = request.headers.get("content-type", "")
        if "yaml" in ctype:
            import yaml

            try:
                return yaml.safe_load(raw.decode("utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError):
                pass
        raise e.bad_request(f"the request body is not valid JSON: {exc}") from None


@router.post(BASE + "/namespaces/{namespace}/{plural}")
async def create(request: Request, namespace: str, plural: str) -> Response:
    kind = _kind(plural)
    _only_experiments(kind, "create")
    dry_run = _dry_run(request)
    body = await _json_body(request)
    server = _state(request)
    source = request.headers.get(SOURCE_DIR_HEADER)
    result = await anyio.to_thread.run_sync(
        functools.partial(
            writes.create,
            server.store,
            server.wake,
            namespace,
            body,
            urllib.parse.unquote(source) if source else None,
            dry_run=dry_run,
        )
    )
    return _respond(request, kind, result.obj, result.code, result.warnings)


@router.put(BASE + "/namespaces/{namespace}/{plural}/{name}")
async def replace(request: Request, namespace: str, plural: str, name: str) -> Response:
    kind = _kind(plural)
    _only_experiments(kind, "replace")
    dry_run = _dry_run(request)
    body = await _json_body(request)
    server = _state(request)
    result = await anyio.to_thread.run_sync(
        functools.partial(
            writes.replace, server.store, server.wake, namespace, name, body, dry_run=dry_run
        )
    )
    return _respond(request, kind, result.obj, result.code, result.warnings)


@router.patch(BASE + "/namespaces/{namespace}/{plural}/{name}")
async def patch(request: Request, namespace: str, plural: str, name: str) -> Response:
    kind = _kind(plural)
    _only_experiments(kind, "patch")
    dry_run = _dry_run(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in PATCH_TYPES:
        raise e.ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(PATCH_TYPES)}",
        )
    body = parse_body(await request.body(), ctype)
    server = _state(request)
    result = await anyio.to_thread.run_sync(
        functools.partial(
            writes.patch,
            server.store,
            server.wake,
            namespace,
            name,
            body,
            ctype if ctype != STRATEGIC else "application/merge-patch+json",
            dry_run=dry_run,
        )
    )
    return _respond(request, kind, result.obj, result.code, result.warnings)


@router.delete(BASE + "/namespaces/{namespace}/{plural}/{name}")
async def delete(request: Request, namespace: str, plural: str, name: str) -> Response:
    kind = _kind(plural)
    _only_experiments(kind, "delete")
    options = await _json_body(request)
    dry_run = _dry_run(request, options)
    server = _state(request)
    result = await anyio.to_thread.run_sync(
        functools.partial(
            writes.delete, server.store, server.wake, namespace, name, options, dry_run=dry_run
        )
    )
    return JSONResponse(result.obj, status_code=result.code)


@router.put(BASE + "/namespaces/{namespace}/{plural}/{name}/status")
@router.patch(BASE + "/namespaces/{namespace}/{plural}/{name}/status")
def write_status(plural: str) -> Response:
    _kind(plural)
    raise e.method_not_allowed(
        "the status is written by pykatib's control plane alone; change the spec instead"
    )


__all__ = ["router"]
