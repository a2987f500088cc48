"""The GPU check of the training-kinds issue, for a machine with NVIDIA GPUs.

1. The DDP example (examples/pytorchjob-ddp) with ``nvidia.com/gpu: 1`` per replica: each
   replica gets a device of its own through CUDA_VISIBLE_DEVICES and trains with nccl; the
   experiment must end Succeeded with every trial's master reporting ``nccl, cuda``.
2. Scheduling with the real device count G: 2G trials each asking for one GPU, all allowed in
   parallel: never more than G at once, never two on one device (each trial checks its
   CUDA_VISIBLE_DEVICES against the others' with an exclusive lock file).

    pip install torch==2.13.0 && pip install -e ".[examples]"
    python bench/gpu_check.py            # writes bench/results/gpu.md

On a machine without a GPU it says so and exits 2, writing nothing.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "gpu.md"

HOLD = """
import json, os, sys, time
device = os.environ["CUDA_VISIBLE_DEVICES"]
import torch
assert torch.cuda.device_count() == 1, torch.cuda.device_count()
lock = os.path.join(sys.argv[1], "gpu-" + device)
fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
start = time.monotonic()
x = torch.randn(4096, 4096, device="cuda")
for _ in range(50):
    x = (x @ x).tanh()
torch.cuda.synchronize()
end = time.monotonic()
os.close(fd); os.unlink(lock)
name = os.environ["KATIB_TRIAL_NAME"]
with open(os.path.join(sys.argv[1], name + ".json"), "w") as f:
    json.dump({"device": device, "start": start, "end": end}, f)
print("loss=0.5")
"""


def gpus() -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line for line in out.stdout.splitlines() if line.startswith("GPU ")]


def pykatib(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pykatib ARGS`` with its own ``PYKATIB_HOME``."""
    return subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYKATIB_HOME": str(home)},
        check=False,
    )


def ddp_check(work: Path, count: int) -> tuple[bool, str]:
    data = yaml.safe_load((REPO / "examples/pytorchjob-ddp/experiment.yaml").read_text())
    data["spec"].update(maxTrialCount=max(2, count // 2), parallelTrialCount=max(1, count // 2))
    replicas = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["pytorchReplicaSpecs"]
    for spec in replicas.values():
        container = spec["template"]["spec"]["containers"][0]
        container["command"][0] = sys.executable
        container["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    path = REPO / "examples/pytorchjob-ddp/gpu-check.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        done = pykatib(work / "ddp", "run", "-q", "-f", str(path))
    finally:
        path.unlink()
    logs = list((work / "ddp").rglob("output.log"))
    masters = [p.read_text() for p in logs]
    ok = done.returncode == 0 and masters and all("(nccl, cuda" in m for m in masters)
    return bool(ok), f"exit {done.returncode}; {len(masters)} masters on nccl/cuda: {ok}"


def scheduling_check(work: Path, count: int) -> tuple[bool, str]:
    held = work / "held"
    held.mkdir()
    trials = 2 * count
    exp = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "gpu-sharing", "namespace": "default"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": trials,
            "maxTrialCount": trials,
            "maxFailedTrialCount": 0,
            "parameters": [
                {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
            ],
            "trialTemplate": {
                "primaryContainerName": "c",
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "c",
                                        "command": [sys.executable, "-c", HOLD, str(held)],
                                        "args": ["${trialParameters.x}"],
                                        "resources": {"limits": {"nvidia.com/gpu": 1}},
                                    }
                                ],
                            }
                        }
                    },
                },
            },
        },
    }
    path = work / "sharing.yaml"
    path.write_text(yaml.safe_dump(exp))
    done = pykatib(work / "sharing", "run", "-q", "-f", str(path))
    records = [json.loads(p.read_text()) for p in held.glob("*.json")]
    worst = max(
        (sum(1 for o in records if o["start"] <= r["start"] < o["end"]) for r in records),
        default=0,
    )
    ok = done.returncode == 0 and len(records) == trials and worst <= count
    return ok, f"exit {done.returncode}; {len(records)} trials; at most {worst} at once"


def main() -> int:
    found = gpus()
    if not found:
        print("no NVIDIA GPU here (nvidia-smi -L lists none): nothing to check", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ddp = ddp_check(work, len(found))
        sharing = scheduling_check(work, len(found))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.strip()
    lines = [
        "# GPU check (bench/gpu_check.py)",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}",
        f"- Machine: {platform.node()}; GPUs: " + "; ".join(found),
        f"- Command: `python bench/gpu_check.py` ({time.perf_counter() - started:.0f} s)",
        "",
        "| check | passed | detail |",
        "|---|---|---|",
        f"| DDP example, nvidia.com/gpu: 1 per replica (nccl) | {ddp[0]} | {ddp[1]} |",
        f"| {2 * len(found)} one-GPU trials on {len(found)} GPUs | {sharing[0]} | {sharing[1]} |",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ddp[0] and sharing[0] else 1


if __name__ == "__main__":
    sys.exit(main())
