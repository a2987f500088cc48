"""The Kubernetes runner against a protocol-level FAKE of the Kubernetes API server
(:mod:`k8s_fake`, an HTTP server on 127.0.0.1 that the official client talks to through a
kubeconfig it writes; it runs a Job's or PyTorchJob's pods as local processes, whose output is
their log). Not a cluster: ``test_kubernetes_real.py`` runs the core flow on one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykatib_server
import pytest
import yaml
from click.testing import CliRunner
from helpers import experiment

pytest.importorskip(
    "kubernetes", reason='the Kubernetes runner needs `pip install "pykatib[kubernetes]"`'
)

from k8s_fake import FakeKubernetes

from pykatib.api.models import Experiment
from pykatib.api.validation import validate_experiment
from pykatib.cli.main import cli
from pykatib.control import status as st
from pykatib.control.controller import Controller
from pykatib.runtime import selection
from pykatib.runtime.kubernetes import (
    EXPERIMENT_LABEL,
    OWNER_ANNOTATION,
    TRIAL_LABEL,
    KubernetesJobRunner,
    load_api_client,
)
from pykatib.runtime.paths import attempt_files
from pykatib.store import Store

POLL = 0.05


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKubernetes]:
    f = FakeKubernetes(tmp_path)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(autouse=True)
def kubernetes_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Admission holds experiments to what the kubernetes runtime runs."""
    monkeypatch.setattr(selection, "_current", selection.Runtime("kubernetes"))


def k8s_controller(tmp_path: Path, fake: FakeKubernetes, **options: Any) -> Controller:
    os.environ["KUBECONFIG"] = str(fake.kubeconfig(tmp_path / "kubeconfig"))
    try:
        api_client = load_api_client()
    finally:
        del os.environ["KUBECONFIG"]
    return Controller(
        Store(f"sqlite:///{tmp_path / 'test.db'}"),
        home=tmp_path / "home",
        runner_factory=lambda wake: KubernetesJobRunner(
            wake, api_client, poll_seconds=POLL, **options
        ),
    )


def run(ctl: Controller, exp: Experiment, tmp_path: Path) -> Experiment:
    ctl.apply(exp, tmp_path)
    try:
        [done] = ctl.run([(exp.namespace, exp.name)])
    finally:
        ctl.runner.shutdown()
    return done


LOSS_CODE = (
    "import os, sys\n"
    "lr = float(sys.argv[1].split('=')[1])\n"
    "print('trial', os.environ['KATIB_TRIAL_NAME'], flush=True)\n"
    "for step in range(3):\n"
    "    print(f'loss={lr * (3 - step)}', flush=True)\n"
)


