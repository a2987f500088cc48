"""Observations per second of the StdOut collection path, from a real trial process.

A trial (``python -c``) prints N lines like ``epoch=7 loss=0.123 accuracy=0.9`` as fast as it
can. Throughput, per run:

* raw floor: this process reads the trial's stdout through a pipe and only counts the lines
  (the cost of the pipe and of Python's line iteration);
* parse: the same, with TextMetricsParser.feed + MetricSummary.add per line;
* pykatib run: pykatib's own path end to end, in process: one experiment of one trial driven by
  :class:`~pykatib.control.controller.Controller` (the local runner and its shim, the StdOut
  collector tailing the trial's log, the reconcile loop, pykatib's SQLite store), every
  observation landing in pykatib's observation table (counted there after the run);
* parser alone: the parser on lines already in memory (no trial).

Each line holds 2 observations (loss, accuracy).

Side by side with a peer doing the same job, on a shorter trial (``--peer-lines``, since the
peer commits each value): **Optuna** with its RDB (SQLite) storage reads the same trial's
stdout through a pipe, parses each line (a regular expression, as a user's objective would) and
calls ``trial.report(loss, step=epoch)``, then ``study.tell``; its intermediate values hold one
series, so it stores one observation a line to pykatib's two (compare lines/s). Both are timed
from spawning the trial to the last value stored.

Writes ``bench/results/collect.md``.

    python bench/collect.py [--lines 200000] [--peer-lines 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from pykatib.metrics.summary import MetricSummary
from pykatib.metrics.text import TextMetricsParser

METRICS = ["loss", "accuracy"]
FLOOR = "raw floor (read lines only)"
PARSE = "parse (TextMetricsParser + MetricSummary)"
RESULTS = Path(__file__).parent / "results" / "collect.md"
TRIAL_CODE = (
    "import sys\n"
    "write = sys.stdout.write\n"
    "for i in range({n}):\n"
    "    write(f'epoch={{i}} loss=0.123 accuracy=0.9\\n')\n"
)


def run_trial(n: int, consume: Callable[[IO[str]], int]) -> tuple[float, int]:
    """Seconds from spawning the trial to its exit, and what ``consume(stdout)`` returned."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", TRIAL_CODE.format(n=n)],
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1 << 16,
    )
    assert proc.stdout is not None
    count = consume(proc.stdout)
    if proc.wait() != 0:
        raise RuntimeError("trial process failed")
    return time.perf_counter() - start, count


def raw_floor(stdout: IO[str]) -> int:
    lines = 0
    for _ in stdout:
        lines += 1
    return lines * len(METRICS)


def parse_only(stdout: IO[str]) -> int:
    parser = TextMetricsParser(METRICS)
    summary = MetricSummary()
    feed, add = parser.feed, summary.add
    count = 0
    for line in stdout:
        for point in feed(line):
            add(point)
            count += 1
    assert summary.to_metrics(["loss"])[0].latest == "0.123"
    return count


def parser_alone(n: int) -> tuple[float, int]:
    """The parser on lines already in memory: the lines/s the parser can take at most."""
    lines = [f"epoch={i} loss=0.123 accuracy=0.9\n" for i in range(n)]
    parser = TextMetricsParser(METRICS)
    start = time.perf_counter()
    count = 0
    for line in lines:
        count += len(parser.feed(line))
    return time.perf_counter() - start, count


def through_pykatib(n: int) -> tuple[float, int]:
    """The real path: one experiment with one trial, run by pykatib's control plane (the local
    runner's reader thread, the StdOut collector, the reconcile loop, the SQLite store)."""
    import tempfile

    from pykatib.api.yaml import parse_experiments
    from pykatib.control.controller import Controller
    from pykatib.store import Store

    code = (
        "import sys\nw = sys.stdout.write\n"
        f"for i in range({n}):\n    w(f'epoch={{i}} loss=0.123 accuracy=0.9\\n')\n"
    )
    doc = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "collect"},
        "spec": {
            "objective": {
                "type": "minimize",
                "objectiveMetricName": "loss",
                "additionalMetricNames": ["accuracy"],
            },
            "algorithm": {"algorithmName": "random"},
            "maxTrialCount": 1,
            "parallelTrialCount": 1,
            "parameters": [
                {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
            ],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "main",
                                        "command": [
                                            sys.executable,
                                            "-c",
                                            code,
                                            "${trialParameters.x}",
                                        ],
                                    }
                                ],
                            }
                        }
                    },
                },
            },
        },
    }
    import json

    [(exp, _)] = parse_experiments(json.dumps(doc))
    with tempfile.TemporaryDirectory() as home:
        store = Store(f"sqlite:///{home}/bench.db")
        controller = Controller(store, home=Path(home))
        controller.apply(exp, Path(home))
        start = time.perf_counter()
        controller.run([(exp.namespace, exp.name)])
        seconds = time.perf_counter() - start
        [trial] = store.list_trials()
        count = len(store.list_observations(trial.namespace, trial.name))
        store.close()
    return seconds, count


METRIC_PAIR = re.compile(r"([A-Za-z_]+)=([-+0-9.eE]+)")


