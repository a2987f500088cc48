"""The stand-ins write metrics that Katib's collectors parse, as the real images do."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import socket
import struct
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from . import (
    PBT_TEST,
    PYTORCH_MNIST,
    STANDINS,
    TF_MNIST_WITH_SUMMARIES,
    katib_example,
    katib_examples_dir,
    relocate_paths,
    rewrite_commands,
)

# Katib's default StdOut/File filter (pkg/metricscollector/v1beta1/common/const.go).
DEFAULT_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
# The filter of metrics-collector/file-metrics-collector.yaml.
BRACE_FILTER = re.compile(r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}")

# Scripts named in Katib's examples that have no stand-in, and why (see README.md).
NOT_STOOD_IN = {
    "XGBoost/parameter-tuning.py",  # fpga: InAccel's image
    "run_trial.py",  # nas/darts
    "RunTrial.py",  # nas/enas
    "/examples/tensorflow_mnist.py",  # MPIJob, run through mpirun
}


def run(
    script: str,
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, script, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=30,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def katib_text_metrics(
    text: str, names: list[str], pattern: re.Pattern[str] = DEFAULT_FILTER
) -> list[tuple[str | None, str, float]]:
    """(timestamp or None, name, value) per metric, as Katib's text-format parser finds them."""
    found = []
    for line in text.split("\n"):
        if not any(name in line for name in names):
            continue
        first, _, _rest = line.partition(" ")
        stamp: str | None = None
        try:
            datetime.fromisoformat(first.replace("Z", "+00:00"))
            if first.endswith("Z") and "T" in first:
                stamp = first
        except ValueError:
            pass
        for match in pattern.finditer(line):
            name, value = match.group(1).strip(), match.group(2).strip()
            if name in names:
                found.append((stamp, name, float(value)))
    return found


# ---- pytorch_mnist.py ------------------------------------------------------------------------


def test_pytorch_mnist_logs_to_stderr_in_katib_format(tmp_path: Path) -> None:
    proc = run(
        PYTORCH_MNIST, "--epochs=2", "--batch-size=16", "--lr=0.02", "--momentum=0.6", cwd=tmp_path
    )
    assert proc.stdout == ""  # the real script only logs, and logging goes to stderr
    lines = proc.stderr.split("\n")
    train_lines = [line for line in lines if "Train Epoch:" in line]
    assert len(train_lines) == 2 * math.ceil(3750 / 10)  # 60000/16 batches, one line in 10
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO     Train Epoch: 1 \[0/60000 \(0%\)\]\tloss=2\.3026",
        train_lines[0],
    )
    losses = katib_text_metrics(proc.stderr, ["loss"])
    assert len(losses) == len(train_lines)  # the {metricName...} lines do not match the default
    assert all(stamp is not None for stamp, _, _ in losses)
    values = [value for _, _, value in losses]
    assert values == sorted(values, reverse=True) and values[-1] < 0.5

    braces = katib_text_metrics(proc.stderr, ["accuracy", "loss"], BRACE_FILTER)
    assert [name for _, name, _ in braces] == ["accuracy", "loss", "accuracy", "loss"]
    assert 0.8 < braces[2][2] < 0.99
    metric_line = next(i for i, line in enumerate(lines) if "{metricName: accuracy" in line)
    assert lines[metric_line + 1] == ""  # the message ends with "\n", logging adds another


def final_loss(lr: float, momentum: float) -> float:
    proc = run(
        PYTORCH_MNIST, "--epochs=1", "--batch-size=16", f"--lr={lr}", f"--momentum={momentum}"
    )
    return katib_text_metrics(proc.stderr, ["loss"])[-1][2]


def test_pytorch_mnist_loss_has_a_clear_optimum() -> None:
    best = final_loss(0.02, 0.6)
    for lr, momentum in [(0.01, 0.6), (0.05, 0.6), (0.02, 0.5), (0.02, 0.9), (0.01, 0.9)]:
        assert final_loss(lr, momentum) > best + 0.02, (lr, momentum)
    assert final_loss(0.02, 0.6) == best  # deterministic


