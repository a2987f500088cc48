"""bench/quality.py's significance beside its IQR verdict, and its null calibration, on made-up
traces (no optimiser runs)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import _problems as P
import _quality_null as NULL
import _significance as S
import quality as Q
import readme_table


def test_holm_multiplies_the_ith_smallest_by_the_hypotheses_left_and_keeps_the_order() -> None:
    # sorted: 0.005 x 4, 0.01 x 3, 0.03 x 2, 0.04 x 1 (raised to the 0.06 before it)
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.5, 0.9]) == [1.0, 1.0]
    assert S.holm([]) == []


def test_the_one_sided_test_asks_whether_ours_is_worse() -> None:
    low, high = [float(i) for i in range(10)], [float(i) for i in range(10, 20)]
    assert S.worse_p(high, low) == pytest.approx(1 / 184756)  # 1 / C(20, 10): exact
    assert S.worse_p(low, high) > 0.99
    assert S.worse_p([1.0] * 10, [1.0] * 10) == 1.0
    with pytest.raises(ValueError, match="at least one run"):
        S.worse_p([], low)


def records(side: str, problem: str, regrets: list[float], parallel: int = 1) -> list[dict]:
    """One made-up run per regret, seeds 0.., each with two trials: the regret, then no better."""
    optimum = P.PROBLEMS[problem].optimum
    return [
        {
            "algorithm": "random",
            "problem": problem,
            "side": side,
            "package": "pykatib" if side == "pykatib" else "optuna",
            "parallel": parallel,
            "seed": seed,
            "budgets": [1, 2],
            "values": [optimum + r, optimum + r + 1.0],
            "duplicates": [],
            "seconds": 0.01,
        }
        for seed, r in enumerate(regrets)
    ]


def test_a_miss_by_chance_is_not_significant_and_a_real_one_is() -> None:
    theirs = [float(i) for i in range(10)]  # Q3 6.75
    shifted = [float(i) for i in range(3, 13)]  # median 7.5: misses the IQR criterion
    summary = Q.summarise(
        records("ref", "branin", theirs)
        + records("pykatib", "branin", shifted)
        + records("ref", "levy5", theirs)
        + records("pykatib", "levy5", [t + 100 for t in theirs])
    )
    cells = {
        c.name: c
        for c in Q.compare(summary, "random", ["branin", "levy5"], ("pykatib", 1), ("ref", 1))
    }
    assert set(cells) == {"branin@1", "branin@2", "levy5@1", "levy5@2"}
    assert not cells["branin@1"].met and not cells["branin@1"].significant
    assert not cells["levy5@1"].met and cells["levy5@1"].significant
    # Holm over the four cells: the smallest p times 4
    assert cells["levy5@1"].adjusted == pytest.approx(4 / 184756)


def test_the_report_adds_the_significance_columns_and_keeps_what_the_readme_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = [float(i) for i in range(10)]
    runs = records("Optuna RandomSampler", "branin", theirs)
    runs += records("pykatib", "branin", [t + 100 for t in theirs])
    runs += records("pykatib", "branin", theirs, parallel=4)
    runs += records("Optuna RandomSampler", "branin", theirs, parallel=4)
    bo = records("pykatib", "hartmann6", [1e-5] * 3)
    for r in bo:
        r["algorithm"], r["budgets"], r["values"] = "bayesianoptimization", [100], r["values"] * 50
    text, misses = Q.report(runs + bo, [], "made up", None)
    assert (
        "| random | Optuna RandomSampler | 1 | 0/2 | branin@1, branin@2 | 0.01 | 0.01 | 2/2 | "
        "branin@1 (1.1e-05), branin@2 (1.1e-05) |" in text
    )
    assert "| random | Optuna RandomSampler | 4 | 2/2 | - | 0.01 | 0.01 | 0/2 | - |" in text
    assert "| random | **pykatib** | 4 | 2/2 | - | 0/2 | - |" in text
    assert misses == ["random vs Optuna RandomSampler at P=1: branin@1, branin@2"]
    (tmp_path / "quality.md").write_text(text)
    monkeypatch.setattr(readme_table, "RESULTS", tmp_path)
    headline = readme_table.quality()
    assert headline.startswith(
        "inside the reference's seed IQR or better in **2 of 4** cells, 2 signif"
    )
    assert "in flight within pykatib's own one-at-a-time IQR in 2 of 2, 0 significantly" in headline


def test_the_null_calibration_compares_a_side_with_itself_on_disjoint_seeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # seeds 0..9 good, 10..19 bad: the second half misses every cell, significantly
    runs = records(
        "Optuna RandomSampler", "branin", [float(i % 10 + 10 * (i >= 10)) for i in range(20)]
    )
    split, ours, theirs = NULL.halves(runs)
    assert (ours, theirs) == (list(range(10, 20)), list(range(10)))
    assert {r["side"] for r in split if r["seed"] < 10} == {"Optuna RandomSampler, seeds 0..9"}
    monkeypatch.setattr(NULL, "DRAWS", 2000)
    text = NULL.report(
        runs, {"command": "made up", "wall": None, "load_at_start": "-", "measured": "-"}
    )
    row = re.search(r"^\| random \| Optuna RandomSampler \| 1 \| (.*)$", text, re.MULTILINE)
    assert row is not None
    missed, cells, mean, significant = row.group(1).removesuffix(" |").split(" | ")
    assert (missed, cells, significant) == ("2/2", "branin@1, branin@2", "2/2")
    assert 0 < float(mean) < 2  # random halvings mix the good seeds with the bad
    with pytest.raises(ValueError, match="even number of seeds"):
        NULL.halves(runs[:19])


def test_the_chance_miss_of_the_iqr_criterion_at_ten_seeds_is_about_one_cell_in_seven(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(NULL, "DRAWS", 4000)
    assert 0.11 < NULL.chance_miss(10, NULL.DISTRIBUTIONS["uniform"]) < 0.17
