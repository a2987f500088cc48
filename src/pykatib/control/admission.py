"""Admission: what this control plane can run, checked before an experiment is stored.

Validation (:mod:`pykatib.api.validation`) holds an experiment to Katib's rules; admission holds
it to what pykatib can actually run here, so that nothing is accepted that would then fail trial
by trial (counting toward ``maxFailedTrialCount``). Every face that creates experiments (CLI,
server) calls :func:`admit` after validation.
"""

from __future__ import annotations

import importlib.util
import json

from pykatib.api.models import Experiment
from pykatib.runtime import selection
from pykatib.runtime.resources import MACHINE, trial_needs

NAS_ALGORITHMS = ("enas", "darts")


def admit(exp: Experiment) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` about running ``exp`` here, each as ``path: message``."""
    errors: list[str] = []
    warnings: list[str] = []
    spec = exp.spec
    algorithm = spec.algorithm.algorithm_name if spec.algorithm else None
    if spec.nas_config is not None or algorithm in NAS_ALGORITHMS:
        path = "spec.nasConfig" if spec.nas_config is not None else "spec.algorithm.algorithmName"
        errors.append(
            f"{path}: neural architecture search (enas, darts, nasConfig) is not supported by "
            "pykatib: Katib's NAS algorithms build and train TensorFlow/PyTorch networks inside "
            "their own suggestion images, which have no local equivalent; tune hyperparameters "
            "(spec.parameters) instead, or run NAS experiments on Katib"
        )
    runtime = selection.current()
    runner = runtime.runner
    template = spec.trial_template
    if template is not None and template.trial_spec is not None:
        errors += runner.check(
            template.trial_spec, template.primary_container_name, template.primary_pod_labels
        )
        if runtime.uses_this_machine:
            errors += _capacity_errors(template.trial_spec, template.primary_container_name)
        warnings += runner.warnings(template.trial_spec, template.primary_container_name)
        in_cluster = runtime.name == "kubernetes"  # a real cluster: both mean what Katib's do
        is_job = template.trial_spec.get("kind") == "Job"
        if template.primary_pod_labels and is_job and not in_cluster:
            warnings.append(
                "spec.trialTemplate.primaryPodLabels: ignored: a local Job trial is one process, "
                "which is always the primary one"
            )
        if template.retain and not in_cluster:
            warnings.append(
                "spec.trialTemplate.retain: has no effect locally: every trial's logs, metrics "
                "and folder are always kept (until the experiment is deleted)"
            )
    mc = spec.metrics_collector_spec
    kind = mc.collector.kind if mc is not None and mc.collector is not None else None
    if kind == "Custom":
        assert mc is not None and mc.collector is not None
        errors += runner.check_collector(mc.collector.custom_collector)
    elif kind == "TensorFlowEvent" and importlib.util.find_spec("tensorboard") is None:
        errors.append(
            "spec.metricsCollectorSpec.collector.kind: TensorFlowEvent needs TensorBoard's event "
            "file reader, which is not installed; install it with "
            '`pip install "pykatib[tfevent]"` (or `pip install tensorboard`)'
        )
    return errors, warnings


def _capacity_errors(trial_spec: dict, primary_container_name: str | None) -> list[str]:
    """A trial that could never fit on this machine, even with nothing else running."""
    if _has_placeholders(trial_spec):
        return []  # placeholders in its resources: judged once rendered
    try:
        needs = trial_needs(trial_spec, primary_container_name)
    except ValueError as exc:
        return [f"spec.trialTemplate.trialSpec: resources: {exc}"]
    short = MACHINE.never_fits(needs)
    if not short:
        return []
    replicas = f" ({len(needs)} replicas in all)" if len(needs) > 1 else ""
    return [
        "spec.trialTemplate.trialSpec: a trial needs more than this machine has: "
        + ", ".join(short)
        + f"{replicas}; lower its containers' resources.requests, or declare what the "
        "machine has with `pykatib run --cpus N --memory SIZE --gpus N` (or PYKATIB_CPUS, "
        "PYKATIB_MEMORY, PYKATIB_GPUS)"
    ]


def _has_placeholders(trial_spec: dict) -> bool:
    """Whether some container's resources hold a ``${...}`` placeholder."""
    return "${" in json.dumps(_resources_of(trial_spec))


def _resources_of(node: object) -> list:
    if isinstance(node, dict):
        found = [node["resources"]] if "resources" in node else []
        return found + [r for v in node.values() for r in _resources_of(v)]
    if isinstance(node, list):
        return [r for v in node for r in _resources_of(v)]
    return []
