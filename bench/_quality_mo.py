"""Multi-objective quality (``bench/quality.py --multi-objective``): pykatib's ``nsga2`` and
multi-objective ``tpe`` against Optuna's NSGAIISampler and TPESampler with two directions.

Each pykatib algorithm is driven as the control plane drives it: an ``Experiment`` whose
``objective.objectives`` lists two minimised metrics (``f1``, ``f2``), one ``double`` parameter per
dimension, ``parallelTrialCount`` = P, through ``validate_algorithm`` and ``create_algorithm``;
each finished trial reports both values (``TrialResult.values`` and its metrics) and keeps the
labels of its proposal (``nsga2``'s generation travels in one). The references use
``study.ask(distributions)`` / ``study.tell`` on a two-direction study. Both sides run the trials
through :func:`quality.schedule`, the single-objective mode's loop: P trials in flight, random
durations shared by both sides, results told in completion order, the free slots asked for while
the others are still running (pykatib: ``running`` entries in the history; Optuna: RUNNING
trials, TPE with ``constant_liar=True`` at P > 1, as pykatib's ``tpe`` always has it).

Settings are what a user gets by default, on both sides: ``nsga2`` and NSGAIISampler with
population 50 (both defaults); pykatib's ``tpe`` with its defaults (random start-up for the first
request only, Katib's rule) against ``TPESampler(multivariate=False)`` with Optuna's (10 random
start-up trials); ``random_state`` / ``seed`` = the run's seed.

**Hypervolume regret at budget B**: ``HV* - HV(first B trials created)``, where HV is the area
dominated by the trials' (f1, f2) and bounded by the problem's fixed reference point, computed
exactly by :func:`_problems.hypervolume` (a two-objective sweep, not Optuna's private
``optuna._hypervolume``), and HV* is the true front's. Problems: ZDT1 (6-d) and Branin-Currin
(2-d), reference points and HV* as BoTorch's test problems give them. Medians [Q1, Q3] over seeds,
verdicts and repeated proposals as in the single-objective report.

    nice -n 10 python bench/quality.py --multi-objective --seeds 10 --budgets 50,100,200 \\
        --parallel 1,4,8 --raw /tmp/mo.json --out bench/results/quality-mo.md

The traces behind ``bench/results/quality-mo.md`` are kept in ``bench/results/raw/``, one file
per algorithm and side (``mo-<algorithm>-<package>.json``, values to 6 significant digits). The
reference's do not depend on pykatib's commit, so a later session reruns pykatib's side only:

    nice -n 10 python bench/quality.py --multi-objective --sides pykatib --seeds 20 \\
        --algorithms tpe --raw /tmp/mo-tpe-pykatib.json --out /tmp/mo.md
    python bench/quality.py --multi-objective --load bench/results/raw/mo-tpe-optuna.json \\
        --load /tmp/mo-tpe-pykatib.json --out bench/results/quality-mo.md
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import _problems as P
import numpy as np
import quality as Q

from pykatib.suggest.base import TrialResult

RESULTS = P.HERE / "results" / "quality-mo.md"
ALGORITHMS = ("nsga2", "tpe")
DEFAULT_BUDGETS = (50, 100, 200)
POPULATION = 50  # nsga2's default population_size, given to NSGAIISampler too
REFERENCES = {
    "nsga2": "Optuna NSGAIISampler(population_size=50)",
    "tpe": "Optuna TPESampler(multivariate=False), 2 directions",
}

# A run's trace: each trial's (f1, f2) and its point (as Katib writes it), in creation order.
Trace = tuple[list[list[float]], list[tuple[str, ...]]]


def run_pykatib(
    algorithm: str, problem: P.MultiObjectiveProblem, seed: int, budget: int, parallel: int
) -> Trace:
    alg = P.create_mo(algorithm, problem, seed, parallel)
    history: list[TrialResult] = []

    def ask(k: int) -> int:
        proposals = alg.suggest(list(history), k)
        for p in proposals:
            name = f"trial-{len(history)}"
            history.append(TrialResult(name, p.assignments, "running", labels=p.labels))
        return len(proposals)

    def finish(i: int) -> None:
        t = history[i]
        f1, f2 = problem([float(t.assignments[name]) for name in problem.names])
        history[i] = TrialResult(
            t.name,
            t.assignments,
            "succeeded",
            f1,
            metrics={"f1": f1, "f2": f2},
            labels=t.labels,
            values=(f1, f2),
        )

    Q.schedule(budget, parallel, seed, ask, finish)
    values = [list(t.values) for t in history if t.completed]
    return values, [P.point_key([t.assignments[n] for n in problem.names]) for t in history]


def optuna_sampler(algorithm: str, seed: int, parallel: int) -> Any:
    import optuna

    if algorithm == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=seed)
    liar = {"constant_liar": True} if parallel > 1 else {}
    return optuna.samplers.TPESampler(seed=seed, multivariate=False, **liar)


def run_optuna(
    algorithm: str, problem: P.MultiObjectiveProblem, seed: int, budget: int, parallel: int
) -> Trace:
    import optuna

    study = optuna.create_study(
        sampler=optuna_sampler(algorithm, seed, parallel), directions=["minimize", "minimize"]
    )
    distributions = P.optuna_distributions(problem)  # type: ignore[arg-type]
    trials: list[Any] = []
    values: list[list[float]] = []

    def ask(k: int) -> int:
        for _ in range(k):
            trials.append(study.ask(distributions))
            values.append([])
        return k

    def finish(i: int) -> None:
        values[i] = list(problem([trials[i].params[name] for name in problem.names]))
        study.tell(trials[i], values[i])

    Q.schedule(budget, parallel, seed, ask, finish)
    return values, [P.point_key([t.params[n] for n in problem.names]) for t in trials]


RUNNERS: dict[str, Callable[..., Trace]] = {"pykatib": run_pykatib, "optuna": run_optuna}


def units(args: argparse.Namespace) -> list[dict]:
    """One entry per run: (algorithm, problem, side, parallelism, seed), in report order."""
    out = []
    for algorithm in args.algorithms:
        for problem in args.problems:
            for side, package in (("pykatib", "pykatib"), (REFERENCES[algorithm], "optuna")):
                if not Q.wanted(args.sides, package):
                    continue
                for parallel in args.parallel:
                    for seed in range(args.seeds):
                        out.append(
                            {
                                "algorithm": algorithm,
                                "problem": problem,
                                "side": side,
                                "package": package,
                                "parallel": parallel,
                                "seed": seed,
                                "budgets": args.budgets,
                            }
                        )
    return out


def kept(values: list[list[float]]) -> list[list[float]]:
    """A trace's values to 6 significant digits, as the records keep them: the kept raw files
    stay small, and a report from them is the report of the run (HV regret moves by about 1e-6
    of HV*)."""
    return [[float(f"{v:.6g}") for v in pair] for pair in values]


def run_unit(unit: dict) -> dict:
    problem = P.MO_PROBLEMS[unit["problem"]]
    s0 = time.perf_counter()
    with P.quiet():
        values, points = RUNNERS[unit["package"]](
            unit["algorithm"], problem, unit["seed"], max(unit["budgets"]), unit["parallel"]
        )
    return {
        **unit,
        "values": kept(values),
        "duplicates": Q.repeats(points),
        "seconds": time.perf_counter() - s0,
    }


# --- the report -----------------------------------------------------------------------------


def hv_regret(values: list[list[float]], budget: int, problem: P.MultiObjectiveProblem) -> float:
    return problem.max_hv - P.hypervolume(values[:budget], problem.reference)


def summarise(records: list[dict]) -> dict:
    """(algorithm, problem, side, parallelism) -> quartiles per budget, repeats, seconds."""
    runs: dict[tuple, list[dict]] = {}
    for r in records:
        runs.setdefault((r["algorithm"], r["problem"], r["side"], r["parallel"]), []).append(r)
    out = {}
    for key, rs in runs.items():
        problem = P.MO_PROBLEMS[key[1]]
        out[key] = {
            "by_budget": {
                b: Q.quartiles([hv_regret(r["values"], b, problem) for r in rs])
                for b in rs[0]["budgets"]
            },
            "seeds": len(rs),
            "seconds": float(np.mean([r["seconds"] for r in rs])),
            "duplicates": sum(len(r["duplicates"]) for r in rs),
            "trials": sum(len(r["values"]) for r in rs),
        }
    return out


def _cells(summary: dict, algorithm: str, side: str, parallel: int) -> list[dict]:
    """The summary entries of one side of ``algorithm`` at ``parallel``, every problem."""
    return [v for k, v in summary.items() if (k[0], k[2], k[3]) == (algorithm, side, parallel)]


def _met(
    summary: dict, ours: tuple, theirs: tuple, problems: list[str]
) -> tuple[int, int, list[str]]:
    """Cells where ``ours``' median is inside or better than ``theirs``' IQR; the keys are
    (algorithm, side, parallelism), compared on each problem and budget."""
    met = total = 0
    worse = []
    for problem in problems:
        a = summary.get((ours[0], problem, ours[1], ours[2]))
        b = summary.get((theirs[0], problem, theirs[1], theirs[2]))
        if a is None or b is None:
            continue
        for budget, q in a["by_budget"].items():
            if budget in b["by_budget"]:
                ok = Q.verdict(q, b["by_budget"][budget])[0]
                met, total = met + ok, total + 1
                if not ok:
                    worse.append(f"{problem}@{budget}")
    return met, total, worse


def report(records: list[dict], meta: dict) -> str:
    summary = summarise(records)
    algorithms = [a for a in ALGORITHMS if any(k[0] == a for k in summary)]
    problems = [p for p in P.MO_PROBLEMS if any(k[1] == p for k in summary)]
    parallels = sorted({k[3] for k in summary})
    seeds = sorted({r["seed"] for r in records})
    lines = [
        (
            "# Multi-objective quality: pykatib's nsga2 and tpe vs Optuna "
            "(bench/quality.py --multi-objective)"
        ),
        "",
        f"- Date: {P.now()}; pykatib measured at commit {meta['commit']}",
        (
            f"- Machine: {P.machine()}; 1-min load average {meta['load_at_start']} at the start, "
            f"{P.load()} at the end (the machine is shared: timings are indicative)"
        ),
        f"- {P.versions_line()}",
        f"- Command: `{meta['command']}`"
        + (f" (wall time {meta['wall'] / 60:.1f} min)" if meta.get("wall") else ""),
        f"- Seeds: {len(seeds)} ({seeds[0]}..{seeds[-1]}), `random_state` = seed on both sides"
        if seeds
        else "- Seeds: none",
        (
            f"- Parallelism P (trials in flight): {', '.join(map(str, parallels))}; trial "
            f"durations {P.DURATIONS}, results told in completion order, the others still running"
        ),
        "- Hypervolume regret at budget B: HV* - HV of the first B trials **created** "
        "(reference points: "
        + "; ".join(f"{n} {p.reference}, HV* {p.max_hv:.4g}" for n, p in P.MO_PROBLEMS.items())
        + "); cells give median [Q1, Q3] over seeds, lower is better",
        (
            "- Verdict: pykatib's median inside the reference's seed IQR (`inside`), below its Q1 "
            "(`better`) or above its Q3 (**worse**), at the same P; `vs P=1`: the same test of a "
            "side's median at P against its own P = 1 IQR"
        ),
        "",
        "## Summary",
        "",
        "| algorithm | reference | P | cells met | worse cells | s/run pykatib | s/run reference |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for algorithm in algorithms:
        ref = REFERENCES[algorithm]
        for parallel in parallels:
            met, total, worse = _met(
                summary, (algorithm, "pykatib", parallel), (algorithm, ref, parallel), problems
            )
            if not total:
                continue
            times = [
                np.mean([v["seconds"] for v in _cells(summary, algorithm, side, parallel)])
                for side in ("pykatib", ref)
            ]
            lines.append(
                f"| {algorithm} | {ref} | {parallel} | {met}/{total} | {', '.join(worse) or '-'}"
                f" | {times[0]:.2f} | {times[1]:.2f} |"
            )
    if 1 in parallels and len(parallels) > 1:
        lines += [
            "",
            "## Trials in parallel against one at a time",
            "",
            "| algorithm | side | P | cells met | worse cells |",
            "|---|---|---:|---:|---|",
        ]
        for algorithm in algorithms:
            for side in ("pykatib", REFERENCES[algorithm]):
                for parallel in parallels[1:]:
                    met, total, worse = _met(
                        summary, (algorithm, side, parallel), (algorithm, side, 1), problems
                    )
                    if total:
                        lines.append(
                            f"| {algorithm} | {side} | {parallel} | {met}/{total} | "
                            f"{', '.join(worse) or '-'} |"
                        )
    lines += [
        "",
        "## Repeated proposals",
        "",
        (
            "Trials whose point repeats an earlier trial's (finished or running) exactly: "
            "repeats / trials, over both problems and every seed."
        ),
        "",
        "| algorithm | side | " + " | ".join(f"P={p}" for p in parallels) + " |",
        "|---|---|" + "---:|" * len(parallels),
    ]
    for algorithm in algorithms:
        for side in ("pykatib", REFERENCES[algorithm]):
            row = []
            for parallel in parallels:
                cells = _cells(summary, algorithm, side, parallel)
                dups, trials = sum(v["duplicates"] for v in cells), sum(v["trials"] for v in cells)
                row.append((f"**{dups}**" if dups else "0") + f"/{trials}" if cells else "-")
            lines.append(f"| {algorithm} | {side} | " + " | ".join(row) + " |")
    for problem in problems:
        prob = P.MO_PROBLEMS[problem]
        lines += [
            "",
            f"## {problem} ({prob.dim}-d, HV* = {prob.max_hv:.6g})",
            "",
            (
                "| algorithm | P | budget | pykatib | reference | verdict | pykatib vs P=1 | "
                "reference vs P=1 |"
            ),
            "|---|---:|---:|---|---|---|---|---|",
        ]
        for algorithm in algorithms:
            ref = REFERENCES[algorithm]
            for parallel in parallels:
                ours = summary.get((algorithm, problem, "pykatib", parallel))
                theirs = summary.get((algorithm, problem, ref, parallel))
                if ours is None and theirs is None:
                    continue
                for b in (ours or theirs)["by_budget"]:
                    row = [_cell(ours, b), _cell(theirs, b), _verdict(ours, theirs, b)]
                    for side in ("pykatib", ref):
                        at_1 = summary.get((algorithm, problem, side, 1))
                        at_p = summary.get((algorithm, problem, side, parallel))
                        row.append(_verdict(at_p, at_1, b) if parallel > 1 else "-")
                    lines.append(f"| {algorithm} | {parallel} | {b} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _cell(entry: dict | None, budget: int) -> str:
    q = entry["by_budget"].get(budget) if entry else None
    return Q.cell(q) if q else "-"


def _verdict(ours: dict | None, theirs: dict | None, budget: int) -> str:
    q = ours["by_budget"].get(budget) if ours else None
    r = theirs["by_budget"].get(budget) if theirs else None
    return Q.verdict(q, r)[1] if q and r else "-"


def main(args: argparse.Namespace, command: str) -> int:
    """``quality.py --multi-objective``: run (or ``--load``) and write the report."""
    if args.load:
        datas = [json.loads(path.read_text()) for path in args.load]
        records = [r for d in datas for r in d["records"]]
        meta = {
            "command": " ; ".join(d["command"] for d in datas)
            + (" (merged)" if len(datas) > 1 else ""),
            "wall": sum(d.get("wall") or 0.0 for d in datas),
            "load_at_start": "/".join(str(d.get("load_at_start")) for d in datas),
            "commit": " / ".join(dict.fromkeys(str(d.get("commit")) for d in datas)),
        }
    else:
        meta = {
            "command": command,
            "load_at_start": P.load(),
            "commit": P.commit(),
            "versions": P.versions_line(),
        }
        records = []
        t0 = time.perf_counter()
        todo = units(args)
        for i, unit in enumerate(todo):
            records.append(run_unit(unit))
            r = records[-1]
            print(
                f"[{time.perf_counter() - t0:6.0f}s] {i + 1}/{len(todo)} {r['algorithm']} "
                f"{r['problem']} {r['side']} P={r['parallel']} seed {r['seed']}: "
                f"{r['seconds']:.1f}s",
                flush=True,
            )
            meta["wall"] = time.perf_counter() - t0
            if args.raw:
                args.raw.write_text(json.dumps({**meta, "records": records}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(records, meta))
    print(f"wrote {args.out}")
    return 0
