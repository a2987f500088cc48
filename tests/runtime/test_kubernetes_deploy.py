"""deploy/kubernetes: the manifests parse, hang together, and grant the runner every call it
makes (the calls taken from the runner's code and from what it sent a fake API server)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import experiment

pytest.importorskip(
    "kubernetes", reason='the Kubernetes runner needs `pip install "pykatib[kubernetes]"`'
)

from k8s_fake import FakeKubernetes

from pykatib.runtime import replicas, selection
from pykatib.runtime.kubernetes import REPORT_URL_ENV, KubernetesJobRunner
from pykatib.runtime.kubernetes_api import ClusterApi, load_api_client
from pykatib.runtime.kubernetes_objects import COLLECTOR_IMAGE_ENV
from pykatib.store import Store

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# The kinds docs/kubernetes.md says the runner runs, by apiVersion.
KINDS = {
    "batch/v1": ["Job"],
    replicas.API_VERSION: list(replicas.KINDS),
    "trainer.kubeflow.org/v1alpha1": ["TrainJob"],
    "argoproj.io/v1alpha1": ["Workflow"],
    "tekton.dev/v1": ["PipelineRun"],
}


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return docs


def granted(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(verb, apiGroup, resource) the ClusterRole bound to the server's account allows."""
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    bound = {
        b["roleRef"]["name"]
        for b in docs
        if b["kind"] == "ClusterRoleBinding"
        and any(s["kind"] == "ServiceAccount" and s["name"] == account for s in b["subjects"])
    }
    allowed = set()
    for role in docs:
        if role["kind"] == "ClusterRole" and role["metadata"]["name"] in bound:
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        allowed |= {(verb, group, resource) for verb in rule["verbs"]}
    return allowed


def test_every_manifest_parses_and_each_kind_is_known() -> None:
    docs = manifests()
    kinds = {d["kind"] for d in docs}
    assert kinds >= {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
    }
    for d in docs:
        assert d["apiVersion"] and d["metadata"]["name"], d
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    service = next(d for d in docs if d["kind"] == "Service")
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [server] = pod["spec"]["containers"]
    assert "--runtime=kubernetes" in server["args"]
    env = {e["name"]: e for e in server["env"]}
    # The report address is the Service's, on its port.
    port = service["spec"]["ports"][0]["port"]
    namespace = service["metadata"]["namespace"]
    url = f"http://{service['metadata']['name']}.{namespace}.svc:{port}"
    assert env[REPORT_URL_ENV]["value"] == url
    assert env[COLLECTOR_IMAGE_ENV]["value"] == server["image"]
    assert "PYKATIB_TOKEN" in env
    assert "--runtime" in (DEPLOY / "Dockerfile").read_text()
    examples = DEPLOY / "examples"
    for path in examples.glob("*.yaml"):
        [exp] = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert exp["kind"] == "Experiment"


def test_the_role_grants_every_call_in_the_runners_code() -> None:
    allowed = granted(manifests())
    for verb, resource in ClusterApi.CALLS:
        if resource == "*":  # the trial's own kind: each one the runner is said to run
            for api_version, kinds in KINDS.items():
                group = api_version.rpartition("/")[0]
                for kind in kinds:
                    assert (verb, group, kind.lower() + "s") in allowed, (verb, kind)
        else:
            assert (verb, "", resource) in allowed, (verb, resource)


def test_the_role_grants_every_call_the_runner_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Job trial and a PyTorchJob trial against the fake API server: each request it saw is
    one the runner's code names and the role grants."""
    monkeypatch.setattr(selection, "_current", selection.Runtime("kubernetes"))
    fake = FakeKubernetes(tmp_path)
    try:
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
        api_client = load_api_client()
        store = Store(f"sqlite:///{tmp_path / 'test.db'}")
        from pykatib.control.controller import Controller

        ctl = Controller(
            store,
            home=tmp_path / "home",
            runner_factory=lambda wake: KubernetesJobRunner(wake, api_client, poll_seconds=0.05),
        )
        job = experiment("print('loss=1')", maxTrialCount=1, parallelTrialCount=1)
        pytorch = experiment("", name="pt", maxTrialCount=1, parallelTrialCount=1)
        template = pytorch.spec.trial_template
        assert template is not None
        template.primary_container_name = "pytorch"
        template.success_condition = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
        template.failure_condition = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
        container = {
            "name": "pytorch",
            "image": "python:3",
            "command": [sys.executable, "-c", "print('loss=2')"],
        }
        template.trial_spec = {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "spec": {
                "pytorchReplicaSpecs": {
                    "Master": {"replicas": 1, "template": {"spec": {"containers": [container]}}}
                }
            },
        }
        for exp in (job, pytorch):
            ctl.apply(exp, tmp_path)
        done = ctl.run([("default", "exp"), ("default", "pt")])
        ctl.runner.shutdown()
        assert all(d.status.has("Succeeded") for d in done)
    finally:
        fake.close()
    allowed = granted(manifests())
    named = {(verb, resource) for verb, resource in ClusterApi.CALLS}
    seen = set(fake.requests)
    assert {verb for verb, _ in seen} >= {"create", "get", "list", "delete"}
    for verb, resource in seen:
        group, _, plural = resource.rpartition("/") if "/" in resource else ("", "", resource)
        if resource == "pods/log":
            group, plural = "", "pods/log"
        assert (verb, group, plural) in allowed, (verb, resource)
        assert (verb, resource if not group else "*") in named, (verb, resource)
