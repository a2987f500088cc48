"""Where a local trial's files go: one folder per attempt, collector paths remapped into it.

On Kubernetes every pod has its own filesystem, so Katib's default metrics path
``/var/log/katib/metrics.log`` (or ``/katib/mnist.json``, ``/mnist-with-summaries-logs/test``)
is private to one run of a trial. Local trials share one filesystem, so pykatib gives every
attempt of a trial (a ``backoffLimit`` retry, a resume after Ctrl-C, a re-run after a crash) a
fresh folder, ``$PYKATIB_HOME/trials/<namespace>/<experiment>/<trial>/attempt-<N>/`` (N from 1),
and maps such a path ``P`` to ``<attempt folder>/P``. pykatib's own files of the attempt (its
log, the shim's pid and exit files, the Push report file) are in ``<attempt folder>/.pykatib/``
(:class:`AttemptFiles`).

The rule: take ``P`` and every folder above it except ``/`` (for ``/a/b/c.log``: ``/a/b/c.log``,
``/a/b``, ``/a``). Wherever one of them, or a path under one of them, appears in the primary
container's ``command``, ``args`` or ``env`` values, as the whole value or after the first
``=`` (``--log-path=/a/b``), it is rewritten into the trial folder. So Katib's TFJob example,
whose command names ``--log-path=/mnist-with-summaries-logs`` for the collector path
``/mnist-with-summaries-logs/test``, finds its folder. The trial also gets ``PYKATIB_TRIAL_DIR``
(its attempt folder) and ``PYKATIB_METRICS_PATH`` (the remapped collector path).
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

TRIAL_DIR_ENV = "PYKATIB_TRIAL_DIR"
METRICS_PATH_ENV = "PYKATIB_METRICS_PATH"
ATTEMPT_PREFIX = "attempt-"
STATE_DIR = ".pykatib"


def trial_dir(home: Path, namespace: str, experiment: str, trial: str) -> Path:
    """The folder of all of a trial's attempts."""
    return home.joinpath("trials", namespace, experiment, trial)  # one parse, not four


def attempt_dir(trial_folder: Path, attempt: int) -> Path:
    return trial_folder / f"{ATTEMPT_PREFIX}{attempt}"


def attempt_numbers(trial_folder: Path) -> list[int]:
    """The attempts a trial's folder holds, in order."""
    try:
        names = os.listdir(trial_folder)
    except OSError:
        return []
    found = []
    for name in names:
        number = name[len(ATTEMPT_PREFIX) :]
        if name.startswith(ATTEMPT_PREFIX) and number.isdigit():
            found.append(int(number))
    return sorted(found)


def latest_attempt_dir(trial_folder: Path) -> Path | None:
    """The folder of the trial's last attempt (a finished trial's final one), if any."""
    numbers = attempt_numbers(trial_folder)
    return attempt_dir(trial_folder, numbers[-1]) if numbers else None


def trial_log_path(
    home: Path, namespace: str, experiment: str, trial: str, attempt: int | None = None
) -> Path:
    """Where an attempt's stdout and stderr are kept (default: the latest attempt's, or where
    the first one's will be); a training job's: its primary replica's."""
    return attempt_files(home, namespace, experiment, trial, attempt).log


def attempt_files(
    home: Path, namespace: str, experiment: str, trial: str, attempt: int | None = None
) -> AttemptFiles:
    """The files of one attempt of a trial (default: the latest, or the first to come)."""
    folder = trial_dir(home, namespace, experiment, trial)
    if attempt is None:
        attempt = (attempt_numbers(folder) or [1])[-1]
    return AttemptFiles(attempt_dir(folder, attempt))


