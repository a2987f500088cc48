"""The IQR criterion's chance misses (``bench/quality.py --null-calibration``): a side against
itself on disjoint seeds.

bench/quality.py's verdict calls a cell missed when pykatib's median regret over 10 seeds is above
the reference's third quartile. Two runs of one algorithm miss such cells by chance, and this
measures how often: each side's runs on seeds 0..2N-1 are split into seeds 0..N-1 (in the
reference's place) and N..2N-1 (in pykatib's), and the same criterion and the same one-sided test
with Holm's correction (:func:`quality.compare`) are applied, per algorithm and parallelism, as in
bench/results/quality.md's Summary. Three figures per row: the cells missed by that one split, the
mean over ``SPLITS`` random halvings of the same 2N seeds (the expected count, less noisy than one
split), and the cells the test finds significantly worse (it should find almost none). Beside
them, the chance a cell misses for two samples of N drawn from one continuous distribution.

    nice -n 10 python bench/quality.py --null-calibration --sides optuna --seeds 10 \\
        --algorithms random,tpe,multivariate-tpe,cmaes --parallel 1,4,8 --jobs 1 --raw /tmp/null.json
    python bench/quality.py --null-calibration --load /tmp/null.json   # the report again

``--seeds N`` is the seeds of one half (runs use 2N); ``--load`` takes traces of any run with an
even number of seeds per algorithm, problem, side and parallelism (``--seeds 20`` without
``--null-calibration`` runs the same traces).
"""

from __future__ import annotations

from collections.abc import Callable

import _problems as P
import _significance as S
import numpy as np
import quality as Q

RESULTS = P.HERE / "results" / "quality-null.md"
SPLITS = 200  # random halvings of the seeds for the expected count
DRAWS = 10_000  # simulated pairs of samples for the chance a cell misses

# A cell's chance miss, for samples from these distributions (the criterion compares interpolated
# order statistics, so it hardly depends on the distribution).
DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "uniform": lambda rng, shape: rng.random(shape),
    "exponential": lambda rng, shape: rng.exponential(size=shape),
    "lognormal(0, 3)": lambda rng, shape: rng.lognormal(0.0, 3.0, size=shape),
}

Group = tuple[str, str, int]  # (algorithm, side, parallelism)


def chance_miss(n: int, draw: Callable) -> float:
    """The probability that the IQR criterion misses one cell when both sides' n regrets come from
    the same distribution: the fraction of ``DRAWS`` simulated pairs of samples that miss."""
    samples = draw(np.random.default_rng(0), (DRAWS, 2 * n))
    met = sum(Q.verdict(Q.quartiles(s[n:]), Q.quartiles(s[:n]))[0] for s in samples)
    return 1.0 - met / DRAWS