def test_pytorch_mnist_file_logger(tmp_path: Path) -> None:
    log = tmp_path / "katib" / "mnist.log"  # the folder is created, as the image has /katib
    proc = run(PYTORCH_MNIST, "--epochs=1", f"--log-path={log}", "--lr=0.02", "--momentum=0.6")
    assert proc.stderr == "" and proc.stdout == ""
    text = log.read_text()
    braces = katib_text_metrics(text, ["accuracy", "loss"], BRACE_FILTER)
    assert [name for _, name, _ in braces] == ["accuracy", "loss"]
    assert all(stamp is not None for stamp, _, _ in braces)


def test_pytorch_mnist_hypertune_json(tmp_path: Path) -> None:
    log = tmp_path / "katib" / "mnist.json"
    proc = run(
        PYTORCH_MNIST,
        "--epochs=3",
        f"--log-path={log}",
        "--logger=hypertune",
        "--lr=0.03",
        "--momentum=0.7",
        "--unknown-flag=1",
        "extra",
    )
    assert "Train Epoch: 3" in proc.stderr  # hypertune mode still logs to stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 6
    assert set(records[0]) == {"global_step", "loss", "timestamp", "trial"}
    assert set(records[1]) == {"accuracy", "global_step", "timestamp", "trial"}
    assert [r["global_step"] for r in records] == ["1", "1", "2", "2", "3", "3"]
    assert all(isinstance(r["timestamp"], float) and r["trial"] == "0" for r in records)
    accuracies = [float(r["accuracy"]) for r in records if "accuracy" in r]  # values are strings
    assert accuracies == sorted(accuracies)
    assert list(records[0]) == sorted(records[0])  # json.dumps(sort_keys=True)


def test_pytorch_mnist_fails_like_torch_on_a_negative_learning_rate() -> None:
    proc = run(PYTORCH_MNIST, "--lr=-0.1", check=False)
    assert proc.returncode == 1
    assert "ValueError: Invalid learning rate: -0.1" in proc.stderr


