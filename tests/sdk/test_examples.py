"""The SDK example runs as a script, as it would cell by cell in a notebook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sdk" / "tune_quadratic.py"


def test_tune_quadratic_example_runs(tmp_path: Path) -> None:
    # PYKATIB_HOME is this test's (conftest); running twice shows it starts afresh.
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(EXAMPLE)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert "best trial: tune-quadratic-" in done.stdout
        assert "loss=" in done.stdout  # the best trial's own output
