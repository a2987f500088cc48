"""Katib's experiment validating webhook, plus the checks Katib leaves until a trial fails.

:func:`validate_experiment` runs on a defaulted experiment (see :mod:`pykatib.api.defaults`) when it
is applied, before anything is stored. It collects every problem, each as ``path: message`` with
Katib's wire names, so one run reports them all. Where pykatib differs from Katib on purpose, see
``docs/katib-differences.md`` (section Validation).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pykatib.api.models import Experiment, ExperimentSpec, MetricsCollectorSpec, ParameterSpec
from pykatib.api.trial_template import resolve_configmap, validate_trial_template
from pykatib.control.conditions import check_condition
from pykatib.earlystop.registry import EARLY_STOPPING_ALGORITHM_NAMES, validate_early_stopping
from pykatib.metrics.text import compile_re2
from pykatib.runtime import SUPPORTED_TRIAL_KINDS
from pykatib.suggest.registry import ALGORITHM_NAMES

__all__ = ["ALGORITHMS", "EARLY_STOPPING_ALGORITHMS", "resolve_configmap", "validate_experiment"]

ALGORITHMS = ALGORITHM_NAMES
NAS_ALGORITHMS = ("enas", "darts")
EARLY_STOPPING_ALGORITHMS = EARLY_STOPPING_ALGORITHM_NAMES
PARAMETER_TYPES = ("double", "int", "discrete", "categorical")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
RESUME_POLICIES = ("Never", "LongRunning", "FromVolume")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
EDITABLE_FIELDS = ("parallel_trial_count", "max_trial_count", "max_failed_trial_count")
MAX_NAME_LENGTH = 40

_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_INTEGER = re.compile(r"[+-]?\d+")
_INT32_MAX = 2**31 - 1  # Katib's trial counts are int32: Kubernetes refuses larger ones
# Katib's test that a metrics filter has two top-level groups: the metric's name, then its value.
_TWO_GROUPS = re.compile(r"\(.*\).*\(.*\)")


def _runtime_kinds(spec: ExperimentSpec) -> Mapping[str, str]:
    """The trial kinds this process's runtime runs: a cluster (``--runtime kubernetes``) runs
    any kind it serves, so the template's own is one of them."""
    from pykatib.runtime import selection

    trial = (spec.trial_template.trial_spec if spec.trial_template else None) or {}
    kind, api_version = trial.get("kind"), trial.get("apiVersion")
    if (
        selection.current().runs_any_kind
        and isinstance(kind, str)
        and isinstance(api_version, str)
        and kind not in SUPPORTED_TRIAL_KINDS
    ):
        return {**SUPPORTED_TRIAL_KINDS, kind: api_version}
    return SUPPORTED_TRIAL_KINDS


def validate_experiment(
    exp: Experiment,
    old: Experiment | None = None,
    *,
    trial_kinds: Mapping[str, str] | None = None,
    require_trial_spec: bool = True,
) -> tuple[list[str], list[str]]:
    """Every problem with ``exp`` as ``(errors, warnings)``, each ``path: message``.

    ``old`` is the stored experiment when ``exp`` would replace it; only the trial counts may
    change then. ``trial_kinds`` maps each runnable trial kind to its apiVersion (default: what
    :mod:`pykatib.runtime` supports). With ``require_trial_spec=False`` a ``trialTemplate.configMap``
    that was not resolved (:func:`resolve_configmap`) is accepted, and its template left unchecked.
    """
    spec = exp.spec
    warnings: list[str] = []
    errors = _name_errors(exp)
    errors += _count_errors(spec, warnings)
    if old is not None:
        errors += update_errors(exp, old)
    errors += _objective_errors(spec)
    errors += _algorithm_errors(spec)
    errors += _early_stopping_errors(exp)
    if spec.resume_policy and spec.resume_policy not in RESUME_POLICIES:
        errors.append(
            f'spec.resumePolicy: "{spec.resume_policy}" is not a resume policy; must be one of '
            f"{', '.join(RESUME_POLICIES)}"
        )
    kinds = _runtime_kinds(spec) if trial_kinds is None else trial_kinds
    errors += validate_trial_template(exp, kinds, require_trial_spec)
    errors += _condition_errors(spec)
    errors += _search_space_errors(spec)
    errors += _metrics_collector_errors(spec.metrics_collector_spec or MetricsCollectorSpec())
    if not errors:
        # The algorithm's own checks assume a well-formed search space, so they come last.
        errors += _algorithm_settings_errors(exp)
    return errors, warnings


