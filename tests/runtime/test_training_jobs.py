"""The training operator's kinds (PyTorchJob, TFJob, ...) run locally: one process per replica.

Katib's own PyTorchJob and TFJob examples run unchanged, their scripts replaced by stand-ins that
really meet over TCP where the environment says (tests/standins/rendezvous.py), so a wrong
MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE or TF_CONFIG fails the trial, as real training would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from helpers import controller, experiment, run
from standins import STANDINS, katib_example, rewrite_commands

from pykatib.api.yaml import parse_experiments
from pykatib.cli.main import cli
from pykatib.control.admission import admit
from pykatib.runtime import replicas
from pykatib.runtime.paths import attempt_files, trial_dir


def _example(name: str, trials: int) -> Any:
    data = rewrite_commands(katib_example(f"kubeflow-training-operator/{name}"), STANDINS)
    data["spec"]["maxTrialCount"] = trials
    data["spec"]["parallelTrialCount"] = min(trials, data["spec"]["parallelTrialCount"])
    [(exp, _)] = parse_experiments(yaml.safe_dump(data), name)
    return exp


def _files(tmp_path: Path, trial: Any) -> Any:
    exp = trial.metadata.labels["katib.kubeflow.org/experiment"]
    return attempt_files(tmp_path / "home", trial.namespace, exp, trial.name)


def test_katib_pytorchjob_example_runs_master_and_worker(tmp_path: Path) -> None:
    exp = _example("pytorchjob-mnist.yaml", 3)
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.condition("Succeeded").status == "True", done.status.to_dict()
    trials = ctl.store.list_trials()
    assert len(trials) == 3
    for trial in trials:
        assert trial.status.condition("Succeeded").status == "True"
        files = _files(tmp_path, trial)
        logs = files.replica_logs()
        assert set(logs) == {"master-0", "worker-0"}
        master, worker = logs["master-0"].read_text(), logs["worker-0"].read_text()
        # Both really met over TCP where MASTER_ADDR:MASTER_PORT said, with their own ranks.
        assert "rendezvous: rank 0 of 2 met ranks [1]" in master
        assert "rendezvous: rank 1 of 2 met rank 0" in worker
        # Metrics come from the master alone: as many losses as its log has, not twice that.
        losses = [
            p
            for p in ctl.store.list_observations(trial.namespace, trial.name)
            if p.metric_name == "loss"
        ]
        assert losses and len(losses) == master.count("loss=")
        assert worker.count("loss=") == master.count("loss=")
        states = json.loads(files.replicas.read_text())
        assert {s["state"] for s in states.values()} == {"succeeded"}


def test_katib_tfjob_example_runs_two_workers(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the TensorFlowEvent collector needs tensorboard")
    exp = _example("tfjob-mnist-with-summaries.yaml", 3)
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.condition("Succeeded").status == "True", done.status.to_dict()
    for trial in ctl.store.list_trials():
        files = _files(tmp_path, trial)
        logs = files.replica_logs()
        assert set(logs) == {"worker-0", "worker-1"}
        assert "rendezvous: rank 0 of 2 met ranks [1]" in logs["worker-0"].read_text()
        # Each worker wrote its event files in its own folder, as each pod has its own disk;
        # the collector read worker-0's (primaryPodLabels: replica-type worker, the first).
        mine = list((files.root / "mnist-with-summaries-logs" / "test").iterdir())
        theirs = files.root / "replicas" / "worker-1" / "mnist-with-summaries-logs" / "test"
        assert mine and list(theirs.iterdir())
        names = {p.metric_name for p in ctl.store.list_observations(trial.namespace, trial.name)}
        assert "accuracy" in names


def _pytorchjob(master: str, worker: str, **spec: Any) -> Any:
    """An experiment whose trial is a PyTorchJob running ``python -c`` code in each replica."""
    exp = experiment(master, maxTrialCount=1, parallelTrialCount=1, maxFailedTrialCount=1)
    template = exp.spec.trial_template
    assert template is not None and template.trial_spec is not None

    def replica(code: str) -> dict[str, Any]:
        container = {"name": "training-container", "command": [sys.executable, "-c", code]}
        return {"replicas": 1, "template": {"spec": {"containers": [container]}}}

    template.trial_spec = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "spec": {
            "pytorchReplicaSpecs": {"Master": replica(master), "Worker": replica(worker)},
            **spec,
        },
    }
    template.success_condition = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
    template.failure_condition = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    template.primary_pod_labels = {"training.kubeflow.org/job-role": "master"}
    return exp


# The master reports a loss, then waits (as a master blocked in a collective would) until its
# peer ends; the worker fails at once.
WAITING_MASTER = "import time\nprint('loss=0.5', flush=True)\nwhile True: time.sleep(1)"
FAILING_WORKER = "import sys\nprint('worker: giving up', flush=True)\nsys.exit(4)"


def test_a_failed_replica_stops_its_siblings_and_fails_the_trial(tmp_path: Path) -> None:
    exp = _pytorchjob(WAITING_MASTER, FAILING_WORKER)
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.condition("Failed").status == "True"
    [trial] = ctl.store.list_trials()
    failed = trial.status.condition("Failed")
    assert failed is not None and failed.status == "True"
    assert "replica worker-0 failed with exit code 4" in failed.message
    files = _files(tmp_path, trial)
    states = json.loads(files.replicas.read_text())
    assert states["worker-0"] == {"state": "failed", "exitCode": 4}
    assert states["master-0"]["state"] == "stopped"  # SIGTERMed by the gang, not left running
    log = files.log.read_text()
    assert "replica worker-0 failed: it exited with code 4; stopping master-0" in log


def test_run_policy_backoff_limit_restarts_the_whole_gang(tmp_path: Path) -> None:
    # The master fails in the first attempt only (its folder is new in each attempt).
    flaky = (
        "import os, sys\nattempt = os.environ['PYKATIB_TRIAL_DIR'].rsplit('-', 1)[1]\n"
        "print('loss=0.25')\nsys.exit(1 if attempt == '1' else 0)"
    )
    exp = _pytorchjob(flaky, "print('worker')", runPolicy={"backoffLimit": 1})
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    assert trial.status.condition("Succeeded").status == "True"
    folder = trial_dir(tmp_path / "home", trial.namespace, exp.name, trial.name)
    assert sorted(p.name for p in folder.iterdir()) == ["attempt-1", "attempt-2"]


def test_logs_of_a_replica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYKATIB_HOME", str(tmp_path / "home"))
    exp = _pytorchjob("print('loss=0.5')", "print('hello from the worker')")
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    runner = CliRunner()
    db = ["--db", f"sqlite:///{tmp_path / 'test.db'}"]
    result = runner.invoke(cli, [*db, "logs", trial.name, "--replica", "worker-0"])
    assert result.exit_code == 0, result.output
    assert "hello from the worker" in result.output
    result = runner.invoke(cli, [*db, "logs", trial.name])
    assert "loss=0.5" in result.output and "hello from the worker" not in result.output
    result = runner.invoke(cli, [*db, "logs", trial.name, "--replica", "worker-7"])
    assert result.exit_code == 1
    assert "has no replica worker-7 in attempt 1 (replicas: master-0, worker-0)" in result.output


def test_environment_of_each_kind() -> None:
    def spec(kind: str, field: str, **types: int) -> dict[str, Any]:
        pod = {"template": {"spec": {"containers": [{"name": "c", "command": ["x"]}]}}}
        return {
            "kind": kind,
            "spec": {field: {t: {"replicas": n, **pod} for t, n in types.items()}},
        }

    job = spec("PyTorchJob", "pytorchReplicaSpecs", Worker=2, Master=1)
    everyone = replicas.replicas(job)
    assert [r.name for r in everyone] == ["master-0", "worker-0", "worker-1"]
    env = replicas.environments(job, everyone)
    assert [env[r.name]["RANK"] for r in everyone] == ["0", "1", "2"]
    assert {e["WORLD_SIZE"] for e in env.values()} == {"3"}
    assert len({e["MASTER_PORT"] for e in env.values()}) == 1
    assert env["worker-1"]["PET_NODE_RANK"] == "2" and env["worker-1"]["PET_NNODES"] == "3"

    tf = spec("TFJob", "tfReplicaSpecs", Worker=2, PS=1, Evaluator=1)
    everyone = replicas.replicas(tf)
    assert [r.name for r in everyone if r.leader] == ["worker-0"]  # no chief: worker 0 leads
    env = replicas.environments(tf, everyone)
    config = json.loads(env["worker-1"]["TF_CONFIG"])
    assert config["task"] == {"type": "worker", "index": 1}
    assert sorted(config["cluster"]) == ["ps", "worker"]  # the evaluator is not in the cluster
    ports = [a.rsplit(":", 1)[1] for addrs in config["cluster"].values() for a in addrs]
    assert len(set(ports)) == 3

    xgb = spec("XGBoostJob", "xgbReplicaSpecs", Master=1, Worker=2)
    env = replicas.environments(xgb, replicas.replicas(xgb))
    assert env["worker-1"]["RANK"] == "2" and env["master-0"]["WORLD_SIZE"] == "3"


def test_a_job_that_cannot_run_here_is_rejected_when_applied(tmp_path: Path) -> None:
    exp = _pytorchjob("print('loss=1')", "print('x')")
    spec = exp.spec.trial_template.trial_spec["spec"]["pytorchReplicaSpecs"]
    del spec["Worker"]["template"]["spec"]["containers"][0]["command"]
    spec["Chief"] = spec["Master"]
    errors, _ = admit(exp)
    base = "spec.trialTemplate.trialSpec.spec.pytorchReplicaSpecs"
    assert errors == [
        (
            f"{base}.Worker.template.spec.containers[0].command: a local replica needs a command to "
            "run (an image's entrypoint can't run outside its container); write the entrypoint as "
            "the container's command"
        ),
        f"{base}.Chief: unknown replica type for PyTorchJob; known: Master, Worker",
    ]
    exp = _pytorchjob("print('loss=1')", "print('x')")
    exp.spec.trial_template.primary_pod_labels = {"training.kubeflow.org/replica-type": "ps"}
    errors, _ = admit(exp)
    assert len(errors) == 1 and errors[0].startswith(
        "spec.trialTemplate.primaryPodLabels: no replica of this PyTorchJob carries the labels"
    )


def test_mpijob_needs_mpirun_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = katib_example("kubeflow-training-operator/mpijob-horovod.yaml")
    [(exp, _)] = parse_experiments(yaml.safe_dump(data), "mpijob-horovod.yaml")
    monkeypatch.setenv("PATH", str(tmp_path))  # no mpirun on it
    errors, _ = admit(exp)
    assert errors == [
        (
            "spec.trialTemplate.trialSpec.spec.mpiReplicaSpecs.Launcher.template.spec.containers[0]"
            ".command: 'mpirun' is not installed here: an MPIJob's launcher runs mpirun, which "
            "starts the ranks on this machine; install an MPI (e.g. `apt-get install openmpi-bin`) "
            "or use a PyTorchJob"
        )
    ]


def test_pytorch_ddp_example_trains_on_two_replicas(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the DDP example needs torch: pip install torch==2.13.0")
    pytest.importorskip("sklearn", reason="the DDP example needs scikit-learn")
    path = Path(__file__).resolve().parents[2] / "examples" / "pytorchjob-ddp" / "experiment.yaml"
    data = yaml.safe_load(path.read_text())
    data["spec"]["maxTrialCount"] = data["spec"]["parallelTrialCount"] = 2
    for replica in data["spec"]["trialTemplate"]["trialSpec"]["spec"]["pytorchReplicaSpecs"]:
        spec = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["pytorchReplicaSpecs"][replica]
        container = spec["template"]["spec"]["containers"][0]
        container["command"][0] = sys.executable  # this environment's Python, which has torch
    [(exp, _)] = parse_experiments(yaml.safe_dump(data), str(path))
    ctl = controller(tmp_path)
    done = run(ctl, exp, path.parent)
    assert done.status.condition("Succeeded").status == "True", done.status.to_dict()
    for trial in ctl.store.list_trials():
        logs = _files(tmp_path, trial).replica_logs()
        master, worker = logs["master-0"].read_text(), logs["worker-0"].read_text()
        assert "training on 2 replicas (gloo, cpu)" in master
        accuracy = [
            p
            for p in ctl.store.list_observations(trial.namespace, trial.name)
            if p.metric_name == "Validation-accuracy"
        ]
        assert [p.step for p in accuracy] == [0, 1, 2, 3]  # 4 epochs, from the master alone
        assert "Validation-accuracy" not in worker  # only rank 0 reports


def test_a_parameter_server_is_stopped_once_the_chief_succeeds(tmp_path: Path) -> None:
    exp = _pytorchjob("print('loss=0.5')", "import time\nwhile True: time.sleep(1)")
    spec = exp.spec.trial_template.trial_spec
    master, worker = spec["spec"].pop("pytorchReplicaSpecs").values()
    master["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    spec.update(kind="TFJob", spec={"tfReplicaSpecs": {"Chief": master, "PS": worker}})
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    assert trial.status.condition("Succeeded").status == "True"
    files = _files(tmp_path, trial)
    states = json.loads(files.replicas.read_text())
    assert states["chief-0"] == {"state": "succeeded", "exitCode": 0}
    assert states["ps-0"]["state"] == "stopped"  # it never ends on its own
    assert "the job succeeded; stopping ps-0, still running after the grace period" in (
        files.log.read_text()
    )
