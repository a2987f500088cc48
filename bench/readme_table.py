"""The README's benchmark table, generated from the results files in ``bench/results/``.

Each row names a benchmark, says what it measures, and gives its headline figures as read from
that benchmark's results file (the committed record of one run), so the README can't say
more, or other, than the runs did. The table lives in README.md between the markers
``<!-- bench-table -->`` and ``<!-- /bench-table -->``.

    python bench/readme_table.py            # print the table
    python bench/readme_table.py --write    # rewrite README.md's block
    python bench/readme_table.py --check    # exit 1 if README.md's block differs

A results file whose headline can't be found (its format changed) is an error naming the file
and what was looked for.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
START, END = "<!-- bench-table -->", "<!-- /bench-table -->"


class HeadlineMissing(Exception):
    """A results file lacks the figure a row reads from it."""


def _text(name: str) -> str:
    return (RESULTS / name).read_text(encoding="utf-8")


def _find(name: str, pattern: str, text: str | None = None) -> re.Match[str]:
    found = re.search(pattern, text if text is not None else _text(name), re.MULTILINE)
    if found is None:
        raise HeadlineMissing(f"bench/results/{name}: no line matching {pattern!r}")
    return found


def _section(name: str, heading: str) -> str:
    """The text of ``name`` from the heading that starts with ``heading`` to the next one."""
    text = _text(name)
    start = _find(name, rf"^#+ {re.escape(heading)}.*$", text).end()
    following = re.search(r"^#+ ", text[start:], re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


def _ratio_line(name: str, text: str, what: str) -> str:
    return _find(name, rf"\*\*Ratio pykatib / {what}: ([0-9.]+)\*\*", text).group(1)


def _cells_met(name: str, before: str) -> tuple[int, int]:
    """The sums of a Summary table's "cells met" column (``met/total``), the third column, or
    the fourth when ``before`` matches the third (a parallelism)."""
    summary = _section(name, "Summary")
    pattern = rf"^\|[^|]*\|[^|]*{before}\|\s*(\d+)/(\d+)\s*\|"
    cells = re.findall(pattern, summary, re.MULTILINE)
    if not cells:
        raise HeadlineMissing(f"bench/results/{name}: no 'cells met' column in its Summary")
    return sum(int(m) for m, _ in cells), sum(int(t) for _, t in cells)


# --- the rows' results --------------------------------------------------------------------------


def overhead() -> str:
    name = "overhead.md"
    native = _section(name, "Workload: native")
    python = _section(name, "Workload: python")
    cpu = _find(name, r"\*\*pykatib CPU per trial, total \(native\): ([0-9.]+) ms", native).group(1)
    to_floor = _ratio_line(name, native, r"floor \(native\)")
    to_memory = _ratio_line(name, native, r"Optuna in memory \(native\)")
    to_sqlite = _find(name, r"Ratio pykatib / Optuna with SQLite \(native\): ([0-9.]+)", native)
    python_floor = _ratio_line(name, python, r"floor \(python\)")
    return (
        f"native trials: pykatib **{to_floor}x** the bare pool, start-up included (target 3x), "
        f"{to_memory}x Optuna in memory, {to_sqlite.group(1)}x Optuna with SQLite; "
        f"**{cpu} ms** of pykatib CPU a trial, launcher included (target 1.5); "
        f"python trials: {python_floor}x the pool"
    )


def collect() -> str:
    name = "collect.md"
    rate = _find(name, r"pykatib's control plane: \*\*([0-9,]+) observations/s\*\*").group(1)
    faster = _find(name, r"\*\*([0-9.]+)x faster\*\* than Optuna").group(1)
    lines = _find(name, r"^## Side by side with Optuna \(([0-9,]+) lines").group(1)
    return (
        f"**{rate} observations/s** into pykatib's store; on {lines} lines, "
        f"{faster}x faster than Optuna's `trial.report` into SQLite"
    )


def quality() -> str:
    name = "quality.md"
    met, total = _cells_met(name, r"\|\s*\d+\s*")
    regret = _find(name, r"Hartmann6 at 100 trials, one at a time: median regret ([0-9.e+-]+)")
    batch = re.findall(
        r"^\| [\w-]+ \| \*\*pykatib\*\* \| \d+ \| (\d+)/(\d+) \|",
        _section(name, "Trials in parallel against one at a time"),
        re.MULTILINE,
    )
    if not batch:
        raise HeadlineMissing(f"bench/results/{name}: no pykatib rows against its own P = 1")
    own = f"{sum(int(m) for m, _ in batch)} of {sum(int(t) for _, t in batch)}"
    # The significance columns (bench/_significance.py): cells significantly worse, per row.
    against = re.findall(
        r"^\| [\w-]+ \| [^|]+ \| \d+ \| \d+/\d+ \|[^|]*\|[^|]*\|[^|]*\| (\d+)/\d+ \|",
        _section(name, "Summary"),
        re.MULTILINE,
    )
    worse_own = re.findall(
        r"^\| [\w-]+ \| \*\*pykatib\*\* \| \d+ \| \d+/\d+ \|[^|]*\| (\d+)/\d+ \|",
        _section(name, "Trials in parallel against one at a time"),
        re.MULTILINE,
    )
    if not against or not worse_own:
        raise HeadlineMissing(f"bench/results/{name}: no `significantly worse` columns")
    return (
        f"inside the reference's seed IQR or better in **{met} of {total}** cells, "
        f"{sum(map(int, against))} significantly worse (one-sided Mann-Whitney, Holm's "
        f"correction; chance misses at 10 seeds: `quality-null.md`); with 4 or 8 in flight "
        f"within pykatib's own one-at-a-time IQR in {own}, {sum(map(int, worse_own))} "
        f"significantly worse; `bayesianoptimization` on Hartmann6 at 100 trials: median "
        f"regret {regret.group(1)}"
    )


def quality_mo() -> str:
    name = "quality-mo.md"
    met, total = _cells_met(name, r"\|\s*\d+\s*")
    repeats = _section(name, "Repeated proposals")
    ours = re.findall(r"^\| [\w-]+ \| pykatib \|(.*)\|$", repeats, re.MULTILINE)
    repeated = sum(int(n) for row in ours for n in re.findall(r"(\d+)/\d+", row))
    return (
        f"inside Optuna's seed IQR or better in **{met} of {total}** cells; "
        f"{repeated} repeated proposals"
    )


def tpe_startup() -> str:
    name = "tpe-startup.md"
    met, total = _cells_met(name, "")
    return f"pykatib's default tpe inside or better in **{met} of {total}** cells"


def suggest_latency() -> str:
    name = "suggest_latency.md"
    results = _section(name, "Results")
    at_1000: dict[str, str] = {}
    for algorithm, ratio in re.findall(
        r"^\| ([\w-]+) \| 1000 \|[^|]*\|[^|]*\|[^|]*\|[^|]*\| ([0-9.]+)x", results, re.MULTILINE
    ):
        at_1000.setdefault(algorithm, ratio)  # the first reference
    if not at_1000:
        raise HeadlineMissing(f"bench/results/{name}: no rows at n = 1000 in its Results")
    ratios = ", ".join(f"{a} {r}x" for a, r in at_1000.items())
    gp = re.search(r"^\| bayesianoptimization \| 200 \| ([0-9.]+) \|", results, re.MULTILINE)
    gp_text = f"; GP at 200 trials {float(gp.group(1)) / 1000:.2f} s" if gp else ""
    full = _section(name, "Full proposals through storage")
    proposals = re.findall(
        r"^\| ([\w-]+) \| (\d+) \| [^|]* \| [^|]* \| ([0-9.]+)x \|", full, re.MULTILINE
    )
    if not proposals:
        raise HeadlineMissing(f"bench/results/{name}: no rows in its full proposals table")
    largest = max(int(n) for _, n, _ in proposals)
    full_text = ", ".join(f"{a} {r}x" for a, n, r in proposals if int(n) == largest)
    return (
        f"at 1000 trials, the algorithm against the reference sampler: {ratios}{gp_text}; "
        f"a full proposal through SQLite against Optuna's ask + tell at {largest} trials: "
        f"{full_text}"
    )


def load() -> str:
    name = "load.md"
    sides = []
    for heading in ("server + SQLite", "server + PostgreSQL", "embedded SQLite"):
        text = _section(name, heading)
        ops = _find(name, r"\*\*([0-9.]+) ops/s\*\*", text).group(1)
        errors = _find(name, r"\*\*Errors: (\d+)\*\*", text).group(1)
        lost = _find(name, r"\*\*Lost writes: (\d+)\*\*", text).group(1)
        sides.append((heading, ops, errors, lost))
    errors = sum(int(e) for _, _, e, _ in sides)
    lost = sum(int(lo) for _, _, _, lo in sides)
    rates = ", ".join(f"{h} {o} ops/s" for h, o, _, _ in sides)
    return f"**{errors} errors, {lost} lost writes** in all; {rates}"


def overhead_pytorchjob() -> str:
    name = "overhead-pytorchjob.md"
    ratio = _find(name, r"\*\*Ratio pykatib / floor[^:]*: ([0-9.]+)\*\*").group(1)
    # The peer's ratio: in its table row (or, in reports before issue 13, in its per-trial cell).
    optuna = re.search(
        r"^\| Optuna, SQLite[^|]*\|[^|]*\|[^|]*\| ([0-9.]+) \|", _text(name), re.MULTILINE
    )
    optuna = optuna or re.search(r"Optuna, SQLite storage.*ratio to floor ([0-9.]+)", _text(name))
    peer = f", Optuna {optuna.group(1)}x" if optuna else ""
    return f"pykatib {ratio}x the bare process pairs{peer}"


def overhead_dask() -> str:
    name = "overhead-dask.md"
    ratio = _find(name, r"\*\*Ratio pykatib / floor[^:]*: ([0-9.]+)\*\*").group(1)
    return f"pykatib {ratio}x the Dask floor"


def ui() -> str:
    name = "ui.md"
    rows = re.findall(
        r"^\| ([a-z ]+) \| ([0-9.]+|—) \| ([0-9.]+|—) \| ([0-9.]+|—) \| ([0-9.]+|—) \|",
        _text(name),
        re.MULTILINE,
    )
    cold = [float(r[1]) for r in rows if r[1] != "—"]
    if not cold:
        raise HeadlineMissing(f"bench/results/{name}: no view rows")
    drawn = sum(1 for r in rows if r[3] != "—")
    return (
        f"pykatib's {len(cold)} views draw in {min(cold):.1f}-{max(cold):.1f} s cold; "
        f"optuna-dashboard draws {drawn} of {len(rows)} within 60 s"
    )


def startup() -> str:
    name = "startup.md"
    text = _text(name)
    local = [
        int(m.group(1))
        for m in re.finditer(
            r"^\| `pykatib (?:get experiments|get trials|describe experiment|logs)` \| (\d+) \|",
            text,
            re.MULTILINE,
        )
    ]
    python = _find(name, r"^\| `python -c pass` \| (\d+) \|", text).group(1)
    if not local:
        raise HeadlineMissing(f"bench/results/{name}: no pykatib rows")
    run = re.search(
        r"^\| `pykatib run -q -f <one trial>` \| (\d+) \| \d+ \| (\d+) \|", text, re.MULTILINE
    )
    run_text = (
        f"; a one-trial `pykatib run` {run.group(2)} ms CPU, {run.group(1)} ms wall" if run else ""
    )
    databases = ""
    for label, db in (("PostgreSQL", "postgresql"), ("MySQL", "mysql")):
        walls = [
            int(w)
            for w in re.findall(
                rf"^\| `pykatib (?:get experiments|get trials|describe experiment|logs) "
                rf"--db {db}` \| (\d+) \|",
                text,
                re.MULTILINE,
            )
        ]
        if walls:
            databases += f", {label} {min(walls)}-{max(walls)} ms"
    return (
        f"`get`, `describe`, `logs` on SQLite {min(local)}-{max(local)} ms wall{databases} "
        f"(python -c pass {python} ms){run_text}"
    )


def scale() -> str:
    name = "scale.md"
    sqlite = _section(name, "SQLite")
    ratios = [
        float(r)
        for r in re.findall(r"^\| `[^`]+` \| \d+ \| \d+ \| ([0-9.]+) \|", sqlite, re.MULTILINE)
    ]
    passes = re.findall(
        r"^\| ([0-9,]+) trials completed \| [0-9.]+ \| ([0-9.]+) \|", sqlite, re.MULTILINE
    )
    if not ratios or not passes:
        raise HeadlineMissing(f"bench/results/{name}: no SQLite command or control-plane rows")
    per = " / ".join(f"{ms} ms" for _, ms in passes)
    at = " / ".join(n for n, _ in passes)
    return (
        f"SQLite: reads of a 10,000-trial experiment {min(ratios):.2f}-{max(ratios):.2f}x a "
        f"10-trial one's; a reconcile pass {per} at {at} completed trials"
    )


def gpu_check() -> str:
    if not (RESULTS / "gpu.md").exists():
        return "not run yet (no GPU machine so far)"
    verdict = _find("gpu.md", r"\*\*([^*]+)\*\*").group(1)
    return f"{verdict} (`gpu.md`)"


@dataclass(frozen=True)
class Row:
    benchmark: str
    what: str
    result: Callable[[], str]
    file: str


ROWS = [
    Row(
        "`bench/overhead.py`",
        "500 trials, 2 at a time, of a native trivial command (`printf`) and of a trivial Python "
        "process: `pykatib run` against the same processes in a bare 2-slot pool, Optuna in "
        "memory and Optuna with SQLite; pykatib's own CPU a trial, start-up taken out",
        overhead,
        "overhead.md",
    ),
    Row(
        "`bench/collect.py`",
        "one trial printing metrics as fast as it can, through runner, collector, reconcile loop "
        "and pykatib's store; Optuna's `trial.report` of the same lines into SQLite",
        collect,
        "collect.md",
    ),
    Row(
        "`bench/quality.py`",
        "simple regret on Branin, Hartmann6, Ackley5, Rosenbrock5, Levy5 with 1, 4 and 8 trials "
        "in flight, against Optuna, hyperopt and Optuna's GPSampler",
        quality,
        "quality.md",
    ),
    Row(
        "`bench/quality.py --multi-objective`",
        "hypervolume regret of `nsga2` and multi-objective `tpe` on ZDT1 and Branin-Currin with "
        "1, 4 and 8 trials in flight, against Optuna's NSGAIISampler and TPESampler",
        quality_mo,
        "quality-mo.md",
    ),
    Row(
        "`bench/quality.py --tpe-startup`",
        "tpe's default start-up against the default before it, hyperopt's split and hyperopt's "
        "TPE, 1 and 3 trials at a time, 30 seeds",
        tpe_startup,
        "tpe-startup.md",
    ),
    Row(
        "`bench/suggest_latency.py`",
        "ms per proposal with 100 / 500 / 1000 finished trials against the reference sampler; "
        "full proposals (suggestion + trial and state writes) through SQLite against Optuna's "
        "ask + tell",
        suggest_latency,
        "suggest_latency.md",
    ),
    Row(
        "`bench/load.py`",
        "20 clients for 60 s creating, patching, reading, listing and watching experiments; "
        "`pykatib server` on SQLite and PostgreSQL against the embedded `KatibClient`",
        load,
        "load.md",
    ),
    Row(
        "`bench/overhead.py --replicas 2`",
        "PyTorchJob trials (Master + Worker, each a trivial process) against the same process "
        "pairs started bare, and Optuna running them",
        overhead_pytorchjob,
        "overhead-pytorchjob.md",
    ),
    Row(
        "`bench/overhead.py --runtime dask`",
        "the trivial trials through a 2-worker loopback Dask cluster against the same processes "
        "submitted to Dask directly",
        overhead_dask,
        "overhead-dask.md",
    ),
    Row(
        "`bench/startup.py`",
        "`pykatib get`, `describe`, `logs` and a one-trial `pykatib run` as fresh processes, "
        "beside `python -c pass` and `kubectl version --client`",
        startup,
        "startup.md",
    ),
    Row(
        "`bench/scale.py`",
        "one experiment of 10,000 trials x 100 observations and 100 of 100 trials in one store "
        "(SQLite, PostgreSQL): CLI reads against a 10-trial experiment, the reconcile pass",
        scale,
        "scale.md",
    ),
    Row(
        "`bench/ui.py`",
        "the web UI's views at 10,000 trials x 100 observations, side by side with "
        "optuna-dashboard on the same trials",
        ui,
        "ui.md",
    ),
    Row(
        "`bench/gpu_check.py`",
        "on a machine with GPUs: DDP with a GPU per replica (nccl), and one-GPU trials never "
        "sharing a device",
        gpu_check,
        "gpu.md",
    ),
]


def table() -> str:
    lines = ["| benchmark | what | result |", "|---|---|---|"]
    for row in ROWS:
        source = f" (`{row.file}`)" if (RESULTS / row.file).exists() else ""
        lines.append(f"| {row.benchmark} | {row.what} | {row.result()}{source} |")
    return "\n".join(lines)


def block(readme: str) -> tuple[int, int]:
    """Where the generated table goes in ``readme`` (between the markers)."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise HeadlineMissing(f"README.md: no {START} ... {END} block")
    return start + len(START), end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md's table differs")
    mode.add_argument("--write", action="store_true", help="rewrite README.md's table")
    args = parser.parse_args(argv)
    try:
        generated = table()
        if not (args.check or args.write):
            print(generated)
            return 0
        readme = README.read_text(encoding="utf-8")
        start, end = block(readme)
    except (HeadlineMissing, OSError) as exc:
        print(f"readme_table: {exc}", file=sys.stderr)
        return 1
    wanted = f"\n{generated}\n"
    if args.write:
        README.write_text(readme[:start] + wanted + readme[end:], encoding="utf-8")
        return 0
    if readme[start:end] != wanted:
        print(
            "README.md's benchmark table differs from bench/results/: run "
            "`python bench/readme_table.py --write`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
