"""The Dask runner against a real cluster on loopback: a ``dask scheduler`` and two ``dask
worker`` processes (no nanny: killing a worker's process kills the worker), started here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from click.testing import CliRunner
from helpers import experiment

pytest.importorskip("distributed", reason="the Dask runner needs `pip install pykatib[dask]`")

from distributed import Client

from pykatib.api.models import Experiment, MetricsCollectorSpec
from pykatib.cli.main import cli
from pykatib.control import status as st
from pykatib.control.controller import Controller
from pykatib.runtime import selection
from pykatib.runtime.base import Drained, RunRequest, RunStatus
from pykatib.runtime.dask import DaskJobRunner
from pykatib.runtime.dask_worker import task_state
from pykatib.runtime.paths import attempt_files
from pykatib.runtime.shim import process_start
from pykatib.store import Store

READY_SECONDS = 60.0
T = TypeVar("T")
WORKER_ENV = "PYKATIB_TEST_WORKER"  # set on each worker only: the trial prints it


class Cluster:
    """A scheduler and named workers, each a process of its own on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self._count = 0
        self.scheduler = self._spawn(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"
        )
        deadline = time.monotonic() + READY_SECONDS
        while not self.scheduler_file.exists():  # the scheduler writes it once it listens
            assert self.scheduler.poll() is None, "the Dask scheduler exited"
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.1)
        self.client = Client(scheduler_file=str(self.scheduler_file), set_as_default=False)
        self.address = str(self.client.scheduler.address)

    def _spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{args[0]}-{len(self.workers)}.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]]
            + ["--scheduler-file", str(self.scheduler_file)],
            stdout=log,
            stderr=log,
            env={**os.environ, **(env or {})},
        )

    def worker(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """One more worker, on its own (not one of :attr:`workers`)."""
        return self._spawn(
            "worker",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
            "--no-nanny",
            "--name",
            name,
            *args,
            env={WORKER_ENV: name},
        )

    def ensure_workers(self, count: int) -> None:
        """Start workers until ``count`` are alive, and wait until the scheduler has them."""
        for name, proc in list(self.workers.items()):
            if proc.poll() is not None:
                del self.workers[name]
        while len(self.workers) < count:
            self._count += 1
            name = f"w{self._count}"
            self.workers[name] = self._spawn(
                "worker",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--no-nanny",
                "--nthreads",
                "2",
                "--name",
                name,
                env={WORKER_ENV: name},
            )
        self.client.wait_for_workers(count, timeout=READY_SECONDS)

    def close(self) -> None:
        self.client.close()
        for proc in [*self.workers.values(), self.scheduler]:
            proc.kill()  # nothing of theirs is worth a graceful shutdown
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def two_workers(cluster: Cluster) -> Cluster:
    cluster.ensure_workers(2)
    return cluster


def dask_controller(tmp_path: Path, cluster: Cluster) -> Controller:
    return Controller(
        Store(f"sqlite:///{tmp_path / 'test.db'}"),
        home=tmp_path / "home",
        runner_factory=lambda wake: DaskJobRunner(wake, cluster.address),
    )


def run(ctl: Controller, exp: Experiment, tmp_path: Path) -> Experiment:
    ctl.apply(exp, tmp_path)
    try:
        [done] = ctl.run([(exp.namespace, exp.name)])
    finally:
        ctl.runner.shutdown()
    return done


def log_of(tmp_path: Path, trial: str, attempt: int | None = None) -> str:
    files = attempt_files(tmp_path / "home", "default", "exp", trial, attempt)
    return files.log.read_text()


def pid_in(log: str) -> int:
    return int(next(line for line in log.splitlines() if line.startswith("pid "))[4:])


def gone(pid: int) -> bool:
    """The process has exited (a zombie no one reaped yet counts: a lost worker's orphans are
    reaped by whatever adopts them)."""
    return process_start(pid) is None


def test_twenty_trials_run_on_both_workers(tmp_path: Path, two_workers: Cluster) -> None:
    code = (
        "import os, sys\n"
        f"print('worker', os.environ['{WORKER_ENV}'])\n"
        "print('loss=' + sys.argv[1].split('=')[1])\n"
    )
    exp = experiment(code, maxTrialCount=20, parallelTrialCount=4)
    ctl = dask_controller(tmp_path, two_workers)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded")
    trials = ctl.store.list_trials()
    assert len(trials) == 20
    assert all(st.trial_phase(t) == st.SUCCEEDED for t in trials)
    for t in trials:  # the metric came back through the trial's output
        [obs] = ctl.store.list_observations("default", t.name)
        assert float(obs.value) == float(t.spec.parameter_assignments[0].value)
    printed = {
        line.split()[1]
        for t in trials
        for line in log_of(tmp_path, t.name).splitlines()
        if line.startswith("worker ")
    }
    assert printed == set(two_workers.workers)


def test_early_stopping_kills_the_stopped_trials(tmp_path: Path, two_workers: Cluster) -> None:
    # A large lr prints a bad loss for 5 s unless stopped (the first trial has nothing to be
    # compared with, so it may run to its end).
    code = (
        "import os, sys, time\n"
        "print('pid', os.getpid(), flush=True)\n"
        "lr = float(sys.argv[1].split('=')[1])\n"
        "steps = 10 if lr < 0.03 else 100\n"
        "for step in range(steps):\n"
        "    print(f'loss={abs(lr - 0.02) * 100 + 1 / (step + 1)}', flush=True)\n"
        "    time.sleep(0.05)\n"
        "print('finished')\n"
    )
    exp = experiment(
        code,
        algorithm="grid",
        maxTrialCount=4,
        parallelTrialCount=1,
        parameters=[
            {
                "name": "lr",
                "parameterType": "discrete",
                "feasibleSpace": {"list": ["0.02", "0.021", "0.09", "0.1"]},
            }
        ],
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [
                {"name": "min_trials_required", "value": "1"},
                {"name": "start_step", "value": "2"},
            ],
        },
    )
    ctl = dask_controller(tmp_path, two_workers)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded")
    phases = {t.name: st.trial_phase(t) for t in ctl.store.list_trials()}
    stopped = [name for name, phase in phases.items() if phase == st.EARLY_STOPPED]
    assert stopped, phases
    for name, phase in phases.items():
        log = log_of(tmp_path, name)
        if phase == st.EARLY_STOPPED:
            assert "finished" not in log
            assert gone(pid_in(log)), f"{name}'s process still runs on its worker"
        else:
            assert phase == st.SUCCEEDED
            assert "finished" in log


