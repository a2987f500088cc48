"""Discovery, as kubectl reads it: ``/version``, ``/api``, ``/apis``, the APIResourceLists and
the OpenAPI documents (v2 and v3) that ``kubectl apply`` and ``kubectl explain`` use.

The OpenAPI documents themselves are written in ``server/openapi.py``.
"""

from __future__ import annotations

import hashlib
import platform
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pykatib.server import openapi
from pykatib.server.errors import ApiError
from pykatib.server.kinds import CATEGORIES, GROUP, KINDS, VERSION

router = APIRouter()
_CRD_VERBS = ["get", "list", "watch"]
_WRITE_VERBS = ["create", "delete", "patch", "update"]


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


# --- OpenAPI (the documents: server/openapi.py) ------------------------------------------------


@router.get("/openapi/v3")
def openapi_v3_index() -> dict[str, Any]:
    return {
        "paths": {
            name: {"serverRelativeURL": f"/openapi/v3/{name}?hash={openapi.v3_hash(name)}"}
            for name in openapi.v3_documents()
        }
    }


@router.get("/openapi/v3/{name:path}")
def openapi_v3(name: str) -> JSONResponse:
    document = openapi.v3_documents().get(name)
    if document is None:
        raise ApiError(404, "NotFound", f'no OpenAPI document "{name}"; /openapi/v3 lists them')
    return JSONResponse(document)


@router.get("/openapi/v2")
def openapi_v2() -> JSONResponse:
    return JSONResponse(openapi.v2_document())


__all__ = ["router"]