def through_optuna(n: int) -> tuple[float, int]:
    """The peer: an Optuna trial reporting the same trial's loss lines into SQLite storage."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        study = optuna.create_study(storage=f"sqlite:///{tmp}/optuna.db")
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", TRIAL_CODE.format(n=n)],
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1 << 16,
        )
        assert proc.stdout is not None
        loss = None
        for line in proc.stdout:
            values = dict(METRIC_PAIR.findall(line))
            loss = float(values["loss"])
            trial.report(loss, step=int(values["epoch"]))
        if proc.wait() != 0:
            raise RuntimeError("trial process failed")
        study.tell(trial, loss)
        seconds = time.perf_counter() - start
        [frozen] = study.get_trials(deepcopy=False)
        count = len(frozen.intermediate_values)
    return seconds, count


def git_commit() -> str:
    proc = subprocess.run(
        ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "?"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--lines", type=int, default=200_000)
    args.add_argument("--peer-lines", type=int, default=2_000, help="lines of the peer comparison")
    args.add_argument("--repeat", type=int, default=3)
    args.add_argument("--no-write", action="store_true", help="print only, keep collect.md")
    opts = args.parse_args()
    n, repeat, m = opts.lines, opts.repeat, opts.peer_lines
    if n < 1 or m < 1 or repeat < 1:
        args.error("--lines, --peer-lines and --repeat must be positive")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())

    consumers = {FLOOR: raw_floor, PARSE: parse_only}
    results = {
        name: min(run_trial(n, consume) for _ in range(repeat))
        for name, consume in consumers.items()
    }
    alone_s, alone_obs = min(parser_alone(n) for _ in range(repeat))
    PYKATIB = "pykatib run: runner, shim, StdOut collector, reconcile loop, pykatib's SQLite store"
    results[PYKATIB] = min(through_pykatib(n) for _ in range(repeat))

    # The peer comparison: alternating, the best of each.
    pk_runs, optuna_runs = [], []
    for i in range(repeat):
        for side in ("pykatib", "optuna") if i % 2 == 0 else ("optuna", "pykatib"):
            if side == "pykatib":
                pk_runs.append(through_pykatib(m))
            else:
                optuna_runs.append(through_optuna(m))
    pk_peer, optuna_peer = min(pk_runs), min(optuna_runs)
    assert pk_peer[1] == 2 * m, pk_peer
    assert optuna_peer[1] == m, optuna_peer

    floor_s, floor_obs = results[FLOOR]
    floor_rate = floor_obs / floor_s
    rows = []
    for name, (seconds, obs) in results.items():
        assert obs == 2 * n, (name, obs)
        rate = obs / seconds
        ratio = rate / floor_rate
        rows.append(f"| {name} | {seconds:.3f} | {rate:,.0f} | {n / seconds:,.0f} | {ratio:.2f} |")
    alone = f"{alone_s:.3f} | {alone_obs / alone_s:,.0f} | {n / alone_s:,.0f}"
    rows.append(f"| parser alone, lines in memory (no trial) | {alone} | – |")
    end_to_end = 2 * n / results[PYKATIB][0]
    peer_rows = [
        f"| {name} | {seconds:.3f} | {obs:,} | {obs / seconds:,.0f} | {m / seconds:,.0f} |"
        for name, (seconds, obs) in (
            ("pykatib run (as above)", pk_peer),
            ("Optuna: `trial.report` per line, SQLite storage", optuna_peer),
        )
    ]
    speedup = optuna_peer[0] / pk_peer[0]

    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    system = f"{platform.system()} {platform.release()}"
    import optuna

    versions = (
        f"SQLAlchemy {sa.__version__}, SQLite {sqlite3.sqlite_version}, optuna {optuna.__version__}"
    )
    trial = f"`python -c` printing {n:,} lines `epoch=i loss=0.123 accuracy=0.9`"
    command = shlex.join(["python", "bench/collect.py", *sys.argv[1:]])
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report = "\n".join(
        [
            "# Metrics collection throughput (bench/collect.py)",
            "",
            f"- Date: {now}, commit {git_commit()}",
            f"- Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, {system}",
            f"- Python {platform.python_version()}, {versions}",
            f"- Command: `{command}`",
            f"- Load average (1, 5, 15 min) before / after: {load_before} / {load_after}",
            f"- Trial: {trial} (2 observations each)",
            f"- Best of {repeat} runs; wall time from spawning the trial to its exit (pykatib:",
            "  to the end of its run, every observation stored)",
            "",
            "| path | seconds | observations/s | lines/s | ratio to raw floor |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            (
                f"End to end through pykatib's control plane: **{end_to_end:,.0f} "
                "observations/s** (target ≥ 50,000), every one in pykatib's observation table."
            ),
            "",
            "The raw floor is the same trial read without parsing: the rate of the pipe and of",
            "Python's line iteration, which no collector in this process can beat.",
            "",
            f"## Side by side with Optuna ({m:,} lines, best of {repeat}, alternating)",
            "",
            "| path | seconds | values stored | values/s | lines/s |",
            "|---|---:|---:|---:|---:|",
            *peer_rows,
            "",
            (
                f"pykatib stores the {m:,} lines' values **{speedup:.1f}x faster** than Optuna's "
                "`trial.report` into its SQLite storage (which commits each value, and keeps one "
                "series: the loss). pykatib's store runs in WAL mode with synchronous=NORMAL (a "
                "commit survives a crash of the process, not always a power loss); Optuna's "
                "SQLite file has SQLite's defaults (a rollback journal, an fsync per commit)."
            ),
            "",
        ]
    )
    print(report)
    if not opts.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
