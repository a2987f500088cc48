"""The README's benchmark table is the one bench/readme_table.py generates from bench/results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import readme_table  # noqa: E402


def test_the_readme_table_is_generated_from_the_results_files() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "readme_table.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_a_results_file_without_its_headline_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "overhead-dask.md").write_text("# a report whose format changed\n")
    monkeypatch.setattr(readme_table, "RESULTS", tmp_path)
    with pytest.raises(readme_table.HeadlineMissing, match="overhead-dask.md"):
        readme_table.overhead_dask()


def test_the_table_reads_its_figures_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "overhead-dask.md").write_text("- **Ratio pykatib / floor: 1.23** (target)\n")
    monkeypatch.setattr(readme_table, "RESULTS", tmp_path)
    assert readme_table.overhead_dask() == "pykatib 1.23x the Dask floor"
