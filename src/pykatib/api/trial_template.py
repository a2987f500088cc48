"""``spec.trialTemplate``: its placeholders, its ConfigMap source, and the rules Katib checks on it.

A trial template is a Kubernetes object (``trialSpec``) whose strings hold placeholders
``${trialParameters.<name>}``; each declared trial parameter names either an experiment parameter
or a piece of the trial's metadata (``${trialSpec.Name}``, ``${trialSpec.Labels[key]}``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

from pykatib.api.batch_job import job_errors
from pykatib.api.errors import InvalidExperimentError
from pykatib.api.models import Experiment, ParameterSpec, TrialTemplate
from pykatib.api.strict_yaml import describe_error, load_one

TRIAL_PARAMETER_PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")
METADATA_REFERENCE = re.compile(r"\$\{trialSpec\.(.+?)\}")
METADATA_KEYS = ("Name", "Namespace", "Kind", "APIVersion")
METADATA_MAP_KEYS = {"Labels": "labels", "Annotations": "annotations"}
CONFIGMAP_ANNOTATION = "pykatib.kubeflow.org/trial-template-configmap"

_T = "spec.trialTemplate"
_S = f"{_T}.trialSpec"
_METADATA_HELP = (
    "${trialSpec.Name}, ${trialSpec.Namespace}, ${trialSpec.Kind}, ${trialSpec.APIVersion}, "
    "${trialSpec.Labels[key]} or ${trialSpec.Annotations[key]}"
)


def is_metadata_reference(reference: str) -> bool:
    """Whether a trial parameter's ``reference`` names trial metadata rather than a parameter."""
    return METADATA_REFERENCE.fullmatch(reference) is not None


def resolve_configmap(
    exp: Experiment, configmaps: Sequence[Mapping[str, Any]], *, missing_ok: bool = False
) -> None:
    """Replace a ``trialTemplate.configMap`` source by the ``trialSpec`` it points to, in place.

    Katib reads the ConfigMap from the cluster each time; pykatib has no cluster, so the ConfigMap
    is given with the experiment (in the same file or with ``--configmap FILE``) and read once. The
    source is kept in the annotation ``pykatib.kubeflow.org/trial-template-configmap``. A ConfigMap
    without ``metadata.namespace`` matches any namespace. Does nothing when there is no configMap
    source, or (with ``missing_ok``) when no ConfigMap matches; raises
    :class:`InvalidExperimentError` when it cannot be resolved.
    """
    t = exp.spec.trial_template
    if t is None or t.config_map is None or t.trial_spec is not None:
        return
    src = t.config_map
    path = f"{_T}.configMap"
    if not (src.config_map_name and src.config_map_namespace and src.template_path):
        return  # validation reports the missing fields
    where = f"{src.config_map_namespace}/{src.config_map_name}"
    cm = next((c for c in configmaps if _configmap_matches(c, src)), None)
    if cm is None:
        if missing_ok:
            return
        raise InvalidExperimentError(
            [f"{path}: ConfigMap {where} not found; pass it with --configmap FILE"]
        )
    data = cm.get("data")
    data = data if isinstance(data, dict) else {}
    key = src.template_path
    if key not in data:
        keys = ", ".join(map(str, data)) or "none"
        problem = f'{path}.templatePath: ConfigMap {where} has no key "{key}" (keys: {keys})'
        raise InvalidExperimentError([problem])
    try:
        spec = load_one(data[key]) if isinstance(data[key], str) else None
    except yaml.YAMLError as err:
        problem = f'{path}: key "{key}" of ConfigMap {where}: {describe_error(err, data[key])}'
        raise InvalidExperimentError([problem]) from None
    if not isinstance(spec, dict):
        problem = f'{path}: key "{key}" of ConfigMap {where} must hold a Kubernetes object (YAML)'
        raise InvalidExperimentError([problem])
    t.trial_spec = spec
    t.config_map = None
    annotations = exp.metadata.annotations if exp.metadata.annotations is not None else {}
    annotations[CONFIGMAP_ANNOTATION] = f"{where}:{src.template_path}"
    exp.metadata.annotations = annotations


def _configmap_matches(cm: Mapping[str, Any], src: Any) -> bool:
    meta = cm.get("metadata")
    if not isinstance(meta, dict):
        return False
    namespace = meta.get("namespace")
    return meta.get("name") == src.config_map_name and namespace in (
        None,
        src.config_map_namespace,
    )


def validate_trial_template(
    exp: Experiment, trial_kinds: Mapping[str, str], require_trial_spec: bool
) -> list[str]:
    """Problems with ``spec.trialTemplate`` as ``path: message`` (empty when valid).

    An unresolved configMap source is an error when ``require_trial_spec``; otherwise everything
    that needs the template itself (placeholders, kind, Job structure) is left unchecked.
    """
    t = exp.spec.trial_template
    if t is None:
        return [f"{_T}: must be specified"]
    errors: list[str] = []
    if not t.primary_container_name:
        errors.append(f"{_T}.primaryContainerName: must be specified")
    if t.trial_parameters is None:
        errors.append(f"{_T}.trialParameters: must be specified")
    errors += _trial_parameter_errors(t, exp.spec.parameters)

    if t.trial_spec is None and t.config_map is None:
        errors.append(f"{_S}: one of {_T}.trialSpec or {_T}.configMap must be specified")
        return errors
    if t.trial_spec is not None and t.config_map is not None:
        errors.append(f"{_T}: only one of {_T}.trialSpec and {_T}.configMap may be specified")
        return errors
    if t.config_map is not None:
        src = t.config_map
        missing = [
            name
            for name, value in (
                ("configMapName", src.config_map_name),
                ("configMapNamespace", src.config_map_namespace),
                ("templatePath", src.template_path),
            )
            if not value
        ]
        errors += [f"{_T}.configMap.{name}: must be specified" for name in missing]
        if not missing and require_trial_spec:
            errors.append(
                f"{_T}.configMap: ConfigMap {src.config_map_namespace}/{src.config_map_name} "
                f"not found; pass it with --configmap FILE"
            )
        return errors
    errors += _placeholder_errors(t)
    errors += _trial_spec_errors(t, trial_kinds)
    return errors


