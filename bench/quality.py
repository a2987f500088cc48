"""Optimisation quality of pykatib's algorithms against their reference libraries, one trial at a
time and with trials run in parallel.

Each pykatib algorithm is driven in-process through its own interface, as the control plane
drives it: an ``Experiment`` with one ``double`` parameter per dimension (``parallelTrialCount`` =
the parallelism) goes through ``validate_algorithm`` and ``create_algorithm``, and ``suggest`` is
called for the free slots. In the same run, with the same seeds, the reference library runs the
same problem:

* Optuna's same sampler (RandomSampler, GridSampler on the same lattice, TPESampler,
  TPESampler(multivariate=True), CmaEsSampler, QMCSampler(sobol, scrambled), NSGAIISampler) with
  ``study.ask(distributions)`` / ``study.tell``;
* hyperopt's ``tpe.suggest`` as well for ``tpe`` (Katib's ``tpe`` ran hyperopt);
* scikit-optimize's ``Optimizer`` (GP, gp_hedge, 10 initial points: Katib's defaults) for
  ``bayesianoptimization``, Optuna's GPSampler when torch imports (install it with exactly
  ``pip install torch==2.13.0``), and HEBO where ``import hebo`` works (HEBO 0.3.6 pins
  numpy<1.25, so it is not installed next to this project's numpy; it is skipped with a note).

**Parallelism** (``--parallel``, default ``1,4,8``). With P = 1 every side runs as before: ask one
trial, evaluate it, tell it (pykatib: ``suggest(history, 1)``; Optuna: ``ask``/``tell``; hyperopt:
``fmin``; scikit-optimize: ``ask``/``tell``). With P > 1 the control plane's loop is simulated:
P trials are asked at once at the start; each trial runs for a random duration (exponential, mean
1, from a generator seeded by the run's seed and independent of every algorithm's random stream,
so both sides of a comparison see the same durations); trials finish in order of finish time, and
each time one finishes its value is told and the free slots (``min(free, budget - created)``) are
asked for, with the unfinished trials still running. Each side in its own batch mode:

* pykatib: ``suggest(history, k)``, the history holding every trial in creation order, running
  ones as ``TrialResult(name, assignments, "running", None)``;
* Optuna: ``study.ask()`` k times, the unfinished trials left RUNNING (every sampler sees them;
  TPE gets ``constant_liar=True``, as pykatib's ``tpe`` and ``multivariate-tpe`` use), ``tell`` in
  completion order;
* hyperopt: the low-level API as ``fmin``'s queue does it: ``tpe.suggest(trials.new_trial_ids(k),
  domain, trials, seed)`` until k docs are queued (after its start-up, each call returns one doc),
  the unfinished docs left RUNNING in the ``Trials`` (``tpe.suggest`` counts them at infinite loss,
  hyperopt's own rule); a finished doc gets state DONE and ``{"loss", "status": "ok"}``;
* scikit-optimize: ``Optimizer.ask(n_points=k)`` (its constant liar, ``cl_min``, within the batch)
  and ``tell`` in completion order; it has no notion of a trial asked in an earlier call and still
  running;
* HEBO: ``suggest(n_suggestions=k)`` and ``observe`` in completion order (no running trials either).

**Regret at budget B**: ``min f`` over the **first B trials created** minus ``f*``, i.e. what an
experiment with ``maxTrialCount`` B ends with once all its trials have finished (the trials asked
after the B-th cannot change the first B: every ask is made at the same moment, for the same number
of free slots, in a run to a larger budget). One run per (algorithm, problem, side, parallelism,
seed) goes to the largest budget. The report gives, per budget and parallelism, the median and
inter-quartile range over seeds, and whether pykatib's median is inside the reference's seed IQR or
better (at most the reference's third quartile), and whether pykatib's median with P > 1 is within
(or below) its own P = 1 IQR at the same budget. Also: the proposals that repeat an earlier trial
exactly (as Katib writes a double: ``repr(float)``), per algorithm, side and parallelism; a
Bayesmark-style normalised score, per problem ``median over seeds of (best - f*) / (median best of
random search - f*)`` (0: the optimum, 1: random search; the baseline is pykatib's ``random`` with
the same seeds and budget, every parallelism pooled), and its sum over the problems; references
whose traces equal pykatib's in every run (``sobol`` and Optuna's QMCSampler, ``grid`` and
GridSampler: the same engine) are named in a note, not printed as rows.

**Significance** (``bench/_significance.py``). The IQR verdict has no stated error rate: at 10
seeds it misses about one cell in seven for an algorithm exactly as good as its reference. Beside
each verdict, a one-sided Mann-Whitney U test of "pykatib's regrets over the seeds tend to be
larger" (seeds as independent runs), and likewise P > 1 against its own P = 1; each summary row's
p-values are Holm-adjusted over its cells, and the rows count and list the cells significantly
worse at 0.05. ``--null-calibration`` (``bench/_quality_null.py``; report
``bench/results/quality-null.md``) runs each side on twice ``--seeds`` seeds and applies the
criterion and the test to the side against itself on the two halves, giving the chance misses a
summary row should expect (about 15 min here):

    nice -n 10 python bench/quality.py --null-calibration --sides optuna --seeds 10 \
        --algorithms random,tpe,multivariate-tpe,cmaes --parallel 1,4,8 --jobs 1 --raw /tmp/null.json

Every algorithm gets ``random_state`` = the seed (``sobol`` is then scrambled, like the reference).
Problems (minimised, standard domains): Branin (2-d), Hartmann6, Ackley5, Rosenbrock5, Levy5.
``grid`` walks a cell-centred lattice with at least as many points as the largest budget, visited
in a seeded random order on both sides.

Budgets above 100 are run only for the cheap algorithms (random, grid, sobol, tpe, cmaes,
nsga2). The expensive one, ``bayesianoptimization``, runs by default only ``--expensive-seeds 3``
seeds on ``--expensive-problems hartmann6``, unless ``--seeds`` / ``--problems`` are given (then
those). Algorithms the registry does not implement, and those that are not black-box optimisers
(hyperband, pbt), are skipped with a note. ``--sides`` limits a run to some sides (``pykatib``,
``reference``, or package names: ``pykatib,optuna``), to merge with ``--load`` later; ``--jobs N``
runs N runs at a time in a process pool (each process single-threaded, the longest runs first).

Cost on this 2-core shared machine (load about 3), per 100-trial Hartmann6 run of
``bayesianoptimization``: pykatib 35-60 s (P = 1 to 8), Optuna's GPSampler 95-110 s (without the
optional ``greenlet`` package), scikit-optimize about 400 s; the cheap algorithms cost about the
same at every P (some 15 min of runs per parallelism for the default matrix).

    nice -n 10 python bench/quality.py                       # the default matrix, about 2 h
    nice -n 10 python bench/quality.py --algorithms tpe,random --problems branin --seeds 2 \\
        --budgets 25 --parallel 1,4 --out /tmp/q.md          # a few seconds
    nice -n 10 python bench/quality.py --raw /tmp/q.json     # also keep every run's trace
    python bench/quality.py --load /tmp/a.json --load /tmp/b.json   # report merged traces only
    nice -n 10 python -m pytest -q bench/test_quality.py     # the drivers' own checks, 30 s

(a) bayesianoptimization on Hartmann6, 8 seeds, P = 1, 4, 8, against Optuna's GPSampler and
scikit-optimize (24 runs a side: about 20 min pykatib, 40 min GPSampler, 2.7 h scikit-optimize;
some 2 h of wall time with ``--jobs 2``):

    nice -n 10 python bench/quality.py --algorithms bayesianoptimization --problems hartmann6 \\
        --seeds 8 --budgets 25,50,100 --parallel 1,4,8 --jobs 2 --raw /tmp/gp-h6.json \\
        --out /tmp/gp-h6.md

(b) The whole matrix: every algorithm on every problem with 10 seeds at P = 1, 4, 8, in parts
merged at the end (the random rows, the normalised score's baseline, come from the first):

    nice -n 10 python bench/quality.py --algorithms \\
        random,grid,sobol,tpe,multivariate-tpe,cmaes,nsga2,hyperband,pbt \\
        --jobs 2 --raw /tmp/cheap.json --out /tmp/cheap.md                  # about 30 min
    nice -n 10 python bench/quality.py --algorithms bayesianoptimization --sides pykatib,optuna \\
        --problems branin,hartmann6,ackley5,rosenbrock5,levy5 --seeds 10 --budgets 25,50,100 \\
        --jobs 2 --raw /tmp/gp.json --out /tmp/gp.md                        # about 3-4 h
    nice -n 10 python bench/quality.py --algorithms bayesianoptimization --sides scikit-optimize \\
        --problems branin,hartmann6,ackley5,rosenbrock5,levy5 --seeds 10 --budgets 25,50,100 \\
        --jobs 2 --raw /tmp/skopt.json --out /tmp/skopt.md                  # about 9 h
    python bench/quality.py --load /tmp/cheap.json --load /tmp/gp.json --load /tmp/skopt.json

Writes the markdown report to ``--out`` (default ``bench/results/quality.md``); the ``--raw`` JSON
carries each run's parallelism, values (in creation order) and repeated proposals.

**Reference traces are kept** in ``bench/results/raw/`` (``--raw`` files of reference sides only,
named ``<algorithm>-<reference package>-<problems>.json``). A reference's traces do not depend on
pykatib's commit (the same seeds, budgets and trial durations give the same runs), and Optuna's
GPSampler costs 75-200 s a run here, so a later session runs only pykatib's side and merges:

    nice -n 10 python bench/quality.py --algorithms bayesianoptimization --sides pykatib \
        --problems branin --seeds 8 --budgets 25,50,100 --parallel 1,4,8 --raw /tmp/pk.json \
        --out /tmp/pk.md
    python bench/quality.py --load bench/results/raw/bayesianoptimization-optuna-branin.json \
        --load /tmp/pk.json --out bench/results/quality-gp.md

Rerun a reference (and replace its file) only when its library's version changes, or for seeds,
budgets or parallelisms its file does not have (each record names its problem, parallelism and
seed; the file, the command, commit and library versions that made it).

``--tpe-startup`` compares ``tpe``'s default (random only for the first request, as Katib's hyperopt
service) with the default before it, hyperopt's split, and hyperopt's own TPE, trials asked
``--parallel`` at a time, each batch finishing together (default parallelism ``1,3``, report
``bench/results/tpe-startup.md``, about 10 min here):

    nice -n 10 python bench/quality.py --tpe-startup --seeds 30 --budgets 25,50,100 --parallel 1,3

``--multi-objective`` runs ``nsga2`` and multi-objective ``tpe`` on two-objective problems (ZDT1,
Branin-Currin) against Optuna's NSGAIISampler and TPESampler with two directions, with the same
trial loop, and reports hypervolume regret (``bench/_quality_mo.py``; report
``bench/results/quality-mo.md``, about 10 min here for 20 seeds at load 6-12):

    nice -n 10 python bench/quality.py --multi-objective --seeds 20 --raw /tmp/mo.json
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _problems as P
import _significance as S

from pykatib.suggest.base import SuggestionEndReached, TrialResult

RESULTS = P.HERE / "results" / "quality.md"
# Algorithms run to budgets above 100 (the others stop at 100).
CHEAP = ("random", "grid", "sobol", "tpe", "cmaes", "nsga2")
EXPENSIVE_MAX_BUDGET = 100
# Algorithms run on --expensive-seeds seeds and --expensive-problems only.
EXPENSIVE = ("bayesianoptimization",)
DEFAULT_BUDGETS = (25, 50, 100, 200)
DEFAULT_PARALLEL = (1, 4, 8)
# The normalised score's baseline: this algorithm's pykatib side.
BASELINE = "random"

# A run's trace: the objective values and the points (as Katib writes them), in creation order.
Trace = tuple[list[float], list[tuple[str, ...]]]


def _score(value: float) -> str:
    """A normalised score: 3 decimals, or 3 significant digits below 0.001 (a GP's 1e-4)."""
    return f"{value:.3f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"


# --- one run of each side, one trial at a time (P = 1: the benchmark as it always was) -------


def run_pykatib(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None
) -> Trace:
    """Objective values in trial order, through pykatib's Algorithm interface."""
    alg = P.create(algorithm, problem, seed, grid_k)
    history: list[TrialResult] = []
    values: list[float] = []
    for i in range(budget):
        try:
            proposals = alg.suggest(history, 1)
        except SuggestionEndReached:
            break
        if not proposals:
            break  # sequential and nothing running: an algorithm that waits would wait forever
        assignments = proposals[0].assignments
        value = problem([float(assignments[name]) for name in problem.names])
        history.append(TrialResult(f"trial-{i}", assignments, "succeeded", value))
        values.append(value)
    return values, [P.point_key([t.assignments[n] for n in problem.names]) for t in history]


def run_optuna(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None
) -> Trace:
    import optuna

    study = optuna.create_study(sampler=P.optuna_sampler(algorithm, seed, problem, grid_k))
    distributions = P.optuna_distributions(problem, grid_k)
    values, points = [], []
    for _ in range(budget):
        trial = study.ask(distributions)
        x = [trial.params[name] for name in problem.names]
        value = problem(x)
        tell(study, trial, value)
        values.append(value)
        points.append(P.point_key(x))
        if algorithm == "grid" and study.sampler.is_exhausted(study):
            break
    return values, points


def tell(study: Any, trial: Any, value: float) -> None:
    """``study.tell``; GridSampler calls ``study.stop()`` when the grid's last point is told, which
    raises outside ``study.optimize`` after the trial is stored: that is the grid's end."""
    try:
        study.tell(trial, value)
    except RuntimeError as e:
        if "Study.stop" not in str(e):
            raise


def run_hyperopt(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None
) -> Trace:
    from hyperopt import Trials, fmin, tpe

    trials = Trials()
    fmin(
        lambda params: problem([params[name] for name in problem.names]),
        hyperopt_space(problem),
        algo=tpe.suggest,
        max_evals=budget,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    points = [
        P.point_key([doc["misc"]["vals"][name][0] for name in problem.names])
        for doc in trials.trials
    ]
    return [float(v) for v in trials.losses()], points


def run_skopt(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None
) -> Trace:
    optimizer = P.skopt_optimizer(problem, seed)
    values, points = [], []
    for _ in range(budget):
        x = optimizer.ask()
        value = problem(x)
        optimizer.tell(x, value)
        values.append(value)
        points.append(P.point_key(x))
    return values, points


def hyperopt_space(problem: P.Problem) -> dict:
    from hyperopt import hp

    return {name: hp.uniform(name, lo, hi) for name, (lo, hi) in zip(problem.names, problem.bounds)}


# --- parallel trials: the control plane's loop ----------------------------------------------


def schedule(
    budget: int,
    parallel: int,
    seed: int,
    ask: Callable[[int], int],
    finish: Callable[[int], None],
) -> None:
    """Keep ``parallel`` trials in flight until ``budget`` trials have been created.

    ``ask(k)`` creates at most ``k`` trials now (they are numbered in creation order) and returns
    how many; it raises :class:`SuggestionEndReached` when there will never be more. Trial ``i``
    runs for ``P.durations(seed, budget)[i]``; ``finish(i)`` is called when it ends, in order of
    finish time, and the free slots are asked for right after. With ``parallel`` 1 this is the
    sequential loop: ask one, finish it, ask the next.
    """
    duration = P.durations(seed, budget)
    running: list[tuple[float, int]] = []  # (finish time, trial index): a heap
    created, now, ended = 0, 0.0, False

    def fill() -> None:
        nonlocal created, ended
        k = min(parallel - len(running), budget - created)
        if k <= 0 or ended:
            return
        try:
            made = ask(k)
        except SuggestionEndReached:
            ended = True
            return
        if made > k:
            raise RuntimeError(f"asked for {k} trials, {made} came back")
        for _ in range(made):
            heapq.heappush(running, (now + float(duration[created]), created))
            created += 1

    fill()
    while running:  # nothing running and nothing asked: an algorithm that waits waits forever
        now, i = heapq.heappop(running)
        finish(i)
        fill()


def run_pykatib_parallel(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None, parallel: int
) -> Trace:
    alg = P.create(algorithm, problem, seed, grid_k, parallel)
    history: list[TrialResult] = []

    def ask(k: int) -> int:
        proposals = alg.suggest(list(history), k)  # a fresh list per call, as the control plane's
        for p in proposals:
            history.append(TrialResult(f"trial-{len(history)}", p.assignments, "running", None))
        return len(proposals)

    def finish(i: int) -> None:
        t = history[i]
        value = problem([float(t.assignments[name]) for name in problem.names])
        history[i] = TrialResult(t.name, t.assignments, "succeeded", value)

    schedule(budget, parallel, seed, ask, finish)
    values = [float(t.value) for t in history if t.value is not None]
    return values, [P.point_key([t.assignments[n] for n in problem.names]) for t in history]


def run_optuna_parallel(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None, parallel: int
) -> Trace:
    import optuna

    sampler = P.optuna_sampler(algorithm, seed, problem, grid_k, parallel)
    study = optuna.create_study(sampler=sampler)
    distributions = P.optuna_distributions(problem, grid_k)
    trials: list[Any] = []
    values: list[float] = []

    def ask(k: int) -> int:
        if algorithm == "grid" and sampler.is_exhausted(study):
            raise SuggestionEndReached
        for _ in range(k):
            trials.append(study.ask(distributions))
            values.append(float("nan"))
        return k

    def finish(i: int) -> None:
        values[i] = problem([trials[i].params[name] for name in problem.names])
        tell(study, trials[i], values[i])

    schedule(budget, parallel, seed, ask, finish)
    return values, [P.point_key([t.params[n] for n in problem.names]) for t in trials]


def run_hyperopt_parallel(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None, parallel: int
) -> Trace:
    """hyperopt's ``tpe.suggest`` (its defaults, as ``fmin`` calls it) with unfinished trials in the
    ``Trials``: what ``fmin`` does with ``max_queue_len`` = the free slots and asynchronous
    workers, each call seeded from ``default_rng(seed)`` as ``fmin`` seeds them."""
    from hyperopt import JOB_STATE_DONE, JOB_STATE_RUNNING, STATUS_OK, Domain, Trials, tpe

    domain = Domain(lambda _: 0.0, hyperopt_space(problem))  # tpe.suggest never calls it
    trials = Trials()
    rstate = np.random.default_rng(seed)
    tids: list[int] = []
    values: list[float] = []
    points: list[tuple[str, ...]] = []

    def ask(k: int) -> int:
        made = 0
        while made < k:
            new_ids = trials.new_trial_ids(k - made)
            trials.refresh()
            docs = tpe.suggest(new_ids, domain, trials, rstate.integers(2**31 - 1))
            if not docs:
                break
            for doc in docs:
                doc["state"] = JOB_STATE_RUNNING
                tids.append(doc["tid"])
                values.append(float("nan"))
                points.append(P.point_key([doc["misc"]["vals"][n][0] for n in problem.names]))
            trials.insert_trial_docs(docs)
            trials.refresh()
            made += len(docs)
        return made

    def finish(i: int) -> None:
        doc = next(d for d in trials._dynamic_trials if d["tid"] == tids[i])
        values[i] = problem([doc["misc"]["vals"][name][0] for name in problem.names])
        doc["state"], doc["result"] = JOB_STATE_DONE, {"loss": values[i], "status": STATUS_OK}
        trials.refresh()

    schedule(budget, parallel, seed, ask, finish)
    return values, points


def run_skopt_parallel(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None, parallel: int
) -> Trace:
    optimizer = P.skopt_optimizer(problem, seed)
    xs: list[list[float]] = []
    values: list[float] = []

    def ask(k: int) -> int:
        batch = optimizer.ask(n_points=k) if k > 1 else [optimizer.ask()]
        xs.extend([float(v) for v in x] for x in batch)
        values.extend([float("nan")] * len(batch))
        return len(batch)

    def finish(i: int) -> None:
        values[i] = problem(xs[i])
        optimizer.tell(xs[i], values[i])

    schedule(budget, parallel, seed, ask, finish)
    return values, [P.point_key(x) for x in xs]


def run_hebo_parallel(
    algorithm: str, problem: P.Problem, seed: int, budget: int, grid_k: int | None, parallel: int
) -> Trace:
    optimizer = P.hebo_optimizer(problem, seed)
    rows: list[Any] = []  # one-row DataFrames, as HEBO's observe takes them back
    values: list[float] = []

    def ask(k: int) -> int:
        frame = optimizer.suggest(n_suggestions=k)
        for j in range(len(frame)):
            rows.append(frame.iloc[[j]])
            values.append(float("nan"))
        return len(frame)

    def finish(i: int) -> None:
        values[i] = problem([float(rows[i][name].iloc[0]) for name in problem.names])
        optimizer.observe(rows[i], np.array([[values[i]]]))

    schedule(budget, parallel, seed, ask, finish)
    return values, [
        P.point_key([rows[i][n].iloc[0] for n in problem.names]) for i in range(len(rows))
    ]


# package -> (one at a time, P = 1; with P trials in flight)
RUNNERS: dict[str, tuple[Callable[..., Trace] | None, Callable[..., Trace]]] = {
    "pykatib": (run_pykatib, run_pykatib_parallel),
    "optuna": (run_optuna, run_optuna_parallel),
    "hyperopt": (run_hyperopt, run_hyperopt_parallel),
    "scikit-optimize": (run_skopt, run_skopt_parallel),
    "hebo": (None, run_hebo_parallel),
}


def run_side(
    package: str,
    algorithm: str,
    problem: P.Problem,
    seed: int,
    budget: int,
    grid_k: int | None,
    parallel: int,
) -> Trace:
    sequential, batched = RUNNERS[package]
    if parallel == 1 and sequential is not None:
        return sequential(algorithm, problem, seed, budget, grid_k)
    return batched(algorithm, problem, seed, budget, grid_k, parallel)


def repeats(points: list[tuple[str, ...]]) -> list[int]:
    """Indices of the trials whose point equals an earlier trial's (finished or running)."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for i, point in enumerate(points):
        if point in seen:
            out.append(i)
        seen.add(point)
    return out


# --- the matrix -----------------------------------------------------------------------------


def plan(requested: list[str]) -> tuple[list[str], list[str]]:
    """(algorithms to run, notes on those skipped)."""
    available = P.implemented()
    run, notes = [], []
    for name in requested:
        if name not in available:
            notes.append(
                f"`{name}`: not implemented in pykatib yet (registry offers: "
                f"{', '.join(available)})"
            )
        elif name in P.NOT_BLACK_BOX:
            notes.append(f"`{name}`: skipped, {P.NOT_BLACK_BOX[name]}")
        elif P.rejection(name):
            notes.append(
                f"`{name}`: skipped, it rejects a single-objective experiment: {P.rejection(name)}"
            )
        elif not P.references(name, hebo=True):
            notes.append(f"`{name}`: no reference library known to this benchmark")
        else:
            for ref in P.references(name, hebo=True):
                if not ref.available:
                    notes.append(f"`{name}` vs {ref.label}: reference skipped ({ref.why_not})")
            run.append(name)
    return run, notes


def budgets_for(algorithm: str, budgets: list[int]) -> list[int]:
    if algorithm in CHEAP:
        return budgets
    return [b for b in budgets if b <= EXPENSIVE_MAX_BUDGET]


def wanted(sides: list[str], package: str) -> bool:
    if "both" in sides:
        return True
    if package == "pykatib":
        return "pykatib" in sides
    return "reference" in sides or package in sides


def units(args: argparse.Namespace, algorithms: list[str]) -> list[dict]:
    """One entry per run: (algorithm, problem, side, parallelism, seed), in report order."""
    out = []
    for algorithm in algorithms:
        budgets = budgets_for(algorithm, args.budgets)
        if not budgets:
            continue
        horizon = max(budgets)
        refs = [r for r in P.references(algorithm, hebo=True) if r.available]
        seeds, problems = args.seeds, args.problems
        if algorithm in EXPENSIVE:
            seeds = min(seeds, args.expensive_seeds)
            problems = [p for p in problems if p in args.expensive_problems]
        sides = [("pykatib", "pykatib")] + [(r.label, r.package) for r in refs]
        for problem_name in problems:
            problem = P.PROBLEMS[problem_name]
            grid_k = P.grid_points_per_dim(problem, horizon) if algorithm == "grid" else None
            for label, package in sides:
                if not wanted(args.sides, package):
                    continue
                for parallel in args.parallel:
                    for seed in range(seeds):
                        out.append(
                            {
                                "algorithm": algorithm,
                                "problem": problem_name,
                                "side": label,
                                "package": package,
                                "parallel": parallel,
                                "seed": seed,
                                "budgets": budgets,
                                "horizon": horizon,
                                "grid_k": grid_k,
                            }
                        )
    return out


def run_unit(unit: dict) -> dict:
    """One run: its record for the report and the --raw file."""
    problem = P.PROBLEMS[unit["problem"]]
    s0 = time.perf_counter()
    with P.quiet():
        values, points = run_side(
            unit["package"],
            unit["algorithm"],
            problem,
            unit["seed"],
            unit["horizon"],
            unit["grid_k"],
            unit["parallel"],
        )
    return {
        **{k: unit[k] for k in ("algorithm", "problem", "side", "package", "parallel", "seed")},
        "budgets": unit["budgets"],
        "values": values,
        "duplicates": repeats(points),
        "seconds": time.perf_counter() - s0,
    }


def _single_threaded() -> None:
    """A pool worker: one thread per process (the machine's cores are the pool's), and the
    libraries loaded before the first run is timed."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import optuna  # noqa: F401

    import pykatib.suggest.registry  # noqa: F401

    for module in ("hyperopt", "skopt", "torch"):  # as plan() loaded them in the parent
        P._has(module)


def completed(todo: list[dict], jobs: int) -> Iterator[dict]:
    """The records of ``todo``'s runs as they finish: in order, or from ``jobs`` processes."""
    if jobs <= 1:
        for unit in todo:
            yield run_unit(unit)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # BLAS and torch read these when they load (in each fresh worker): one thread each.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    # The longest runs first, so that the pool does not end on one long run.
    slowest = ("scikit-optimize", "hebo", "optuna")

    def cost(unit: dict) -> tuple[bool, int]:
        package = unit["package"]
        return unit["algorithm"] not in EXPENSIVE, slowest.index(package) if package in (
            slowest
        ) else len(slowest)

    order = sorted(todo, key=cost)
    context = multiprocessing.get_context("spawn")  # torch and forked threads do not mix
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_single_threaded) as pool:
        futures = [pool.submit(run_unit, unit) for unit in order]
        for future in as_completed(futures):
            yield future.result()


GROUP = ("algorithm", "problem", "side", "parallel")


def run_matrix(
    args: argparse.Namespace,
    algorithms: list[str],
    checkpoint: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Every run's record; ``checkpoint(records)`` is called after each side of each problem at
    each parallelism."""
    todo = units(args, algorithms)
    left: dict[tuple, int] = {}
    for unit in todo:
        key = tuple(unit[k] for k in GROUP)
        left[key] = left.get(key, 0) + 1
    spent: dict[tuple, float] = {}
    records: list[dict] = []
    started = time.perf_counter()
    for record in completed(todo, args.jobs):
        records.append(record)
        key = tuple(record[k] for k in GROUP)
        left[key] -= 1
        spent[key] = spent.get(key, 0.0) + record["seconds"]
        if left[key]:
            continue
        if checkpoint is not None:
            checkpoint(records)
        n = sum(1 for r in records if tuple(r[k] for k in GROUP) == key)
        horizon = max(record["budgets"])
        print(
            f"[{time.perf_counter() - started:7.0f}s] {key[0]:>20} {key[1]:<12} {key[2]:<40}"
            f" P={key[3]:<2} {n} seeds x {horizon} trials: {spent[key]:7.1f}s",
            flush=True,
        )
    rank = {id(u): i for i, u in enumerate(todo)}
    position = {tuple(u[k] for k in (*GROUP, "seed")): rank[id(u)] for u in todo}
    records.sort(key=lambda r: position[tuple(r[k] for k in (*GROUP, "seed"))])
    return records


# --- the report -----------------------------------------------------------------------------


def regret(values: list[float], budget: int, optimum: float) -> float:
    return min(values[:budget]) - optimum if values else float("inf")


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = np.percentile(np.asarray(xs, dtype=float), [25, 50, 75])
    return float(q1), float(q2), float(q3)


def fmt(x: float) -> str:
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return "inf" if x == float("inf") else "-"
    if 1e-3 <= abs(x) < 1e3:
        return f"{x:.3g}"
    return f"{x:.2e}"


def cell(q: tuple[float, float, float]) -> str:
    return f"{fmt(q[1])} [{fmt(q[0])}, {fmt(q[2])}]"


def verdict(pyk: tuple[float, float, float], ref: tuple[float, float, float]) -> tuple[bool, str]:
    median, (q1, _, q3) = pyk[1], ref
    slack = 1e-12 + 1e-9 * abs(q3)
    if median < q1 - slack:
        return True, "better"
    if median <= q3 + slack:
        return True, "inside"
    return False, "**worse**"


@dataclass(frozen=True)
class Cell:
    """One problem@budget of a comparison of two (side, parallelism): the IQR verdict and the
    one-sided test of "ours is worse" (:mod:`_significance`)."""

    name: str  # problem@budget
    met: bool  # the IQR criterion: ours' median at most theirs' Q3
    p: float  # one-sided Mann-Whitney U p-value of ours worse
    adjusted: float  # Holm over the comparison's cells

    @property
    def significant(self) -> bool:
        return self.adjusted <= S.ALPHA


def compare(
    summary: dict,
    algorithm: str,
    problems: list[str],
    ours: tuple[str, int],
    theirs: tuple[str, int],
) -> list[Cell]:
    """Every problem@budget that both (side, parallelism) ran, ours against theirs; the p-values
    Holm-adjusted over these cells (one summary row)."""
    found = []
    for problem in problems:
        a = summary.get((algorithm, problem, *ours))
        b = summary.get((algorithm, problem, *theirs))
        if a is None or b is None:
            continue
        for budget, q in a["by_budget"].items():
            if budget in b["by_budget"]:
                met, _ = verdict(q, b["by_budget"][budget])
                p = S.worse_p(a["regrets"][budget], b["regrets"][budget])
                found.append((f"{problem}@{budget}", met, p))
    adjusted = S.holm([p for _, _, p in found])
    return [Cell(*f, a) for f, a in zip(found, adjusted)]


def p_text(cells: list[Cell], name: str) -> str:
    """A per-problem table's p column: the cell's one-sided p, bold when significant (Holm)."""
    found = next((c for c in cells if c.name == name), None)
    if found is None:
        return "-"
    return f"**{S.fmt_p(found.p)}**" if found.significant else S.fmt_p(found.p)


def significant_text(cells: list[Cell]) -> str:
    """The two significance columns of a summary row: count and the cells with adjusted p."""
    worse = [f"{c.name} ({S.fmt_p(c.adjusted)})" for c in cells if c.significant]
    return f"{len(worse)}/{len(cells)} | {', '.join(worse) or '-'}"


SIGNIFICANT_HEADS = "significantly worse | significantly worse cells (Holm-adjusted p)"


def parallel_of(record: dict) -> int:
    """A record's parallelism (records written before it was recorded ran one at a time)."""
    return int(record.get("parallel", 1))


def summarise(records: list[dict]) -> dict:
    """(algorithm, problem, side, parallelism) -> {budget: quartiles}, regrets, counts, times."""
    table: dict[tuple[str, str, str, int], dict] = {}
    for r in records:
        key = (r["algorithm"], r["problem"], r["side"], parallel_of(r))
        entry = table.setdefault(
            key, {"runs": [], "budgets": r["budgets"], "package": r["package"]}
        )
        entry["runs"].append(r)
    out = {}
    for key, entry in table.items():
        optimum = P.PROBLEMS[key[1]].optimum
        runs = entry["runs"]
        regrets = {b: [regret(r["values"], b, optimum) for r in runs] for b in entry["budgets"]}
        counted = [r for r in runs if r.get("duplicates") is not None]
        out[key] = {
            "package": entry["package"],
            "seeds": len(runs),
            "seconds": float(np.mean([r["seconds"] for r in runs])),
            "short": sum(len(r["values"]) < max(entry["budgets"]) for r in runs),
            "regrets": regrets,
            "by_budget": {b: quartiles(xs) for b, xs in regrets.items()},
            "duplicates": sum(len(r["duplicates"]) for r in counted) if counted else None,
            "trials": sum(len(r["values"]) for r in counted),
        }
    return out


def shift(ours: list[float], theirs: list[float]) -> int | None:
    """0 when two traces are equal; 1 when ``theirs`` is ``ours`` one trial later (Optuna's
    QMCSampler draws its first trial at random, before it knows the search space); else None."""
    if theirs == ours:
        return 0
    if len(theirs) == len(ours) > 1 and theirs[1:] == ours[:-1]:
        return 1
    return None


def identical(records: list[dict]) -> tuple[dict[tuple[str, str], tuple[int, int]], set[tuple]]:
    """References whose traces are pykatib's (see :func:`shift`): {(algorithm, reference): (runs
    compared, largest shift)} for those so in every run compared, and the (algorithm, problem,
    reference, parallelism) cells so in every seed."""
    pykatib = {
        (r["algorithm"], r["problem"], parallel_of(r), r["seed"]): r["values"]
        for r in records
        if r["side"] == "pykatib"
    }
    cells: dict[tuple, int | None] = {}
    for r in records:
        if r["side"] == "pykatib":
            continue
        ours = pykatib.get((r["algorithm"], r["problem"], parallel_of(r), r["seed"]))
        if ours is None:
            continue
        key = (r["algorithm"], r["problem"], r["side"], parallel_of(r))
        s = shift(ours, r["values"])
        before = cells.get(key, 0)
        cells[key] = None if s is None or before is None else max(s, before)
    pairs: dict[tuple[str, str], list[int | None]] = {}
    for (algorithm, _, side, _), s in cells.items():
        pairs.setdefault((algorithm, side), []).append(s)
    runs: dict[tuple[str, str], tuple[int, int]] = {}
    for r in records:
        key = (r["algorithm"], r["side"])
        if key in pairs and None not in pairs[key]:
            n, s = runs.get(key, (0, 0))
            runs[key] = (n + 1, max(s for s in pairs[key] if s is not None))
    return runs, {k for k, s in cells.items() if s is not None}


def baselines(summary: dict) -> dict[tuple[str, int], float]:
    """(problem, budget) -> median regret of BASELINE's pykatib side, all parallelisms pooled."""
    pooled: dict[tuple[str, int], list[float]] = {}
    for (algorithm, problem, side, _), entry in summary.items():
        if algorithm == BASELINE and side == "pykatib":
            for b, xs in entry["regrets"].items():
                pooled.setdefault((problem, b), []).extend(xs)
    return {k: float(np.median(xs)) for k, xs in pooled.items()}


def normalised(summary: dict, base: dict) -> dict[tuple[str, str, int, int], dict[str, float]]:
    """(algorithm, side, parallelism, budget) -> {problem: median normalised regret}."""
    out: dict[tuple[str, str, int, int], dict[str, float]] = {}
    for (algorithm, problem, side, parallel), entry in summary.items():
        for b, xs in entry["regrets"].items():
            denominator = base.get((problem, b))
            if denominator is None or not denominator > 0:
                continue
            score = float(np.median(np.asarray(xs) / denominator))
            out.setdefault((algorithm, side, parallel, b), {})[problem] = score
    return out


def header(
    records: list[dict],
    command: str,
    wall: float | None,
    load_at_start: str,
    measured: str,
    parallels: list[int],
) -> list[str]:
    seeds = sorted({r["seed"] for r in records})
    lines = [
        (
            "# Optimisation quality: pykatib's algorithms vs their reference libraries "
            "(bench/quality.py)"
        ),
        "",
        f"- Date: {P.now()}; pykatib measured at commit {measured}",
        (
            f"- Machine: {P.machine()}; 1-min load average {load_at_start} at the start, "
            f"{P.load()} at the end (the machine is shared: timings are indicative)"
        ),
        f"- {P.versions_line()}",
        f"- Command: `{command}`" + (f" (wall time {wall / 60:.1f} min)" if wall else ""),
        f"- Seeds: {len(seeds)} ({seeds[0]}..{seeds[-1]}), `random_state` = seed on both sides"
        if seeds
        else "- Seeds: none",
        f"- Parallelism P (trials in flight): {', '.join(map(str, parallels))}",
        (
            "- P = 1: one trial at a time (pykatib: `create_algorithm(Experiment)` then "
            "`suggest(history, 1)` per trial; reference: the library's own ask/tell loop). "
            "P > 1: P trials asked at once, then the free slots asked for each time a trial "
            f"finishes, in order of finish time; trial durations {P.DURATIONS}, the same for "
            "every side; the unfinished trials are running when the algorithm is asked (pykatib: "
            "`TrialResult(state='running')` in the history; Optuna: RUNNING trials, TPE with "
            "`constant_liar=True`; hyperopt: RUNNING docs in its `Trials`, at infinite loss; "
            "scikit-optimize: `ask(n_points=k)`, which knows only its own batch; HEBO: "
            "`suggest(n_suggestions=k)`)"
        ),
        (
            "- Regret at budget B: f(best of the first B trials **created**) - f*, what an "
            "experiment with maxTrialCount B ends with; cells give median [Q1, Q3] over seeds"
        ),
        (
            "- Verdict: pykatib's median inside the reference's seed IQR (`inside`), below its Q1 "
            "(`better`), or above its Q3 (**worse**, the target missed), at the same P; "
            "`vs P=1`: the same test of pykatib's median at P against pykatib's own P = 1 IQR"
        ),
        (
            "- Significance, beside the verdict (bench/_significance.py): per cell a one-sided "
            "Mann-Whitney U test of \"pykatib's regrets tend to be larger than the reference's\" "
            "(`scipy.stats.mannwhitneyu(alternative='greater')`, the seeds as independent runs: "
            "the problems are deterministic and the sides draw from different generators), "
            "likewise P against its own P = 1 (same seeds, same generator: positively correlated "
            "runs, so the unpaired test is conservative); the p-values Holm-adjusted over each "
            f"summary row's cells; `significantly worse`: adjusted p <= {S.ALPHA}. The tables' "
            "`p` columns give each cell's unadjusted p, bold when significant after Holm. With 10 "
            "seeds only a large difference is significant: a miss that is not may still be real. "
            "How many cells the IQR criterion misses by chance at 10 seeds: "
            "bench/results/quality-null.md"
        ),
        "",
    ]
    return lines


def report(
    records: list[dict],
    notes: list[str],
    command: str,
    wall: float | None,
    load_at_start: str = "unknown",
    measured: str = "unknown",
) -> tuple[str, list[str]]:
    summary = summarise(records)
    algorithms = sorted(
        {k[0] for k in summary},
        key=lambda a: P.ALGORITHM_ORDER.index(a) if a in P.ALGORITHM_ORDER else 99,
    )
    problems = [p for p in P.PROBLEMS if any(k[1] == p for k in summary)]
    parallels = sorted({k[3] for k in summary})
    same_runs, same_cells = identical(records)

    def refs_of(algorithm: str, *, all_refs: bool = False) -> list[str]:
        refs = sorted({k[2] for k in summary if k[0] == algorithm and k[2] != "pykatib"})
        return refs if all_refs else [r for r in refs if (algorithm, r) not in same_runs]

    compared: dict[tuple, list[Cell]] = {}

    def comparison(algorithm: str, ours: tuple[str, int], theirs: tuple[str, int]) -> list[Cell]:
        key = (algorithm, ours, theirs)
        if key not in compared:
            compared[key] = compare(summary, algorithm, problems, ours, theirs)
        return compared[key]

    lines = header(records, command, wall, load_at_start, measured, parallels)
    notes = list(notes)
    for (algorithm, ref), (n, lag) in sorted(same_runs.items()):
        how = (
            "the same trace as pykatib's"
            if not lag
            else "pykatib's trace one trial later (its first trial is drawn at random, before "
            "the sampler knows the search space)"
        )
        notes.append(
            f"`{algorithm}` vs {ref}: {how} in all {n} runs (the same engine, seeded alike): "
            "its rows are left out"
        )
    if notes:
        lines += ["## Notes and skipped sides", ""] + [f"- {n}" for n in notes] + [""]

    # Summary: per algorithm, reference and parallelism, cells met and significantly worse.
    lines += [
        "## Summary",
        "",
        (
            "| algorithm | reference | P | cells met | worse cells (problem@budget) | "
            f"s/run pykatib | s/run reference | {SIGNIFICANT_HEADS} |"
        ),
        "|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    misses: list[str] = []
    for algorithm in algorithms:
        for ref in refs_of(algorithm):
            for parallel in parallels:
                row = comparison(algorithm, ("pykatib", parallel), (ref, parallel))
                if not row:
                    continue
                both = [
                    (
                        summary[(algorithm, p, "pykatib", parallel)],
                        summary[(algorithm, p, ref, parallel)],
                    )
                    for p in problems
                    if (algorithm, p, "pykatib", parallel) in summary
                    and (algorithm, p, ref, parallel) in summary
                ]
                worse = [c.name for c in row if not c.met]
                if worse:
                    misses.append(f"{algorithm} vs {ref} at P={parallel}: {', '.join(worse)}")
                lines.append(
                    f"| {algorithm} | {ref} | {parallel} | {len(row) - len(worse)}/{len(row)} | "
                    f"{', '.join(worse) or '-'} | {np.mean([a['seconds'] for a, _ in both]):.2f} | "
                    f"{np.mean([b['seconds'] for _, b in both]):.2f} | {significant_text(row)} |"
                )
    if lines[-1].startswith("|---"):
        lines.append("| (no reference side in these runs) | | | | | | | | |")
    lines.append("")
    # The bayesianoptimization target, where it was run.
    bo = summary.get(("bayesianoptimization", "hartmann6", "pykatib", 1))
    if bo is not None and 100 in bo["by_budget"]:
        median = bo["by_budget"][100][1]
        status = "met" if median <= 1e-3 else "**missed**"
        lines += [
            (
                f"- bayesianoptimization on Hartmann6 at 100 trials, one at a time: median regret "
                f"{fmt(median)} (target <= 1e-3: {status}; issue 3 quotes Optuna's GPSampler at "
                "about 1e-4, random search at about 1.3)"
            ),
            "",
        ]

    batched = [p for p in parallels if p > 1]
    if 1 in parallels and batched:
        lines += [
            "## Trials in parallel against one at a time",
            "",
            (
                "Each side's median with P trials in flight against its own P = 1 seed IQR at the "
                "same budget (`inside` or `better` meets it)."
            ),
            "",
            f"| algorithm | side | P | cells met | worse cells (problem@budget) | {SIGNIFICANT_HEADS} |",
            "|---|---|---:|---:|---|---:|---|",
        ]
        for algorithm in algorithms:
            for side in ["pykatib"] + refs_of(algorithm):
                for parallel in batched:
                    row = comparison(algorithm, (side, parallel), (side, 1))
                    if row:
                        worse = [c.name for c in row if not c.met]
                        name = f"**{side}**" if side == "pykatib" else side
                        lines.append(
                            f"| {algorithm} | {name} | {parallel} | {len(row) - len(worse)}/"
                            f"{len(row)} | {', '.join(worse) or '-'} | {significant_text(row)} |"
                        )
        lines.append("")

    lines += [
        "## Repeated proposals",
        "",
        (
            "Trials whose point repeats an earlier trial's (finished or still running) exactly, "
            "as Katib writes a double (`repr(float)`): repeats / trials, over every problem and "
            "seed."
        ),
        "",
        "| algorithm | side | " + " | ".join(f"P={p}" for p in parallels) + " |",
        "|---|---|" + "---:|" * len(parallels),
    ]
    for algorithm in algorithms:
        for side in ["pykatib"] + refs_of(algorithm):
            row = []
            for parallel in parallels:
                entries = [
                    v
                    for k, v in summary.items()
                    if k[0] == algorithm and k[2] == side and k[3] == parallel
                ]
                counted = [v for v in entries if v["duplicates"] is not None]
                if not counted:
                    row.append("-")
                    continue
                dups = sum(v["duplicates"] for v in counted)
                trials = sum(v["trials"] for v in counted)
                row.append(f"**{dups}**/{trials}" if dups else f"0/{trials}")
            lines.append(f"| {algorithm} | {side} | " + " | ".join(row) + " |")
    lines.append("")

    base = baselines(summary)
    lines += [
        "## Normalised score (Bayesmark-style)",
        "",
        (
            "Per problem, the median over seeds of (best found - f*) / (median best found by "
            f"pykatib's `{BASELINE}` - f*) at the same budget (its seeds at every P pooled): "
            "0 is the optimum, 1 is random search, lower is better; `sum` adds the problems "
            "(a row with fewer problems than the columns says how many it adds)."
        ),
        "",
    ]
    if not base:
        lines += [
            f"Not computed: these runs do not include pykatib's `{BASELINE}` (the baseline).",
            "",
        ]
    else:
        scores = normalised(summary, base)
        for b in sorted({k[3] for k in scores}):
            lines += [
                f"### budget {b}",
                "",
                "| algorithm | side | P | " + " | ".join(problems) + " | sum |",
                "|---|---|---:|" + "---:|" * (len(problems) + 1),
            ]
            for algorithm in algorithms:
                for side in ["pykatib"] + refs_of(algorithm):
                    for parallel in parallels:
                        by_problem = scores.get((algorithm, side, parallel, b))
                        if not by_problem:
                            continue
                        total = sum(by_problem.values())
                        total_text = _score(total)
                        if len(by_problem) < len(problems):
                            total_text += f" ({len(by_problem)} of {len(problems)})"
                        cells = [
                            _score(by_problem[p]) if p in by_problem else "-" for p in problems
                        ]
                        name = f"**{side}**" if side == "pykatib" else side
                        lines.append(
                            f"| {algorithm} | {name} | {parallel} | "
                            + " | ".join(cells)
                            + f" | {total_text} |"
                        )
            lines.append("")

    for problem in problems:
        prob = P.PROBLEMS[problem]
        heads, rule = [], []
        for parallel in parallels:
            heads += [f"pykatib P={parallel}", f"reference P={parallel}", f"verdict P={parallel}"]
            heads.append("p")
            rule += ["---"] * 4
            if parallel > 1 and 1 in parallels:
                heads += [f"P={parallel} vs P=1", "p"]
                rule += ["---"] * 2
        lines += [
            f"## {problem} ({prob.dim}-d, f* = {prob.optimum:g})",
            "",
            "| algorithm | budget | reference | " + " | ".join(heads) + " |",
            "|---|---:|---|" + "|".join(rule) + "|",
        ]
        for algorithm in algorithms:
            pyk = {p: summary.get((algorithm, problem, "pykatib", p)) for p in parallels}
            if not any(pyk.values()):
                continue
            budgets = sorted({b for v in pyk.values() if v for b in v["by_budget"]})
            refs = refs_of(algorithm)
            hidden = [r for r in refs_of(algorithm, all_refs=True) if r not in refs]
            for b in budgets:
                for ref in refs or ["-"]:
                    row = []
                    for parallel in parallels:
                        ours = pyk[parallel]
                        q = ours["by_budget"].get(b) if ours else None
                        other = summary.get((algorithm, problem, ref, parallel))
                        rq = other["by_budget"].get(b) if other else None
                        name = f"{problem}@{b}"
                        row += [
                            cell(q) if q else "-",
                            cell(rq) if rq else "-",
                            verdict(q, rq)[1] if q and rq else "-",
                            p_text(
                                comparison(algorithm, ("pykatib", parallel), (ref, parallel)), name
                            ),
                        ]
                        if parallel > 1 and 1 in parallels:
                            q1 = pyk[1]["by_budget"].get(b) if pyk[1] else None
                            row.append(verdict(q, q1)[1] if q and q1 else "-")
                            row.append(
                                p_text(
                                    comparison(algorithm, ("pykatib", parallel), ("pykatib", 1)),
                                    name,
                                )
                            )
                    name = ref
                    if ref == "-" and hidden:
                        name = "(" + ", ".join(hidden) + ": the same points, see the notes)"
                    lines.append(f"| {algorithm} | {b} | {name} | " + " | ".join(row) + " |")
        partly = sorted(
            f"{k[0]} vs {k[2]} at P={k[3]}"
            for k in same_cells
            if k[1] == problem and (k[0], k[2]) not in same_runs
        )
        if partly:
            lines += [
                "",
                "Traces identical to pykatib's (or one trial later) in every seed: "
                + "; ".join(partly),
            ]
        short = [
            f"{k[0]} ({k[2]}, P={k[3]}): {v['short']} of {v['seeds']} runs ended early"
            for k, v in summary.items()
            if k[1] == problem and v["short"]
        ]
        if short:
            lines += [
                "",
                "Runs that ended before the largest budget (grid exhausted etc.): "
                + "; ".join(short),
            ]
        lines.append("")
    return "\n".join(lines), misses


# --- tpe's start-up: Katib's rule against the default before it and hyperopt itself ----------

TPE_STARTUP_RESULTS = P.HERE / "results" / "tpe-startup.md"
TPE_DEFAULT = "pykatib tpe (default: start-up = request size)"
# side label -> ("pykatib", settings) or ("hyperopt", n_startup_jobs, None meaning the parallelism)
TPE_SIDES: dict[str, tuple[str, Any]] = {
    TPE_DEFAULT: ("pykatib", {}),
    "pykatib tpe before: n_startup_trials=10": ("pykatib", {"n_startup_trials": "10"}),
    "pykatib tpe, gamma=0.25 (hyperopt's split)": ("pykatib", {"gamma": "0.25"}),
    "hyperopt tpe.suggest, n_startup_jobs = parallel (Katib's)": ("hyperopt", None),
    "hyperopt tpe.suggest, n_startup_jobs = 20 (hyperopt's)": ("hyperopt", 20),
}


def run_pykatib_batches(
    problem: P.Problem, seed: int, budget: int, parallel: int, settings: dict[str, str]
) -> list[float]:
    """pykatib's tpe asked for ``parallel`` trials at a time, each batch finishing together (what
    the control plane asks when trials take equally long)."""
    from pykatib.suggest.registry import create_algorithm, validate_algorithm

    exp = P.experiment("tpe", problem, {**P.seeded_settings("tpe", seed), **settings})
    exp.spec.parallel_trial_count = parallel
    assert not validate_algorithm("tpe", exp)
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    while len(history) < budget:
        for p in algorithm.suggest(history, min(parallel, budget - len(history))):
            value = problem([float(p.assignments[name]) for name in problem.names])
            history.append(TrialResult(f"trial-{len(history)}", p.assignments, "succeeded", value))
    return [t.value for t in history if t.value is not None]


def run_hyperopt_batches(
    problem: P.Problem, seed: int, budget: int, parallel: int, n_startup_jobs: int
) -> list[float]:
    """hyperopt's tpe.suggest in batches of ``parallel``: each proposal sees the batch's earlier
    ones as pending (infinite loss, hyperopt's own rule for unfinished trials)."""
    from hyperopt import JOB_STATE_DONE, STATUS_OK, Domain, Trials, hp, tpe

    space = {
        name: hp.uniform(name, lo, hi) for name, (lo, hi) in zip(problem.names, problem.bounds)
    }
    domain = Domain(lambda _: 0.0, space)
    trials = Trials()
    rng = np.random.default_rng(seed)
    values: list[float] = []
    while len(values) < budget:
        batch = set()
        for _ in range(min(parallel, budget - len(values))):
            seed_i = int(rng.integers(2**31 - 1))
            docs = tpe.suggest(
                trials.new_trial_ids(1), domain, trials, seed_i, n_startup_jobs=n_startup_jobs
            )
            trials.insert_trial_docs(docs)
            trials.refresh()
            batch.add(docs[0]["tid"])
        for doc in trials.trials:
            if doc["tid"] in batch:
                value = problem([doc["misc"]["vals"][name][0] for name in problem.names])
                doc["state"], doc["result"] = JOB_STATE_DONE, {"loss": value, "status": STATUS_OK}
                values.append(value)
        trials.refresh()
    return values


def run_tpe_startup(args: argparse.Namespace, save: Callable[[list[dict]], None]) -> list[dict]:
    """Every side of TPE_SIDES on every problem, parallelism and seed; records as run_matrix's,
    with ``algorithm`` naming the parallelism."""
    records: list[dict] = []
    started = time.perf_counter()
    horizon = max(args.budgets)
    for parallel in args.parallel:
        for problem_name in args.problems:
            problem = P.PROBLEMS[problem_name]
            for label, (package, how) in TPE_SIDES.items():
                t0 = time.perf_counter()
                for seed in range(args.seeds):
                    s0 = time.perf_counter()
                    with P.quiet():
                        if package == "pykatib":
                            values = run_pykatib_batches(problem, seed, horizon, parallel, how)
                        else:
                            startup = parallel if how is None else how
                            values = run_hyperopt_batches(problem, seed, horizon, parallel, startup)
                    records.append(
                        {
                            "algorithm": f"parallel {parallel}",
                            "parallel": parallel,
                            "problem": problem_name,
                            "side": label,
                            "package": package,
                            "seed": seed,
                            "budgets": args.budgets,
                            "values": values,
                            "seconds": time.perf_counter() - s0,
                        }
                    )
                save(records)
                print(
                    f"[{time.perf_counter() - started:6.0f}s] parallel {parallel} {problem_name:<12}"
                    f" {label:<58} {time.perf_counter() - t0:6.1f}s",
                    flush=True,
                )
    return records


def width(parallel: str) -> int:
    """The parallelism of a --tpe-startup row, ``"parallel 3"``: 3."""
    return int(parallel.split()[1])


def tpe_startup_report(
    records: list[dict], command: str, wall: float, load_at_start: str, measured: str
) -> str:
    summary = summarise(records)
    parallels = sorted({r["algorithm"] for r in records}, key=width)
    problems = [p for p in P.PROBLEMS if any(r["problem"] == p for r in records)]
    references = [label for label in TPE_SIDES if label != TPE_DEFAULT]
    seeds = sorted({r["seed"] for r in records})
    lines = [
        (
            "# tpe's start-up: Katib's rule against the default before it and hyperopt "
            "(bench/quality.py --tpe-startup)"
        ),
        "",
        f"- Date: {P.now()}; pykatib measured at commit {measured}",
        (
            f"- Machine: {P.machine()}; 1-min load average {load_at_start} at the start, "
            f"{P.load()} at the end"
        ),
        f"- {P.versions_line()}",
        f"- Command: `{command}` (wall time {wall / 60:.1f} min)",
        (
            f"- Seeds: {len(seeds)} ({seeds[0]}..{seeds[-1]}), `random_state` = seed on pykatib's "
            "side, hyperopt's rstate from the seed"
        ),
        (
            "- Trials are asked `parallel` at a time and each batch finishes together (equal trial "
            "durations): pykatib's `suggest(history, parallel)`; hyperopt's `tpe.suggest` once per "
            "trial of the batch, the batch's earlier trials pending (hyperopt counts them at infinite "
            "loss). Katib's hyperopt service instead proposes one point `parallel` times after the "
            "first batch (kubeflow/katib#1329), which this does not reproduce."
        ),
        "- Regret: f(best of the first `budget` trials) - f*; cells give median [Q1, Q3] over seeds",
        (
            f"- Verdict of `{TPE_DEFAULT}` against each other side: its median inside that side's "
            "seed IQR (`inside`), below its Q1 (`better`), or above its Q3 (**worse**)"
        ),
        "",
        "## Summary",
        "",
        "| parallel | against | cells met | worse cells (problem@budget) |",
        "|---|---|---:|---|",
    ]
    for parallel in parallels:
        for ref in references:
            met, total, worse = 0, 0, []
            for problem in problems:
                ours = summary.get((parallel, problem, TPE_DEFAULT, width(parallel)))
                other = summary.get((parallel, problem, ref, width(parallel)))
                if ours is None or other is None:
                    continue
                for b, q in ours["by_budget"].items():
                    ok, _ = verdict(q, other["by_budget"][b])
                    total += 1
                    met += ok
                    if not ok:
                        worse.append(f"{problem}@{b}")
            lines.append(
                f"| {parallel.split()[1]} | {ref} | {met}/{total} | {', '.join(worse) or '-'} |"
            )
    lines.append("")
    for problem in problems:
        prob = P.PROBLEMS[problem]
        lines += [
            f"## {problem} ({prob.dim}-d, f* = {prob.optimum:g})",
            "",
            "| parallel | budget | side | median [Q1, Q3] | default's verdict | s/run |",
            "|---:|---:|---|---|---|---:|",
        ]
        for parallel in parallels:
            ours = summary.get((parallel, problem, TPE_DEFAULT, width(parallel)))
            if ours is None:
                continue
            for b, q in ours["by_budget"].items():
                for label in TPE_SIDES:
                    side = summary.get((parallel, problem, label, width(parallel)))
                    if side is None:
                        continue
                    rq = side["by_budget"][b]
                    word = "-" if label == TPE_DEFAULT else verdict(q, rq)[1]
                    name = f"**{label}**" if label == TPE_DEFAULT else label
                    lines.append(
                        f"| {parallel.split()[1]} | {b} | {name} | {cell(rq)} | {word} | "
                        f"{side['seconds']:.2f} |"
                    )
        lines.append("")
    return "\n".join(lines)


def tpe_startup_main(args: argparse.Namespace, command: str) -> int:
    load_at_start, measured = P.load(), P.commit()
    t0 = time.perf_counter()

    def save(records: list[dict]) -> None:
        if args.raw:
            args.raw.write_text(json.dumps({"command": command, "records": records}))

    records = run_tpe_startup(args, save)
    text = tpe_startup_report(
        records, command.strip(), time.perf_counter() - t0, load_at_start, measured
    )
    out = args.out or TPE_STARTUP_RESULTS
    out.write_text(text + "\n")
    print(f"wrote {out}")
    return 0


def multi_objective_main(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None
) -> int:
    """``--multi-objective``: the flags read for bench/_quality_mo.py, whose defaults differ."""
    import _quality_mo as MO

    everything = ",".join(P.ALGORITHM_ORDER)
    names = MO.ALGORITHMS if args.algorithms == everything else args.algorithms.split(",")
    args.algorithms = [a.strip() for a in names if a.strip()]
    args.problems = [p.strip() for p in (args.problems or ",".join(P.MO_PROBLEMS)).split(",")]
    args.seeds = 10 if args.seeds is None else args.seeds
    budgets = args.budgets or ",".join(map(str, MO.DEFAULT_BUDGETS))
    args.budgets = sorted({int(b) for b in budgets.split(",")})
    parallel = args.parallel or ",".join(map(str, DEFAULT_PARALLEL))
    args.parallel = sorted({int(p) for p in parallel.split(",")})
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    args.out = args.out or MO.RESULTS
    if set(args.algorithms) - set(MO.ALGORITHMS):
        parser.error(f"--multi-objective runs {', '.join(MO.ALGORITHMS)}: not {args.algorithms}")
    if set(args.problems) - set(P.MO_PROBLEMS):
        parser.error(f"unknown problem(s) {args.problems}; known: {list(P.MO_PROBLEMS)}")
    if set(args.sides) - {"both", "pykatib", "reference", "optuna"}:
        parser.error(f"--sides: {args.sides}; known: both, pykatib, reference, optuna")
    command = "python bench/quality.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    return MO.main(args, command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--algorithms",
        default=",".join(a for a in P.ALGORITHM_ORDER),
        help="comma-separated Katib algorithm names (default: all; unimplemented ones are "
        "skipped with a note)",
    )
    parser.add_argument("--problems", help=f"default: {','.join(P.PROBLEMS)}")
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 10)")
    parser.add_argument(
        "--budgets",
        help="comma-separated trial budgets (default 25,50,100,200; --multi-objective: "
        "50,100,200); those above 100 only for the cheap algorithms",
    )
    parser.add_argument(
        "--expensive-seeds",
        type=int,
        help="seeds for the expensive algorithms (bayesianoptimization; default 3, or --seeds "
        "when it is given)",
    )
    parser.add_argument(
        "--expensive-problems",
        help="problems for the expensive algorithms (default hartmann6, the target's problem, or "
        "--problems when it is given)",
    )
    parser.add_argument(
        "--sides",
        default="both",
        help="comma-separated sides to run: both (default), pykatib, reference (every "
        "reference), or a reference's package (optuna, hyperopt, scikit-optimize, hebo); "
        "to merge with --load later",
    )
    parser.add_argument(
        "--parallel",
        help="comma-separated numbers of trials in flight (default "
        f"{','.join(map(str, DEFAULT_PARALLEL))}; --tpe-startup: 1,3)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time, in a process pool (default 1: in this process)",
    )
    parser.add_argument(
        "--tpe-startup",
        action="store_true",
        help="compare tpe's default start-up with the default before it and hyperopt's TPE, "
        f"trials asked --parallel at a time (report: {TPE_STARTUP_RESULTS.relative_to(P.REPO)})",
    )
    parser.add_argument(
        "--multi-objective",
        action="store_true",
        help="nsga2 and multi-objective tpe on two-objective problems, against Optuna "
        "(default problems zdt1,branin-currin, budgets 50,100,200; report: "
        "bench/results/quality-mo.md)",
    )
    parser.add_argument(
        "--null-calibration",
        action="store_true",
        help="run every side on 2 x --seeds seeds and report each against itself on disjoint "
        "halves: the IQR criterion's chance misses (report: bench/results/quality-null.md)",
    )
    parser.add_argument(
        "--out", type=Path, help=f"report file (default {RESULTS.relative_to(P.REPO)})"
    )
    parser.add_argument("--raw", type=Path, help="also write every run's values as JSON here")
    parser.add_argument(
        "--load",
        type=Path,
        action="append",
        help="report the runs in this --raw file instead of running (repeatable: merged)",
    )
    args = parser.parse_args(argv)
    if args.multi_objective:
        return multi_objective_main(parser, args, argv)
    args.algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    # The expensive algorithms run on fewer seeds and problems, unless the command names them.
    if args.expensive_seeds is None:
        args.expensive_seeds = 3 if args.seeds is None else args.seeds
    if args.expensive_problems is None:
        args.expensive_problems = "hartmann6" if args.problems is None else args.problems
    args.seeds = 10 if args.seeds is None else args.seeds
    if args.null_calibration:  # two halves of --seeds each
        args.seeds, args.expensive_seeds = 2 * args.seeds, 2 * args.expensive_seeds
    args.problems = [p.strip() for p in (args.problems or ",".join(P.PROBLEMS)).split(",")]
    args.problems = [p for p in args.problems if p]
    budgets = args.budgets or ",".join(map(str, DEFAULT_BUDGETS))
    args.budgets = sorted({int(b) for b in budgets.split(",")})
    args.expensive_problems = [p.strip() for p in args.expensive_problems.split(",")]
    unknown = [p for p in args.problems if p not in P.PROBLEMS]
    if unknown:
        parser.error(f"unknown problem(s) {unknown}; known: {list(P.PROBLEMS)}")
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    known_sides = {"both", "pykatib", "reference", *RUNNERS}
    if not args.sides or set(args.sides) - known_sides:
        parser.error(f"--sides: {args.sides}; known: {sorted(known_sides)}")
    if args.parallel is None:
        args.parallel = "1,3" if args.tpe_startup else ",".join(map(str, DEFAULT_PARALLEL))
    args.parallel = sorted({int(p) for p in args.parallel.split(",")})
    if min(args.parallel) < 1 or args.jobs < 1:
        parser.error("--parallel and --jobs take numbers of at least 1")

    command = "python bench/quality.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.tpe_startup:
        return tpe_startup_main(args, command)
    if args.null_calibration:
        import _quality_null as NULL

        args.out = args.out or NULL.RESULTS
    args.out = args.out or RESULTS
    if args.load:
        records, notes, wall, load_at_start = [], [], None, "unknown"
        commands, walls, loads, commits = [], [], [], []
        for path in args.load:
            data = json.loads(path.read_text())
            records += data["records"]
            notes += [n for n in data.get("notes", []) if n not in notes]
            commands.append(data.get("command", "?").strip())
            walls.append(data.get("wall") or 0.0)
            loads.append(str(data.get("load_at_start", "unknown")))
            commits.append(str(data.get("commit", "unknown")))
        # The runs that produced the traces, not the command that merged them.
        command = " ; ".join(commands) + (" (merged)" if len(commands) > 1 else "")
        wall = sum(walls) or None
        load_at_start = "/".join(loads)
        measured = " / ".join(dict.fromkeys(commits))
    else:
        algorithms, notes = plan(args.algorithms)
        for n in notes:
            print("skip:", n, flush=True)
        load_at_start = P.load()
        measured = P.commit()
        t0 = time.perf_counter()

        def save(records: list[dict], wall: float | None = None) -> None:
            if not args.raw:
                return
            args.raw.write_text(
                json.dumps(
                    {
                        "command": command,
                        "notes": notes,
                        "wall": wall,
                        "load_at_start": load_at_start,
                        "commit": measured,
                        "versions": P.versions_line(),
                        "parallel": args.parallel,
                        "durations": P.DURATIONS,
                        "records": records,
                    }
                )
            )

        records = run_matrix(args, algorithms, save)
        wall = time.perf_counter() - t0
        save(records, wall)
    if args.null_calibration:
        meta = {
            "command": command.strip(),
            "wall": wall,
            "load_at_start": load_at_start,
            "measured": measured,
        }
        try:
            text, misses = NULL.report(records, meta), []
        except ValueError as e:
            parser.error(str(e))
    else:
        text, misses = report(records, notes, command.strip(), wall, load_at_start, measured)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"wrote {args.out}")
    for m in misses:
        print("target missed:", m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
