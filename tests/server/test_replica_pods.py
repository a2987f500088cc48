"""A training job's replicas as pods (``<trial>-master-0``, ``<trial>-worker-0``), with the
training operator's labels, as kubectl and the Katib SDK find them on a cluster."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pykatib_server import start_server
from standins import STANDINS, katib_example, rewrite_commands

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


def test_kubectl_sees_each_replica_as_a_pod(tmp_path: Path, sqlite_url: str) -> None:
    data = rewrite_commands(
        katib_example("kubeflow-training-operator/pytorchjob-mnist.yaml"), STANDINS
    )
    data["spec"].update(maxTrialCount=1, parallelTrialCount=1)
    path = tmp_path / "pytorchjob.yaml"
    path.write_text(yaml.safe_dump(data))
    server = start_server(tmp_path, sqlite_url)
    try:
        kubectl = server.kubectl
        ns = ("-n", "kubeflow")
        kubectl("apply", "-f", str(path))
        kubectl(
            "wait", "--for=condition=Succeeded", "experiment/pytorchjob-mnist", *ns, "--timeout=90s"
        )
        [trial] = kubectl("get", "trials", *ns, "-o", "name").stdout.split()
        trial = trial.split("/")[-1]
        label = f"katib.kubeflow.org/trial={trial}"
        names = kubectl("get", "pods", *ns, "-l", label, "-o", "name").stdout.split()
        assert sorted(names) == [f"pod/{trial}-master-0", f"pod/{trial}-worker-0"]
        # The master, as the Katib SDK selects it with the trial's primaryPodLabels.
        master = kubectl(
            "get",
            "pods",
            *ns,
            "-l",
            f"{label},training.kubeflow.org/job-role=master",
            "-o",
            "name",
        ).stdout.split()
        assert master == [f"pod/{trial}-master-0"]
        worker_log = kubectl("logs", f"{trial}-worker-0", *ns, "-c", "pytorch").stdout
        assert "rendezvous: rank 1 of 2 met rank 0" in worker_log
        master_log = kubectl("logs", f"{trial}-master-0", *ns, "-c", "pytorch").stdout
        assert "rendezvous: rank 0 of 2 met ranks [1]" in master_log
        # pykatib's own CLI against the server reads a replica's log the same way.
        from click.testing import CliRunner

        from pykatib.cli.main import cli

        mine = CliRunner().invoke(
            cli, ["--server", server.url, "logs", trial, "-n", "kubeflow", "--replica", "worker-0"]
        )
        assert mine.exit_code == 0, mine.output
        assert "rendezvous: rank 1 of 2 met rank 0" in mine.output
        both = kubectl("logs", "-l", label, *ns, "-c", "pytorch", "--tail=-1").stdout
        assert "rank 0 of 2" in both and "rank 1 of 2" in both
        # Only the primary pod has Katib's collector sidecar.
        pod = yaml.safe_load(kubectl("get", "pod", f"{trial}-worker-0", *ns, "-o", "yaml").stdout)
        assert [c["name"] for c in pod["spec"]["containers"]] == ["pytorch"]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "PyTorchJob"
        assert pod["status"]["phase"] == "Succeeded"
    finally:
        assert server.stop() in (0, -15)