@dataclass(frozen=True)
class AttemptFiles:
    """pykatib's own files in an attempt folder (each path made once: a trial's thread asks
    for them at every look)."""

    root: Path

    @cached_property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @cached_property
    def log(self) -> Path:
        """The trial's stdout and stderr, and pykatib's notes (``[pykatib] ...`` lines)."""
        return self.state / "output.log"

    @cached_property
    def pid(self) -> Path:
        """Written by the shim once the trial runs: the shim's and the trial's pids."""
        return self.state / "pid"

    @cached_property
    def exit(self) -> Path:
        """Written by the shim once the trial has exited: its exit code or signal."""
        return self.state / "exit"

    @cached_property
    def stop(self) -> Path:
        """Written by the runner before it stops the attempt: why."""
        return self.state / "stop"

    @cached_property
    def metrics(self) -> Path:
        """The Push collector's report file (``PYKATIB_METRICS_FILE``)."""
        return self.state / "metrics.jsonl"

    @cached_property
    def ack(self) -> Path:
        """Synchronous Push: the report file's offset the control plane has looked at."""
        return self.state / "ack"

    @cached_property
    def replicas(self) -> Path:
        """A training job's replicas as the gang last saw them (:mod:`pykatib.runtime.gang`)."""
        return self.state / "replicas.json"

    def replica_states(self) -> dict[str, dict[str, Any]]:
        """``{replica: {"state": ..., "exitCode": ...}}`` as the gang last wrote them (empty
        for a Job's attempt, or before the gang wrote any)."""
        try:
            data = json.loads(self.replicas.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, dict)}

    def replica_log(self, name: str) -> Path:
        """A training job's replica's output (the primary replica's is :attr:`log`)."""
        return self.state / "replicas" / f"{name}.log"

    @cached_property
    def gang(self) -> Path:
        """A training job's plan: its replicas, what each runs (:mod:`pykatib.runtime.gang`)."""
        return self.state / "gang.json"

    def replica_logs(self) -> dict[str, Path]:
        """``{replica: its log}`` of a training job's attempt (empty for a Job's)."""
        try:
            plan = json.loads(self.gang.read_text())
        except (OSError, ValueError):
            return {}
        return {
            str(r["name"]): Path(r["log"]) if r.get("log") else self.log
            for r in plan.get("replicas", [])
        }

    @cached_property
    def bell(self) -> Path:
        """Synchronous Push: a FIFO a reporter rings to wake the runner at once."""
        return self.state / "bell"


def roots_of(path: str) -> list[str]:
    """``path`` and every folder above it except ``/``, longest first."""
    path = posixpath.normpath(path)
    roots = []
    while path not in ("/", "", "."):
        roots.append(path)
        path = posixpath.dirname(path)
    return roots


class PathMap:
    """Rewrites absolute container paths under ``roots`` into ``base``."""

    def __init__(self, base: Path, paths: Iterable[str]) -> None:
        self.base = base
        roots: set[str] = set()
        for p in paths:
            if p and p.startswith("/"):
                roots.update(roots_of(p))
        self.roots = sorted(roots, key=len, reverse=True)

    def local(self, path: str) -> Path:
        """Where the container path ``path`` lives for this trial."""
        # Rooted before normalising, so that no `..` climbs out of the trial's folder.
        return self.base / posixpath.normpath("/" + path).lstrip("/")

    def _value(self, text: str) -> str:
        # Normalised as a container would resolve it (nothing climbs above `/`), then mapped:
        # `/var/log/katib/../../../x` becomes `<trial folder>/x`, never a path outside it.
        norm = posixpath.normpath(text) if text.startswith("/") else text
        for root in self.roots:
            if any(p == root or p.startswith(root + "/") for p in (text, norm)):
                tail = "/" if text.endswith("/") and not norm.endswith("/") else ""
                return str(self.base) + norm + tail
        return text

    def rewrite(self, text: str) -> str:
        """``text`` with a mapped path rewritten, as a whole value or after the first ``=``."""
        if not self.roots or "/" not in text:
            return text
        head, eq, tail = text.partition("=")
        if eq and not head.startswith("/"):
            return head + eq + self._value(tail)
        return self._value(text)

    def rewrite_container(self, container: dict[str, Any]) -> dict[str, Any]:
        out = dict(container)
        for key in ("command", "args"):
            if out.get(key):
                out[key] = [self.rewrite(str(a)) for a in out[key]]
        if out.get("env"):
            out["env"] = [
                {**e, "value": self.rewrite(str(e["value"]))} if "value" in e else e
                for e in out["env"]
            ]
        if out.get("workingDir"):
            out["workingDir"] = self.rewrite(str(out["workingDir"]))
        return out
