"""Discovery, as kubectl reads it: ``/version``, ``/api``, ``/apis``, the APIResourceLists and
the OpenAPI documents (v2 and v3) that ``kubectl apply`` and ``kubectl explain`` use.

The OpenAPI schemas are generated from the same pydantic models the CLI validates with.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pykatib.api.models import Experiment, KatibModel, Suggestion, Trial
from pykatib.server.kinds import CATEGORIES, GROUP, KINDS, VERSION

router = APIRouter()
_CRD_VERBS = ["get", "list", "watch"]
_WRITE_VERBS = ["create", "delete", "patch", "update"]
_MODELS: dict[str, type[KatibModel]] = {
    "Experiment": Experiment,
    "Trial": Trial,
    "Suggestion": Suggestion,
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pykatib")
    except PackageNotFoundError:
        return "0.0.0"


@router.get("/version")
def version_info() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"v1.32.0+pykatib.{_version()}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "pykatib",
        "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


@router.get("/healthz")
@router.get("/readyz")
@router.get("/livez")
def healthz() -> Any:
    from fastapi.responses import PlainTextResponse

    return PlainTextResponse("ok")


@router.get("/api")
def core_versions(request: Request) -> dict[str, Any]:
    host = request.headers.get("host", "127.0.0.1")
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


@router.get("/api/v1")
def core_resources() -> dict[str, Any]:
    def resource(name: str, kind: str, namespaced: bool, verbs: list[str], **more: Any) -> Any:
        return {
            "name": name,
            "singularName": name.rstrip("s") if "/" not in name else "",
            "namespaced": namespaced,
            "kind": kind,
            "verbs": verbs,
            **more,
        }

    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            resource("namespaces", "Namespace", False, ["get", "list"], shortNames=["ns"]),
            resource("events", "Event", True, ["get", "list"], shortNames=["ev"]),
            resource("pods", "Pod", True, ["get", "list"], shortNames=["po"], categories=["all"]),
            resource("pods/log", "Pod", True, ["get"]),
        ],
    }


def _group() -> dict[str, Any]:
    gv = {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [gv],
        "preferredVersion": gv,
    }


@router.get("/apis")
def groups() -> dict[str, Any]:
    group = _group()
    group.pop("kind")
    group.pop("apiVersion")
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}


@router.get(f"/apis/{GROUP}")
def group() -> dict[str, Any]:
    return _group()


@router.get(f"/apis/{GROUP}/{VERSION}")
def resources() -> dict[str, Any]:
    listed = []
    for kind in KINDS.values():
        writable = kind.plural == "experiments"
        verbs = _CRD_VERBS + (_WRITE_VERBS if writable else [])
        listed.append(
            {
                "name": kind.plural,
                "singularName": kind.singular,
                "namespaced": True,
                "kind": kind.kind,
                "verbs": sorted(verbs),
                "categories": CATEGORIES,
                "storageVersionHash": hashlib.sha256(kind.plural.encode()).hexdigest()[:11],
            }
        )
        listed.append(
            {
                "name": f"{kind.plural}/status",
                "singularName": "",
                "namespaced": True,
                "kind": kind.kind,
                "verbs": ["get"],
            }
        )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{VERSION}",
        "resources": listed,
    }


# --- OpenAPI -----------------------------------------------------------------------------------


def _schema_name(kind: str) -> str:
    return f"org.kubeflow.{VERSION}.{kind}"


@functools.cache
def _schemas(ref_prefix: str) -> dict[str, Any]:
    """Every resource's schema (and what they use), named as the API server names them."""
    schemas: dict[str, Any] = {}
    for kind, model in _MODELS.items():
        schema = model.model_json_schema(by_alias=True, ref_template=ref_prefix + "{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schema["x-kubernetes-group-version-kind"] = [
            {"group": GROUP, "version": VERSION, "kind": kind}
        ]
        props = schema.get("properties", {})
        props["apiVersion"] = {"type": "string", "description": "kubeflow.org/v1beta1"}
        props["kind"] = {"type": "string", "description": kind}
        schemas[_schema_name(kind)] = schema
    text = json.dumps(schemas)
    # pydantic writes "anyOf [X, null]" for optional fields; OpenAPI has no null type.
    return _drop_nulls(json.loads(text))


def _drop_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        any_of = node.get("anyOf")
        if isinstance(any_of, list):
            rest = [s for s in any_of if s != {"type": "null"}]
            if len(rest) == 1:
                merged = {k: v for k, v in node.items() if k != "anyOf"}
                merged.pop("default", None)
                merged.update(rest[0])
                return _drop_nulls(merged)
        out = {k: _drop_nulls(v) for k, v in node.items() if k not in ("title",)}
        if out.get("default") is None:
            out.pop("default", None)
        if "$ref" in out and len(out) > 1:  # a $ref must stand alone in OpenAPI v2
            out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
        return out
    if isinstance(node, list):
        return [_drop_nulls(v) for v in node]
    return node


