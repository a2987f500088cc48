"""Katib's defaulting (experiment_defaults.go), field by field."""

from __future__ import annotations

from typing import Any

import pytest

from pykatib.api.defaults import set_defaults
from pykatib.api.models import Experiment

from ._helpers import valid_doc

JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
FAILED = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'


def defaulted(doc: dict[str, Any]) -> Experiment:
    exp = Experiment.model_validate(doc)
    set_defaults(exp)
    return exp


def test_counts_resume_policy_and_distribution() -> None:
    exp = defaulted(valid_doc())
    assert exp.spec.parallel_trial_count == 3
    assert exp.spec.resume_policy == "Never"
    assert [p.feasible_space.distribution for p in exp.spec.parameters or []] == [
        "uniform",
        "uniform",
    ]


def test_given_values_are_kept() -> None:
    doc = valid_doc()
    doc["spec"].update(parallelTrialCount=1, resumePolicy="LongRunning")
    doc["spec"]["parameters"][0]["feasibleSpace"]["distribution"] = "logUniform"
    exp = defaulted(doc)
    assert exp.spec.parallel_trial_count == 1
    assert exp.spec.resume_policy == "LongRunning"
    assert exp.spec.parameters[0].feasible_space.distribution == "logUniform"  # type: ignore[index]


@pytest.mark.parametrize(
    ("objective_type", "strategy"),
    [("minimize", "min"), ("maximize", "max"), (None, "latest")],
)
def test_metric_strategies_follow_the_objective(objective_type: str | None, strategy: str) -> None:
    doc = valid_doc()
    doc["spec"]["objective"].update(type=objective_type, additionalMetricNames=["loss", "acc"])
    doc["spec"]["objective"]["metricStrategies"] = [{"name": "acc", "value": "latest"}]
    strategies = defaulted(doc).spec.objective.metric_strategies  # type: ignore[union-attr]
    assert [(s.name, s.value) for s in strategies or []] == [
        ("acc", "latest"),
        ("testme", strategy),
        ("loss", strategy),
    ]


def test_job_conditions() -> None:
    tt = defaulted(valid_doc()).spec.trial_template
    assert tt is not None
    assert (tt.success_condition, tt.failure_condition) == (JOB_SUCCESS, FAILED)
    assert tt.primary_pod_labels is None


@pytest.mark.parametrize(
    ("kind", "success", "labels"),
    [
        ("PyTorchJob", KUBEFLOW_SUCCESS, {"training.kubeflow.org/job-role": "master"}),
        ("TFJob", KUBEFLOW_SUCCESS, {"training.kubeflow.org/job-role": "master"}),
        (
            "TrainJob",
            JOB_SUCCESS,
            {
                "jobset.sigs.k8s.io/replicatedjob-name": "node",
                "batch.kubernetes.io/job-completion-index": "0",
            },
        ),
    ],
)
def test_kubeflow_job_conditions_and_labels(kind: str, success: str, labels: dict) -> None:
    doc = valid_doc()
    doc["spec"]["trialTemplate"]["trialSpec"]["kind"] = kind
    tt = defaulted(doc).spec.trial_template
    assert tt is not None
    assert (tt.success_condition, tt.failure_condition) == (success, FAILED)
    assert tt.primary_pod_labels == labels


def test_given_conditions_and_labels_are_kept() -> None:
    doc = valid_doc()
    doc["spec"]["trialTemplate"]["trialSpec"]["kind"] = "PyTorchJob"
    doc["spec"]["trialTemplate"].update(
        successCondition="a", failureCondition="b", primaryPodLabels={"role": "x"}
    )
    tt = defaulted(doc).spec.trial_template
    assert tt is not None
    assert (tt.success_condition, tt.failure_condition, tt.primary_pod_labels) == (
        "a",
        "b",
        {"role": "x"},
    )


def test_other_kinds_and_configmap_sources_get_no_conditions() -> None:
    doc = valid_doc()
    doc["spec"]["trialTemplate"]["trialSpec"]["kind"] = "Workflow"
    tt = defaulted(doc).spec.trial_template
    assert tt is not None and tt.success_condition is None and tt.failure_condition is None

    doc = valid_doc()
    doc["spec"]["trialTemplate"].pop("trialSpec")
    doc["spec"]["trialTemplate"]["configMap"] = {"configMapName": "c", "templatePath": "p"}
    tt = defaulted(doc).spec.trial_template
    assert tt is not None and tt.success_condition is None


def test_metrics_collector_defaults_to_stdout() -> None:
    mc = defaulted(valid_doc()).spec.metrics_collector_spec
    assert mc is not None and mc.collector is not None
    assert mc.collector.kind == "StdOut" and mc.source is None


def test_collector_without_kind_is_left_for_validation() -> None:
    doc = valid_doc()
    doc["spec"]["metricsCollectorSpec"] = {"collector": {}}
    mc = defaulted(doc).spec.metrics_collector_spec
    assert mc is not None and mc.collector is not None and mc.collector.kind is None


def _source(kind: str, source: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = valid_doc()
    doc["spec"]["metricsCollectorSpec"] = {"collector": {"kind": kind}}
    if source is not None:
        doc["spec"]["metricsCollectorSpec"]["source"] = source
    mc = defaulted(doc).spec.metrics_collector_spec
    assert mc is not None and mc.source is not None
    return mc.source.model_dump(by_alias=True, exclude_none=True)


def test_file_collector_defaults() -> None:
    assert _source("File") == {
        "fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File", "format": "TEXT"}
    }
    assert _source("File", {"fileSystemPath": {"path": "/m.json", "format": "JSON"}}) == {
        "fileSystemPath": {"path": "/m.json", "kind": "File", "format": "JSON"}
    }


def test_tensorflow_event_collector_defaults() -> None:
    assert _source("TensorFlowEvent") == {
        "fileSystemPath": {"path": "/var/log/katib/tfevent/", "kind": "Directory"}
    }


def test_prometheus_collector_defaults() -> None:
    assert _source("PrometheusMetric") == {"httpGet": {"path": "/metrics", "port": 8080}}
    assert _source("PrometheusMetric", {"httpGet": {"port": "0"}}) == {
        "httpGet": {"port": 8080, "path": "/metrics"}
    }
    assert _source("PrometheusMetric", {"httpGet": {"port": 9090, "path": "/m"}}) == {
        "httpGet": {"port": 9090, "path": "/m"}
    }


def test_defaulting_twice_changes_nothing() -> None:
    for kind in ("Job", "PyTorchJob", "TrainJob"):
        doc = valid_doc()
        doc["spec"]["trialTemplate"]["trialSpec"]["kind"] = kind
        doc["spec"]["objective"]["additionalMetricNames"] = ["loss"]
        doc["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "File"}}
        once = defaulted(doc)
        twice = once.model_copy(deep=True)
        set_defaults(twice)
        assert twice == once
