"""Trials share the machine's CPUs, memory and GPUs as pods share a node's (runtime/resources.py).

The GPUs here are declared (``--gpus 2``: devices "0" and "1"); the trials check what they were
given through CUDA_VISIBLE_DEVICES, as a CUDA program would find its device.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import experiment, run

from pykatib.cli.main import cli
from pykatib.control.admission import admit
from pykatib.control.controller import Controller
from pykatib.runtime import resources
from pykatib.runtime.local import LocalJobRunner
from pykatib.runtime.resources import Capacity, Machine, Need, quantity, trial_needs
from pykatib.store import Store


def _controller(tmp_path: Path, machine: Machine) -> Controller:
    return Controller(
        Store(f"sqlite:///{tmp_path / 'test.db'}"),
        home=tmp_path / "home",
        runner_factory=lambda wake: LocalJobRunner(wake, machine),
    )


def _with_resources(exp: Any, resources_: dict[str, Any], env: list | None = None) -> Any:
    spec = exp.spec.trial_template.trial_spec["spec"]["template"]["spec"]
    spec["containers"][0]["resources"] = resources_
    if env:
        spec["containers"][0]["env"] = env
    return exp


def test_quantities_and_needs() -> None:
    assert quantity("500m") == 0.5 and quantity("2") == 2 and quantity("4Gi") == 4 * 2**30
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity("two")
    # A request missing: its limit, as Kubernetes defaults it.
    container = {"resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1", GPU: 1}}}
    assert Need.of(container) == Need(cpu=0.25, memory=0, gpus=1)
    assert not Need.of({})


GPU = resources.GPU

# Each trial takes the device it was given, exclusively: a second holder of one device fails.
# It records when it held it (CLOCK_MONOTONIC is one clock for every process of the machine).
HOLD_DEVICE = """
import json, os, sys, time
device = os.environ["CUDA_VISIBLE_DEVICES"]
out = sys.argv[1]
lock = os.path.join(out, "gpu-" + device)
fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # FileExistsError: shared
start = time.monotonic()
time.sleep(1.0)  # the workload
end = time.monotonic()
os.close(fd)
os.unlink(lock)
with open(os.path.join(out, os.environ["KATIB_TRIAL_NAME"] + ".json"), "w") as f:
    json.dump({"device": device, "start": start, "end": end}, f)
print("loss=0.5")
"""


def test_trials_asking_for_a_gpu_each_never_share_one(tmp_path: Path) -> None:
    out = tmp_path / "held"
    out.mkdir()
    exp = experiment(
        HOLD_DEVICE, args=[str(out)], parallelTrialCount=4, maxTrialCount=4, maxFailedTrialCount=0
    )
    _with_resources(exp, {"limits": {GPU: 1}})
    machine = Machine(Capacity(cpus=64, memory=2**40, gpus=("0", "1")))
    ctl = _controller(tmp_path, machine)
    done = run(ctl, exp, tmp_path)
    assert done.status.condition("Succeeded").status == "True", done.status.to_dict()
    held = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert len(held) == 4 and {h["device"] for h in held} <= {"0", "1"}
    # Never more than two at once: at each start, at most one other holds a device.
    for h in held:
        others = [o for o in held if o is not h and o["start"] <= h["start"] < o["end"]]
        assert len(others) <= 1 and all(o["device"] != h["device"] for o in others)
    # The two trials that waited were Pending with the reason, as unschedulable pods are.
    events = [e for e in ctl.store.list_events("default") if e.reason == "FailedScheduling"]
    assert len({e.involved_object.name for e in events}) >= 2
    assert all(e.message.startswith(f"Insufficient {GPU} (needs 1 of 2)") for e in events)
    assert machine.held() == {}  # all released


def test_a_cpu_limit_caps_thread_pools_unless_the_template_sets_them(tmp_path: Path) -> None:
    code = (
        "import os\nprint('omp', os.environ.get('OMP_NUM_THREADS'), 'mkl', "
        "os.environ.get('MKL_NUM_THREADS'))\nprint('loss=1')"
    )
    exp = experiment(code, maxTrialCount=1, parallelTrialCount=1)
    _with_resources(
        exp, {"limits": {"cpu": "1500m"}}, env=[{"name": "MKL_NUM_THREADS", "value": "7"}]
    )
    ctl = _controller(tmp_path, Machine(Capacity(cpus=4, memory=2**34, gpus=())))
    run(ctl, exp, tmp_path)
    [trial] = ctl.store.list_trials()
    assert "omp 2 mkl 7" in ctl.log_path(trial.namespace, exp.name, trial.name).read_text()


def test_a_gang_starts_only_when_every_replica_fits() -> None:
    machine = Machine(Capacity(cpus=8, memory=2**34, gpus=("0", "1", "2")))
    one = machine.grant(("ns", "a"), {"job": Need(gpus=2)})
    assert not isinstance(one, str) and one.devices == {"job": ("0", "1")}
    # Two replicas of one GPU each: one is free, so neither starts.
    waiting = machine.grant(("ns", "b"), {"master-0": Need(gpus=1), "worker-0": Need(gpus=1)})
    assert waiting == (
        f"Insufficient {GPU} (needs 2 of 3): running trials hold the rest"
    )
    assert set(machine.held()) == {("ns", "a")}
    woken = []
    machine.subscribe(lambda: woken.append(1))
    machine.release(("ns", "a"))
    assert woken == [1]
    both = machine.grant(("ns", "b"), {"master-0": Need(gpus=1), "worker-0": Need(gpus=1)})
    assert not isinstance(both, str)
    assert sorted(both.devices.values()) == [("0",), ("1",)]  # one device each


def test_a_trial_that_can_never_fit_is_rejected_when_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resources.MACHINE, "_capacity", Capacity(cpus=2, memory=2**33, gpus=()))
    exp = _with_resources(experiment("print('loss=1')"), {"requests": {GPU: 1, "cpu": "3"}})
    errors, _ = admit(exp)
    assert errors == [
        (
            "spec.trialTemplate.trialSpec: a trial needs more than this machine has: cpu 3 (this "
            f"machine has 2), {GPU} 1 (this machine has 0); lower its containers' "
            "resources.requests, or declare what the machine has with `pykatib run --cpus N "
            "--memory SIZE --gpus N` (or PYKATIB_CPUS, PYKATIB_MEMORY, PYKATIB_GPUS)"
        )
    ]
    assert trial_needs(exp.spec.trial_template.trial_spec, "training-container") == {
        "job": Need(cpu=3, gpus=1)
    }


def test_gpus_declared_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources.MACHINE, "_capacity", None)
    monkeypatch.setattr(resources.MACHINE, "_declared", {})
    monkeypatch.setenv("PYKATIB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    path = tmp_path / "exp.yaml"
    exp = _with_resources(experiment("print('loss=1')", name="needs-two"), {"limits": {GPU: 2}})
    path.write_text(json.dumps(exp.to_dict()))
    db = ["--db", f"sqlite:///{tmp_path / 'cli.db'}"]
    runner = CliRunner()
    refused = runner.invoke(cli, [*db, "apply", "-f", str(path), "--gpus", "1"])
    assert refused.exit_code == 2 and f"{GPU} 2 (this machine has 1)" in refused.output
    accepted = runner.invoke(cli, [*db, "apply", "-f", str(path), "--gpus", "2"])
    assert accepted.exit_code == 0, accepted.output
    assert resources.MACHINE.capacity.gpus == ("0", "1")
    assert sys.executable  # the trial itself is not run here: apply only stores it
