"""Every example experiment of Katib loads, defaults and validates (or says why pykatib can't run it).

The examples live in ../shared/katib-examples; these tests skip where that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pykatib.api.errors import InvalidExperimentError
from pykatib.api.yaml import parse_experiments
from pykatib.runtime import SUPPORTED_TRIAL_KINDS

from ._helpers import KATIB_EXAMPLES

EXAMPLES = sorted(p.relative_to(KATIB_EXAMPLES).as_posix() for p in KATIB_EXAMPLES.rglob("*.yaml"))

# Katib's trial-templates ConfigMap holds the template trial-configmap-source.yaml names; this is
# a stand-in with the same placeholders.
TRIAL_TEMPLATES = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "trial-templates", "namespace": "kubeflow"},
    "data": {
        "defaultTrialTemplate.yaml": """\
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
        - name: training-container
          image: docker.io/kubeflowkatib/mxnet-mnist:latest
          command:
            - "python3"
            - "/opt/mxnet-mnist/mnist.py"
            - "--lr=${trialParameters.learningRate}"
            - "--num-layers=${trialParameters.numberLayers}"
            - "--optimizer=${trialParameters.optimizer}"
      restartPolicy: Never
"""
    },
}

# Examples pykatib rejects, with the rule that rejects them.
REJECTED = {
    # Katib's end-to-end test of its validating webhook.
    "e2e-testdata/invalid-experiment.yaml": 'spec.algorithm.algorithmName: unknown algorithm "inva',
}
NAS = {"nas/darts-cpu.yaml", "nas/darts-gpu.yaml", "nas/enas-cpu.yaml", "nas/enas-gpu.yaml"}
# Katib rejects it (maxFailedTrialCount 3 > maxTrialCount 2); pykatib warns.
WARNED = {"hp-tuning/simple-pbt.yaml": "spec.maxFailedTrialCount: "}


def trial_kind(path: Path) -> str:
    doc = next(d for d in yaml.safe_load_all(path.read_text()) if d)
    template = doc["spec"]["trialTemplate"]
    return (template.get("trialSpec") or {"kind": "Job"})["kind"]  # configMap: a Job template


def test_the_examples_are_here(katib_examples: Path) -> None:
    assert len(EXAMPLES) >= 30, EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example(katib_examples: Path, name: str) -> None:
    path = katib_examples / name
    text = path.read_text()
    kind = trial_kind(path)
    if kind not in SUPPORTED_TRIAL_KINDS or name in REJECTED:
        with pytest.raises(InvalidExperimentError) as info:
            parse_experiments(text, name, configmaps=[TRIAL_TEMPLATES])
        unsupported = (
            f'spec.trialTemplate.trialSpec.kind: trial kind "{kind}" is not supported by '
            f"pykatib; supported kinds: Job (batch/v1), PyTorchJob (kubeflow.org/v1)"
        )
        expected = REJECTED.get(name, unsupported)
        assert any(e.startswith(expected) for e in info.value.errors), info.value.errors
        return
    [(exp, warnings)] = parse_experiments(text, name, configmaps=[TRIAL_TEMPLATES])
    assert exp.spec.trial_template and exp.spec.trial_template.trial_spec
    # Defaulted (or given) for a Job and the training operator's kinds.
    assert exp.spec.trial_template.success_condition
    if name in WARNED:
        assert [w.split(": ")[0] + ": " for w in warnings] == [WARNED[name]]
    else:
        assert warnings == []
    if name in NAS:
        # NAS experiments search operations of spec.nasConfig, not spec.parameters.
        assert exp.spec.nas_config is not None and not exp.spec.parameters


def test_configmap_example_needs_its_configmap(katib_examples: Path) -> None:
    name = "trial-template/trial-configmap-source.yaml"
    text = (katib_examples / name).read_text()
    with pytest.raises(InvalidExperimentError) as info:
        parse_experiments(text, name)
    assert info.value.errors == [
        (
            "spec.trialTemplate.configMap: ConfigMap kubeflow/trial-templates not found; "
            "pass it with --configmap FILE"
        )
    ]
    [(exp, _)] = parse_experiments(text, name, require_trial_spec=False)
    assert exp.spec.trial_template and exp.spec.trial_template.config_map