def _trial_parameter_errors(t: TrialTemplate, parameters: list[ParameterSpec] | None) -> list[str]:
    errors: list[str] = []
    parameter_names = list(dict.fromkeys(p.name for p in parameters or [] if p.name))
    names: set[str] = set()
    references: set[str] = set()
    for i, tp in enumerate(t.trial_parameters or []):
        path = f"{_T}.trialParameters[{i}]"
        if not tp.name:
            errors.append(f"{path}.name: must be specified")
        elif "{" in tp.name or "}" in tp.name:
            errors.append(f"{path}.name: must not contain '{{' or '}}'")
        elif tp.name in names:
            errors.append(f'{path}.name: "{tp.name}" is declared twice')
        if not tp.reference:
            errors.append(f"{path}.reference: must be specified")
        elif tp.reference in references:
            errors.append(f'{path}.reference: "{tp.reference}" is referenced twice')
        elif is_metadata_reference(tp.reference):
            problem = _metadata_reference_problem(tp.reference, t.trial_spec)
            if problem:
                errors.append(f"{path}.reference: {problem}")
        elif parameter_names and tp.reference not in parameter_names:
            # Like Katib, references are not checked when there are no spec.parameters (NAS).
            errors.append(
                f'{path}.reference: "{tp.reference}" is neither a parameter in spec.parameters '
                f"({', '.join(parameter_names)}) nor a trial metadata reference such as "
                f"{_METADATA_HELP}"
            )
        names.add(tp.name or "")
        references.add(tp.reference or "")
    return errors


def _metadata_reference_problem(reference: str, trial_spec: dict[str, Any] | None) -> str | None:
    key = METADATA_REFERENCE.fullmatch(reference).group(1)  # type: ignore[union-attr]
    if key in METADATA_KEYS:
        return None
    indexed = re.fullmatch(r"(.+)\[(.+)\]", key)
    if indexed is None or indexed.group(1) not in METADATA_MAP_KEYS:
        return f'"{reference}" is not a trial metadata reference; use {_METADATA_HELP}'
    if trial_spec is None:
        return None  # unresolved configMap: nothing to look in yet
    field, index = METADATA_MAP_KEYS[indexed.group(1)], indexed.group(2)
    meta = trial_spec.get("metadata")
    values = meta.get(field) if isinstance(meta, dict) else None
    if not isinstance(values, dict) or index not in values:
        return f'"{reference}": {_S}.metadata.{field} has no key "{index}"'
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _placeholder_errors(t: TrialTemplate) -> list[str]:
    used: dict[str, None] = {}
    for text in _strings(t.trial_spec):
        used.update((name, None) for name in TRIAL_PARAMETER_PLACEHOLDER.findall(text))
    declared = [tp.name for tp in t.trial_parameters or [] if tp.name]
    errors = [
        f"{_T}.trialParameters[{i}].name: ${{trialParameters.{tp.name}}} is not used in {_S}; "
        f"use it there or remove this trial parameter"
        for i, tp in enumerate(t.trial_parameters or [])
        if tp.name and tp.name not in used and "{" not in tp.name and "}" not in tp.name
    ]
    undeclared = [name for name in used if name not in declared]
    if undeclared:
        placeholders = ", ".join(f"${{trialParameters.{name}}}" for name in undeclared)
        errors.append(
            f"{_S}: {placeholders} not declared in {_T}.trialParameters "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    return errors


def _trial_spec_errors(t: TrialTemplate, trial_kinds: Mapping[str, str]) -> list[str]:
    spec = t.trial_spec or {}
    errors: list[str] = []
    meta = spec.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        errors.append(f"{_S}.metadata: must be a mapping")
    elif meta:
        errors += [
            f"{_S}.metadata.{name}: must be omitted; each trial's job is named after the trial"
            for name in ("name", "namespace")
            if meta.get(name)
        ]
    api_version, kind = spec.get("apiVersion"), spec.get("kind")
    if not api_version:
        errors.append(f"{_S}.apiVersion: must be specified")
    if not kind:
        errors.append(f"{_S}.kind: must be specified")
        return errors
    if not isinstance(kind, str):
        errors.append(f"{_S}.kind: must be a string")
        return errors
    if kind not in trial_kinds:
        supported = ", ".join(f"{k} ({v})" for k, v in trial_kinds.items()) or "none"
        errors.append(
            f'{_S}.kind: trial kind "{kind}" is not supported by pykatib; supported kinds: '
            f"{supported}"
        )
        return errors
    if api_version and api_version != trial_kinds[kind]:
        errors.append(f"{_S}.apiVersion: must be {trial_kinds[kind]} for kind {kind}")
    # Checked once the kind is known: defaulting fills both in for Job and Kubeflow kinds.
    errors += [
        f"{_T}.{name}: must be specified for trial kind {kind} (pykatib fills it in only for "
        f"Job and Kubeflow training job kinds)"
        for name, value in (
            ("successCondition", t.success_condition),
            ("failureCondition", t.failure_condition),
        )
        if not value
    ]
    if kind == "Job" and api_version == "batch/v1":
        errors += job_errors(spec, t.primary_container_name, _S, f"{_T}.primaryContainerName")
    return errors
