"""Experiment files: YAML in (multi-document, strict), Experiment models out, and YAML for ``-o yaml``.

:func:`load_experiments` is what ``pykatib apply -f FILE`` runs: it loads every document, turns
each Experiment into a model, resolves its trial template ConfigMap, applies Katib's defaults and
validates it, and gives each document's problems apart, so that the valid experiments can be
applied and the others reported, as kubectl does. :func:`parse_experiments` (``pykatib run``) does
the same for a whole file, and raises one :class:`InvalidExperimentError` listing every problem.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pykatib.api.defaults import set_defaults
from pykatib.api.errors import InvalidExperimentError, one_line, unknown_field
from pykatib.api.models import API_VERSION, Experiment, KatibModel
from pykatib.api.strict_yaml import StrictLoader, describe_error
from pykatib.api.trial_template import resolve_configmap
from pykatib.api.validation import validate_experiment

__all__ = [
    "ExperimentDocument",
    "dump_yaml",
    "load_documents",
    "load_experiments",
    "parse_configmaps",
    "parse_experiments",
]


def _documents(text: str, source: str) -> list[tuple[int, Any]]:
    """The non-empty documents of ``text`` with the line each starts on."""
    docs = []
    loader = None
    try:
        loader = StrictLoader(text)  # its reader rejects NUL and other special characters
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node) if node is not None else None
            if node is not None and data is not None:
                docs.append((node.start_mark.line + 1, data))
    except yaml.YAMLError as err:
        raise InvalidExperimentError([f"{source}: {describe_error(err, text)}"], source) from None
    finally:
        if loader is not None:
            loader.dispose()
    return docs


def load_documents(text: str, source: str = "<string>") -> list[dict[str, Any]]:
    """Every non-empty YAML document of ``text``, each a mapping (a Kubernetes object).

    Raises :class:`InvalidExperimentError` naming the line of a syntax error, or the documents
    that are not mappings.
    """
    docs = _documents(text, source)
    errors = [
        f"document {n} (line {line}): expected a Kubernetes object (a mapping), "
        f"got {type(doc).__name__}"
        for n, (line, doc) in enumerate(docs, 1)
        if not isinstance(doc, dict)
    ]
    if errors:
        raise InvalidExperimentError(errors, source)
    return [doc for _, doc in docs]


def parse_configmaps(text: str, source: str = "<string>") -> list[dict[str, Any]]:
    """The ConfigMaps among the documents of ``text`` (other kinds are ignored)."""
    configmaps = [doc for doc in load_documents(text, source) if doc.get("kind") == "ConfigMap"]
    errors = []
    for n, cm in enumerate(configmaps, 1):
        meta, data = cm.get("metadata"), cm.get("data")
        if not isinstance(meta, dict) or not meta.get("name"):
            errors.append(f"ConfigMap {n}: metadata.name: must be specified")
        if data is not None and not (
            isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
        ):
            errors.append(f"ConfigMap {n}: data: must map keys to strings")
    if errors:
        raise InvalidExperimentError(errors, source)
    return configmaps


@dataclass
class ExperimentDocument:
    """One document of an experiment file, loaded on its own by :func:`load_experiments`.

    ``where`` starts every message about the document (``document 2 (line 14, experiment "x"): ``;
    empty when the file holds one document); ``errors`` and ``warnings`` already start with it.
    The document is a valid experiment when ``experiment`` is set and ``errors`` is empty.
    """

    where: str
    experiment: Experiment | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load_experiments(
    text: str,
    source: str = "<string>",
    *,
    configmaps: Sequence[Mapping[str, Any]] = (),
    trial_kinds: Mapping[str, str] | None = None,
    require_trial_spec: bool = True,
) -> list[ExperimentDocument]:
    """Every document of ``text`` but its ConfigMaps, in file order, each defaulted and validated.

    ConfigMap documents in ``text``, and ``configmaps``, resolve ``trialTemplate.configMap``
    sources. ``trial_kinds`` and ``require_trial_spec`` are passed to
    :func:`~pykatib.api.validation.validate_experiment`. An invalid document does not stop the
    others: each carries its own errors. Raises :class:`InvalidExperimentError` only when
    ``text`` is not YAML.
    """
    docs = _documents(text, source)
    several = len(docs) > 1
    found = [d for _, d in docs if isinstance(d, dict) and d.get("kind") == "ConfigMap"]
    results: list[ExperimentDocument] = []
    seen: dict[tuple[str, str], str] = {}
    for n, (line, doc) in enumerate(docs, 1):
        if isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
            continue
        loaded = ExperimentDocument(_prefix(n, line, doc) if several else "")
        results.append(loaded)
        problem = _not_an_experiment(doc)
        if problem:
            loaded.errors.append(loaded.where + problem)
            continue
        exp, problems, dropped = _to_model(doc)
        if exp is None:
            loaded.errors += [loaded.where + p for p in problems]
            continue
        resolved = True
        try:
            resolve_configmap(exp, [*found, *configmaps], missing_ok=not require_trial_spec)
        except InvalidExperimentError as err:
            problems += err.errors
            resolved = False
        set_defaults(exp)
        more, warnings = validate_experiment(
            exp, trial_kinds=trial_kinds, require_trial_spec=require_trial_spec and resolved
        )
        key = (exp.namespace, exp.name)
        if exp.name and key in seen:
            more.append(f"metadata.name: experiment {key[0]}/{key[1]} is also in {seen[key]}")
        seen.setdefault(key, loaded.where.rstrip(": "))
        more = [p for p in more if not _caused_by(p.split(": ", 1)[0], dropped)]
        loaded.experiment = exp
        loaded.errors += [loaded.where + p for p in problems + more]
        loaded.warnings += [loaded.where + w for w in warnings]
    for loaded in results:  # one line each, whatever the file's values hold
        loaded.errors = [one_line(e) for e in loaded.errors]
        loaded.warnings = [one_line(w) for w in loaded.warnings]
    return results


def parse_experiments(
    text: str,
    source: str = "<string>",
    *,
    configmaps: Sequence[Mapping[str, Any]] = (),
    trial_kinds: Mapping[str, str] | None = None,
    require_trial_spec: bool = True,
) -> list[tuple[Experiment, list[str]]]:
    """The experiments in ``text``, defaulted and validated, each with its warnings.

    As :func:`load_experiments`, but all or nothing: the problems of every document are raised
    together as one :class:`InvalidExperimentError`; when the file holds several documents each
    problem starts with ``document N (line L, experiment "name"): ``.
    """
    docs = load_experiments(
        text,
        source,
        configmaps=configmaps,
        trial_kinds=trial_kinds,
        require_trial_spec=require_trial_spec,
    )
    errors = [e for d in docs for e in d.errors]
    if errors:
        raise InvalidExperimentError(errors, source)
    return [(d.experiment, d.warnings) for d in docs if d.experiment is not None]


def _not_an_experiment(doc: Any) -> str | None:
    """Why ``doc`` is not a Katib experiment pykatib can apply, if it is not."""
    if not isinstance(doc, dict):
        return f"<document>: expected a Kubernetes object (a mapping), got {type(doc).__name__}"
    if doc.get("kind") != "Experiment":
        return (
            f'kind: "{doc.get("kind")}" cannot be applied; pykatib applies kind '
            f"Experiment ({API_VERSION}), with the ConfigMaps its trial templates name"
        )
    if doc.get("apiVersion") != API_VERSION:
        return f'apiVersion: "{doc.get("apiVersion")}" is not supported; must be {API_VERSION}'
    return None


def _prefix(n: int, line: int, doc: Any) -> str:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = str(doc.get("kind", "object")).lower() if isinstance(doc, dict) else "object"
    named = f', {kind} "{name}"' if name else ""
    return one_line(f"document {n} (line {line}{named}): ")


_MAX_SCHEMA_PASSES = 5


def _to_model(doc: dict[str, Any]) -> tuple[Experiment | None, list[str], list[str]]:
    """``doc`` as a model, the problems found on the way, and the paths dropped to get there.

    A field the model refuses (unknown, or of the wrong type) is reported and dropped, and the
    rest is validated again, so that one run also reports the problems of the other fields.
    """
    data = _without_nulls(doc)
    problems: list[str] = []
    dropped: list[str] = []
    for _ in range(_MAX_SCHEMA_PASSES):
        try:
            return _validate(data), problems, dropped
        except ValidationError as err:
            for error in err.errors():
                problems.append(_describe(error))
                target = _drop(data, error)
                if target is None:
                    return None, problems, dropped
                dropped.append(_path(target))
    return None, problems, dropped


def _validate(data: dict[str, Any]) -> Experiment:
    try:
        # Wire names only: a snake_case key is a typo in a Kubernetes object.
        return Experiment.model_validate(data, by_alias=True, by_name=False)
    except TypeError:  # pydantic < 2.11 has no by_name; it then accepts both spellings
        return Experiment.model_validate(data)


def _drop(data: dict[str, Any], error: Any) -> tuple[Any, ...] | None:
    """Remove the field an error is about (its whole list, for a list item); its location."""
    loc = tuple(error["loc"])
    if error["type"] == "missing":
        loc = loc[:-1]  # a required field is missing: drop the object that needs it
    while loc and isinstance(loc[-1], int):
        loc = loc[:-1]
    if not loc:
        return None
    parent: Any = data
    try:
        for part in loc[:-1]:
            parent = parent[part]
    except (KeyError, IndexError, TypeError):
        return None  # not a place in the document (a pydantic union tag): give up on it
    if not isinstance(parent, dict):
        return None
    parent.pop(loc[-1], None)  # already gone when two errors share a list
    return loc


def _caused_by(path: str, dropped: Iterable[str]) -> bool:
    """Whether a problem at ``path`` may come from a field dropped by :func:`_to_model`."""
    return any(
        path == d or path.startswith((f"{d}.", f"{d}[")) or d.startswith((f"{path}.", f"{path}["))
        for d in dropped
    )


def _without_nulls(value: Any) -> Any:
    # Kubernetes treats "key:" with no value (null) as an absent field.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _describe(error: Any) -> str:
    loc = error["loc"]
    path = _path(loc)
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = [f.alias or n for n, f in model.model_fields.items()] if model else []
        return f"{path}: {unknown_field(str(loc[-1]), allowed)}"
    if error["type"] == "string_type" and isinstance(value, (bool, int, float)):
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return f'{path}: must be a string; write it in quotes: "{text}"'
    wanted = _SCALAR_TYPES.get(error["type"])
    if wanted is not None:
        hint = "; write it without quotes" if _quoted(value, error["type"]) else ""
        return f"{path}: must be {wanted}, not {_json_type(value)}{hint}"
    return f"{path}: {error['msg']}"


# pydantic's error type for a value of the wrong JSON type -> what the field takes
_SCALAR_TYPES = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false"}


def _quoted(value: Any, error_type: str) -> bool:
    """Whether ``value`` is a string holding what the field takes ("5" for an integer)."""
    if not isinstance(value, str):
        return False
    try:
        parsed = json.loads(value)
    except ValueError:
        return False
    if isinstance(parsed, bool):
        return error_type == "bool_type"
    if isinstance(parsed, int):
        return error_type in ("int_type", "float_type")
    return isinstance(parsed, float) and error_type == "float_type"


def _json_type(value: Any) -> str:
    """A value as an error names it: its JSON type, and the value when short."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value if len(value) <= 40 else value[:40] + '...'!r})"
    if isinstance(value, float):
        return f"a number {'out of range' if value.is_integer() else 'with a fraction'} ({value})"
    kinds = {dict: "an object", list: "a list", int: "an integer"}
    return next((name for t, name in kinds.items() if isinstance(value, t)), type(value).__name__)


