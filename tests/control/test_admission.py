"""Admission: nothing is accepted that pykatib can't run here (issue: fidelity, item 4)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from standins import STANDINS, katib_example, rewrite_commands

from pykatib.api.yaml import parse_experiments
from pykatib.control.admission import admit


def _parsed(data: dict) -> object:
    [(exp, _)] = parse_experiments(yaml.safe_dump(data))
    return exp


@pytest.mark.parametrize("example", ["nas/enas-cpu.yaml", "nas/darts-cpu.yaml"])
def test_nas_experiments_are_rejected_with_the_reason(example: str, tmp_path: Path) -> None:
    """Katib runs enas and darts in their own suggestion images
    (pkg/suggestion/v1beta1/nas/enas/service.py, .../darts/service.py): nothing to run locally."""
    data = katib_example(example)
    path = tmp_path / "nas.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", "apply", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "neural architecture search" in result.stderr and "not supported" in result.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", "get", "experiments", "-o", "json"]
        + ["-n", data["metadata"].get("namespace", "default")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0 and json.loads(listed.stdout)["items"] == []


def test_tensorflow_event_collector_without_its_reader_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Katib's TensorFlowEvent collector image ships the reader
    (cmd/metricscollector/v1beta1/tfevent-metricscollector); locally it is an optional extra."""
    data = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    data["spec"]["metricsCollectorSpec"] = {
        "source": {"fileSystemPath": {"path": "/tmp/tfevents", "kind": "Directory"}},
        "collector": {"kind": "TensorFlowEvent"},
    }
    exp = _parsed(data)
    assert admit(exp)[0] == []  # tensorboard is a test dependency
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )
    [error] = admit(exp)[0]
    assert error.startswith("spec.metricsCollectorSpec.collector.kind:")
    assert "pykatib[tfevent]" in error


def test_retain_and_primary_pod_labels_are_warnings() -> None:
    """Katib: trialTemplate.retain keeps the finished job (pkg/controller.v1beta1/trial/
    trial_controller.go, deleteTrialJob is skipped); primaryPodLabels pick the pod whose metrics
    are collected (pkg/webhook/v1beta1/pod/inject_webhook.go). Neither changes a local run."""
    data = rewrite_commands(katib_example("early-stopping/median-stop.yaml"), STANDINS)
    data["spec"]["trialTemplate"]["primaryPodLabels"] = {"training.kubeflow.org/job-role": "master"}
    errors, warnings = admit(_parsed(data))
    assert errors == []
    assert any(w.startswith("spec.trialTemplate.retain:") for w in warnings)
    assert any(w.startswith("spec.trialTemplate.primaryPodLabels:") for w in warnings)