def halves(records: list[dict]) -> tuple[list[dict], list[int], list[int]]:
    """The records with each side relabelled by half of the seeds (``half(side, seeds)``), and
    the two halves: (pykatib's place, the reference's). Every algorithm, problem, side and
    parallelism must have run on the same even number of seeds."""
    seeds = sorted({r["seed"] for r in records})
    found: dict[tuple, set[int]] = {}
    for r in records:
        found.setdefault((r["algorithm"], r["problem"], r["side"], Q.parallel_of(r)), set()).add(
            r["seed"]
        )
    odd = [k for k, s in found.items() if s != set(seeds)]
    if len(seeds) < 2 or len(seeds) % 2 or odd:
        raise ValueError(
            f"the null calibration splits the seeds ({len(seeds)} in these runs) in two equal "
            "halves, so it needs every algorithm, problem, side and parallelism run on the same "
            f"even number of seeds{'; not ' + str(odd[0]) if odd else ''}"
        )
    ours, theirs = seeds[len(seeds) // 2 :], seeds[: len(seeds) // 2]
    return (
        [{**r, "side": half(r["side"], ours if r["seed"] in ours else theirs)} for r in records],
        ours,
        theirs,
    )


def half(side: str, seeds: list[int]) -> str:
    return f"{side}, seeds {seeds[0]}..{seeds[-1]}"


def mean_missed(records: list[dict], group: Group, problems: list[str]) -> float:
    """The cells missed by ``group`` against itself, averaged over ``SPLITS`` random halvings of
    its seeds (the same halving on every problem)."""
    runs = {
        (r["problem"], r["seed"]): r
        for r in records
        if (r["algorithm"], r["side"], Q.parallel_of(r)) == group
    }
    seeds = sorted({seed for _, seed in runs})
    cells = []  # each problem@budget's regrets, seed by seed
    for problem in problems:
        if (problem, seeds[0]) in runs:
            optimum = P.PROBLEMS[problem].optimum
            for b in runs[(problem, seeds[0])]["budgets"]:
                regrets = [Q.regret(runs[(problem, s)]["values"], b, optimum) for s in seeds]
                cells.append(np.asarray(regrets))
    rng = np.random.default_rng(0)
    n = len(seeds) // 2
    missed = 0
    for _ in range(SPLITS):
        order = rng.permutation(len(seeds))
        for regrets in cells:
            ours, theirs = regrets[order[n:]], regrets[order[:n]]
            missed += not Q.verdict(Q.quartiles(ours), Q.quartiles(theirs))[0]
    return missed / SPLITS


def report(records: list[dict], meta: dict) -> str:
    """The null calibration's markdown. ``meta``: command, wall, load_at_start, measured."""
    split, ours, theirs = halves(records)
    summary = Q.summarise(split)
    problems = [p for p in P.PROBLEMS if any(r["problem"] == p for r in records)]
    order = {a: i for i, a in enumerate(P.ALGORITHM_ORDER)}
    groups = sorted(
        {(r["algorithm"], r["side"], Q.parallel_of(r)) for r in records},
        key=lambda g: (order.get(g[0], 99), g[1], g[2]),
    )
    n = len(ours)
    chance = {name: chance_miss(n, draw) for name, draw in DISTRIBUTIONS.items()}
    wall = meta.get("wall")
    lines = [
        (
            "# The IQR criterion's chance misses: a side against itself (bench/quality.py "
            "--null-calibration)"
        ),
        "",
        f"- Date: {P.now()}; pykatib at commit {meta['measured']}",
        (
            f"- Machine: {P.machine()}; 1-min load average {meta['load_at_start']} at the start, "
            f"{P.load()} at the end"
        ),
        f"- {P.versions_line()}",
        f"- Command: `{meta['command']}`" + (f" (wall time {wall / 60:.1f} min)" if wall else ""),
        (
            f"- Each side's runs on {2 * n} seeds split in two halves of {n}: the second half in "
            "pykatib's place, the first in the reference's; then bench/results/quality.md's "
            "Summary criterion (median regret at most the other half's Q3, per problem@budget) "
            "and its one-sided Mann-Whitney U test with Holm's correction over the row's cells "
            f"(`significantly worse`: adjusted p <= {S.ALPHA}). Runs, problems, budgets and the "
            "P > 1 trial loop as in bench/quality.py"
        ),
        (
            f"- A cell's chance miss for two samples of {n} from one continuous distribution "
            f"({DRAWS:,} simulated pairs): "
            + ", ".join(f"{p:.1%} ({name})" for name, p in chance.items())
            + f": about {20 * chance['uniform']:.1f} of 20 cells, {15 * chance['uniform']:.1f} "
            "of 15, for an algorithm that is exactly as good as its reference"
        ),
        "",
        f"## Expected chance misses of the IQR criterion at {n} seeds",
        "",
        (
            f"| algorithm | side | P | cells missed, seeds {ours[0]}..{ours[-1]} vs "
            f"{theirs[0]}..{theirs[-1]} | missed cells | mean missed over {SPLITS} random "
            "halvings | significantly worse |"
        ),
        "|---|---|---:|---:|---|---:|---:|",
    ]
    totals = [0, 0, 0.0, 0]
    for group in groups:
        algorithm, side, parallel = group
        cells = Q.compare(
            summary,
            algorithm,
            problems,
            (half(side, ours), parallel),
            (half(side, theirs), parallel),
        )
        missed = [c.name for c in cells if not c.met]
        mean = mean_missed(records, group, problems)
        significant = sum(c.significant for c in cells)
        totals[0] += len(missed)
        totals[1] += len(cells)
        totals[2] += mean
        totals[3] += significant
        lines.append(
            f"| {algorithm} | {side} | {parallel} | {len(missed)}/{len(cells)} | "
            f"{', '.join(missed) or '-'} | {mean:.2f} | {significant}/{len(cells)} |"
        )
    lines += [
        "",
        (
            f"Over every row: {totals[0]} of {totals[1]} cells missed ({totals[0] / totals[1]:.1%}),"
            f" {totals[2]:.1f} on average over the halvings ({totals[2] / totals[1]:.1%}), against "
            f"{chance['uniform']:.1%} by the simulation; significantly worse: {totals[3]}. So a "
            "row of bench/results/quality.md that misses about this many cells, none of them "
            "significantly, is what an algorithm exactly as good as its reference shows at this "
            "number of seeds."
        ),
        "",
    ]
    return "\n".join(lines)
