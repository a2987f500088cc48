"""Katib's experiment defaulting (its mutating webhook), applied before validation.

Same values and the same conditions as Katib's ``experiment_defaults.go``: a field is filled only
when the user left it empty, so applying the defaults twice changes nothing.
"""

from __future__ import annotations

from pykatib.api.models import (
    CollectorSpec,
    Experiment,
    FileSystemPath,
    MetricsCollectorSpec,
    MetricStrategy,
    MetricStrategyType,
    ObjectiveSpec,
    SourceSpec,
    TrialTemplate,
)

DEFAULT_PARALLEL_TRIAL_COUNT = 3
DEFAULT_RESUME_POLICY = "Never"
DEFAULT_DISTRIBUTION = "uniform"

JOB_KIND = "Job"
TRAIN_JOB_KIND = "TrainJob"
# Kubeflow training jobs, whose status Katib reads with the "Succeeded" condition.
KUBEFLOW_JOB_KINDS = frozenset({"TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", TRAIN_JOB_KIND})

JOB_SUCCESS_CONDITION = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
JOB_FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_JOB_SUCCESS_CONDITION = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
KUBEFLOW_JOB_FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
TRAIN_JOB_SUCCESS_CONDITION = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
TRAIN_JOB_FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_JOB_PRIMARY_POD_LABELS = {"training.kubeflow.org/job-role": "master"}
TRAIN_JOB_PRIMARY_POD_LABELS = {
    "jobset.sigs.k8s.io/replicatedjob-name": "node",
    "batch.kubernetes.io/job-completion-index": "0",
}

DEFAULT_FILE_PATH = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_DIR = "/var/log/katib/tfevent/"
DEFAULT_PROMETHEUS_PATH = "/metrics"
DEFAULT_PROMETHEUS_PORT = 8080


def set_defaults(exp: Experiment) -> None:
    """Fill the empty fields of ``exp`` with Katib's defaults, in place."""
    spec = exp.spec
    if spec.parallel_trial_count is None:
        spec.parallel_trial_count = DEFAULT_PARALLEL_TRIAL_COUNT
    if not spec.resume_policy:
        spec.resume_policy = DEFAULT_RESUME_POLICY
    if spec.objective is not None:
        _default_metric_strategies(spec.objective)
    if spec.trial_template is not None:
        _default_trial_template(spec.trial_template)
    if spec.metrics_collector_spec is None:
        spec.metrics_collector_spec = MetricsCollectorSpec()
    _default_metrics_collector(spec.metrics_collector_spec)
    for param in spec.parameters or []:
        if not param.feasible_space.distribution:
            param.feasible_space.distribution = DEFAULT_DISTRIBUTION


def _default_objectives(obj: ObjectiveSpec) -> None:
    """pykatib's multi-objective extension: the first objective is Katib's single objective, and
    every objective is a metric to collect, extracted in its own direction."""
    if not obj.objectives:
        return
    first = obj.objectives[0]
    if not obj.objective_metric_name:
        obj.objective_metric_name = first.name
    if not obj.type:
        obj.type = first.type
    strategies = obj.metric_strategies if obj.metric_strategies is not None else []
    named = {s.name for s in strategies}
    for item in obj.objectives:
        if item.name and item.name not in named and item.type in ("minimize", "maximize"):
            value = MetricStrategyType.MIN if item.type == "minimize" else MetricStrategyType.MAX
            strategies.append(MetricStrategy(name=item.name, value=value))
            named.add(item.name)
    obj.metric_strategies = strategies


def _default_metric_strategies(obj: ObjectiveSpec) -> None:
    _default_objectives(obj)
    # Katib extracts the objective (and, despite its comment, each additional metric too) by the
    # objective's direction: min when minimizing, max when maximizing, latest when unknown.
    strategies = obj.metric_strategies if obj.metric_strategies is not None else []
    value = (
        MetricStrategyType.MIN
        if obj.type == "minimize"
        else MetricStrategyType.MAX
        if obj.type == "maximize"
        else MetricStrategyType.LATEST
    )
    named = {s.name for s in strategies}
    if obj.objective_metric_name not in named:
        strategies.append(MetricStrategy(name=obj.objective_metric_name, value=value))
    for metric in obj.additional_metric_names or []:
        if metric not in named:
            strategies.append(MetricStrategy(name=metric, value=value))
    obj.metric_strategies = strategies


def _default_trial_template(t: TrialTemplate) -> None:
    # Katib defaults only an inline trialSpec; a configMap source is resolved into one first.
    if t.trial_spec is None:
        return
    kind = t.trial_spec.get("kind")
    if not isinstance(kind, str):
        return  # validation reports it
    if kind == JOB_KIND:
        t.success_condition = t.success_condition or JOB_SUCCESS_CONDITION
        t.failure_condition = t.failure_condition or JOB_FAILURE_CONDITION
    elif kind in KUBEFLOW_JOB_KINDS:
        train_job = kind == TRAIN_JOB_KIND
        if not t.success_condition:
            t.success_condition = (
                TRAIN_JOB_SUCCESS_CONDITION if train_job else KUBEFLOW_JOB_SUCCESS_CONDITION
            )
        if not t.failure_condition:
            t.failure_condition = (
                TRAIN_JOB_FAILURE_CONDITION if train_job else KUBEFLOW_JOB_FAILURE_CONDITION
            )
        if not t.primary_pod_labels:
            labels = TRAIN_JOB_PRIMARY_POD_LABELS if train_job else KUBEFLOW_JOB_PRIMARY_POD_LABELS
            t.primary_pod_labels = dict(labels)


def _default_metrics_collector(mc: MetricsCollectorSpec) -> None:
    if mc.collector is None:
        mc.collector = CollectorSpec(kind="StdOut")
    kind = mc.collector.kind
    if kind not in ("PrometheusMetric", "File", "TensorFlowEvent"):
        return
    if mc.source is None:
        mc.source = SourceSpec()
    if kind == "PrometheusMetric":
        http_get = mc.source.http_get if mc.source.http_get is not None else {}
        if not http_get.get("path"):
            http_get["path"] = DEFAULT_PROMETHEUS_PATH
        # Katib's IntOrString zero value prints as "0": absent, 0 and "0" all take the default.
        if str(http_get.get("port", 0)) == "0":
            http_get["port"] = DEFAULT_PROMETHEUS_PORT
        mc.source.http_get = http_get
        return
    if mc.source.file_system_path is None:
        mc.source.file_system_path = FileSystemPath()
    fs = mc.source.file_system_path
    if kind == "File":
        fs.kind = fs.kind or "File"
        fs.path = fs.path or DEFAULT_FILE_PATH
        fs.format = fs.format or "TEXT"
    else:
        fs.kind = fs.kind or "Directory"
        fs.path = fs.path or DEFAULT_TFEVENT_DIR
