"""Where a local trial's files go: collector paths remapped into the trial's own folder.

On Kubernetes every trial has its own pod and filesystem, so Katib's default metrics path
``/var/log/katib/metrics.log`` (or ``/katib/mnist.json``, ``/mnist-with-summaries-logs/test``)
is private to a trial. Local trials share one filesystem, so pykatib gives each trial a folder,
``$PYKATIB_HOME/trials/<namespace>/<experiment>/<trial>/``, and maps such a path ``P`` to
``<trial folder>/P``.

The rule: take ``P`` and every folder above it except ``/`` (for ``/a/b/c.log``: ``/a/b/c.log``,
``/a/b``, ``/a``). Wherever one of them, or a path under one of them, appears in the primary
container's ``command``, ``args`` or ``env`` values, as the whole value or after the first
``=`` (``--log-path=/a/b``), it is rewritten into the trial folder. So Katib's TFJob example,
whose command names ``--log-path=/mnist-with-summaries-logs`` for the collector path
``/mnist-with-summaries-logs/test``, finds its folder. The trial also gets ``PYKATIB_TRIAL_DIR``
(its folder) and ``PYKATIB_METRICS_PATH`` (the remapped collector path).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TRIAL_DIR_ENV = "PYKATIB_TRIAL_DIR"
METRICS_PATH_ENV = "PYKATIB_METRICS_PATH"


def trial_dir(home: Path, namespace: str, experiment: str, trial: str) -> Path:
    return home / "trials" / namespace / experiment / trial


def trial_log_path(home: Path, namespace: str, experiment: str, trial: str) -> Path:
    """Where a trial's stdout and stderr are kept."""
    return home / "logs" / namespace / experiment / f"{trial}.log"


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
        return self.base / posixpath.normpath(path).lstrip("/")

    def _value(self, text: str) -> str:
        for root in self.roots:
            if text == root or text.startswith(root + "/"):
                return str(self.base) + "/" + text.lstrip("/")
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