def _path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "<document>"


def _model_at(loc: Iterable[Any]) -> type[BaseModel] | None:
    """The model class found at ``loc`` (wire names, list indexes skipped) below Experiment."""
    model: type[BaseModel] | None = Experiment
    for part in loc:
        if isinstance(part, int):
            continue
        assert model is not None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _model_in(field.annotation) if field is not None else None
        if model is None:
            return None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        model = _model_in(arg)
        if model is not None:
            return model
    return None


# --- output -------------------------------------------------------------------------------


class _BlockDumper(yaml.SafeDumper):
    """Block style, multi-line strings as ``|`` literals, enums as their values."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_enum(dumper: yaml.SafeDumper, data: Enum) -> yaml.Node:
    return dumper.represent_data(data.value)


_BlockDumper.add_representer(str, _represent_str)
_BlockDumper.add_multi_representer(Enum, _represent_enum)


def dump_yaml(obj: Any) -> str:
    """``obj`` (a resource model, a list of them, or plain data) as YAML in Katib's shape."""
    return yaml.dump(
        _plain(obj),
        Dumper=_BlockDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )


def _plain(obj: Any) -> Any:
    if isinstance(obj, KatibModel):
        return obj.to_dict()
    if isinstance(obj, BaseModel):
        return obj.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(obj, (list, tuple)):
        return [_plain(item) for item in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj
