"""The OpenAPI documents: what the server serves, as kubectl (``apply``, ``explain``) and
property-based clients read it.

Version 3 is one document per part of the API, as the API server splits it (the index at
``/openapi/v3`` names them): ``apis/kubeflow.org/v1beta1`` (Katib's resources, their status
and the trials' observation logs), ``api/v1`` (namespaces, events, the trials' pods and their
logs) and the discovery documents (``version``, ``api``, ``apis``, ``apis/kubeflow.org``).
Version 2 is all of them in one document. Each operation declares the query parameters the
handler really reads, no more; the resources' schemas are generated from the same pydantic
models the CLI validates with.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from pykatib.api.models import Experiment, KatibModel, Suggestion, Trial
from pykatib.server.core import EVENT_FIELDS
from pykatib.server.kinds import GROUP, KINDS, VERSION
from pykatib.server.pods import POD_FIELDS
from pykatib.server.selectors import OBJECT_FIELDS

_MODELS: dict[str, type[KatibModel]] = {
    "Experiment": Experiment,
    "Trial": Trial,
    "Suggestion": Suggestion,
}
GROUP_VERSION = f"apis/{GROUP}/{VERSION}"
OBSERVATION_LOG = "org.kubeflow.pykatib.ObservationLog"
DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
V3_PREFIX = "#/components/schemas/"
V2_PREFIX = "#/definitions/"


def _schema_name(kind: str) -> str:
    return f"org.kubeflow.{VERSION}.{kind}"


# --- parameters --------------------------------------------------------------------------------


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _field_selector(things: str, fields: tuple[str, ...]) -> dict[str, Any]:
    return _query(
        "fieldSelector",
        {"type": "string"},
        f"Only {things} whose fields match: comma-separated field=value, field==value or "
        f"field!=value, the fields {', '.join(fields)}.",
    )


_NAMESPACE = _path("namespace")
_NAME = _path("name")
_LABEL_SELECTOR = _query(
    "labelSelector",
    {"type": "string"},
    "Only objects whose labels match: comma-separated requirements, all of which hold "
    "(key=value, key==value, key!=value, key in (a,b), key notin (a,b), key, !key).",
)
_LIST = [
    _LABEL_SELECTOR,
    _field_selector("objects", OBJECT_FIELDS),
    _query(
        "limit",
        {"type": "integer", "minimum": 0},
        "At most this many items (0: all); the list's metadata.continue then reads the rest.",
    ),
    _query("continue", {"type": "string"}, "metadata.continue of the page before."),
    _query(
        "watch",
        {"type": "boolean"},
        "A stream of ADDED, MODIFIED and DELETED events instead of a list.",
    ),
    _query(
        "resourceVersion",
        {"type": "string"},
        "With watch: the events since this list's metadata.resourceVersion (none or 0: an "
        "ADDED event per object first); any other version is 410 Expired. A list always "
        "reads the latest state.",
    ),
    _query(
        "timeoutSeconds",
        {"type": "integer"},
        "With watch: end the stream after this many seconds (0: never).",
    ),
]
_FIELD_VALIDATION = _query(
    "fieldValidation",
    {"type": "string"},
    "Strict, Warn or Ignore: pykatib always rejects unknown or duplicate fields (Strict).",
)
_DRY_RUN = _query(
    "dryRun",
    {"type": "string", "enum": ["All"]},
    "All: every check, the object that would be stored answered, nothing stored.",
)
_POD_FIELD_SELECTOR = _field_selector("pods", POD_FIELDS)
_POD_LOG = [
    _query("container", {"type": "string"}, "The container's log (any container: the trial's)."),
    _query(
        "follow",
        {"type": "boolean"},
        "Stream the log as it grows, until the trial completes (or, without attempt, its "
        "next attempt begins).",
    ),
    _query("tailLines", {"type": "integer", "minimum": 0}, "Only the last lines."),
    _query("limitBytes", {"type": "integer", "minimum": 1}, "At most this many bytes."),
    _query(
        "attempt",
        {"type": "integer", "minimum": 1},
        "pykatib: the log of this attempt of the trial (the latest when absent).",
    ),
]
_EVENT_FIELD_SELECTOR = _field_selector("events", EVENT_FIELDS)


# --- schemas -----------------------------------------------------------------------------------


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
    schemas[OBSERVATION_LOG] = _observation_log_schema()
    schemas[DELETE_OPTIONS] = _delete_options_schema()
    # pydantic writes "anyOf [X, null]" for optional fields; OpenAPI has no null type.
    return _drop_nulls(json.loads(json.dumps(schemas)))


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


def _delete_options_schema() -> dict[str, Any]:
    """What a delete reads of its DeleteOptions body: the preconditions, and dryRun."""
    return {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "dryRun": {"type": "array", "items": {"type": "string", "enum": ["All"]}},
            "preconditions": {
                "type": "object",
                "description": "The delete happens only while the experiment has this uid "
                "and resourceVersion (409 Conflict otherwise).",
                "properties": {
                    "uid": {"type": "string"},
                    "resourceVersion": {"type": "string"},
                },
            },
        },
    }


# --- paths -------------------------------------------------------------------------------------


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": V3_PREFIX + name}


def _ok(schema: dict[str, Any] | None = None, code: str = "200") -> dict[str, Any]:
    described: dict[str, Any] = {"description": "OK"}
    if schema is not None:
        described.update(_json(schema))
    return {code: described}


def _get(operation: str, query: list[dict[str, Any]] | None = None, **more: Any) -> dict[str, Any]:
    found = {"operationId": operation, "responses": _ok(), **more}
    if query:
        found["parameters"] = query
    return found


def _resource_op(
    kind: str, operation: str, action: str, schema: dict[str, Any], **more: Any
) -> dict[str, Any]:
    """An operation on a Katib resource, marked as the API server marks it for kubectl."""
    return {
        "operationId": operation,
        "responses": _ok(schema),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": GROUP, "version": VERSION, "kind": kind},
        **more,
    }


def _resource_paths() -> dict[str, Any]:
    """Experiments, trials and suggestions: reads for all three, writes for experiments."""
    paths: dict[str, Any] = {}
    base = f"/{GROUP_VERSION}"
    for kind in KINDS.values():
        ref = _ref(_schema_name(kind.kind))
        op = functools.partial(_resource_op, kind.kind, schema=ref)

        listing = op(f"list{kind.kind}", "list", parameters=_LIST, responses=_ok())
        paths[f"{base}/{kind.plural}"] = {
            "get": {**listing, "operationId": f"list{kind.kind}ForAllNamespaces"}
        }
        collection: dict[str, Any] = {"get": listing, "parameters": [_NAMESPACE]}
        item: dict[str, Any] = {
            "get": op(f"read{kind.kind}", "get"),
            "parameters": [_NAMESPACE, _NAME],
        }
        status = {"get": op(f"read{kind.kind}Status", "get"), "parameters": [_NAMESPACE, _NAME]}
        if kind.plural == "experiments":
            body = {"required": True, **_json(ref)}
            writes = [_DRY_RUN, _FIELD_VALIDATION]
            collection["post"] = op(
                f"create{kind.kind}",
                "post",
                requestBody=body,
                parameters=writes,
                responses={**_ok(ref), **_ok(ref, "201")},
            )
            item["put"] = op(f"replace{kind.kind}", "put", requestBody=body, parameters=writes)
            item["patch"] = op(
                f"patch{kind.kind}",
                "patch",
                parameters=writes,
                requestBody={
                    "required": True,
                    "content": {
                        "application/merge-patch+json": {"schema": {"type": "object"}},
                        "application/json-patch+json": {
                            "schema": {"type": "array", "items": {"type": "object"}}
                        },
                        "application/apply-patch+yaml": {"schema": {"type": "object"}},
                    },
                },
            )
            item["delete"] = op(
                f"delete{kind.kind}",
                "delete",
                parameters=[_DRY_RUN],
                requestBody=_json(_ref(DELETE_OPTIONS)),
            )
        paths[f"{base}/namespaces/{{namespace}}/{kind.plural}"] = collection
        paths[f"{base}/namespaces/{{namespace}}/{kind.plural}/{{name}}"] = item
        paths[f"{base}/namespaces/{{namespace}}/{kind.plural}/{{name}}/status"] = status
    paths[f"{base}/namespaces/{{namespace}}/trials/{{name}}/observationlog"] = (
        _observation_log_path()
    )
    return paths


def _observation_log_path() -> dict[str, Any]:
    log = _json(_ref(OBSERVATION_LOG))
    query = [
        _query("metricName", {"type": "string"}, "Only this metric's entries."),
        _query("startTime", {"type": "string"}, "Only entries at or after (RFC 3339)."),
        _query("endTime", {"type": "string"}, "Only entries at or before (RFC 3339)."),
    ]
    return {
        "get": {
            "operationId": "readTrialObservationLog",
            "parameters": query,
            "responses": {"200": {"description": "OK", **log}},
        },
        "post": {
            "operationId": "reportTrialObservationLog",
            "requestBody": {"required": True, **log},
            "responses": {"201": {"description": "Stored", **log}},
        },
        "parameters": [_NAMESPACE, _NAME],
    }


def _core_paths() -> dict[str, Any]:
    """``/api/v1``: namespaces, events, and the trials as pods with their logs."""
    pods = [_LABEL_SELECTOR, _POD_FIELD_SELECTOR]
    text = {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}
    return {
        "/api/v1/namespaces": {"get": _get("listCoreV1Namespace")},
        "/api/v1/namespaces/{name}": {"get": _get("readCoreV1Namespace"), "parameters": [_NAME]},
        "/api/v1/namespaces/{namespace}/events": {
            "get": _get("listCoreV1NamespacedEvent", [_EVENT_FIELD_SELECTOR]),
            "parameters": [_NAMESPACE],
        },
        "/api/v1/pods": {"get": _get("listCoreV1PodForAllNamespaces", pods)},
        "/api/v1/namespaces/{namespace}/pods": {
            "get": _get("listCoreV1NamespacedPod", pods),
            "parameters": [_NAMESPACE],
        },
        "/api/v1/namespaces/{namespace}/pods/{name}": {
            "get": _get("readCoreV1NamespacedPod"),
            "parameters": [_NAMESPACE, _NAME],
        },
        "/api/v1/namespaces/{namespace}/pods/{name}/log": {
            "get": _get("readCoreV1NamespacedPodLog", _POD_LOG, responses=text),
            "parameters": [_NAMESPACE, _NAME],
        },
    }


def _document(title: str, paths: dict[str, Any], schemas: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {"openapi": "3.0.0", "info": {"title": title, "version": "v1"}}
    doc["paths"] = paths
    if schemas:
        doc["components"] = {"schemas": _schemas(V3_PREFIX)}
    return doc


@functools.cache
def v3_documents() -> dict[str, dict[str, Any]]:
    """The version 3 documents, by their name in the index."""
    return {
        "version": _document("version", {"/version": {"get": _get("getCodeVersion")}}),
        "api": _document("api", {"/api": {"get": _get("getCoreAPIVersions")}}),
        "api/v1": _document(
            "api/v1", {"/api/v1": {"get": _get("getCoreV1APIResources")}, **_core_paths()}
        ),
        "apis": _document("apis", {"/apis": {"get": _get("getAPIVersions")}}),
        f"apis/{GROUP}": _document(
            f"apis/{GROUP}", {f"/apis/{GROUP}": {"get": _get("getKubeflowOrgAPIGroup")}}
        ),
        GROUP_VERSION: _document(
            GROUP_VERSION,
            {f"/{GROUP_VERSION}": {"get": _get("getKubeflowOrgV1beta1APIResources")}}
            | _resource_paths(),
            schemas=True,
        ),
    }


@functools.cache
def v3_hash(name: str) -> str:
    text = json.dumps(v3_documents()[name], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- version 2 ---------------------------------------------------------------------------------


@functools.cache
def v2_document() -> dict[str, Any]:
    """Every version 3 document's paths in one Swagger 2.0 document."""
    paths: dict[str, Any] = {}
    for doc in v3_documents().values():
        for path, item in doc["paths"].items():
            paths[path] = {key: _v2_operation(value, key) for key, value in item.items()}
    return {
        "swagger": "2.0",
        "info": {"title": "pykatib", "version": "v1"},
        "paths": _v2_refs(paths),
        "definitions": _schemas(V2_PREFIX),
    }


def _v2_operation(value: Any, key: str) -> Any:
    if key == "parameters":
        return [_v2_parameter(p) for p in value]
    operation = copy.deepcopy(value)
    params = [_v2_parameter(p) for p in operation.get("parameters", [])]
    body = operation.pop("requestBody", None)
    if body is not None:
        types = list(body["content"])
        operation["consumes"] = types
        schema = body["content"][types[0]]["schema"]
        params.append(
            {
                "name": "body",
                "in": "body",
                "required": body.get("required", False),
                "schema": schema,
            }
        )
    if params:
        operation["parameters"] = params
    produces: list[str] = []
    for response in operation["responses"].values():
        content = response.pop("content", None)
        if content:
            produces += [t for t in content if t not in produces]
            response["schema"] = next(iter(content.values()))["schema"]
    if produces:
        operation["produces"] = produces
    return operation


def _v2_parameter(param: dict[str, Any]) -> dict[str, Any]:
    """A version 3 path or query parameter as version 2 writes it (its schema inline)."""
    out = {k: v for k, v in param.items() if k != "schema"}
    out.update(param["schema"])
    return out


def _v2_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (v.replace(V3_PREFIX, V2_PREFIX) if k == "$ref" else _v2_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_v2_refs(v) for v in node]
    return node


__all__ = ["GROUP_VERSION", "v2_document", "v3_documents", "v3_hash"]
