"""Checks of bench/quality.py's drivers (not in the project's test suite: it needs the reference
libraries of ``pip install -e .[bench]``). Run them with::

    nice -n 10 python -m pytest -q bench/test_quality.py     # about 30 s here

* every side's batch driver, run one trial at a time, is the sequential loop the benchmark has
  always used (same points, same values), so P = 1 keeps its meaning and the batch drivers are
  the same library calls with trials left running;
* the control-plane loop keeps P trials in flight, asks for the free slots, finishes trials in
  order of finish time, and shows pykatib the running trials;
* repeated proposals and identical references are found.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _problems as P
import _quality_mo as MO
import quality as Q

from pykatib.suggest.base import TrialResult

BRANIN = P.PROBLEMS["branin"]


def _has(module: str) -> bool:
    return P._has(module)[0]


CASES = [
    ("pykatib", "random", 30),
    ("pykatib", "tpe", 30),
    ("pykatib", "cmaes", 30),
    ("pykatib", "grid", 30),
    ("optuna", "tpe", 30),
    ("optuna", "grid", 25),  # 5 x 5: the grid ends exactly at the budget
    ("hyperopt", "tpe", 30),
    ("scikit-optimize", "bayesianoptimization", 12),
]


@pytest.mark.parametrize("package,algorithm,budget", CASES)
def test_quality_batch_driver_at_one_is_the_sequential_loop(package, algorithm, budget) -> None:
    module = {"hyperopt": "hyperopt", "scikit-optimize": "skopt"}.get(package, "optuna")
    if not _has(module):
        pytest.skip(f"{module} is not installed")
    grid_k = P.grid_points_per_dim(BRANIN, budget) if algorithm == "grid" else None
    sequential, batched = Q.RUNNERS[package]
    with P.quiet():
        one = sequential(algorithm, BRANIN, 3, budget, grid_k)
        other = batched(algorithm, BRANIN, 3, budget, grid_k, 1)
    assert one == other
    assert len(one[0]) == budget


def test_quality_schedule_keeps_p_in_flight_and_finishes_in_time_order() -> None:
    budget, parallel, seed = 40, 4, 5
    duration = P.durations(seed, budget)
    running: set[int] = set()
    asks: list[tuple[int, int]] = []  # (k, trials running when asked)
    finished: list[int] = []
    created = 0

    def ask(k: int) -> int:
        nonlocal created
        asks.append((k, len(running)))
        running.update(range(created, created + k))
        created += k
        return k

    def finish(i: int) -> None:
        running.remove(i)
        finished.append(i)

    Q.schedule(budget, parallel, seed, ask, finish)
    assert asks[0] == (parallel, 0)
    assert all(k + n == parallel for k, n in asks)
    assert sorted(finished) == list(range(budget))
    # Trial i starts when the trial before it in the ask order frees its slot: recompute the
    # finish times and check the order.
    assert finished != list(range(budget))  # the durations do reorder completions
    start = {i: 0.0 for i in range(parallel)}
    ends = {}
    for position, i in enumerate(finished):
        ends[i] = start[i] + duration[i]
        if parallel + position < budget:
            start[parallel + position] = ends[i]
    assert [ends[i] for i in finished] == sorted(ends.values())


def test_quality_pykatib_sees_running_trials(monkeypatch) -> None:
    seen: list[tuple[int, int, int]] = []  # (n asked, running, succeeded)
    create = P.create

    def spy(*args, **kwargs):
        algorithm = create(*args, **kwargs)
        suggest = algorithm.suggest

        def recorded(history: list[TrialResult], n: int):
            states = [t.state for t in history]
            seen.append((n, states.count("running"), states.count("succeeded")))
            assert [t.name for t in history] == [f"trial-{i}" for i in range(len(history))]
            return suggest(history, n)

        algorithm.suggest = recorded
        return algorithm

    monkeypatch.setattr(P, "create", spy)
    values, points = Q.run_pykatib_parallel("random", BRANIN, 0, 20, None, 8)
    assert len(values) == len(points) == 20
    assert seen[0] == (8, 0, 0)
    assert all(n + running == 8 for n, running, _ in seen)
    assert [done for _, _, done in seen] == list(range(len(seen)))


def test_quality_durations_do_not_depend_on_the_algorithm() -> None:
    assert list(P.durations(3, 10)) == list(P.durations(3, 20)[:10])
    assert list(P.durations(3, 10)) != list(P.durations(4, 10))


def test_quality_repeats_and_shifts() -> None:
    assert Q.repeats([("1.0",), ("2.0",), ("1.0",), ("2.0",), ("3.0",)]) == [2, 3]
    assert P.point_key(["0.1", 0.1]) == ("0.1", "0.1")
    assert Q.shift([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0
    assert Q.shift([1.0, 2.0, 3.0], [9.0, 1.0, 2.0]) == 1
    assert Q.shift([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) is None


def test_quality_report_leaves_out_identical_references_and_scores_against_random() -> None:
    def record(algorithm, side, parallel, seed, values):
        return {
            "algorithm": algorithm,
            "problem": "branin",
            "side": side,
            "package": "pykatib" if side == "pykatib" else "optuna",
            "parallel": parallel,
            "seed": seed,
            "budgets": [2],
            "values": values,
            "duplicates": [],
            "seconds": 0.0,
        }

    f = BRANIN.optimum
    records = []
    for parallel in (1, 4):
        for seed in range(3):
            records += [
                record("random", "pykatib", parallel, seed, [f + 2.0, f + 4.0]),
                record("random", "Optuna RandomSampler", parallel, seed, [f + 1.0, f + 3.0]),
                record("sobol", "pykatib", parallel, seed, [f + 1.0, f + 0.5]),
                record("sobol", "Optuna QMC", parallel, seed, [f + 7.0, f + 1.0]),
            ]
    text, misses = Q.report(records, [], "test", None)
    assert "`sobol` vs Optuna QMC: pykatib's trace one trial later" in text
    assert "| sobol | Optuna QMC |" not in text
    assert "| random | **pykatib** | 1 | 1.000 | 1.000 |" in text
    assert "| sobol | **pykatib** | 4 | 0.250 | 0.250 |" in text
    assert "| random | Optuna RandomSampler | 4 | 0.500 | 0.500 |" in text
    assert misses == ["random vs Optuna RandomSampler at P=1: branin@2"] + [
        "random vs Optuna RandomSampler at P=4: branin@2"
    ]


# The single-objective reference traces (mo-*.json are --multi-objective's, checked below;
# *-pykatib*.json are pykatib's own traces, kept beside the results files they back).
RAW = sorted(
    p
    for p in (P.HERE / "results" / "raw").glob("*.json")
    if not p.name.startswith("mo-") and "-pykatib" not in p.name
)
MO_RAW = sorted((P.HERE / "results" / "raw").glob("mo-*.json"))


@pytest.mark.skipif(not RAW, reason="no kept reference traces")
@pytest.mark.parametrize("path", RAW, ids=[p.name for p in RAW])
def test_kept_reference_traces_reproduce_and_merge_with_a_pykatib_run(path, tmp_path) -> None:
    """A file under bench/results/raw holds reference sides only; its first sequential trace
    starts as the reference's run with the same seed does today (its first 10 trials, to keep
    this check cheap; GPSampler's P = 1 Branin runs reproduced an earlier session's cells exactly);
    and it merges with a fresh pykatib run through ``--load`` into a report that compares them."""
    import json

    data = json.loads(path.read_text())
    records = data["records"]
    assert records and all(r["package"] != "pykatib" for r in records)
    first = next(r for r in records if r["parallel"] == 1)
    problem = P.PROBLEMS[first["problem"]]
    gp_sampler = first["package"] == "optuna" and first["algorithm"] == "bayesianoptimization"
    if gp_sampler and not _has("torch"):
        pytest.skip("Optuna's GPSampler needs torch")
    values, _ = Q.run_side(
        first["package"], first["algorithm"], problem, first["seed"], 10, None, 1
    )
    assert values == first["values"][:10]

    ours = tmp_path / "pykatib.json"
    budgets = ",".join(map(str, first["budgets"]))
    Q.main(
        ["--algorithms", first["algorithm"], "--sides", "pykatib", "--problems", problem.name]
        + ["--seeds", "1", "--budgets", budgets, "--parallel", "1"]
        + ["--raw", str(ours), "--out", str(tmp_path / "pykatib.md")]
    )
    merged = tmp_path / "merged.md"
    Q.main(["--load", str(path), "--load", str(ours), "--out", str(merged)])
    text = merged.read_text()
    assert f"## {problem.name}" in text
    row = next(
        line
        for line in text.splitlines()
        if line.startswith(f"| {first['algorithm']} | {first['budgets'][0]} | {first['side']} |")
    )
    assert any(word in row for word in ("inside", "better", "**worse**")), row


# --- --multi-objective ----------------------------------------------------------------------


def test_hypervolume_is_the_dominated_area_inside_the_reference() -> None:
    # Three steps of areas 3, 2 and 1; a dominated point and points beyond the reference add 0.
    points = [(3, 1), (1, 3), (2, 2), (2.5, 2.5), (5, 0), (0, 4)]
    assert P.hypervolume(points, (4, 4)) == 6.0
    assert P.hypervolume([], (4, 4)) == 0.0


def test_front_hypervolumes_are_the_fronts() -> None:
    """HV* of each problem: approached from below by points on (or near) its Pareto front."""
    import numpy as np

    zdt1 = P.MO_PROBLEMS["zdt1"]
    front = [zdt1([a] + [0.0] * 5) for a in np.linspace(0, 1, 5001)]
    assert 0 < zdt1.max_hv - P.hypervolume(front, zdt1.reference) < 1e-3
    bc = P.MO_PROBLEMS["branin-currin"]
    grid = np.linspace(0, 1, 301)
    points = [bc([a, b]) for a in grid for b in grid]
    assert (
        0 < bc.max_hv - P.hypervolume(points, bc.reference) < 0.02 * bc.max_hv
    )  # 301 x 301 grid: 1.4% short


@pytest.mark.parametrize("package", ["pykatib", "optuna"])
@pytest.mark.parametrize("algorithm", MO.ALGORITHMS)
def test_multi_objective_drivers_keep_p_in_flight_and_tell_both_values(
    package, algorithm, monkeypatch
) -> None:
    problem = P.MO_PROBLEMS["branin-currin"]
    seen: list[tuple[int, int]] = []  # pykatib: (n asked, trials running)
    create = P.create_mo

    def spy(*args, **kwargs):
        alg = create(*args, **kwargs)
        suggest = alg.suggest

        def recorded(history: list[TrialResult], n: int):
            seen.append((n, sum(t.state == "running" for t in history)))
            for t in history:
                if t.state == "succeeded":
                    assert list(t.values) == list(
                        problem([float(t.assignments[x]) for x in problem.names])
                    )
                # nsga2's generation travels in a label, which the control plane keeps
                assert bool(t.labels) == (algorithm == "nsga2")
            return suggest(history, n)

        alg.suggest = recorded
        return alg

    monkeypatch.setattr(P, "create_mo", spy)
    values, points = MO.RUNNERS[package](algorithm, problem, 1, 30, 4)
    assert len(values) == len(points) == 30
    assert values == [list(problem([float(x) for x in p])) for p in points]
    if package == "pykatib":
        assert seen[0] == (4, 0) and all(n + running == 4 for n, running in seen[:-3])


def test_multi_objective_report_merges_loaded_runs(tmp_path) -> None:
    common = ["--multi-objective", "--algorithms", "nsga2", "--problems", "branin-currin"]
    common += ["--seeds", "2", "--budgets", "10,20", "--parallel", "1,4"]
    for side in ("pykatib", "optuna"):
        Q.main(
            common
            + ["--sides", side, "--raw", str(tmp_path / f"{side}.json")]
            + ["--out", str(tmp_path / f"{side}.md")]
        )
    merged = tmp_path / "merged.md"
    Q.main(
        [
            "--multi-objective",
            "--load",
            str(tmp_path / "pykatib.json"),
            "--load",
            str(tmp_path / "optuna.json"),
            "--out",
            str(merged),
        ]
    )
    text = merged.read_text()
    assert "| nsga2 | Optuna NSGAIISampler(population_size=50) | 4 | " in text
    rows = [line for line in text.splitlines() if line.startswith("| nsga2 | 4 | 20 |")]
    assert len(rows) == 1 and any(w in rows[0] for w in ("inside", "better", "**worse**"))


@pytest.mark.skipif(not MO_RAW, reason="no kept multi-objective traces")
@pytest.mark.parametrize("path", MO_RAW, ids=[p.name for p in MO_RAW])
def test_kept_multi_objective_traces_reproduce(path) -> None:
    """The first run of each side and parallelism in a kept file starts as it does today."""
    import json

    firsts: dict[tuple, dict] = {}
    for r in json.loads(path.read_text())["records"]:
        firsts.setdefault((r["algorithm"], r["package"], r["parallel"]), r)
    for r in firsts.values():
        with P.quiet():
            values, _ = MO.RUNNERS[r["package"]](
                r["algorithm"], P.MO_PROBLEMS[r["problem"]], r["seed"], 10, r["parallel"]
            )
        assert MO.kept(values) == r["values"][:10]
