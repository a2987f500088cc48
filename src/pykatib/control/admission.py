"""Admission: what this control plane can run, checked before an experiment is stored.

Validation (:mod:`pykatib.api.validation`) holds an experiment to Katib's rules; admission holds
it to what pykatib can actually run here, so that nothing is accepted that would then fail trial
by trial (counting toward ``maxFailedTrialCount``). Every face that creates experiments (CLI,
server) calls :func:`admit` after validation.
"""

from __future__ import annotations

import importlib.util

from pykatib.api.models import Experiment
from pykatib.runtime.local import LocalJobRunner

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
    template = spec.trial_template
    if template is not None and template.trial_spec is not None:
        errors += LocalJobRunner.check(
            template.trial_spec, template.primary_container_name, template.primary_pod_labels
        )
        warnings += LocalJobRunner.warnings(template.trial_spec, template.primary_container_name)
        if template.primary_pod_labels and template.trial_spec.get("kind") == "Job":
            warnings.append(
                "spec.trialTemplate.primaryPodLabels: ignored: a local Job trial is one process, "
                "which is always the primary one"
            )
        if template.retain:
            warnings.append(
                "spec.trialTemplate.retain: has no effect locally: every trial's logs, metrics "
                "and folder are always kept (until the experiment is deleted)"
            )
    mc = spec.metrics_collector_spec
    kind = mc.collector.kind if mc is not None and mc.collector is not None else None
    if kind == "Custom":
        assert mc is not None and mc.collector is not None
        errors += LocalJobRunner.check_collector(mc.collector.custom_collector)
    elif kind == "TensorFlowEvent" and importlib.util.find_spec("tensorboard") is None:
        errors.append(
            "spec.metricsCollectorSpec.collector.kind: TensorFlowEvent needs TensorBoard's event "
            "file reader, which is not installed; install it with "
            '`pip install "pykatib[tfevent]"` (or `pip install tensorboard`)'
        )
    return errors, warnings