def test_job_trials_run_in_the_cluster_with_stdout_metrics_from_the_pod_log(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    exp = experiment(LOSS_CODE, maxTrialCount=3, parallelTrialCount=2)
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded")
    trials = ctl.store.list_trials()
    assert len(trials) == 3
    assert all(st.trial_phase(t) == st.SUCCEEDED for t in trials)
    for t in trials:  # each line of the pod's log, read through the API, is an observation
        lr = float(t.spec.parameter_assignments[0].value)
        values = [float(o.value) for o in ctl.store.list_observations("default", t.name)]
        assert values == pytest.approx([lr * 3, lr * 2, lr * 1])
    created = {o["metadata"]["name"]: o for o in fake.created}
    assert set(created) == {t.name for t in trials}
    for name, body in created.items():
        meta = body["metadata"]
        assert meta["labels"][TRIAL_LABEL] == name
        assert meta["labels"][EXPERIMENT_LABEL] == "exp"
        assert meta["annotations"][OWNER_ANNOTATION] == f"Trial default/{name}"
        template = body["spec"]["template"]
        assert template["metadata"]["labels"][TRIAL_LABEL] == name
        env = {e["name"]: e["value"] for e in template["spec"]["containers"][0]["env"]}
        assert env["KATIB_TRIAL_NAME"] == name
    # Finished and stored: deleted, as Katib deletes a trial's job unless retain is set.
    assert sorted(d[2] for d in fake.deleted) == sorted(created)
    assert {d[3] for d in fake.deleted} == {"Background"}
    record_dirs = [t for t in trials if "kubernetes" in str(t.metadata.annotations)]
    assert len(record_dirs) == 3  # the runtime is recorded with each trial


def test_retain_keeps_the_finished_job(tmp_path: Path, fake: FakeKubernetes) -> None:
    exp = experiment(LOSS_CODE, maxTrialCount=1, parallelTrialCount=1)
    assert exp.spec.trial_template is not None
    exp.spec.trial_template.retain = True
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded")
    assert fake.deleted == []
    [job] = fake.objects_of("jobs")
    assert any(c["type"] == "Complete" for c in job["status"]["conditions"])


def test_deleting_the_experiment_deletes_its_retained_jobs(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    """retain keeps a finished trial's job; deleting the experiment deletes it all the same, by
    the cluster's garbage collector (Katib: Experiment -> Trial -> job ownerReferences)."""
    exp = experiment(LOSS_CODE, maxTrialCount=2, parallelTrialCount=2)
    assert exp.spec.trial_template is not None
    exp.spec.trial_template.retain = True
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)
    assert done.status.has("Succeeded")
    assert len(fake.objects_of("jobs")) == 2 and fake.deleted == []
    [owner] = fake.objects_of("configmaps")
    for job in fake.objects_of("jobs"):
        [reference] = job["metadata"]["ownerReferences"]
        assert reference["uid"] == owner["metadata"]["uid"]
        assert reference["kind"] == "ConfigMap"

    trials = sorted(t.name for t in ctl.store.list_trials())
    ctl.delete("default", "exp")
    assert fake.objects_of("jobs") == [] and fake.objects_of("configmaps") == []
    name = owner["metadata"]["name"]
    assert ("configmaps", "default", name, "Background") in fake.deleted
    assert sorted(d[2] for d in fake.deleted if d[3] == "GarbageCollector") == trials


def test_pykatib_delete_with_the_kubernetes_runtime_deletes_the_retained_jobs(
    tmp_path: Path, fake: FakeKubernetes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pykatib delete experiment` without a server: the jobs go with ``--runtime kubernetes``
    (or PYKATIB_RUNTIME=kubernetes), and stay without (the local runtime knows no cluster)."""
    exp = experiment(LOSS_CODE, maxTrialCount=1, parallelTrialCount=1)
    assert exp.spec.trial_template is not None
    exp.spec.trial_template.retain = True
    for name in ("kept", "gone"):
        exp.metadata.name = name
        assert run(k8s_controller(tmp_path, fake), exp, tmp_path).status.has("Succeeded")
    assert len(fake.objects_of("jobs")) == 2
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.setenv("PYKATIB_HOME", str(tmp_path / "home"))
    db = f"sqlite:///{tmp_path / 'test.db'}"
    monkeypatch.setattr(selection, "_current", selection.Runtime("local"))
    result = CliRunner().invoke(cli, ["--db", db, "delete", "experiment", "kept"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli, ["--db", db, "delete", "experiment", "gone", "--runtime", "kubernetes"]
    )
    assert result.exit_code == 0, result.output
    [job] = fake.objects_of("jobs")
    assert job["metadata"]["labels"][EXPERIMENT_LABEL] == "kept"
    assert [d[2] for d in fake.deleted if d[3] == "GarbageCollector"] != []


def test_a_server_deleting_a_finished_experiment_deletes_its_retained_jobs(
    tmp_path: Path, fake: FakeKubernetes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the server's API: the experiment has completed (no control plane holds it)."""
    monkeypatch.setenv("PYKATIB_KUBECONFIG", str(fake.kubeconfig(tmp_path / "cluster")))
    body = experiment(LOSS_CODE, maxTrialCount=1, parallelTrialCount=1).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    body["spec"]["trialTemplate"]["retain"] = True
    server = pykatib_server.start_server(
        tmp_path, f"sqlite:///{tmp_path / 'server.db'}", extra_args=("--runtime", "kubernetes")
    )
    path = f"{pykatib_server.BASE}/namespaces/default/experiments/exp"
    try:
        with server.client() as c:
            answer = c.post(f"{pykatib_server.BASE}/namespaces/default/experiments", json=body)
            assert answer.status_code == 201, answer.text
            assert fake.wait_for(lambda: _finished(c.get(path).json()), timeout=120) == "Succeeded"
            [job] = fake.objects_of("jobs")  # retained
            assert c.delete(path).status_code == 200
            fake.wait_for(lambda: not fake.objects_of("jobs"), timeout=60)
    finally:
        server.stop()
    assert (*("jobs", "default"), job["metadata"]["name"], "GarbageCollector") in fake.deleted


def test_a_failing_job_fails_the_trial_after_its_backoff_limit(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    code = "import sys\nprint('loss=1.0', flush=True)\nsys.exit(3)\n"
    exp = experiment(
        code,
        maxTrialCount=1,
        parallelTrialCount=1,
        maxFailedTrialCount=0,
        job_spec={"backoffLimit": 1},
    )
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Failed")
    [trial] = ctl.store.list_trials()
    assert st.trial_phase(trial) == st.FAILED
    failed = trial.status.condition("Failed")
    assert failed is not None and "BackoffLimitExceeded" in (failed.reason or "")
    assert len(fake.created) == 1
    # The Job controller (played by the fake) ran two pods: the first and one retry.
    assert len(fake.started_pods) == 2


def test_a_pytorchjob_takes_its_metrics_from_the_master_pod(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    def replica(loss: str) -> dict[str, Any]:
        code = f"print('loss={loss}', flush=True)\n"
        return {
            "replicas": 1,
            "restartPolicy": "OnFailure",
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "pytorch",
                            "image": "python:3",
                            "command": [sys.executable, "-c", code],
                            "args": ["--lr=${trialParameters.lr}"],
                        }
                    ]
                }
            },
        }

    exp = experiment("", maxTrialCount=1, parallelTrialCount=1)
    template = exp.spec.trial_template
    assert template is not None
    template.primary_container_name = "pytorch"
    template.success_condition = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
    template.failure_condition = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    template.primary_pod_labels = {"training.kubeflow.org/job-role": "master"}
    template.trial_spec = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "spec": {"pytorchReplicaSpecs": {"Master": replica("0.25"), "Worker": replica("99")}},
    }
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded"), done.status
    [trial] = ctl.store.list_trials()
    assert st.trial_phase(trial) == st.SUCCEEDED
    assert [o.value for o in ctl.store.list_observations("default", trial.name)] == ["0.25"]
    [body] = fake.created
    for spec in body["spec"]["pytorchReplicaSpecs"].values():  # every replica's pods labelled
        assert spec["template"]["metadata"]["labels"][TRIAL_LABEL] == trial.name


def _workflow_operator(phase: str) -> Any:
    """A stand-in for Argo's controller: the workflow's one pod logs a loss, then the workflow
    takes ``phase``."""

    def operate(fake: FakeKubernetes, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        lr = obj["spec"]["arguments"]["parameters"][0]["value"]
        fake.add_pod(
            meta["namespace"],
            f"{meta['name']}-step",
            {
                "workflows.argoproj.io/workflow": meta["name"],
                "katib.kubeflow.org/model-training": "true",
            },
            f"starting\nloss={float(lr) * 10}\n",
            owner=("workflows", meta["namespace"], meta["name"]),
        )
        fake.set_status("workflows", meta["namespace"], meta["name"], {"phase": phase})

    return operate


def _workflow_experiment(**spec: Any) -> Experiment:
    exp = experiment("", maxTrialCount=2, parallelTrialCount=2, **spec)
    template = exp.spec.trial_template
    assert template is not None
    template.primary_container_name = "main"
    template.primary_pod_labels = {"katib.kubeflow.org/model-training": "true"}
    template.success_condition = 'status.[@this].#(phase=="Succeeded")#'
    template.failure_condition = 'status.[@this].#(phase=="Failed")#'
    template.trial_spec = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "spec": {
            "entrypoint": "train",
            "arguments": {"parameters": [{"name": "lr", "value": "${trialParameters.lr}"}]},
            "templates": [{"name": "train", "container": {"image": "python:3"}}],
        },
    }
    return exp


def test_a_custom_resource_is_judged_by_its_this_conditions(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    fake.on_create = _workflow_operator("Succeeded")
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, _workflow_experiment(), tmp_path)

    assert done.status.has("Succeeded"), done.status
    trials = ctl.store.list_trials()
    assert len(trials) == 2 and all(st.trial_phase(t) == st.SUCCEEDED for t in trials)
    for t in trials:
        lr = float(t.spec.parameter_assignments[0].value)
        [obs] = ctl.store.list_observations("default", t.name)
        assert float(obs.value) == pytest.approx(lr * 10)
    assert sorted(d[0] for d in fake.deleted) == ["workflows", "workflows"]


def test_a_custom_resource_that_meets_its_failure_condition_fails(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    fake.on_create = _workflow_operator("Failed")
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, _workflow_experiment(maxFailedTrialCount=0), tmp_path)

    assert done.status.has("Failed")
    assert any(st.trial_phase(t) == st.FAILED for t in ctl.store.list_trials())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_early_stopping_deletes_the_stopped_trials_job(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    # A large lr prints a bad loss for 100 steps unless stopped (medianstop's rule is made when
    # a trial is created, from the trials completed by then: the first one runs to its end).
    code = (
        "import sys, time\n"
        "lr = float(sys.argv[1].split('=')[1])\n"
        "steps = 5 if lr < 0.03 else 100\n"
        "for step in range(steps):\n"
        "    print(f'loss={abs(lr - 0.02) * 100 + 1 / (step + 1)}', flush=True)\n"
        "    time.sleep(0.02)\n"
        "print('finished', flush=True)\n"
    )
    exp = experiment(
        code,
        algorithm="grid",
        parameters=[
            {
                "name": "lr",
                "parameterType": "discrete",
                "feasibleSpace": {"list": ["0.05", "0.02", "0.06"]},
            }
        ],
        maxTrialCount=3,
        parallelTrialCount=1,
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [
                {"name": "min_trials_required", "value": "1"},
                {"name": "start_step", "value": "3"},
            ],
        },
    )
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded"), done.status
    trials = ctl.store.list_trials()
    stopped = [t.name for t in trials if st.trial_phase(t) == st.EARLY_STOPPED]
    assert stopped, {t.name: st.trial_phase(t) for t in trials}
    for name in stopped:  # its job deleted, its pod's process killed before it finished
        assert ("jobs", "default", name, "Background") in fake.deleted
        log = attempt_files(tmp_path / "home", "default", "exp", name).log
        assert "finished" not in log.read_text()


def test_deleting_the_experiment_deletes_its_running_jobs(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    code = "import time\nprint('loss=1', flush=True)\ntime.sleep(600)\n"
    exp = experiment(code, maxTrialCount=2, parallelTrialCount=2)
    ctl = k8s_controller(tmp_path, fake)
    ctl.apply(exp, tmp_path)
    ctl.reconcile(("default", "exp"))
    fake.wait_for(lambda: sum(p.phase == "Running" for p in fake.pods.values()) == 2)
    procs = [p.proc for p in fake.pods.values()]
    ctl.delete("default", "exp")
    ctl.runner.shutdown()

    # By the runner stopping the trials, or by the garbage collector (the experiment's
    # ConfigMap deleted), whichever comes first.
    jobs = [d for d in fake.deleted if d[0] == "jobs"]
    assert len(jobs) == 2 and {d[3] for d in jobs} <= {"Background", "GarbageCollector"}
    assert fake.objects_of("jobs") == [] and fake.objects_of("configmaps") == []
    for proc in procs:
        assert proc is not None and proc.wait(timeout=30) == -signal.SIGKILL


def _waiting_experiment(tmp_path: Path) -> Experiment:
    """One trial that reports loss=0.5, waits for the file ``go``, then reports loss=0.25."""
    flag = tmp_path / "go"
    code = (
        "import pathlib, sys, time\n"
        "print('loss=0.5', flush=True)\n"
        f"while not pathlib.Path({str(flag)!r}).exists():\n"
        "    time.sleep(0.02)\n"
        "print('loss=0.25', flush=True)\n"
    )
    return experiment(code, maxTrialCount=1, parallelTrialCount=1)


def _pykatib_run(
    tmp_path: Path, fake: FakeKubernetes, exp: Experiment | None = None
) -> tuple[list[str], dict[str, str], str]:
    """``pykatib run --runtime kubernetes`` of ``exp`` (:func:`_waiting_experiment`): argv, env,
    db."""
    exp = exp if exp is not None else _waiting_experiment(tmp_path)
    spec = exp.model_dump(by_alias=True, exclude_none=True, mode="json")
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(spec))
    env = {
        **os.environ,
        "KUBECONFIG": str(fake.kubeconfig(tmp_path / "kubeconfig")),
        "PYKATIB_HOME": str(tmp_path / "home"),
    }
    db = f"sqlite:///{tmp_path / 'test.db'}"
    argv = [
        *(sys.executable, "-m", "pykatib.cli.main", "--db", db, "run", "-q"),
        *("-f", str(tmp_path / "exp.yaml"), "--runtime", "kubernetes"),
    ]
    return argv, env, db


def _first_observed(store: Store, proc: subprocess.Popen[bytes], fake: FakeKubernetes) -> None:
    """Wait until the trial's first observation is stored (by ``proc``, still running)."""

    def observed_running() -> bool:
        trials = store.list_trials() if store_ready(store) else []
        return bool(trials) and bool(store.list_observations("default", trials[0].name))

    fake.wait_for(lambda: proc.poll() is not None or observed_running(), timeout=120)
    assert proc.poll() is None, "the control plane ended early"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_restarted_control_plane_adopts_the_running_job(
    tmp_path: Path, fake: FakeKubernetes, sig: int
) -> None:
    """pykatib run --runtime kubernetes, killed or stopped (SIGTERM: a container's stop)
    mid-trial: the job runs on; a new process finds it by its label and watches it to its end
    (its log read on from where the first one stopped)."""
    argv, env, db = _pykatib_run(tmp_path, fake)
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    store = Store(db)
    try:
        _first_observed(store, first, fake)
    finally:
        first.send_signal(sig)
        out, _ = first.communicate(timeout=120)
    if sig == signal.SIGTERM:
        assert first.returncode == 130, out.decode()
        assert "jobs go on running in the cluster" in out.decode()
    assert fake.deleted == []
    [pod] = fake.pods.values()
    assert pod.proc is not None and pod.proc.poll() is None  # still running
    [trial] = store.list_trials()
    assert st.trial_phase(trial) == st.RUNNING
    second = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    (tmp_path / "go").touch()
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out.decode()

    [trial] = store.list_trials()
    assert st.trial_phase(trial) == st.SUCCEEDED
    assert len(fake.created) == 1  # adopted, not created again
    values = [o.value for o in store.list_observations("default", trial.name)]
    assert values == ["0.5", "0.25"]  # each line once


def test_a_file_trial_adopted_after_a_kill_keeps_each_line_of_its_log_once(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    """With a collector in the pod, two logs are read on after a re-adoption: the collector's
    reports and the main container's output (the trial's log)."""
    flag, metrics = tmp_path / "go", tmp_path / "metrics" / "out.log"
    code = (
        "import pathlib, time\n"
        f"path, flag = pathlib.Path({str(metrics)!r}), pathlib.Path({str(flag)!r})\n"
        "path.parent.mkdir(parents=True, exist_ok=True)\n"
        "print('step 0', flush=True)\n"
        "with open(path, 'a') as f:\n"
        "    f.write('loss=0.5\\n')\n"
        "while not flag.exists():\n"
        "    time.sleep(0.02)\n"
        "print('step 1', flush=True)\n"
        "with open(path, 'a') as f:\n"
        "    f.write('loss=0.25\\n')\n"
    )
    exp = experiment(
        code,
        maxTrialCount=1,
        parallelTrialCount=1,
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": str(metrics), "kind": "File"}},
        },
    )
    argv, env, db = _pykatib_run(tmp_path, fake, exp)
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = Store(db)
    try:
        _first_observed(store, first, fake)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    flag.touch()
    second = subprocess.run(argv, env=env, capture_output=True, timeout=180, check=False)
    assert second.returncode == 0, second.stdout.decode() + second.stderr.decode()

    [trial] = store.list_trials()
    assert len(fake.created) == 1  # adopted
    assert [o.value for o in store.list_observations("default", trial.name)] == ["0.5", "0.25"]
    log = attempt_files(tmp_path / "home", "default", "exp", trial.name).log.read_text()
    assert [line for line in log.splitlines() if line.startswith("step")] == ["step 0", "step 1"]


def test_ctrl_c_of_pykatib_run_stops_the_trials_job_as_locally(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    """Ctrl-C is the user stopping the run: as with local trials, the trial stops (its job is
    deleted) and is Pending again, to start afresh when the file is run again."""
    argv, env, db = _pykatib_run(tmp_path, fake)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    store = Store(db)
    try:
        _first_observed(store, proc, fake)
        [pod] = fake.pods.values()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out.decode()
    assert "running trials were stopped" in out.decode()
    [trial] = store.list_trials()
    assert fake.deleted == [("jobs", "default", trial.name, "Background")]
    assert pod.proc is not None and pod.proc.wait(timeout=30) == -signal.SIGKILL
    assert st.trial_phase(trial) == st.PENDING


def test_a_stopped_server_leaves_the_jobs_running_for_the_next_one(
    tmp_path: Path, fake: FakeKubernetes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM to ``pykatib server --runtime kubernetes`` (a Deployment's rollout): its trials'
    jobs run on, as Katib's do while its controller restarts; the next server adopts them."""
    monkeypatch.setenv("PYKATIB_KUBECONFIG", str(fake.kubeconfig(tmp_path / "cluster")))
    exp = _waiting_experiment(tmp_path)
    body = exp.model_dump(by_alias=True, exclude_none=True, mode="json")
    db = f"sqlite:///{tmp_path / 'server.db'}"
    path = f"{pykatib_server.BASE}/namespaces/default/experiments/exp"
    first = pykatib_server.start_server(tmp_path, db, extra_args=("--runtime", "kubernetes"))
    store = Store(db)
    try:
        with first.client() as c:
            answer = c.post(f"{pykatib_server.BASE}/namespaces/default/experiments", json=body)
            assert answer.status_code == 201, answer.text
        _first_observed(store, first.proc, fake)
    finally:
        assert first.stop() in (0, -signal.SIGTERM)
    assert fake.deleted == []
    [pod] = fake.pods.values()
    assert pod.proc is not None and pod.proc.poll() is None  # still running
    [trial] = store.list_trials()
    assert st.trial_phase(trial) == st.RUNNING

    second = pykatib_server.start_server(tmp_path, db, extra_args=("--runtime", "kubernetes"))
    try:
        (tmp_path / "go").touch()
        with second.client() as c:
            done = fake.wait_for(lambda: _finished(c.get(path).json()), timeout=120)
    finally:
        second.stop()
    assert done == "Succeeded"
    assert len(fake.created) == 1  # adopted, not created again
    values = [o.value for o in store.list_observations("default", trial.name)]
    assert values == ["0.5", "0.25"]


def store_ready(store: Store) -> bool:
    try:
        store.list_trials()
    except Exception:  # the first process has not made its tables yet
        return False
    return True


PUSH_CODE = (
    "import os, sys\n"
    "import pykatib\n"
    "assert 'PYKATIB_METRICS_FILE' not in os.environ  # in a pod: no file, only the server\n"
    "lr = float(sys.argv[1].split('=')[1])\n"
    "for epoch in range(3):\n"
    "    pykatib.report_metrics({'loss': lr * (3 - epoch)})\n"
    "print('reported', flush=True)\n"
)


def test_push_reports_reach_the_server_over_http_from_the_pods(
    tmp_path: Path, fake: FakeKubernetes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``pykatib server --runtime kubernetes``: the pods get its report address in their
    environment and ``report_metrics`` posts there (no sidecar, no report file)."""
    port = pykatib_server.free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setattr(pykatib_server, "free_port", lambda: port)
    monkeypatch.setenv("PYKATIB_KUBECONFIG", str(fake.kubeconfig(tmp_path / "cluster")))
    monkeypatch.setenv("PYKATIB_REPORT_URL", url)
    exp = experiment(PUSH_CODE, maxTrialCount=2, parallelTrialCount=2)
    body = exp.model_dump(by_alias=True, exclude_none=True, mode="json")
    body["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "Push"}}
    server = pykatib_server.start_server(
        tmp_path, f"sqlite:///{tmp_path / 'server.db'}", extra_args=("--runtime", "kubernetes")
    )
    try:
        with server.client() as c:
            answer = c.post(f"{pykatib_server.BASE}/namespaces/default/experiments", json=body)
            assert answer.status_code == 201, answer.text
            path = f"{pykatib_server.BASE}/namespaces/default/experiments/exp"
            done = fake.wait_for(lambda: _finished(c.get(path).json()), timeout=120)
            assert done == "Succeeded"
            trials = c.get(f"{pykatib_server.BASE}/namespaces/default/trials").json()["items"]
            assert len(trials) == 2
            for t in trials:
                name = t["metadata"]["name"]
                lr = float(t["spec"]["parameterAssignments"][0]["value"])
                trial_path = f"{pykatib_server.BASE}/namespaces/default/trials/{name}"
                logs = c.get(f"{trial_path}/observationlog")
                values = [float(m["metric"]["value"]) for m in logs.json()["metricLogs"]]
                assert values == pytest.approx([lr * 3, lr * 2, lr])
    finally:
        server.stop()
    for created in fake.created:
        [container] = created["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["PYKATIB_SERVER"] == url
        assert env["KATIB_TRIAL_NAME"] == created["metadata"]["name"]


def _finished(experiment: dict[str, Any]) -> str | None:
    for c in (experiment.get("status") or {}).get("conditions") or []:
        if c["type"] in ("Succeeded", "Failed") and c["status"] == "True":
            return str(c["type"])
    return None


def test_a_file_collector_runs_as_pykatib_collect_beside_the_trial(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    """File metrics are read in the pod by ``pykatib collect`` (a native sidecar the fake runs
    as a process), whose output the runner reads through the API."""
    metrics = tmp_path / "metrics" / "out.log"
    code = (
        "import pathlib, sys\n"
        "lr = float(sys.argv[1].split('=')[1])\n"
        "print('loss=999', flush=True)  # stdout is not where this experiment's metrics are\n"
        f"path = pathlib.Path({str(metrics)!r})\n"
        "path.parent.mkdir(parents=True, exist_ok=True)\n"
        "path.write_text(''.join(f'loss={lr * (3 - s)}\\n' for s in range(3)))\n"
    )
    exp = experiment(
        code,
        maxTrialCount=1,
        parallelTrialCount=1,
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": str(metrics), "kind": "File"}},
        },
    )
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded"), done.status
    [trial] = ctl.store.list_trials()
    lr = float(trial.spec.parameter_assignments[0].value)
    values = [float(o.value) for o in ctl.store.list_observations("default", trial.name)]
    assert values == pytest.approx([lr * 3, lr * 2, lr])
    [body] = fake.created
    pod = body["spec"]["template"]["spec"]
    [sidecar] = pod["initContainers"]
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["command"][:2] == ["pykatib", "collect"]
    assert {"name": "pykatib-metrics", "emptyDir": {}} in pod["volumes"]
    [main] = pod["containers"]
    assert {"name": "pykatib-metrics", "mountPath": str(metrics.parent)} in main["volumeMounts"]
    # The main container's output is the trial's log (`pykatib logs`), beside the collector's.
    result = CliRunner(env={"PYKATIB_HOME": str(tmp_path / "home")}).invoke(
        cli, ["--db", f"sqlite:///{tmp_path / 'test.db'}", "logs", trial.name]
    )
    assert result.exit_code == 0, result.output
    assert "loss=999" in result.output


TFEVENT_CODE = """
import pathlib, sys
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
lr = float(sys.argv[1].split('=')[1])
writer = EventFileWriter(str(pathlib.Path(EVENTS) / "train"))
for step in range(3):
    print(f"training step {step}", flush=True)
    value = summary_pb2.Summary.Value(tag="loss", simple_value=lr * (3 - step))
    event = event_pb2.Event(step=step, wall_time=1700000000 + step, summary=summary_pb2.Summary(value=[value]))
    writer.add_event(event)
writer.close()
"""


def test_a_tensorflow_event_collector_runs_as_pykatib_collect_beside_the_trial(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    pytest.importorskip("tensorboard", reason="the tfevent extra (tensorboard) is not installed")
    events = tmp_path / "tb"
    exp = experiment(
        f"EVENTS = {str(events)!r}\n" + TFEVENT_CODE,
        maxTrialCount=1,
        parallelTrialCount=1,
        metricsCollectorSpec={
            "collector": {"kind": "TensorFlowEvent"},
            "source": {"fileSystemPath": {"path": str(events), "kind": "Directory"}},
        },
    )
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded"), done.status
    [trial] = ctl.store.list_trials()
    lr = float(trial.spec.parameter_assignments[0].value)
    values = [float(o.value) for o in ctl.store.list_observations("default", trial.name)]
    assert values == pytest.approx([lr * 3, lr * 2, lr])
    [body] = fake.created
    [sidecar] = body["spec"]["template"]["spec"]["initContainers"]
    assert sidecar["volumeMounts"] == [{"name": "pykatib-metrics", "mountPath": str(events)}]
    log = attempt_files(tmp_path / "home", "default", "exp", trial.name).log.read_text()
    assert [line for line in log.splitlines() if line.startswith("training step")] == [
        "training step 0",
        "training step 1",
        "training step 2",
    ]


def test_the_kubernetes_runtime_refuses_without_a_cluster(tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.pop("PYKATIB_KUBECONFIG", None)
    (tmp_path / "exp.yaml").write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(tmp_path / "exp.yaml")]
        + ["--runtime", "kubernetes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--runtime kubernetes needs a cluster" in proc.stderr
    assert str(tmp_path / "none") in proc.stderr


def test_admission_refuses_a_core_kind_and_a_custom_collector() -> None:
    exp = experiment("", maxTrialCount=1)
    template = exp.spec.trial_template
    assert template is not None
    template.trial_spec = {"apiVersion": "v1", "kind": "Pod", "spec": {}}
    problems = KubernetesJobRunner.check(template.trial_spec, None)
    assert problems and "apiVersion: v1 is the core group" in problems[0]
    [refusal] = KubernetesJobRunner.check_collector({"image": "my/collector"})
    assert "Custom collector" in refusal


def test_validation_takes_any_kind_with_the_kubernetes_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exp = _workflow_experiment()
    errors, _ = validate_experiment(exp)
    assert errors == []
    monkeypatch.setattr(selection, "_current", selection.Runtime("local"))
    errors, _ = validate_experiment(exp)
    assert any('trial kind "Workflow" is not supported' in e for e in errors), errors


def _placed(labels: dict[str, str] | None, deleting: bool) -> Any:
    """A ``before_create`` hook: an object already in the cluster under the first created
    object's name (``labels`` None: the trial's own labels)."""

    def place(fake: FakeKubernetes, body: dict[str, Any]) -> None:
        fake.before_create = None
        name = body["metadata"]["name"]
        meta: dict[str, Any] = {
            "name": name,
            "namespace": "default",
            "labels": body["metadata"]["labels"] if labels is None else labels,
            "uid": "u0",
        }
        if deleting:
            meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        with fake.lock:
            fake.objects[("jobs", "default", name)] = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": meta,
                "spec": {},
            }

    return place


def test_a_job_of_the_trial_still_being_deleted_is_waited_for_then_replaced(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    # As if the trial's run before were being deleted (Background, with finalizers) just now.
    fake.before_create = _placed(None, deleting=True)
    exp = experiment(LOSS_CODE, maxTrialCount=1, parallelTrialCount=1)
    ctl = k8s_controller(tmp_path, fake)
    ctl.apply(exp, tmp_path)
    ctl.reconcile(("default", "exp"))
    [trial] = ctl.store.list_trials()
    fake.wait_for(lambda: ("get", "batch/jobs") in fake.requests)  # it saw the one there
    with fake.lock:  # whose deletion ends
        del fake.objects[("jobs", "default", trial.name)]
        fake.changed.notify_all()
    try:
        [done] = ctl.run([("default", "exp")])
    finally:
        ctl.runner.shutdown()
    assert done.status.has("Succeeded"), done.status
    assert fake.requests.count(("create", "batch/jobs")) >= 2
    assert [o["metadata"]["name"] for o in fake.created] == [trial.name]


def test_an_object_of_another_owner_under_the_trials_name_is_left_alone(
    tmp_path: Path, fake: FakeKubernetes
) -> None:
    fake.before_create = _placed({"app": "someone-else"}, deleting=False)
    exp = experiment(LOSS_CODE, maxTrialCount=1, parallelTrialCount=1, maxFailedTrialCount=0)
    ctl = k8s_controller(tmp_path, fake)
    ctl.apply(exp, tmp_path)
    try:
        [done] = ctl.run([("default", "exp")])
    finally:
        ctl.runner.shutdown()
    assert done.status.has("Failed")
    [trial] = ctl.store.list_trials()
    failed = trial.status.condition("Failed")
    assert failed is not None and "is not this trial's" in (failed.message or "")
    assert ("jobs", "default", trial.name) in fake.objects  # not deleted
    assert fake.deleted == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--spec", "{not json", "--metric-names", "loss"], "not a metricsCollectorSpec"),
        (["--spec", '{"collector": {"kind": "StdOut"}}', "--metric-names", "loss"], "StdOut:"),
        (["--spec", '{"collector": {"kind": "File"}}', "--metric-names", ","], "metric name"),
    ],
)
def test_pykatib_collect_refuses_what_it_cannot_read(args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, ["collect", *args])
    assert result.exit_code == 2
    assert says in result.output


@pytest.mark.parametrize(
    ("api_version", "refusal", "says"),
    [
        (
            "argoproj.io/v1alpha1",
            (422, "Invalid", 'Workflow.argoproj.io "x" is invalid: spec.entrypoint: Required'),
            'the API server answered 422: Workflow.argoproj.io "x" is invalid',
        ),
        (
            "argoproj.io/v1alpha1",
            (403, "Forbidden", "workflows.argoproj.io is forbidden: User cannot create"),
            "the API server answered 403: workflows.argoproj.io is forbidden",
        ),
        (
            "example.com/v1",
            None,
            "does not serve example.com/v1 (is its operator or CRD installed?)",
        ),
    ],
    ids=["invalid", "forbidden", "no-crd"],
)
def test_a_custom_kind_the_cluster_refuses_fails_the_trial_with_its_answer(
    tmp_path: Path,
    fake: FakeKubernetes,
    api_version: str,
    refusal: tuple[int, str, str] | None,
    says: str,
) -> None:
    """Not ConditionsUnmet: the runner's failure is the trial's reason, whatever the kind's
    conditions (these would never match a status pykatib made up)."""
    fake.refuse_create = refusal
    exp = _workflow_experiment(maxFailedTrialCount=0)
    template = exp.spec.trial_template
    assert template is not None and template.trial_spec
    template.trial_spec["apiVersion"] = api_version
    template.success_condition = 'status.state=="Done"'
    template.failure_condition = 'status.state=="Error"'
    ctl = k8s_controller(tmp_path, fake)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Failed")
    # Two trials run at once, each created by its own thread: either may be the one whose
    # refusal failed the experiment first (the other may be stopped before it is refused).
    conditions = [t.status.condition("Failed") for t in ctl.store.list_trials()]
    failures = [c for c in conditions if c is not None]
    assert failures, conditions
    for failed in failures:
        assert failed.reason == "TrialFailed. Job reason: CreateFailed", failed
        assert says in (failed.message or "")
    assert fake.created == []
    events = [e for e in ctl.store.list_events("default") if e.reason == "CreateFailed"]
    assert events and says in (events[0].message or "")
