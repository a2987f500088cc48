"""Variants of one pykatib algorithm side by side, from bench/quality.py's raw traces.

For an experiment that patches an algorithm and reruns ``bench/quality.py --sides pykatib --raw``
for P = 4 and 8: per problem and budget, the median regret of each variant's batch runs beside
the first (base) trace's own P = 1 median [Q1, Q3]; ``!`` marks a median above that Q3, ``*``
one above the reference's Q3 (``--reference`` traces). Then, per variant, the cells so met and
the mean over cells of log(variant median / base median), negative = better, on the seeds both
ran. bench/results/quality-tpe.md's second-session tables come from it:

    python bench/compare_variants.py tpe base=base.json nn1=nn1.json \\
        --reference bench/results/raw/tpe-optuna.json \\
        --reference bench/results/raw/tpe-optuna-hartmann6-levy5.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import _problems as P
import numpy as np

Runs = dict[tuple[str, int], dict[int, list[float]]]


def load(path: Path, package: str, algorithm: str) -> Runs:
    """Each (problem, P)'s regret traces by seed, for one side of one algorithm."""
    runs: Runs = {}
    for r in json.loads(path.read_text())["records"]:
        if r["package"] == package and r["algorithm"] == algorithm:
            optimum = P.PROBLEMS[r["problem"]].optimum
            regret = [v - optimum for v in r["values"]]
            runs.setdefault((r["problem"], r["parallel"]), {})[r["seed"]] = regret
    return runs


def best(runs: dict[int, list[float]], budget: int, seeds: set[int] | None = None) -> list[float]:
    return [min(v[:budget]) for s, v in runs.items() if seeds is None or s in seeds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("algorithm")
    parser.add_argument("variants", nargs="+", help="name=raw.json; the first is the base")
    parser.add_argument("--reference", type=Path, action="append", default=[])
    parser.add_argument("--budgets", default="25,50,100,200")
    args = parser.parse_args()
    variants = [(n, Path(p)) for n, p in (v.split("=", 1) for v in args.variants)]
    data = {n: load(p, "pykatib", args.algorithm) for n, p in variants}
    reference: Runs = {}
    for path in args.reference:
        reference.update(load(path, "optuna", args.algorithm))
    names = [n for n, _ in variants]
    base = data[names[0]]
    budgets = [int(b) for b in args.budgets.split(",")]
    heads = [f"P={p} {n}" for p in (4, 8) for n in names]
    print("| problem@budget | P=1 (base) | " + " | ".join(heads) + " |")
    print("|---|---|" + "---:|" * len(heads))
    met = {n: [0, 0] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for problem in P.PROBLEMS:
        if (problem, 1) not in base:
            continue
        for budget in budgets:
            q1, median, q3 = np.percentile(best(base[(problem, 1)], budget), [25, 50, 75])
            cells = []
            for parallel in (4, 8):
                ref = reference.get((problem, parallel))
                ref_q3 = np.percentile(best(ref, budget), 75) if ref else np.inf
                for n in names:
                    runs, base_runs = data[n][(problem, parallel)], base[(problem, parallel)]
                    m = statistics.median(best(runs, budget))
                    met[n][0] += m <= q3
                    met[n][1] += m <= ref_q3
                    common = set(runs) & set(base_runs)
                    ratios[n].append(
                        np.log(
                            statistics.median(best(runs, budget, common))
                            / statistics.median(best(base_runs, budget, common))
                        )
                    )
                    cells.append(f"{m:.3g}" + "!" * bool(m > q3) + "*" * bool(m > ref_q3))
            print(
                f"| {problem}@{budget} | {median:.3g} [{q1:.3g}, {q3:.3g}] | {' | '.join(cells)} |"
            )
    n_cells = len(ratios[names[0]])
    print()
    print(
        "| variant | within own P=1 IQR or better | at or below the reference's Q3 | mean log ratio |"
    )
    print("|---|---:|---:|---:|")
    for n in names:
        print(
            f"| {n} | {met[n][0]}/{n_cells} | {met[n][1]}/{n_cells} | {np.mean(ratios[n]):+.3f} |"
        )


if __name__ == "__main__":
    main()