def _condition_errors(spec: ExperimentSpec) -> list[str]:
    """Katib takes any string here; a path gjson can't parse never matches, so its trials would
    run forever."""
    t = spec.trial_template
    conditions = (
        [("successCondition", t.success_condition), ("failureCondition", t.failure_condition)]
        if t is not None
        else []
    )
    return [
        f"spec.trialTemplate.{name}: {problem}"
        for name, value in conditions
        if value and (problem := check_condition(value))
    ]


# --- metadata and counts ------------------------------------------------------------------


def _name_errors(exp: Experiment) -> list[str]:
    errors = []
    name = exp.metadata.name
    if not name:
        errors.append("metadata.name: must be specified")
    elif not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        errors.append(
            f'metadata.name: "{name}" is not a valid experiment name; it must consist of lower '
            f"case alphanumeric characters or '-', start with a letter, end with a letter or "
            f"digit (e.g. 'my-name' or 'abc-123') and be at most {MAX_NAME_LENGTH} characters"
        )
    namespace = exp.metadata.namespace
    if namespace is not None and (not _NAMESPACE.fullmatch(namespace) or len(namespace) > 63):
        errors.append(
            f'metadata.namespace: "{namespace}" is not a valid namespace; it must consist of lower '
            f"case alphanumeric characters or '-', start and end with one, and be at most 63 "
            f"characters"
        )
    return errors


def _count_errors(spec: ExperimentSpec, warnings: list[str]) -> list[str]:
    errors = [
        f"spec.{name}: must be at most {_INT32_MAX} (an int32), got {value}"
        for name, value in (
            ("maxFailedTrialCount", spec.max_failed_trial_count),
            ("maxTrialCount", spec.max_trial_count),
            ("parallelTrialCount", spec.parallel_trial_count),
        )
        if value is not None and value > _INT32_MAX
    ]
    if spec.max_failed_trial_count is not None and spec.max_failed_trial_count < 0:
        errors.append(
            f"spec.maxFailedTrialCount: must be 0 or more, got {spec.max_failed_trial_count}"
        )
    if spec.max_trial_count is not None and spec.max_trial_count <= 0:
        errors.append(f"spec.maxTrialCount: must be greater than 0, got {spec.max_trial_count}")
    if spec.parallel_trial_count is not None and spec.parallel_trial_count <= 0:
        errors.append(
            f"spec.parallelTrialCount: must be greater than 0, got {spec.parallel_trial_count}"
        )
    if not errors and spec.max_trial_count is not None:
        if spec.max_failed_trial_count is not None and (
            spec.max_failed_trial_count > spec.max_trial_count
        ):
            # Katib rejects this; its own simple-pbt example does it, and it is harmless.
            warnings.append(
                f"spec.maxFailedTrialCount: {spec.max_failed_trial_count} is greater than "
                f"spec.maxTrialCount ({spec.max_trial_count}), so the experiment never fails "
                f"for failed trials alone (Katib rejects this)"
            )
        if spec.parallel_trial_count is not None and (
            spec.parallel_trial_count > spec.max_trial_count
        ):
            errors.append(
                f"spec.parallelTrialCount: {spec.parallel_trial_count} must not be greater than "
                f"spec.maxTrialCount ({spec.max_trial_count})"
            )
    return errors


