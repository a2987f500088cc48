"""kubectl, unchanged, against ``pykatib server``: Katib's own example file applied, watched,
listed with Katib's printer columns, described, its budget patched (a restart), deleted."""

from __future__ import annotations

import json
import queue
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from pykatib_server import BASE, Server, start_server
from standins import STANDINS, katib_example, rewrite_commands

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


def random_example(tmp_path: Path, trials: int = 4) -> Path:
    """Katib's hp-tuning/random.yaml, its trial a stand-in, resumable (LongRunning)."""
    exp = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    exp["spec"].update(maxTrialCount=trials, parallelTrialCount=2, resumePolicy="LongRunning")
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def lines_of(proc: object) -> queue.Queue[str]:
    """The stdout lines of a running process, as they come."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[attr-defined]
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def next_line(lines: queue.Queue[str], timeout: float = 30) -> str:
    return lines.get(timeout=timeout)


def test_kubectl_flow(tmp_path: Path, db_url: str) -> None:
    server = start_server(tmp_path, db_url)
    try:
        _flow(server, tmp_path)
    finally:
        assert server.stop() in (0, -15)


def _flow(server: Server, tmp_path: Path) -> None:
    kubectl = server.kubectl
    path = random_example(tmp_path)
    ns = ("-n", "kubeflow")
    assert (
        kubectl("apply", "-f", str(path)).stdout.strip() == "experiment.kubeflow.org/random created"
    )
    kubectl("wait", "--for=condition=Succeeded", "experiment/random", *ns, "--timeout=60s")

    out = kubectl("get", "experiments", *ns).stdout.splitlines()
    assert out[0].split() == ["NAME", "TYPE", "STATUS", "AGE"]
    assert out[1].split()[:3] == ["random", "Succeeded", "True"]
    trials = kubectl("get", "trials", *ns, "-l", "katib.kubeflow.org/experiment=random").stdout
    rows = trials.splitlines()
    assert rows[0].split() == ["NAME", "TYPE", "STATUS", "AGE"]
    assert len(rows) == 5 and all(r.split()[1:3] == ["Succeeded", "True"] for r in rows[1:])
    suggestions = kubectl("get", "suggestions", *ns).stdout.splitlines()
    assert suggestions[0].split() == ["NAME", "TYPE", "STATUS", "REQUESTED", "ASSIGNED", "AGE"]
    # LongRunning: the suggestion stays Running, ready for more trials (as Katib's does).
    assert suggestions[1].split()[:5] == ["random", "Running", "True", "4", "4"]
    assert "random" in kubectl("get", "experiments", "-A").stdout

    # Trials as pods: their processes, with Katib's labels, and their logs.
    pods = kubectl("get", "pods", *ns).stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(pods) == 5 and all(p.split()[2] == "Succeeded" for p in pods[1:])
    trial = rows[1].split()[0]
    logs = kubectl("logs", "-l", f"katib.kubeflow.org/trial={trial}", *ns).stdout
    assert "{metricName: loss, metricValue:" in logs

    described = kubectl("describe", "experiment", "random", *ns).stdout
    for expected in (
        "Name:         random",
        "Max Trial Count:",
        "Current Optimal Trial:",
        "Events:",
        "ExperimentCreated",
        "ExperimentMaxTrialsReached",
    ):
        assert expected in described, described

    # The budget raised: Katib restarts a LongRunning experiment that reached maxTrialCount;
    # `get -w` sees the experiment modified.
    watch = server.kubectl_popen("get", "experiments", *ns, "-w")
    try:
        lines = lines_of(watch)
        assert next_line(lines).split()[0] == "NAME"
        assert next_line(lines).split()[:2] == ["random", "Succeeded"]
        patched = kubectl(
            "patch",
            "experiment",
            "random",
            *ns,
            "--type",
            "merge",
            "-p",
            '{"spec":{"maxTrialCount":6}}',
        )
        assert patched.stdout.strip() == "experiment.kubeflow.org/random patched"
        assert next_line(lines).split()[0] == "random"  # a MODIFIED event
    finally:
        watch.terminate()
        watch.wait()
    kubectl(
        "wait",
        "--for=jsonpath={.status.trialsSucceeded}=6",
        "experiment/random",
        *ns,
        "--timeout=60s",
    )
    kubectl("wait", "--for=condition=Succeeded", "experiment/random", *ns, "--timeout=60s")

    # Katib's update rules refuse a budget below the trials already created: 422.
    refused = kubectl(
        "patch",
        "experiment",
        "random",
        *ns,
        "--type",
        "merge",
        "-p",
        '{"spec":{"maxTrialCount":3}}',
        check=False,
    )
    assert refused.returncode == 1
    assert 'The Experiment "random" is invalid' in refused.stderr
    assert "spec.maxTrialCount: must be greater than status.trials (6)" in refused.stderr
    unchanged = kubectl("apply", "-f", str(path), check=False)
    assert unchanged.returncode == 1 and "spec.maxTrialCount" in unchanged.stderr

    deleted = kubectl("delete", "experiment", "random", *ns)
    assert deleted.stdout.strip() == 'experiment.kubeflow.org "random" deleted'
    gone = kubectl("get", "experiment", "random", *ns, check=False)
    assert gone.returncode == 1
    assert 'experiments.kubeflow.org "random" not found' in gone.stderr
    with server.client() as client:
        left = client.get(f"{BASE}/namespaces/kubeflow/trials").json()
        assert left["items"] == []


def test_kubectl_explain_and_the_openapi_documents(server: Server) -> None:
    """``kubectl explain`` finds Katib's fields in the OpenAPI v3 document; ``/openapi/v2``
    (JSON only: kubectl's own v2 client asks for protobuf) holds every v3 path too."""
    explained = server.kubectl("explain", "experiments.spec.maxTrialCount").stdout
    assert "KIND:" in explained and "Experiment" in explained, explained
    assert "FIELD: maxTrialCount <integer>" in explained, explained
    with server.client() as client:
        v2 = client.get("/openapi/v2").json()
        index = client.get("/openapi/v3").json()["paths"]
        v3_paths = {
            path
            for entry in index.values()
            for path in client.get(entry["serverRelativeURL"]).json()["paths"]
        }
    assert set(v2["paths"]) == v3_paths
    watch = {
        p["name"]
        for p in v2["paths"][f"{BASE}/namespaces/{{namespace}}/trials"]["get"]["parameters"]
    }
    assert {"labelSelector", "limit", "continue", "watch", "resourceVersion"} <= watch


def test_server_side_dry_run_checks_everything_and_stores_nothing(
    server: Server, tmp_path: Path
) -> None:
    """``kubectl create|apply|patch|delete --dry-run=server`` (``dryRun=All``): the object that
    would be stored, or the error the write would get, and nothing stored."""
    kubectl = server.kubectl
    path = random_example(tmp_path)
    slow = yaml.safe_load(path.read_text())  # its trials stay Running while the test runs
    job = slow["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    command = job["containers"][0]["command"]
    command[1:] = ["-c", "import time; time.sleep(60)", *command[-2:]]  # the --lr, --momentum
    path.write_text(yaml.safe_dump(slow))
    ns = ("-n", "kubeflow")
    url = f"{BASE}/namespaces/kubeflow/experiments"
    created = kubectl("create", "-f", str(path), "--dry-run=server", "-o", "json").stdout
    obj = json.loads(created)
    assert obj["metadata"]["name"] == "random" and obj["metadata"]["uid"]
    assert obj["spec"]["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}  # defaulted
    assert "resourceVersion" not in obj["metadata"]
    applied = kubectl("apply", "-f", str(path), "--dry-run=server")
    assert applied.stdout.strip() == "experiment.kubeflow.org/random created (server dry run)"
    with server.client() as c:
        assert c.get(url).json()["items"] == []
        assert c.get(f"{BASE}/namespaces/kubeflow/suggestions").json()["items"] == []

    # An experiment that exists: the budget raised by a dry run is answered, not stored.
    kubectl("apply", "-f", str(path))
    before = json.loads(kubectl("get", "experiment", "random", *ns, "-o", "json").stdout)
    raised = yaml.safe_load(path.read_text())
    raised["spec"]["maxTrialCount"] = 9
    path.write_text(yaml.safe_dump(raised))
    dry = kubectl("apply", "-f", str(path), "--dry-run=server", "-o", "json").stdout
    assert json.loads(dry)["spec"]["maxTrialCount"] == 9
    patch = '{"spec":{"parallelTrialCount":3}}'
    dry = kubectl("patch", "experiment", "random", *ns, "--type=merge", "-p", patch,
                  "--dry-run=server", "-o", "json").stdout  # fmt: skip
    assert json.loads(dry)["spec"]["parallelTrialCount"] == 3
    refused = kubectl("patch", "experiment", "random", *ns, "--type=merge", "-p",
                      '{"spec":{"maxTrialCount":true}}', "--dry-run=server", check=False)  # fmt: skip
    assert refused.returncode == 1 and "spec.maxTrialCount: must be an integer" in refused.stderr
    deleted = kubectl("delete", "experiment", "random", *ns, "--dry-run=server")
    assert deleted.stdout.strip() == 'experiment.kubeflow.org "random" deleted (server dry run)'
    after = json.loads(kubectl("get", "experiment", "random", *ns, "-o", "json").stdout)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]

    with server.client() as c:
        experiment = yaml.safe_load(path.read_text())
        exists = c.post(url, json=experiment, params={"dryRun": "All"})
        assert exists.status_code == 409 and exists.json()["reason"] == "AlreadyExists"
        generated = {**experiment, "metadata": {"generateName": "g-", "namespace": "kubeflow"}}
        answered = c.post(url, json=generated, params={"dryRun": "All"})
        assert answered.status_code == 201 and answered.json()["metadata"]["name"].startswith("g-")
        bad = c.post(url, json=generated, params={"dryRun": "Some"})
        assert bad.status_code == 400 and bad.json()["message"].startswith("dryRun: 'Some'")
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}
        assert c.request("DELETE", f"{url}/random", json=options).status_code == 200
        assert [e["metadata"]["name"] for e in c.get(url).json()["items"]] == ["random"]
