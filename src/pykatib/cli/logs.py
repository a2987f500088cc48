"""``pykatib logs``: a local trial's output, read from its attempts' log files."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pykatib.cli.tables import COMPLETED_STATUSES, trial_status


def print_logs(
    read_trial: Callable[[str, str], dict[str, Any]],
    namespace: str,
    trial_name: str,
    follow: bool,
    attempt: int | None = None,
    all_attempts: bool = False,
    replica: str | None = None,
) -> None:
    """Print the log of the trial's latest attempt (or of ``attempt``; or of every attempt, each
    after a header); with ``follow``, keep printing until the trial completes, going on to the
    next attempt when one begins. A training job's: its primary replica's, or ``replica``'s
    (``worker-0``). ``read_trial`` reads the trial's JSON, each time it is needed."""
    from pykatib.api.errors import NotFoundError
    from pykatib.runtime.paths import attempt_files, attempt_numbers, trial_dir
    from pykatib.store import default_home

    trial = read_trial(namespace, trial_name)
    labels = (trial.get("metadata") or {}).get("labels") or {}
    experiment = labels.get("katib.kubeflow.org/experiment", "")
    home = default_home()
    folder = trial_dir(home, namespace, experiment, trial_name)
    numbers = attempt_numbers(folder)
    if attempt is not None and attempt not in numbers:
        have = ", ".join(map(str, numbers)) or "none yet"
        raise NotFoundError(f'trial "{trial_name}" has no attempt {attempt} (attempts: {have})')

    def trial_log_path(
        home: Path, namespace: str, experiment: str, trial: str, number: int
    ) -> Path:
        files = attempt_files(home, namespace, experiment, trial, number)
        if replica is None:
            return files.log
        logs = files.replica_logs()
        if replica not in logs:
            have = ", ".join(logs) or "none: it is not a training job (PyTorchJob...)"
            raise NotFoundError(
                f'trial "{trial}" has no replica {replica} in attempt {number} (replicas: {have})'
            )
        return logs[replica]

    out = sys.stdout.buffer
    current = attempt or (numbers[-1] if numbers else 1)
    if all_attempts and attempt is None:
        for number in numbers[:-1]:
            out.write(f"==> attempt {number} <==\n".encode())
            earlier = trial_log_path(home, namespace, experiment, trial_name, number)
            out.write(earlier.read_bytes() if earlier.exists() else b"")
        if numbers:
            out.write(f"==> attempt {current} <==\n".encode())
    path = trial_log_path(home, namespace, experiment, trial_name, current)
    position = 0
    while True:
        if path.exists():
            with open(path, "rb") as f:
                f.seek(position)
                chunk = f.read()
                position += len(chunk)
                out.write(chunk)
                out.flush()
        if not follow or trial_status(trial) in COMPLETED_STATUSES:
            if not path.exists() and not follow:
                print(f"(no output yet: {path})", file=sys.stderr)
            return
        newest = attempt_numbers(folder)
        if attempt is None and newest and newest[-1] != current:
            current, position = newest[-1], 0  # a retry began: follow it
            path = trial_log_path(home, namespace, experiment, trial_name, current)
            out.write(f"==> attempt {current} <==\n".encode())
            continue
        time.sleep(0.5)  # tail -f: poll the file, as `kubectl logs -f` streams
        trial = read_trial(namespace, trial_name)
