"""Helpers of the UI tests: the browser (skipping with the reason when chromium or Playwright
is missing), tiny experiments of ``python -c`` trials, and waiting for one to succeed. A module
of its own name: several test folders have a ``conftest``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pykatib_server import BASE, Server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "the UI tests need Debian's chromium at /usr/bin/chromium: apt-get install -y chromium",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the UI tests need Playwright: pip install -e '.[test]'"
)
expect = sync_api.expect
# Trials are real processes on a busy machine: give assertions more than Playwright's 5 s.
expect.set_options(timeout=20_000)
DONE_SECONDS = 60

# A trial: three steps of a quadratic in x (and a log line each), optionally waiting first
# until a gate file exists (so that a test sees it running, then lets it finish).
TRIAL_CODE = """
import os, sys, time
x, gate = float(sys.argv[1]), sys.argv[2]
print("hello from the trial", flush=True)
while gate and not os.path.exists(gate):
    time.sleep(0.05)
for step in range(1, 4):
    print(f"loss={(x - 1) ** 2 + 1 / step:.6f}", flush=True)
print(f"cost={abs(x + 1):.6f}", flush=True)  # a second objective, for multi-objective tests
"""


def tiny_experiment(
    name: str, trials: int = 4, parallel: int = 2, gate: str = "", namespace: str = "default"
) -> dict[str, Any]:
    """An experiment of ``trials`` quick local trials (``python -c``)."""
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "maxFailedTrialCount": trials,
            "parameters": [
                {
                    "name": "x",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "-2", "max": "3"},
                },
                {
                    "name": "opt",
                    "parameterType": "categorical",
                    "feasibleSpace": {"list": ["sgd", "adam"]},
                },
            ],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [
                    {"name": "x", "reference": "x"},
                    {"name": "opt", "reference": "opt"},
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "python:3",
                                        "command": [
                                            sys.executable,
                                            "-c",
                                            TRIAL_CODE,
                                            "${trialParameters.x}",
                                            gate,
                                            "${trialParameters.opt}",
                                        ],
                                    }
                                ],
                                "restartPolicy": "Never",
                            }
                        }
                    },
                },
            },
        },
    }


def create(server: Server, body: dict[str, Any]) -> None:
    ns = body["metadata"]["namespace"]
    with server.client() as client:
        response = client.post(f"{BASE}/namespaces/{ns}/experiments", json=body)
        assert response.status_code == 201, response.text


def wait_succeeded(server: Server, name: str, namespace: str = "default") -> dict[str, Any]:
    """The experiment once Succeeded (polling the API, as ``start_server`` waits)."""
    deadline = time.monotonic() + DONE_SECONDS
    with server.client() as client:
        while True:
            exp = client.get(f"{BASE}/namespaces/{namespace}/experiments/{name}").json()
            conditions = exp.get("status", {}).get("conditions") or []
            if any(c["type"] == "Succeeded" and c["status"] == "True" for c in conditions):
                return exp
            assert not any(c["type"] == "Failed" and c["status"] == "True" for c in conditions), exp
            assert time.monotonic() < deadline, f"{name} did not succeed in time: {exp}"
            time.sleep(0.05)