def test_the_goal_reached_kills_the_trial_still_running(
    tmp_path: Path, two_workers: Cluster
) -> None:
    slow = tmp_path / "slow.pid"
    # The slow trial runs until killed; the fast one reaches the goal once the slow one runs.
    code = (
        "import os, sys, time\n"
        "lr = float(sys.argv[1].split('=')[1])\n"
        "if lr > 0.03:\n"
        f"    open({str(slow)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
        f"    os.replace({str(slow)!r} + '.tmp', {str(slow)!r})\n"
        "    time.sleep(300)\n"
        f"while not os.path.exists({str(slow)!r}):\n"
        "    time.sleep(0.02)\n"
        "print('loss=0.001')\n"
    )
    exp = experiment(
        code,
        algorithm="grid",
        maxTrialCount=2,
        parallelTrialCount=2,
        objective={"type": "minimize", "objectiveMetricName": "loss", "goal": 0.01},
        parameters=[
            {
                "name": "lr",
                "parameterType": "discrete",
                "feasibleSpace": {"list": ["0.01", "0.05"]},
            }
        ],
    )
    ctl = dask_controller(tmp_path, two_workers)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded")
    phases = {
        t.spec.parameter_assignments[0].value: st.trial_phase(t) for t in ctl.store.list_trials()
    }
    assert phases == {"0.01": st.SUCCEEDED, "0.05": st.KILLED}
    assert gone(int(slow.read_text())), "the slow trial's process still runs on its worker"


def test_a_lost_worker_fails_the_attempt_and_the_retry_runs_elsewhere(
    tmp_path: Path, two_workers: Cluster
) -> None:
    # The first attempt waits to be killed with its worker; the retry succeeds.
    code = (
        "import os, time\n"
        f"print('worker', os.environ['{WORKER_ENV}'])\n"
        "print('pid', os.getpid(), flush=True)\n"
        "if os.environ['PYKATIB_TRIAL_DIR'].endswith('attempt-1'):\n"
        "    time.sleep(300)\n"
        "print('loss=0.5')\n"
    )
    exp = experiment(code, maxTrialCount=1, parallelTrialCount=1, job_spec={"backoffLimit": 2})
    ctl = dask_controller(tmp_path, two_workers)
    result: list[Experiment] = []
    runner = threading.Thread(target=lambda: result.append(run(ctl, exp, tmp_path)))
    runner.start()

    deadline = time.monotonic() + READY_SECONDS
    pattern = "trials/default/exp/*/attempt-1/.pykatib/output.log"  # its name is made up
    while True:  # until the first attempt runs on a worker
        found = list((tmp_path / "home").glob(pattern))
        text = found[0].read_text() if found else ""
        if "\npid " in text:  # the trial's own line (pykatib's note names the pid too)
            first = found[0]
            break
        assert runner.is_alive() and time.monotonic() < deadline, text
        time.sleep(0.1)
    victim = next(line.split()[1] for line in text.splitlines() if line.startswith("worker "))
    pid = pid_in(text)
    two_workers.workers[victim].send_signal(signal.SIGKILL)
    runner.join(READY_SECONDS)
    assert not runner.is_alive()

    [done] = result
    assert done.status.has("Succeeded")
    [trial] = ctl.store.list_trials()
    assert st.trial_phase(trial) == st.SUCCEEDED
    assert "the Dask worker running the attempt was lost" in first.read_text()
    retry = log_of(tmp_path, trial.name, 2)
    [other] = [line.split()[1] for line in retry.splitlines() if line.startswith("worker ")]
    assert other != victim
    assert gone(pid), "the lost worker's trial process still runs"