def update_errors(exp: Experiment, old: Experiment) -> list[str]:
    """Katib's rules for replacing the stored ``old`` with ``exp`` (validator.go:117-142).

    Every face that updates an experiment (CLI, server) goes through this check.
    """
    errors: list[str] = []
    if exp.spec == old.spec:
        return errors
    status = old.status
    succeeded = status.condition("Succeeded")
    completed = status.has("Succeeded") or status.has("Failed")
    restartable = (
        succeeded is not None
        and succeeded.status == "True"
        and succeeded.reason == "ExperimentMaxTrialsReached"
        and old.spec.resume_policy in ("LongRunning", "FromVolume")
    )
    if completed and not restartable:
        errors.append(
            f"spec.resumePolicy: a completed experiment can be changed (restarted) only if it "
            f"succeeded by reaching spec.maxTrialCount and its resumePolicy is LongRunning or "
            f"FromVolume (it is {old.spec.resume_policy or 'Never'})"
        )
    trials = status.trials or 0
    if exp.spec.max_trial_count is not None and exp.spec.max_trial_count <= trials:
        errors.append(
            f"spec.maxTrialCount: must be greater than status.trials ({trials}), the number of "
            f"trials already created"
        )
    for name, field in ExperimentSpec.model_fields.items():
        if name not in EDITABLE_FIELDS and getattr(exp.spec, name) != getattr(old.spec, name):
            errors.append(
                f"spec.{field.alias}: cannot be changed once the experiment exists; only "
                f"spec.parallelTrialCount, spec.maxTrialCount and spec.maxFailedTrialCount are "
                f"editable (delete the experiment and create it again to change it)"
            )
    return errors


# --- objective, algorithm, early stopping -------------------------------------------------


def _objective_errors(spec: ExperimentSpec) -> list[str]:
    obj = spec.objective
    if obj is None:
        return ["spec.objective: must be specified"]
    errors = []
    if obj.type not in ("minimize", "maximize"):
        errors.append("spec.objective.type: must be minimize or maximize")
    if not obj.objective_metric_name:
        errors.append("spec.objective.objectiveMetricName: must be specified")
    if obj.goal is not None and not math.isfinite(obj.goal):
        # Kubernetes' JSON can hold neither NaN nor infinity
        errors.append(f"spec.objective.goal: must be a finite number, got {obj.goal}")
    additional = obj.additional_metric_names or []
    if obj.objective_metric_name and obj.objective_metric_name in additional:
        errors.append(
            f"spec.objective.additionalMetricNames: must not contain the objective metric "
            f'"{obj.objective_metric_name}"'
        )
    errors += _duplicates(additional, "spec.objective.additionalMetricNames", "metric")
    errors += _objectives_errors(obj)
    if not errors:  # else defaulting may have added a strategy twice for the same mistake
        errors += _duplicates(
            [s.name for s in obj.metric_strategies or []],
            "spec.objective.metricStrategies",
            "metric",
            suffix=".name",
        )
    return errors


def _objectives_errors(obj: Any) -> list[str]:
    """pykatib's multi-objective extension (``objective.objectives``)."""
    if obj.objectives is None:
        return []
    path = "spec.objective.objectives"
    if len(obj.objectives) < 2:
        return [f"{path}: list at least two objectives (one objective is objectiveMetricName)"]
    errors = []
    for i, item in enumerate(obj.objectives):
        if not item.name:
            errors.append(f"{path}[{i}].name: must be specified")
        if item.type not in ("minimize", "maximize"):
            errors.append(f"{path}[{i}].type: must be minimize or maximize")
    errors += _duplicates([o.name for o in obj.objectives], path, "objective", suffix=".name")
    first = obj.objectives[0]
    if obj.objective_metric_name and first.name and obj.objective_metric_name != first.name:
        errors.append(
            f"spec.objective.objectiveMetricName: must be the first objective "
            f'"{first.name}" (or left out)'
        )
    if obj.type and first.type and obj.type != first.type:
        errors.append(f'spec.objective.type: must be the first objective\'s type "{first.type}"')
    names = {o.name for o in obj.objectives}
    clash = [m for m in obj.additional_metric_names or [] if m in names]
    if clash:
        errors.append(
            f"spec.objective.additionalMetricNames: {', '.join(clash)} already listed in objectives"
        )
    return errors


def _algorithm_errors(spec: ExperimentSpec) -> list[str]:
    algorithm = spec.algorithm
    if algorithm is None:
        return ["spec.algorithm: must be specified"]
    errors = _known_name(algorithm.algorithm_name, ALGORITHMS, "spec.algorithm", "algorithm")
    errors += _duplicates(
        [s.name for s in algorithm.algorithm_settings or []],
        "spec.algorithm.algorithmSettings",
        "setting",
        suffix=".name",
    )
    return errors


