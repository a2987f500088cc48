"""The Kubernetes runner's core flow on a REAL cluster: the one ``KUBECONFIG`` names (kind,
minikube, a cloud cluster). Skipped when ``KUBECONFIG`` is unset; see docs/kubernetes.md.

Trials are ``batch/v1`` Jobs in ``PYKATIB_TEST_NAMESPACE`` (default ``default``) running
``PYKATIB_TEST_IMAGE`` (default ``python:3.11-slim``, which the cluster must be able to pull);
the account needs the RBAC of ``deploy/kubernetes/rbac.yaml``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from helpers import experiment

if not os.environ.get("KUBECONFIG"):
    pytest.skip(
        "no real cluster: set KUBECONFIG to run the Kubernetes runner against one "
        "(docs/kubernetes.md); the fake-API suite is test_kubernetes.py",
        allow_module_level=True,
    )
pytest.importorskip(
    "kubernetes", reason='the Kubernetes runner needs `pip install "pykatib[kubernetes]"`'
)

from pykatib.control import status as st
from pykatib.control.controller import Controller
from pykatib.runtime import selection
from pykatib.runtime.kubernetes import EXPERIMENT_LABEL, KubernetesJobRunner
from pykatib.runtime.kubernetes_api import ClusterApi, ObjectRef, load_api_client
from pykatib.store import Store

NAMESPACE = os.environ.get("PYKATIB_TEST_NAMESPACE", "default")
IMAGE = os.environ.get("PYKATIB_TEST_IMAGE", "python:3.11-slim")


@pytest.mark.timeout(900)
def test_job_trials_on_a_real_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "_current", selection.Runtime("kubernetes"))
    api_client = load_api_client()
    name = f"pykatib-test-{uuid.uuid4().hex[:6]}"
    code = (
        "import sys\n"
        "lr = float(sys.argv[1].split('=')[1])\n"
        "for step in range(3):\n"
        "    print(f'loss={lr * (3 - step)}', flush=True)\n"
    )
    exp = experiment(code, name=name, maxTrialCount=2, parallelTrialCount=2)
    exp.metadata.namespace = NAMESPACE
    template = exp.spec.trial_template
    assert template is not None and template.trial_spec is not None
    [container] = template.trial_spec["spec"]["template"]["spec"]["containers"]
    container["image"] = IMAGE
    container["command"] = ["python", "-c", code]
    ctl = Controller(
        Store(f"sqlite:///{tmp_path / 'test.db'}"),
        home=tmp_path / "home",
        runner_factory=lambda wake: KubernetesJobRunner(wake, api_client),
    )
    ctl.apply(exp, tmp_path)
    try:
        [done] = ctl.run([(NAMESPACE, name)])
    finally:
        ctl.runner.shutdown()

    assert done.status.has("Succeeded"), done.status
    trials = ctl.store.list_trials()
    assert len(trials) == 2 and all(st.trial_phase(t) == st.SUCCEEDED for t in trials)
    for t in trials:  # read from each Job's pod's log through the API
        lr = float(t.spec.parameter_assignments[0].value)
        values = [float(o.value) for o in ctl.store.list_observations(NAMESPACE, t.name)]
        assert values == pytest.approx([lr * 3, lr * 2, lr])
    # Deleted once finished (not retained); Background deletion may leave them a moment with a
    # deletionTimestamp.
    left = ClusterApi(api_client).find(
        ObjectRef("batch/v1", "Job", NAMESPACE, name), f"{EXPERIMENT_LABEL}={name}"
    )
    assert all(j["metadata"].get("deletionTimestamp") for j in left), left
