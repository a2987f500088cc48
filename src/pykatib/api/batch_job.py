"""A batch/v1 Job trial template: the structure Katib checks by converting it to a Job.

Katib turns a Job trialSpec into Kubernetes' Job type and rejects fields that do not survive the
conversion. pykatib has no Kubernetes types, so it checks the fields of the objects a trial is
made of (Job, JobSpec, PodTemplateSpec, PodSpec, Container, EnvVar) and the types a local run
relies on; deeper objects (probes, resources, volumes) are passed through unchecked.
"""

from __future__ import annotations

from typing import Any

from pykatib.api.errors import unknown_field

_JOB_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_JOB_SPEC_FIELDS = frozenset(
    [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "podFailurePolicy",
        "successPolicy",
        "backoffLimit",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "selector",
        "manualSelector",
        "template",
        "ttlSecondsAfterFinished",
        "completionMode",
        "suspend",
        "podReplacementPolicy",
        "managedBy",
    ]
)
_POD_TEMPLATE_FIELDS = frozenset({"metadata", "spec"})
_POD_SPEC_FIELDS = frozenset(
    [
        "volumes",
        "initContainers",
        "containers",
        "ephemeralContainers",
        "restartPolicy",
        "terminationGracePeriodSeconds",
        "activeDeadlineSeconds",
        "dnsPolicy",
        "nodeSelector",
        "serviceAccountName",
        "serviceAccount",
        "automountServiceAccountToken",
        "nodeName",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "shareProcessNamespace",
        "securityContext",
        "imagePullSecrets",
        "hostname",
        "subdomain",
        "affinity",
        "schedulerName",
        "tolerations",
        "hostAliases",
        "priorityClassName",
        "priority",
        "dnsConfig",
        "readinessGates",
        "runtimeClassName",
        "enableServiceLinks",
        "preemptionPolicy",
        "overhead",
        "topologySpreadConstraints",
        "setHostnameAsFQDN",
        "os",
        "hostUsers",
        "schedulingGates",
        "resourceClaims",
        "resources",
    ]
)
_CONTAINER_FIELDS = frozenset(
    [
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "ports",
        "envFrom",
        "env",
        "resources",
        "resizePolicy",
        "restartPolicy",
        "volumeMounts",
        "volumeDevices",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "imagePullPolicy",
        "securityContext",
        "stdin",
        "stdinOnce",
        "tty",
    ]
)
_ENV_VAR_FIELDS = frozenset({"name", "value", "valueFrom"})


def job_errors(
    job: dict[str, Any], primary_container: str | None, path: str, primary_container_path: str
) -> list[str]:
    """Problems with the batch/v1 Job ``job`` (found at ``path``) as ``path: message``.

    ``primary_container`` must name one of its containers; a mismatch is reported at
    ``primary_container_path``.
    """
    errors = _unknown_fields(job, _JOB_FIELDS, path)
    job_spec = _child_mapping(job, "spec", path, errors)
    template = _child_mapping(job_spec, "template", f"{path}.spec", errors, _JOB_SPEC_FIELDS)
    pod = _child_mapping(template, "spec", f"{path}.spec.template", errors, _POD_TEMPLATE_FIELDS)
    if pod is None:
        return errors
    pod_path = f"{path}.spec.template.spec"
    errors += _unknown_fields(pod, _POD_SPEC_FIELDS, pod_path)
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        errors.append(f"{pod_path}.restartPolicy: must be Never or OnFailure for a Job")
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        errors.append(f"{pod_path}.containers: must be a non-empty list of containers")
        return errors
    names = []
    for j, container in enumerate(containers):
        container_path = f"{pod_path}.containers[{j}]"
        if not isinstance(container, dict):
            errors.append(f"{container_path}: must be a mapping (a container)")
            continue
        errors += _container_errors(container, container_path)
        if isinstance(container.get("name"), str):
            names.append(container["name"])
    if primary_container and names and primary_container not in names:
        errors.append(
            f'{primary_container_path}: "{primary_container}" is not the name of a container in '
            f"{pod_path}.containers ({', '.join(names)})"
        )
    return errors


def _container_errors(container: dict[str, Any], path: str) -> list[str]:
    errors = _unknown_fields(container, _CONTAINER_FIELDS, path)
    if not isinstance(container.get("name"), str) or not container["name"]:
        errors.append(f"{path}.name: must be specified")
    for name in ("command", "args"):
        value = container.get(name)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            errors.append(f"{path}.{name}: must be a list of strings (quote numbers)")
    working_dir = container.get("workingDir")
    if working_dir is not None and not isinstance(working_dir, str):
        errors.append(f"{path}.workingDir: must be a string")
    errors += _nul_errors(container, ("command", "args", "workingDir"), path)
    env = container.get("env")
    if env is not None and not isinstance(env, list):
        errors.append(f"{path}.env: must be a list of {{name, value}} mappings")
        return errors
    for k, var in enumerate(env or []):
        var_path = f"{path}.env[{k}]"
        if not isinstance(var, dict):
            errors.append(f"{var_path}: must be a mapping with name and value")
            continue
        errors += _unknown_fields(var, _ENV_VAR_FIELDS, var_path)
        if not isinstance(var.get("name"), str) or not var["name"]:
            errors.append(f"{var_path}.name: must be specified")
        elif "=" in var["name"]:
            errors.append(f"{var_path}.name: must not contain '='")
        if "value" in var and not isinstance(var["value"], str):
            errors.append(f"{var_path}.value: must be a string (quote it)")
        errors += _nul_errors(var, ("name", "value"), var_path)
    return errors


def _nul_errors(obj: dict[str, Any], fields: tuple[str, ...], path: str) -> list[str]:
    """A process's arguments, environment and folder can't hold a NUL character."""
    errors = []
    for name in fields:
        value = obj.get(name)
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        errors += [
            f"{path}.{name}{'' if i is None else f'[{i}]'}: must not contain a NUL character"
            for i, text in items
            if isinstance(text, str) and "\x00" in text
        ]
    return errors


def _child_mapping(
    parent: dict[str, Any] | None,
    name: str,
    path: str,
    errors: list[str],
    parent_fields: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    """``parent[name]`` when it is a mapping, else record why not; checks the parent's fields."""
    if parent is None:
        return None
    if parent_fields is not None:
        errors += _unknown_fields(parent, parent_fields, path)
    child = parent.get(name)
    if not isinstance(child, dict):
        errors.append(f"{path}.{name}: must be specified (a mapping)")
        return None
    return child


def _unknown_fields(obj: dict[str, Any], allowed: frozenset[str], path: str) -> list[str]:
    return [
        f"{path}.{key}: {unknown_field(str(key), sorted(allowed))}"
        for key in obj
        if key not in allowed
    ]
