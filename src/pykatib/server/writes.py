"""Writing experiments through the API: create, replace, patch, delete.

Each write goes through the same checks as ``pykatib apply``: Katib's defaults and validation
(:func:`pykatib.api.yaml.load_experiments`), admission (:func:`pykatib.control.admission.admit`)
and, for an update, Katib's update rules (:func:`pykatib.api.validation.update_errors`). Updates
are conditional on the ``resourceVersion`` the client read: a stale one is a 409 Conflict. The
handlers only write the store; the control plane (:class:`pykatib.control.manager.Manager`) is
woken to act on the change.

A dry run (``dryRun=All``: ``kubectl --dry-run=server``) goes through every check and answers
the object that would be stored, or the error the write would get, and stores nothing.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable
from typing import Any

import yaml

from pykatib.api.errors import ConflictError, InvalidExperimentError, NotFoundError
from pykatib.api.models import Experiment, ExperimentStatus, now
from pykatib.api.validation import EDITABLE_FIELDS, update_errors
from pykatib.api.yaml import load_experiments
from pykatib.control import suggestion as sg
from pykatib.control.admission import admit
from pykatib.control.events import condition_events
from pykatib.server import errors as e
from pykatib.server.patch import APPLY, apply_patch
from pykatib.store import Changes, Store

PLURAL = "experiments"
KIND = "Experiment"
# What the API server owns in metadata: a client's values are ignored.
_SERVER_OWNED = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "ownerReferences",
    "deletionTimestamp",
    "finalizers",
    "selfLink",
)
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SimpleNameGenerator
WRITE_ATTEMPTS = 5

Wake = Callable[[tuple[str, str] | None], None]


class Result:
    """An object written, with the code to answer and the warnings to send as headers."""

    def __init__(self, obj: dict[str, Any], code: int = 200, warnings: list[str] | None = None):
        self.obj = obj
        self.code = code
        self.warnings = warnings or []


def _check_object(doc: Any, namespace: str, name: str | None) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise e.bad_request("the request body must be a JSON object (an Experiment)")
    if doc.get("kind") not in (None, KIND) or doc.get("apiVersion") not in (
        None,
        "kubeflow.org/v1beta1",
    ):
        raise e.bad_request(
            f"the body is {doc.get('apiVersion')}, kind={doc.get('kind')}; this endpoint takes "
            "kubeflow.org/v1beta1, kind=Experiment"
        )
    doc.setdefault("apiVersion", "kubeflow.org/v1beta1")
    doc.setdefault("kind", KIND)
    meta = doc.get("metadata")
    if meta is None:
        meta = doc["metadata"] = {}
    if not isinstance(meta, dict):
        raise e.bad_request("metadata must be an object")
    if meta.get("namespace") not in (None, "", namespace):
        raise e.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = namespace
    if name is not None and meta.get("name") not in (None, name):
        raise e.bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({name})"
        )
    if name is not None:
        meta["name"] = name
    return doc


def _validated(doc: dict[str, Any], name: str) -> tuple[Experiment, list[str]]:
    """``doc`` defaulted, validated and admitted, with its warnings; 422 Invalid otherwise."""
    doc = dict(doc)
    doc.pop("status", None)
    meta = dict(doc.get("metadata") or {})
    for owned in _SERVER_OWNED:
        meta.pop(owned, None)
    doc["metadata"] = meta
    try:
        [loaded] = load_experiments(yaml.safe_dump(doc, sort_keys=False), "<request>")
    except InvalidExperimentError as exc:
        raise e.invalid(KIND, name, exc.errors) from None
    errors = list(loaded.errors)
    if loaded.experiment is not None and not errors:
        more, warnings = admit(loaded.experiment)
        errors += more
        loaded.warnings += warnings
    if errors or loaded.experiment is None:
        raise e.invalid(KIND, name, errors or ["<body>: not an experiment"])
    return loaded.experiment, loaded.warnings


def create(
    store: Store,
    wake: Wake,
    namespace: str,
    doc: Any,
    source_dir: str | None = None,
    *,
    dry_run: bool = False,
) -> Result:
    """POST: a new experiment (``generateName`` picks a free name); 409 AlreadyExists. Its
    trials run in ``source_dir`` (as ``pykatib run -f`` runs them in the file's folder) when
    that is a folder of this machine, else in the server's working directory."""
    if source_dir is not None and not os.path.isdir(source_dir):
        source_dir = None
    doc = _check_object(doc, namespace, None)
    meta = doc["metadata"]
    generate = meta.get("generateName")
    for _ in range(WRITE_ATTEMPTS):
        if generate and not meta.get("name"):
            suffix = "".join(random.choices(_GENERATE_ALPHABET, k=5))
            name = f"{generate}{suffix}"
        else:
            name = meta.get("name") or ""
        if not name:
            raise e.invalid(KIND, "", ["metadata.name: name or generateName is required"])
        exp, warnings = _validated({**doc, "metadata": {**meta, "name": name}}, name)
        exp.status = ExperimentStatus()
        if dry_run:
            if not _exists(store, namespace, name):
                return Result(_as_created(exp), 201, warnings)
            if generate and not meta.get("name"):
                continue
            raise e.already_exists(PLURAL, name)
        try:
            store.create_experiment(exp, source_dir)
        except ConflictError:
            if generate and not meta.get("name"):
                continue  # the generated name was taken: another one
            raise e.already_exists(PLURAL, name) from None
        # As Controller.apply creates: the suggestion comes with the experiment.
        suggestion = sg.new_suggestion(exp)
        store.commit(
            namespace,
            name,
            Changes(suggestion=suggestion, events=condition_events(suggestion, [])),
        )
        wake((namespace, name))
        return Result(store.get_experiment(namespace, name).to_dict(), 201, warnings)
    raise e.ApiError(500, "AlreadyExists", "could not generate a free name; try again")


def replace(
    store: Store,
    wake: Wake,
    namespace: str,
    name: str,
    doc: Any,
    *,
    require_version: bool = True,
    dry_run: bool = False,
) -> Result:
    """PUT: the new spec (only Katib's editable fields may change), labels and annotations."""
    doc = _check_object(doc, namespace, name)
    version = doc["metadata"].get("resourceVersion")
    if require_version and not version:
        raise e.invalid(KIND, name, ["metadata.resourceVersion: must be specified for an update"])
    try:
        old = store.get_experiment(namespace, name)
    except NotFoundError:
        raise e.not_found(PLURAL, name) from None
    if version and str(version) != old.metadata.resource_version:
        raise e.conflict(PLURAL, name)
    exp, warnings = _validated(doc, name)
    errors = update_errors(exp, old)
    if errors:
        raise e.invalid(KIND, name, errors)
    new = old.model_copy(deep=True)
    for f in EDITABLE_FIELDS:
        setattr(new.spec, f, getattr(exp.spec, f))
    new.metadata.labels = exp.metadata.labels
    new.metadata.annotations = exp.metadata.annotations
    if new.spec == old.spec and new.metadata == old.metadata:
        return Result(old.to_dict(), 200, warnings)
    if dry_run:
        new.metadata.generation = (old.metadata.generation or 0) + 1
        return Result(new.to_dict(), 200, warnings)
    try:
        store.update_experiment_spec(new)
    except ConflictError:
        raise e.conflict(PLURAL, name) from None
    except NotFoundError:
        raise e.not_found(PLURAL, name) from None
    wake((namespace, name))
    return Result(store.get_experiment(namespace, name).to_dict(), 200, warnings)


def patch(
    store: Store,
    wake: Wake,
    namespace: str,
    name: str,
    body: Any,
    content_type: str,
    *,
    dry_run: bool = False,
) -> Result:
    """PATCH: the patch applied to the stored experiment, then written as :func:`replace`
    does; a write that lost a race with the control plane's status write is patched again.
    Server-side apply creates the experiment when there is none."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            current = store.get_experiment(namespace, name).to_dict()
        except NotFoundError:
            if content_type == APPLY:
                if isinstance(body, dict):
                    meta = body.get("metadata")
                    if isinstance(meta, dict) and meta.get("name") not in (None, name):
                        raise e.bad_request("the name of the object does not match the URL")
                    body = {**body, "metadata": {**(meta or {}), "name": name}}
                return create(store, wake, namespace, body, dry_run=dry_run)
            raise e.not_found(PLURAL, name) from None
        patched = apply_patch(current, body, content_type)
        pinned = _version_in(body)
        try:
            return replace(
                store, wake, namespace, name, patched, require_version=False, dry_run=dry_run
            )
        except e.ApiError as exc:
            if exc.reason != "Conflict" or pinned or attempt == WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _exists(store: Store, namespace: str, name: str) -> bool:
    try:
        store.get_experiment(namespace, name)
    except NotFoundError:
        return False
    return True


def _as_created(exp: Experiment) -> dict[str, Any]:
    """A new experiment as a create would answer it: with what the store sets (a uid, the
    creation time, generation 1), but no resourceVersion: it was not stored."""
    exp.metadata.uid = str(uuid.uuid4())
    exp.metadata.creation_timestamp = now()
    exp.metadata.generation = 1
    return exp.to_dict()


def _version_in(body: Any) -> bool:
    """Whether a merge patch sets ``metadata.resourceVersion`` (a precondition)."""
    if isinstance(body, dict):
        meta = body.get("metadata")
        return isinstance(meta, dict) and bool(meta.get("resourceVersion"))
    if isinstance(body, list):
        return any(
            isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in body
        )
    return False


def delete(
    store: Store, wake: Wake, namespace: str, name: str, options: Any, *, dry_run: bool = False
) -> Result:
    """DELETE: the experiment with its trials, suggestion, observations and events; answers
    the object as it was (as the API server does for custom resources)."""
    try:
        exp = store.get_experiment(namespace, name)
    except NotFoundError:
        raise e.not_found(PLURAL, name) from None
    pre = options.get("preconditions") if isinstance(options, dict) else None
    if isinstance(pre, dict):
        if pre.get("uid") and pre["uid"] != exp.metadata.uid:
            raise e.conflict(PLURAL, name, "the precondition on uid does not hold")
        if pre.get("resourceVersion") and pre["resourceVersion"] != exp.metadata.resource_version:
            raise e.conflict(PLURAL, name, "the precondition on resourceVersion does not hold")
    if dry_run:
        return Result(exp.to_dict(), 200)
    try:
        store.delete_experiment(namespace, name)
    except NotFoundError:
        raise e.not_found(PLURAL, name) from None
    wake((namespace, name))
    return Result(exp.to_dict(), 200)


__all__ = ["Result", "create", "delete", "patch", "replace"]