def _algorithm_settings_errors(exp: Experiment) -> list[str]:
    """What the algorithm itself says about its settings, when its module is there."""
    try:
        from pykatib.suggest.registry import validate_algorithm
    except ModuleNotFoundError as err:  # the suggest layer is optional while it is being written
        if err.name != "pykatib.suggest.registry":
            raise
        return []
    name = exp.spec.algorithm.algorithm_name if exp.spec.algorithm else None
    return list(validate_algorithm(name, exp)) if name else []


def _early_stopping_errors(exp: Experiment) -> list[str]:
    es = exp.spec.early_stopping
    if es is None:
        return []
    errors = _duplicates(
        [s.name for s in es.algorithm_settings or []],
        "spec.earlyStopping.algorithmSettings",
        "setting",
        suffix=".name",
    )
    # The rule's own checks: Katib's medianstop messages, and pykatib's asha and threshold.
    return errors + validate_early_stopping(exp)


def _known_name(name: str | None, known: Iterable[str], path: str, what: str) -> list[str]:
    if not name:
        return [f"{path}.algorithmName: must be specified"]
    if name not in known:
        return [f'{path}.algorithmName: unknown {what} "{name}"; Katib\'s are: {", ".join(known)}']
    return []


def _duplicates(values: Iterable[str | None], path: str, what: str, suffix: str = "") -> list[str]:
    seen: set[str | None] = set()
    errors = []
    for i, value in enumerate(values):
        if value in seen:
            errors.append(f'{path}[{i}]{suffix}: duplicate {what} "{value}"')
        seen.add(value)
    return errors


# --- search space -------------------------------------------------------------------------


def _search_space_errors(spec: ExperimentSpec) -> list[str]:
    errors = []
    if not spec.parameters and spec.nas_config is None:
        errors.append("spec.parameters: spec.parameters or spec.nasConfig must be specified")
    if spec.parameters and spec.nas_config is not None:
        errors.append("spec.nasConfig: only one of spec.parameters and spec.nasConfig may be given")
    errors += _parameters_errors(spec.parameters or [], "spec.parameters")
    algorithm = spec.algorithm.algorithm_name if spec.algorithm else None
    if algorithm in NAS_ALGORITHMS:
        errors += _nas_errors(spec, algorithm)
    elif spec.nas_config is not None and algorithm in ALGORITHMS and not spec.parameters:
        errors.append(
            f"spec.nasConfig: is used only by the NAS algorithms {' and '.join(NAS_ALGORITHMS)}; "
            f"algorithm {algorithm} needs spec.parameters"
        )
    return errors


def _parameters_errors(parameters: list[ParameterSpec], base: str) -> list[str]:
    errors = _duplicates([p.name for p in parameters], base, "parameter name", suffix=".name")
    for i, param in enumerate(parameters):
        errors += _parameter_errors(param, f"{base}[{i}]")
    return errors


def _parameter_errors(param: ParameterSpec, path: str) -> list[str]:
    errors = []
    if not param.name:
        errors.append(f"{path}.name: must be specified")
    ptype, fs = param.parameter_type, param.feasible_space
    fs_path = f"{path}.feasibleSpace"
    if ptype not in PARAMETER_TYPES:
        what = f'"{ptype}" is not supported' if ptype else "must be specified"
        errors.append(f"{path}.parameterType: {what}; must be one of {', '.join(PARAMETER_TYPES)}")
    if fs.distribution and fs.distribution not in DISTRIBUTIONS:
        errors.append(
            f'{fs_path}.distribution: "{fs.distribution}" is not supported; must be one of '
            f"{', '.join(DISTRIBUTIONS)}"
        )
    if not (fs.min or fs.max or fs.step or fs.list_):
        needs = "a list" if ptype in ("categorical", "discrete") else "min and max"
        errors.append(f"{fs_path}: must be specified ({needs} for parameterType {ptype})")
        return errors
    if ptype in ("double", "int"):
        errors += _range_errors(param, fs_path)
    elif ptype in ("categorical", "discrete"):
        if fs.min or fs.max or fs.step:
            errors.append(
                f"{fs_path}: min, max and step are not supported for parameterType {ptype}; "
                f"use list"
            )
        if not fs.list_:
            errors.append(f"{fs_path}.list: must have at least one value for parameterType {ptype}")
        errors += _duplicates(fs.list_ or [], f"{fs_path}.list", "value")
        errors += [
            f"{fs_path}.list[{j}]: must not contain a NUL character: a trial's command, args and "
            f"env can't hold one"
            for j, v in enumerate(fs.list_ or [])
            if "\x00" in v
        ]
        if ptype == "discrete":
            errors += [
                f'{fs_path}.list[{j}]: must be a number for parameterType discrete, got "{v}"'
                for j, v in enumerate(fs.list_ or [])
                if _number(v, integer=False) is None
            ]
    return errors