def test_push_reports_come_back_from_the_workers(tmp_path: Path, two_workers: Cluster) -> None:
    code = (
        "import sys, pykatib\n"
        "lr = float(sys.argv[1].split('=')[1])\n"
        "for step in range(3):\n"
        "    pykatib.report_metrics({'loss': lr * (3 - step)}, step=step)\n"
    )
    exp = experiment(code, maxTrialCount=2, metricsCollectorSpec={"collector": {"kind": "Push"}})
    ctl = dask_controller(tmp_path, two_workers)
    done = run(ctl, exp, tmp_path)

    assert done.status.has("Succeeded")
    for trial in ctl.store.list_trials():
        lr = float(trial.spec.parameter_assignments[0].value)
        observed = ctl.store.list_observations("default", trial.name)
        assert sorted(float(o.value) for o in observed) == pytest.approx([lr, 2 * lr, 3 * lr])


JOB = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: cli}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: random}
  maxTrialCount: 2
  parallelTrialCount: 2
  parameters:
    - {name: lr, parameterType: double, feasibleSpace: {min: "0.1", max: "0.2"}}
  trialTemplate:
    primaryContainerName: main
    trialParameters: [{name: lr, reference: lr}]
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: python:3
                command: [PYTHON, -c, "import os; print('worker', os.environ['WORKER_ENV'])",
                          "--lr=${trialParameters.lr}"]
                args: []
            restartPolicy: Never
