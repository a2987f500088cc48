"""docs/reliability.md lists the reliability tests as they are (tools/reliability_doc.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_reliability_doc_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "reliability_doc.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_reliability_test_says_what_was_lost() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import reliability_doc
    finally:
        sys.path.pop(0)
    rows = reliability_doc.rows()
    assert rows, "no test is marked @pytest.mark.reliability"
    assert all(row.lost for row in rows)
