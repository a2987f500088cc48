"""Running the `pykatib` command as a user does, for the CLI tests: a real process each time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from helpers import experiment_doc


def pykatib(
    *args: str, cwd: Path | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=240,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"pykatib {args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def get_json(*args: str) -> Any:
    return json.loads(pykatib("get", *args, "-o", "json", check=True).stdout)


def write(path: Path, *docs: dict[str, Any]) -> Path:
    """``docs`` as one YAML file, ``---`` between documents."""
    path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    return path


def table(text: str) -> list[list[str]]:
    """The cells of a table the CLI printed, header row first (no cell holds a space)."""
    return [line.split() for line in text.splitlines() if line.strip()]


def experiment(name: str, namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    """A small valid Experiment whose trials print ``loss=<lr>`` and end at once."""
    return experiment_doc(
        "import sys; print('loss=' + sys.argv[1])",
        name=name,
        namespace=namespace,
        container="main",
        parameters=[
            {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}}
        ],
        args=["${trialParameters.lr}"],
        **{"parallelTrialCount": 1, "maxTrialCount": 2, **spec},
    )