"""


def pykatib(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_pykatib_run_with_the_dask_runtime(
    tmp_path: Path, two_workers: Cluster, pykatib_home: Path
) -> None:
    job = tmp_path / "job.yaml"
    text = JOB.replace("PYTHON", sys.executable).replace("WORKER_ENV", WORKER_ENV)
    job.write_text(text.replace("print('worker'", "print('loss=0.5'); print('worker'"))
    env = {"PYKATIB_RUNTIME": "dask", "PYKATIB_DASK_SCHEDULER": two_workers.address}

    done = pykatib("run", "-q", "-f", str(job), env=env)
    assert done.returncode == 0, done.stderr
    logs = list(pykatib_home.glob("trials/default/cli/*/attempt-1/.pykatib/output.log"))
    assert len(logs) == 2
    for log in logs:
        assert "\nworker w" in log.read_text()


def test_the_dask_runtime_refuses_what_it_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selection, "_current", selection.Runtime())  # restored afterwards
    text = JOB.replace("PYTHON", sys.executable).replace("WORKER_ENV", WORKER_ENV)
    job = tmp_path / "job.yaml"
    job.write_text(text)
    db = ["--db", f"sqlite:///{tmp_path / 'db'}"]

    no_scheduler = CliRunner().invoke(cli, [*db, "run", "--runtime", "dask", "-f", str(job)])
    assert no_scheduler.exit_code != 0
    assert "--dask-scheduler" in no_scheduler.output

    doc = yaml.safe_load(text)
    template = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]
    doc["spec"]["trialTemplate"]["trialSpec"] = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template}}},
    }
    gang = tmp_path / "pytorch.yaml"
    gang.write_text(yaml.safe_dump(doc))
    # Refused when applied: no scheduler is reached, no trial is created.
    args = [*db, "run", "--runtime", "dask", "--dask-scheduler", "tcp://127.0.0.1:9", "-f"]
    refused = CliRunner().invoke(cli, [*args, str(gang)])
    assert refused.exit_code != 0
    assert "PyTorchJob trials can't run on Dask" in refused.output


KEY = ("default", "exp-adopted")


class Runner(DaskJobRunner):
    """A runner of one trial, whose wake-ups can be waited for."""

    def __init__(self, scheduler: str) -> None:
        self.woke = threading.Event()
        super().__init__(self.woke.set, scheduler)

    def until(self, ready: Callable[[], T | None]) -> T:
        for _ in range(120):  # a generous bound, not a timing assertion
            value = ready()
            if value is not None:
                return value
            self.woke.wait(1.0)
            self.woke.clear()
        raise AssertionError("it did not happen")

    def ended(self) -> RunStatus:
        def finished() -> RunStatus | None:
            status = self.status(KEY)
            return status if status is not None and status.finished else None

        return self.until(finished)

    def reported(self) -> Drained | None:
        drained = self.drain(KEY)
        return drained if drained.points else None


def request(tmp_path: Path, code: str) -> RunRequest:
    run_spec = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "main", "command": [sys.executable, "-c", code]}]}
            }
        },
    }
    return RunRequest(
        key=KEY,
        run_spec=run_spec,
        primary_container_name="main",
        metrics_collector=MetricsCollectorSpec(),
        metric_names=("loss",),
        working_dir=tmp_path,
        trial_dir=tmp_path / "trial",
    )


def test_a_restarted_control_plane_adopts_the_running_task(
    tmp_path: Path, two_workers: Cluster
) -> None:
    go = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('loss=0.1', flush=True)\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.02)\n"
        "print('loss=0.2')\n"
    )
    req = request(tmp_path, code)
    first = Runner(two_workers.address)
    first.start(req)
    drained = first.until(first.reported)
    assert [p.value for p in drained.points] == ["0.1"]
    first.forget(KEY)  # its control plane goes: the trial runs on
    first.shutdown()

    second = Runner(two_workers.address)
    assert second.adopt(req, drained.record or {})
    go.touch()
    assert second.ended().phase == "succeeded"
    drained = second.drain(KEY)
    assert [p.value for p in drained.points] == ["0.2"]  # nothing lost, nothing twice
    second.forget(KEY)
    second.shutdown()


def test_a_task_that_ended_unwatched_is_judged_by_what_it_left(
    tmp_path: Path, two_workers: Cluster
) -> None:
    done = tmp_path / "done"
    code = f"import sys; print('loss=0.3'); open({str(done)!r}, 'w').close(); sys.exit(3)\n"
    req = request(tmp_path, code.replace("sys.exit(3)", "sys.exit(0)"))
    first = Runner(two_workers.address)
    record = first.start(req)
    first.forget(KEY)
    first.shutdown()
    deadline = time.monotonic() + READY_SECONDS
    while two_workers.client.run_on_scheduler(task_state, key=record["task"]) is not None:
        assert time.monotonic() < deadline, "the task never ended"
        time.sleep(0.05)  # polls the scheduler until it forgot the finished task

    second = Runner(two_workers.address)
    assert second.adopt(req, record)
    assert second.ended().phase == "succeeded"
    assert [p.value for p in second.drain(KEY).points] == ["0.3"]
    second.shutdown()
    assert not Runner(two_workers.address).adopt(req, {**record, "run": "never-started"})


def test_a_gpu_trial_waits_for_a_gpu_worker_and_stops_without_running(
    tmp_path: Path, two_workers: Cluster
) -> None:
    req = request(tmp_path, "print('loss=0.1')")
    [container] = req.run_spec["spec"]["template"]["spec"]["containers"]
    container["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    runner = Runner(two_workers.address)
    record = runner.start(req)
    deadline = time.monotonic() + READY_SECONDS
    # No worker declares the resource GPU: the scheduler holds the task back.
    while two_workers.client.run_on_scheduler(task_state, key=record["task"]) != "no-worker":
        assert time.monotonic() < deadline, "the task was never held back for a GPU worker"
        time.sleep(0.05)  # polls the scheduler
    runner.stop(KEY, "the experiment ended")
    status = runner.ended()
    assert status.phase == "stopped"
    log = (tmp_path / "trial" / "attempt-1" / ".pykatib" / "output.log").read_text()
    assert "running on Dask worker" not in log
    runner.shutdown()


def test_a_gpu_trial_runs_on_the_worker_that_declares_a_gpu(
    tmp_path: Path, two_workers: Cluster
) -> None:
    code = f"import os; print('worker', os.environ['{WORKER_ENV}']); print('loss=0.1')"
    req = request(tmp_path, code)
    [container] = req.run_spec["spec"]["template"]["spec"]["containers"]
    container["resources"] = {"requests": {"nvidia.com/gpu": 1}}
    gpu = two_workers.worker("gpu", "--resources", "GPU=1")
    try:
        two_workers.client.wait_for_workers(3, timeout=READY_SECONDS)
        runner = Runner(two_workers.address)
        runner.start(req)
        assert runner.ended().phase == "succeeded"
        runner.shutdown()
    finally:
        gpu.kill()
        gpu.wait()
    log = (tmp_path / "trial" / "attempt-1" / ".pykatib" / "output.log").read_text()
    assert "\nworker gpu\n" in log
