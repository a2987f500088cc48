"""The `pykatib` command, as a user runs it: real processes, real files, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from pykatib_cli import get_json, pykatib, write
from standins import STANDINS, katib_example, rewrite_commands


@pytest.mark.parametrize("example", ["hp-tuning/random.yaml", "hp-tuning/grid.yaml"])
def test_katib_examples_run_unchanged(example: str, tmp_path: Path) -> None:
    data = rewrite_commands(katib_example(example), STANDINS)
    name = data["metadata"]["name"]
    path = write(tmp_path / "experiment.yaml", data)
    result = pykatib("run", "-f", str(path))
    assert result.returncode == 0, result.stderr
    exp = get_json("experiment", name, "-n", "kubeflow")
    assert exp["metadata"]["namespace"] == "kubeflow"
    succeeded = next(c for c in exp["status"]["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "True" and succeeded["reason"] == "ExperimentMaxTrialsReached"
    assert exp["status"]["trials"] == data["spec"]["maxTrialCount"]
    # The optimal trial holds the best objective value observed in any trial.
    trials = get_json("trials", "-e", name, "-n", "kubeflow")["items"]
    assert len(trials) == data["spec"]["maxTrialCount"]

    def loss(t: dict[str, Any]) -> float:
        [m] = [m for m in t["status"]["observation"]["metrics"] if m["name"] == "loss"]
        return float(m["min"])

    best = min(trials, key=loss)
    optimal = exp["status"]["currentOptimalTrial"]
    assert optimal["bestTrialName"] == best["metadata"]["name"]
    assert optimal["parameterAssignments"] == best["spec"]["parameterAssignments"]
    # Defaults are applied in the stored spec, as Katib's webhook does.
    assert exp["spec"]["resumePolicy"] == "Never"
    assert exp["spec"]["metricsCollectorSpec"]["collector"]["kind"] == "StdOut"
    text = pykatib("describe", "experiment", name, "-n", "kubeflow", check=True).stdout
    assert (
        "Current Optimal Trial:" in text and f"Best Trial Name:  {best['metadata']['name']}" in text
    )


def test_invalid_input_exits_2_and_names_every_problem(tmp_path: Path) -> None:
    data = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    data["spec"]["parallelTrialCount"] = -1
    data["spec"]["parameters"][0]["feasibleSpace"]["min"] = "abc"
    data["spec"]["objectiv"] = {}
    result = pykatib("run", "-f", str(write(tmp_path / "bad.yaml", data)))
    assert result.returncode == 2
    assert "spec.parallelTrialCount" in result.stderr
    assert "spec.parameters[0].feasibleSpace.min" in result.stderr
    assert "spec.objectiv" in result.stderr
    assert pykatib("get", "experiments", "-A").stderr.strip() == "No resources found."


def test_apply_updates_mutable_fields_only(tmp_path: Path) -> None:
    data = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    path = write(tmp_path / "e.yaml", data)
    assert "random created" in pykatib("apply", "-f", str(path), check=True).stdout
    data["spec"]["maxTrialCount"] = 20
    write(path, data)
    assert "random configured" in pykatib("apply", "-f", str(path), check=True).stdout
    assert get_json("experiment", "random", "-n", "kubeflow")["spec"]["maxTrialCount"] == 20
    data["spec"]["objective"]["type"] = "maximize"
    write(path, data)
    result = pykatib("apply", "-f", str(path))
    assert result.returncode == 2 and "spec.objective" in result.stderr
    exp = get_json("experiment", "random", "-n", "kubeflow")
    assert exp["spec"]["objective"]["type"] == "minimize"


# A trial that finishes at once for the first two starts (or once "release" exists) and
# otherwise announces itself on a FIFO and blocks until it is stopped.
GATED = """
import fcntl, os, sys, threading
here = sys.argv[1]
with open(os.path.join(here, "starts"), "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.write(os.environ["KATIB_TRIAL_NAME"] + "\\n")
    f.flush()
    f.seek(0)
    count = len(f.read().split())
if count <= 2 or os.path.exists(os.path.join(here, "release")):
    print("loss=" + sys.argv[2])
    sys.exit(0)
with open(os.path.join(here, "fifo"), "w") as fifo:
    fifo.write(os.environ["KATIB_TRIAL_NAME"] + "\\n")
    fifo.flush()
    threading.Event().wait()
"""


def test_ctrl_c_then_resume_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    data = yaml.safe_load(f"""
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {{name: gated}}
spec:
  objective: {{type: minimize, objectiveMetricName: loss}}
  algorithm: {{algorithmName: random}}
  parallelTrialCount: 2
  maxTrialCount: 6
  parameters:
    - {{name: lr, parameterType: double, feasibleSpace: {{min: "0.1", max: "0.9"}}}}
  trialTemplate:
    primaryContainerName: main
    trialParameters: [{{name: lr, reference: lr}}]
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: main
                command: ["{sys.executable}", "-c", {json.dumps(GATED)}, "{tmp_path}", "${{trialParameters.lr}}"]
""")
    path = write(tmp_path / "gated.yaml", data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(path), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def unblock_if_it_exits() -> None:
        proc.wait()
        with open(tmp_path / "fifo", "w") as fifo:
            fifo.write("EXITED\n")

    threading.Thread(target=unblock_if_it_exits, daemon=True).start()
    try:
        with open(tmp_path / "fifo") as fifo:  # blocks until a gated trial is running
            blocked = {fifo.readline().strip(), fifo.readline().strip()}
        assert "EXITED" not in blocked, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "run `pykatib run -f" in err
    trials = get_json("trials", "-e", "gated")["items"]
    phases = {
        t["metadata"]["name"]: [
            c["type"] for c in t["status"]["conditions"] if c["status"] == "True"
        ]
        for t in trials
    }
    assert len(trials) == 4
    assert sum(p[-1] == "Succeeded" for p in phases.values()) == 2
    for name in blocked:
        assert phases[name] == ["Created"]  # back to pending, resumable
    (tmp_path / "release").write_text("")
    result = pykatib("run", "-f", str(path), "-q")
    assert result.returncode == 0, result.stderr
    exp = get_json("experiment", "gated")
    assert exp["status"]["trialsSucceeded"] == 6 and exp["status"]["trials"] == 6
    starts = (tmp_path / "starts").read_text().split()
    counts = {name: starts.count(name) for name in set(starts)}
    assert len(counts) == 6
    assert {
        n for n, c in counts.items() if c == 2
    } == blocked  # only the interrupted ones ran again
    assert all(c == 1 for n, c in counts.items() if n not in blocked)


def test_logs_and_metrics_of_a_trial(tmp_path: Path) -> None:
    data = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    data["spec"]["maxTrialCount"] = 1
    data["spec"]["parallelTrialCount"] = 1
    pykatib("run", "-f", str(write(tmp_path / "e.yaml", data)), check=True)
    [trial] = get_json("trials", "-n", "kubeflow")["items"]
    name = trial["metadata"]["name"]
    log = pykatib("-n", "kubeflow", "logs", name, check=True).stdout
    metrics = json.loads(
        pykatib("get", "metrics", name, "-o", "json", "-n", "kubeflow", check=True).stdout
    )
    values = [m["value"] for m in metrics["metricLogs"] if m["metricName"] == "loss"]
    assert values and all(f"loss={v}" in log for v in values)
    described = pykatib("describe", "trial", name, "-n", "kubeflow", check=True).stdout
    assert "Trial Metrics" not in described
    assert pykatib("delete", "experiment", "random", "-n", "kubeflow", check=True).returncode == 0
    assert pykatib("get", "trial", name, "-n", "kubeflow").returncode == 1


def test_configmap_trial_template_needs_the_configmap_file(tmp_path: Path) -> None:
    data = katib_example("trial-template/trial-configmap-source.yaml")
    path = write(tmp_path / "cm-experiment.yaml", data)
    result = pykatib("apply", "-f", str(path))
    assert result.returncode == 2
    assert "spec.trialTemplate.configMap" in result.stderr and "--configmap" in result.stderr
    params = [p["name"] for p in data["spec"]["trialTemplate"]["trialParameters"]]
    template = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "training-container",
                            "image": "python",
                            "command": [sys.executable, "-c", "print('Validation-accuracy=0.5')"]
                            + [f"--{p}=${{trialParameters.{p}}}" for p in params],
                        }
                    ],
                }
            }
        },
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "trial-templates", "namespace": "kubeflow"},
        "data": {"defaultTrialTemplate.yaml": yaml.safe_dump(template)},
    }
    cm_path = write(tmp_path / "configmap.yaml", configmap)
    data["spec"]["maxTrialCount"] = 2
    write(path, data)
    result = pykatib("run", "-f", str(path), "--configmap", str(cm_path), "-q")
    assert result.returncode == 0, result.stderr
    exp = get_json("experiment", data["metadata"]["name"], "-n", "kubeflow")
    assert exp["status"]["trialsSucceeded"] == 2


def test_other_containers_are_ignored_with_a_warning(tmp_path: Path) -> None:
    data = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    data["spec"]["maxTrialCount"] = 1
    data["spec"]["parallelTrialCount"] = 1
    pod = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    pod["containers"].append({"name": "sidecar", "image": "busybox", "command": ["false"]})
    result = pykatib("run", "-f", str(write(tmp_path / "e.yaml", data)), "-q")
    assert result.returncode == 0, result.stderr
    assert "containers sidecar are ignored" in result.stderr
    [trial] = get_json("trials", "-n", "kubeflow")["items"]
    assert (
        "only the primary container runs locally"
        in pykatib("logs", trial["metadata"]["name"], "-n", "kubeflow").stdout
    )