def _range_errors(param: ParameterSpec, fs_path: str) -> list[str]:
    ptype, fs = param.parameter_type, param.feasible_space
    integer = ptype == "int"
    kind = "an integer" if integer else "a number"
    errors = []
    if fs.list_:
        errors.append(
            f"{fs_path}.list: is not supported for parameterType {ptype}; use min, max and step"
        )
    bounds: dict[str, float] = {}
    for name, text in (("min", fs.min), ("max", fs.max), ("step", fs.step)):
        if not text:
            if name != "step":
                errors.append(f"{fs_path}.{name}: must be specified for parameterType {ptype}")
            continue
        value = _number(text, integer)
        if value is None:
            errors.append(
                f'{fs_path}.{name}: must be {kind} for parameterType {ptype}, got "{text}"'
            )
        else:
            bounds[name] = value
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        errors.append(f"{fs_path}.min: {fs.min} must not be greater than max ({fs.max})")
    if "step" in bounds and bounds["step"] <= 0:
        errors.append(f"{fs_path}.step: must be greater than 0, got {fs.step}")
    if fs.distribution in ("logUniform", "logNormal") and bounds.get("min", 1) <= 0:
        errors.append(
            f"{fs_path}.min: must be greater than 0 for distribution {fs.distribution}, "
            f"got {fs.min}"
        )
    return errors


def _number(text: str, integer: bool) -> float | None:
    text = text.strip()
    if integer:
        # Katib parses an int parameter into a Go int (int64); the length check comes first,
        # as Python's int() refuses more than 4300 digits.
        if not _INTEGER.fullmatch(text) or len(text) > 100:
            return None
        number = int(text)
        return float(number) if -(2**63) <= number < 2**63 else None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _nas_errors(spec: ExperimentSpec, algorithm: str) -> list[str]:
    # Katib's enas and darts services check these when the experiment is created.
    nas = spec.nas_config
    path = "spec.nasConfig"
    if nas is None:
        return [f"{path}: must be specified for algorithm {algorithm}"]
    errors = []
    if algorithm == "enas":
        graph = nas.graph_config
        for name, value in (
            ("numLayers", graph.num_layers if graph else None),
            ("inputSizes", graph.input_sizes if graph else None),
            ("outputSizes", graph.output_sizes if graph else None),
        ):
            if not value:
                errors.append(f"{path}.graphConfig.{name}: must be specified for algorithm enas")
    operations = nas.operations or []
    if not operations:
        errors.append(f"{path}.operations: must list at least one operation")
    errors += _duplicates(
        [op.operation_type for op in operations],
        f"{path}.operations",
        "operationType",
        suffix=".operationType",
    )
    for k, op in enumerate(operations):
        op_path = f"{path}.operations[{k}]"
        if not op.operation_type:
            errors.append(f"{op_path}.operationType: must be specified")
        # Katib wants parameters on every operation, yet its darts-gpu example has a
        # skip_connection with none; an operation without parameters is one fixed choice.
        errors += _parameters_errors(op.parameters or [], f"{op_path}.parameters")
    return errors


# --- metrics collector --------------------------------------------------------------------