def _parameters(name: bool) -> list[dict[str, Any]]:
    params = [
        {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    if name:
        params.append(
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        )
    return params


_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "Strict: unknown or duplicate fields are rejected (pykatib always is).",
    "schema": {"type": "string", "uniqueItems": True},
}


def _v3_document() -> dict[str, Any]:
    schemas = _schemas("#/components/schemas/")
    paths: dict[str, Any] = {}
    for kind in KINDS.values():
        ref = {"$ref": f"#/components/schemas/{_schema_name(kind.kind)}"}
        body = {"content": {"application/json": {"schema": ref}}}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        gvk = {"group": GROUP, "version": VERSION, "kind": kind.kind}
        collection = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{kind.plural}"
        item = collection + "/{name}"
        ops_collection: dict[str, Any] = {
            "get": {
                "operationId": f"list{kind.kind}",
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "list",
                "x-kubernetes-group-version-kind": gvk,
            },
            "parameters": _parameters(False),
        }
        ops_item: dict[str, Any] = {
            "get": {
                "operationId": f"read{kind.kind}",
                "responses": ok,
                "x-kubernetes-action": "get",
                "x-kubernetes-group-version-kind": gvk,
            },
            "parameters": _parameters(True),
        }
        if kind.plural == "experiments":
            ops_collection["post"] = {
                "operationId": f"create{kind.kind}",
                "requestBody": body,
                "responses": ok,
                "parameters": [_FIELD_VALIDATION],
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
            }
            ops_item["put"] = {
                "operationId": f"replace{kind.kind}",
                "requestBody": body,
                "responses": ok,
                "parameters": [_FIELD_VALIDATION],
                "x-kubernetes-action": "put",
                "x-kubernetes-group-version-kind": gvk,
            }
            ops_item["patch"] = {
                "operationId": f"patch{kind.kind}",
                "requestBody": {
                    "content": {
                        t: {"schema": {"type": "object"}}
                        for t in (
                            "application/merge-patch+json",
                            "application/json-patch+json",
                            "application/apply-patch+yaml",
                        )
                    }
                },
                "responses": ok,
                "parameters": [_FIELD_VALIDATION],
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            }
            ops_item["delete"] = {
                "operationId": f"delete{kind.kind}",
                "responses": ok,
                "x-kubernetes-action": "delete",
                "x-kubernetes-group-version-kind": gvk,
            }
        paths[collection] = ops_collection
        paths[item] = ops_item
    schemas[OBSERVATION_LOG] = _observation_log_schema()
    paths[f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/trials/{{name}}/observationlog"] = (
        _observation_log_path()
    )
    return {
        "openapi": "3.0.0",
        "info": {"title": "pykatib", "version": _version()},
        "paths": paths,
        "components": {"schemas": schemas},
    }


OBSERVATION_LOG = "org.kubeflow.pykatib.ObservationLog"


def _observation_log_schema() -> dict[str, Any]:
    """Katib's ObservationLog in JSON, plus each entry's step (``server/observations.py``)."""
    metric = {
        "type": "object",
        "required": ["name", "value"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "value": {"type": "string", "description": "a number, as Katib stores it"},
        },
    }
    entry = {
        "type": "object",
        "required": ["metric"],
        "properties": {
            "timeStamp": {"type": "string", "format": "date-time"},
            "metric": metric,
            "step": {"type": "integer", "minimum": 0},
        },
    }
    return {
        "type": "object",
        "required": ["metricLogs"],
        "properties": {"metricLogs": {"type": "array", "items": entry}},
    }


def _observation_log_path() -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{OBSERVATION_LOG}"}
    log = {"content": {"application/json": {"schema": ref}}}
    query = [
        {"name": key, "in": "query", "schema": {"type": "string"}}
        for key in ("metricName", "startTime", "endTime")
    ]
    return {
        "get": {
            "operationId": "readTrialObservationLog",
            "parameters": query,
            "responses": {"200": {"description": "OK", **log}},
        },
        "post": {
            "operationId": "reportTrialObservationLog",
            "requestBody": log,
            "responses": {"201": {"description": "Stored", **log}},
        },
        "parameters": _parameters(True),
    }


def _v2_document() -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "info": {"title": "pykatib", "version": _version()},
        "paths": {},
        "definitions": _schemas("#/definitions/"),
    }


@functools.cache
def _hash() -> str:
    return hashlib.sha256(json.dumps(_v3_document(), sort_keys=True).encode()).hexdigest()[:16]


@router.get("/openapi/v3")
def openapi_v3_index() -> dict[str, Any]:
    return {
        "paths": {
            f"apis/{GROUP}/{VERSION}": {
                "serverRelativeURL": f"/openapi/v3/apis/{GROUP}/{VERSION}?hash={_hash()}"
            }
        }
    }


@router.get(f"/openapi/v3/apis/{GROUP}/{VERSION}")
def openapi_v3() -> JSONResponse:
    return JSONResponse(_v3_document())


@router.get("/openapi/v2")
def openapi_v2() -> JSONResponse:
    return JSONResponse(_v2_document())


__all__ = ["router"]