def test_pytorch_mnist_distributed_line_and_rendezvous() -> None:
    """Two ranks meet where MASTER_ADDR:MASTER_PORT say, as torch's env:// init does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    ranks = [
        subprocess.Popen(
            [sys.executable, PYTORCH_MNIST, "--epochs=1"],
            env={**env, "RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0]
    assert outputs[0] == (
        "Using distributed PyTorch with gloo backend\nrendezvous: rank 0 of 2 met ranks [1]\n"
    )
    assert outputs[1].endswith("rendezvous: rank 1 of 2 met rank 0\n")


def test_pytorch_mnist_without_a_master_address_fails_as_torch_does() -> None:
    proc = run(PYTORCH_MNIST, "--epochs=1", env={"WORLD_SIZE": "2"}, check=False)
    assert proc.returncode == 3
    assert "WORLD_SIZE=2 but 'MASTER_ADDR' is missing" in proc.stderr


# ---- pbt_test.py ------------------------------------------------------------------------------


def test_pbt_prints_once_and_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoints"
    first = run(PBT_TEST, "--epochs=20", "--lr=0.001", f"--checkpoint={checkpoint}/").stdout
    assert re.fullmatch(r"epoch 21:\nlr=0\.0010\nValidation-accuracy=\d\.\d{4}\n", first)
    saved = pickle.loads((checkpoint / "training.ckpt").read_bytes())
    assert saved["step"] == 21 and 0 <= saved["accuracy"] <= 100
    second = run(PBT_TEST, "--epochs=5", "--lr=0.001", f"--checkpoint={checkpoint}/").stdout
    assert second.startswith("epoch 26:\n")
    metrics = katib_text_metrics(second, ["Validation-accuracy"])
    assert len(metrics) == 1 and metrics[0][0] is None  # no timestamp in this format

    again = tmp_path / "again"
    assert run(PBT_TEST, "--epochs=20", "--lr=0.001", f"--checkpoint={again}/").stdout == first


def test_pbt_accuracy_grows_with_a_good_learning_rate(tmp_path: Path) -> None:
    def accuracy(lr: float, folder: str) -> float:
        out = run(PBT_TEST, "--epochs=20", f"--lr={lr}", f"--checkpoint={tmp_path / folder}").stdout
        return katib_text_metrics(out, ["Validation-accuracy"])[0][2]

    assert accuracy(0.001, "good") > accuracy(0.02, "bad")


# ---- tf_mnist_with_summaries.py ---------------------------------------------------------------


def _masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecords(path: Path) -> list[bytes]:
    data = path.read_bytes()
    records, pos = [], 0
    while pos < len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[pos + 8 : pos + 12])[0] == _masked_crc32c(header)
        payload = data[pos + 12 : pos + 12 + length]
        crc = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])[0]
        assert crc == _masked_crc32c(payload)
        records.append(payload)
        pos += 16 + length
    return records


def decode_proto(data: bytes) -> dict[int, list[Any]]:
    """Minimal protobuf decoding: field number -> values (ints, 8-byte or 4-byte raw, bytes)."""
    fields: dict[int, list[Any]] = {}
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = value = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value: Any = varint()
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        elif wire == 2:
            length = varint()
            value, pos = data[pos : pos + length], pos + length
        else:
            raise AssertionError(f"wire type {wire}")
        fields.setdefault(field, []).append(value)
    return fields


def read_scalars(path: Path) -> tuple[str, list[tuple[str, int, float]]]:
    records = [decode_proto(r) for r in read_tfrecords(path)]
    version = records[0][3][0].decode()
    scalars = []
    for event in records[1:]:
        step = event.get(2, [0])[0]
        value = decode_proto(decode_proto(event[5][0])[1][0])  # Summary.value[0]
        tag = value[1][0].decode()
        tensor = decode_proto(value[8][0])
        assert tensor[1] == [1]  # DT_FLOAT
        assert tensor[2] == [b""]  # scalar shape
        plugin = decode_proto(decode_proto(value[9][0])[1][0])[1][0]
        assert plugin == b"scalars"
        scalars.append((tag, step, struct.unpack("<f", tensor[4][0])[0]))
    return version, scalars


def test_tf_mnist_writes_tensorflow_event_files(tmp_path: Path) -> None:
    logs = tmp_path / "mnist-with-summaries-logs"
    proc = run(
        TF_MNIST_WITH_SUMMARIES,
        "--epochs=2",
        "--learning-rate=0.02",
        "--batch-size=48",
        f"--log-path={logs}",
    )
    assert "Test Loss: " in proc.stdout
    train_lines = [line for line in proc.stdout.splitlines() if line.startswith("Train Epoch:")]
    assert len(train_lines) == 2 * math.ceil(1250 / 100)
    assert katib_text_metrics(train_lines[0], ["loss", "accuracy"])[1][1] == "accuracy"

    for split in ("train", "test"):
        (event_file,) = (logs / split).iterdir()
        assert event_file.name.startswith("events.out.tfevents.")
        version, scalars = read_scalars(event_file)
        assert version == "brain.Event:2"
        assert [(tag, step) for tag, step, _ in scalars] == [
            ("loss", 0),
            ("accuracy", 0),
            ("loss", 1),
            ("accuracy", 1),
        ]
        accuracies = [value for tag, _, value in scalars if tag == "accuracy"]
        assert 0 < accuracies[0] < accuracies[1] < 1


def test_tf_mnist_accuracy_has_a_clear_optimum(tmp_path: Path) -> None:
    def accuracy(lr: float, batch: int) -> float:
        logs = tmp_path / f"{lr}-{batch}"
        run(
            TF_MNIST_WITH_SUMMARIES,
            "--epochs=1",
            f"--learning-rate={lr}",
            f"--batch-size={batch}",
            f"--log-path={logs}",
        )
        (event_file,) = (logs / "test").iterdir()
        return [v for tag, _, v in read_scalars(event_file)[1] if tag == "accuracy"][-1]

    best = accuracy(0.02, 48)
    assert all(accuracy(lr, b) < best for lr, b in [(0.01, 48), (0.05, 48), (0.02, 32), (0.02, 64)])


# ---- rewrite_commands / relocate_paths --------------------------------------------------------


def _commands(node: Any) -> list[list[str]]:
    found: list[list[str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("command", "args") and isinstance(value, list):
                found.append([str(v) for v in value])
            else:
                found.extend(_commands(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_commands(item))
    return found


def _script_of(command: list[str]) -> str | None:
    for arg in command:
        if arg.endswith(".py"):
            return arg
    return None


def test_every_script_of_the_examples_has_a_stand_in_or_a_reason() -> None:
    folder = katib_examples_dir()
    if folder is None:
        pytest.skip("Katib's example experiments are not here (expected ../shared/katib-examples)")
    scripts = set()
    for path in sorted(folder.rglob("*.yaml")):
        experiment = katib_example(str(path.relative_to(folder)))
        for command in _commands(experiment["spec"]["trialTemplate"].get("trialSpec")):
            script = _script_of(command)
            if script is not None:
                scripts.add(script)
    assert scripts == set(STANDINS) | NOT_STOOD_IN


@pytest.mark.parametrize(
    "example",
    [
        "hp-tuning/random.yaml",
        "early-stopping/median-stop-with-json-format.yaml",
        "kubeflow-training-operator/pytorchjob-mnist.yaml",
        "hp-tuning/simple-pbt.yaml",
    ],
)
def test_rewrite_commands_points_at_the_stand_ins(example: str) -> None:
    original = katib_example(example)
    snapshot = json.dumps(original, sort_keys=True)
    rewritten = rewrite_commands(original, STANDINS)
    assert json.dumps(original, sort_keys=True) == snapshot  # input untouched
    commands = _commands(rewritten["spec"]["trialTemplate"]["trialSpec"])
    assert commands
    for command in commands:
        assert command[0] == "python3"
        assert command[1] in STANDINS.values()
        assert not any("/opt/" in arg for arg in command)
    assert rewritten["spec"]["parameters"] == original["spec"]["parameters"]


def test_relocate_paths_moves_arguments_and_collector_path_together(tmp_path: Path) -> None:
    katib_dir = str(tmp_path / "katib")
    experiment = relocate_paths(
        rewrite_commands(katib_example("metrics-collector/file-metrics-collector.yaml"), STANDINS),
        {"/katib": katib_dir},
    )
    spec = experiment["spec"]
    assert spec["metricsCollectorSpec"]["source"]["fileSystemPath"]["path"] == (
        f"{katib_dir}/mnist.log"
    )
    (command,) = _commands(spec["trialTemplate"]["trialSpec"])
    assert f"--log-path={katib_dir}/mnist.log" in command

    pbt = relocate_paths(
        katib_example("hp-tuning/simple-pbt.yaml"),
        {"/var/log/katib/checkpoints": str(tmp_path / "ckpt"), "/katib": "/no"},
    )
    settings = {s["name"]: s["value"] for s in pbt["spec"]["algorithm"]["algorithmSettings"]}
    assert settings["suggestion_trial_dir"] == f"{tmp_path / 'ckpt'}/"


def test_a_rewritten_trial_command_runs_and_reports_the_objective(tmp_path: Path) -> None:
    """What pykatib does for one trial of random.yaml, by hand: substitute, run, parse."""
    python3 = shutil.which("python3")
    if python3 is None:
        pytest.skip("no python3 on PATH")
    experiment = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    (command,) = _commands(experiment["spec"]["trialTemplate"]["trialSpec"])
    values = {"${trialParameters.learningRate}": "0.021", "${trialParameters.momentum}": "0.61"}
    for placeholder, value in values.items():
        command = [arg.replace(placeholder, value) for arg in command]
    proc = subprocess.run(
        command,
        check=False,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
    )  # as Katib: 2>&1
    assert proc.returncode == 0, proc.stdout
    objective = experiment["spec"]["objective"]["objectiveMetricName"]
    losses = katib_text_metrics(proc.stdout, [objective])
    assert losses and losses[-1][2] < 0.7