def _metrics_collector_errors(mc: MetricsCollectorSpec) -> list[str]:
    path = "spec.metricsCollectorSpec"
    src_path = f"{path}.source"
    fs_path = f"{src_path}.fileSystemPath"
    kind = mc.collector.kind if mc.collector else "StdOut"
    source = mc.source
    fs = source.file_system_path if source else None
    errors = []
    if kind == "File":
        if fs is None or fs.kind != "File":
            errors.append(f"{fs_path}.kind: must be File for metrics collector kind File")
        if fs is None or not _absolute(fs.path):
            errors.append(f"{fs_path}.path: must be the absolute path of the metrics file")
        fmt = fs.format if fs else None
        if fmt not in ("TEXT", "JSON"):
            errors.append(f"{fs_path}.format: must be TEXT or JSON")
        if fmt == "JSON" and source is not None and source.filter is not None:
            errors.append(f"{src_path}.filter: must be omitted when the file format is JSON")
    elif kind == "TensorFlowEvent":
        if fs is None or fs.kind != "Directory":
            errors.append(
                f"{fs_path}.kind: must be Directory for metrics collector kind TensorFlowEvent"
            )
        if fs is None or not _absolute(fs.path):
            errors.append(
                f"{fs_path}.path: must be the absolute path of the directory of TensorFlow "
                f"event files"
            )
        if fs is not None and fs.format:
            errors.append(
                f"{fs_path}.format: must be empty for metrics collector kind TensorFlowEvent"
            )
    elif kind == "PrometheusMetric":
        http_get = (source.http_get if source else None) or {}
        port = str(http_get.get("port", ""))
        if not (_INTEGER.fullmatch(port) and int(port) > 0):
            errors.append(
                f"{src_path}.httpGet.port: must be a positive integer for metrics collector kind "
                f'PrometheusMetric, got "{port}"'
            )
        if not str(http_get.get("path", "")).startswith("/"):
            errors.append(
                f"{src_path}.httpGet.path: must start with '/' for metrics collector kind "
                f"PrometheusMetric"
            )
    elif kind == "Custom":
        if mc.collector is None or mc.collector.custom_collector is None:
            errors.append(
                f"{path}.collector.customCollector: must be specified for metrics collector "
                f"kind Custom"
            )
        if fs is not None and (not _absolute(fs.path) or fs.kind not in ("File", "Directory")):
            errors.append(f"{fs_path}: must have an absolute path and kind File or Directory")
    elif kind not in COLLECTOR_KINDS:
        what = f'"{kind}" is not a metrics collector kind' if kind else "must be specified"
        errors.append(f"{path}.collector.kind: {what}; must be one of {', '.join(COLLECTOR_KINDS)}")
    if kind in ("File", "TensorFlowEvent", "Custom") and fs is not None and _absolute(fs.path):
        errors += _collector_path_errors(fs.path or "", f"{fs_path}.path", fs.kind == "File")
    formats = source.filter.metrics_format if source and source.filter else None
    for j, pattern in enumerate(formats or []):
        errors += _filter_errors(pattern, f"{src_path}.filter.metricsFormat[{j}]")
    return errors


def _filter_errors(pattern: str, path: str) -> list[str]:
    """Katib's check of one filter (validator.go:557-571), compiled by RE2 as Go's regexp is."""
    try:
        groups = compile_re2(pattern).groups
    except ValueError as err:
        return [f"{path}: {err}"]
    if groups < 2 or not _TWO_GROUPS.search(pattern):
        return [
            (
                f"{path}: must have two top-level groups, the metric name then its value, e.g. "
                f"'([\\w|-]+)\\s*=\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)'"
            )
        ]
    return []


def _collector_path_errors(path: str, where: str, is_file: bool) -> list[str]:
    """pykatib gives each trial its own copy of the collector's path, under the trial's folder
    (Katib takes any absolute path): one that climbs with ".." or names a folder can't be one."""
    if "\x00" in path:
        return [f"{where}: must not contain a NUL character"]
    if ".." in path.split("/"):
        return [
            (
                f"{where}: must not contain '..': pykatib keeps each trial's copy of this path in "
                f"the trial's own folder; write the path without it"
            )
        ]
    if is_file and path.endswith("/"):
        return [f"{where}: must be the path of a file, not of a folder (it ends with '/')"]
    return []


def _absolute(path: str | None) -> bool:
    return bool(path) and (path or "").startswith("/")  # a POSIX path, as in Katib's containers
