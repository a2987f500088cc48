"""Ten thousand trials stay instant (issue 13, part 3): the CLI's reads and the control plane's
reconcile pass on big stores, against the same on a 10-trial experiment, on SQLite and
PostgreSQL.

Each database (a fresh SQLite file; a PostgreSQL database created for the run and dropped after)
holds, in one store:

- ``small``: 10 trials of 100 observations each, run for real by ``pykatib run`` (a native
  ``printf`` of 100 ``loss=`` lines);
- ``big``: 10,000 trials x 100 observations;
- ``many-0`` ... ``many-99``: 100 experiments of 100 trials x 100 observations.

The big ones are seeded fast through the store's own API: each trial a copy of a real trial of
``small`` (its name, labels, parameter and metrics changed), written with its 100 observations by
:meth:`Store.commit` (the control plane's unit of work) in batches of 250 trials, then the
experiment's status summarised from its trials (``control.status.update_trials_summary``) and
written the same way. No events are seeded for the copies.

Measured:

1. ``get experiment``, ``describe experiment`` and the first page of ``get trials --limit 100``
   of ``big`` and of the middle ``many-*``, each against the same command on ``small`` (target: within
   1.5x), as fresh processes, the median of N runs;
2. ``get trials -e big`` paged by 1,000 (``--limit``/``--continue``) to the end, and unpaged;
3. the control plane's time per reconcile pass and its memory (RSS) with 100, 1,000 and 10,000
   trials completed (a process of its own for each: the experiment loaded, then 30 passes, each
   finishing one trial through a scripted runner);
4. the store's size as it grows.

    python bench/scale.py [--runs 5] [--trials 10000] [--many 100] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432"
STEPS = 100  # observations per trial
PROBE_PASSES = 30
EXPERIMENT = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {{name: small}}
spec:
  objective: {{type: minimize, objectiveMetricName: loss}}
  algorithm: {{algorithmName: random}}
  parallelTrialCount: 5
  maxTrialCount: 10
  parameters:
  - {{name: x, parameterType: double, feasibleSpace: {{min: "0", max: "1"}}}}
  trialTemplate:
    primaryContainerName: main
    trialParameters: [{{name: x, reference: x}}]
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: main
              image: none
              command: {command}
"""


def pykatib_script() -> str:
    beside = Path(sys.executable).with_name("pykatib")
    return str(beside) if beside.exists() else shutil.which("pykatib") or "pykatib"


# --- seeding --------------------------------------------------------------------------------


def seed(url: str, name: str, trials: int, home: Path, max_trials: int | None = None) -> None:
    """Experiment ``name`` with ``trials`` completed trials of STEPS observations each, copied
    from ``small``'s first trial and written through the store's unit of work."""
    from pykatib.api.models import Trial
    from pykatib.control import status as st
    from pykatib.control.controller import Controller
    from pykatib.metrics.observation import ObservationPoint
    from pykatib.store import Changes, Store

    store = Store(url)
    ctl = Controller(store, home=home, runner_factory=ScriptedRunner)
    exp = store.get_experiment("default", "small")
    exp.metadata = type(exp.metadata)(name=name, namespace="default")
    exp.spec.max_trial_count = max_trials or trials
    exp.status = type(exp.status)()
    ctl.apply(exp, home)
    template = store.list_trials("default", "small")[0].to_dict()
    for meta_key in ("uid", "resourceVersion", "creationTimestamp", "ownerReferences"):
        template["metadata"].pop(meta_key, None)
    rng = random.Random(name)
    made: list[Trial] = []
    for start in range(0, trials, 250):
        changes = Changes()
        for i in range(start, min(trials, start + 250)):
            data = json.loads(json.dumps(template))
            trial_name = f"{name}-{i:05d}"
            data["metadata"]["name"] = trial_name
            data["metadata"]["labels"]["katib.kubeflow.org/experiment"] = name
            data["spec"]["runSpec"]["metadata"]["name"] = trial_name
            x = rng.random()
            data["spec"]["parameterAssignments"] = [{"name": "x", "value": str(x)}]
            for metric in data["status"]["observation"]["metrics"]:
                metric.update(min=str(x), max=str(x), latest=str(x))
            trial = Trial.model_validate(data)
            changes.trials.append(trial)
            now = datetime.now(timezone.utc)
            changes.observations[trial_name] = [
                ObservationPoint("loss", str(x), now, step) for step in range(STEPS)
            ]
        store.commit("default", name, changes)
        made += changes.trials
    exp = store.get_experiment("default", name)
    st.mark_experiment_created(exp)
    st.mark_experiment_running(exp)
    st.update_trials_summary(exp, made)
    store.commit("default", name, Changes(experiment=exp))
    ctl.runner.shutdown()
    store.close()


class ScriptedRunner:
    """Trials that run until the probe finishes them (one a pass), each reporting one loss."""

    kinds: ClassVar[dict[str, str]] = {"Job": "batch/v1"}

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.running: list[tuple[str, str]] = []
        self.done: set[tuple[str, str]] = set()
        self.reports: dict[tuple[str, str], list[Any]] = {}

    @classmethod
    def check(cls, trial_spec: dict[str, Any], primary_container_name: str | None) -> list[str]:
        return []

    def reserve(self, request: Any) -> str | None:
        return None

    def start(self, request: Any) -> dict[str, Any] | None:
        self.running.append(request.key)
        return None

    def adopt(self, request: Any, record: dict[str, Any]) -> bool:
        return False

    def finish(self) -> None:
        from pykatib.metrics.observation import ObservationPoint

        key = self.running.pop(0)
        point = ObservationPoint("loss", "0.5", datetime.now(timezone.utc), 0)
        self.reports[key] = [point]
        self.done.add(key)

    def status(self, key: tuple[str, str]) -> Any:
        from pykatib.runtime.base import RunStatus

        if key in self.done:
            job = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
            return RunStatus("succeeded", reason="Completed", exit_code=0, job=job)
        return RunStatus("running") if key in self.running else None

    def drain(self, key: tuple[str, str]) -> Any:
        from pykatib.runtime.base import Drained

        return Drained(points=self.reports.pop(key, []))

    def acknowledge(self, key: tuple[str, str]) -> None:
        pass

    def stop(self, key: tuple[str, str], message: str) -> None:
        if key in self.running:
            self.running.remove(key)

    def forget(self, key: tuple[str, str]) -> None:
        self.done.discard(key)

    def shutdown(self, timeout: float = 10.0) -> None:
        pass


# --- the reconcile probe (a process of its own) ---------------------------------------------


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_probe(url: str, name: str, home: Path, env: dict[str, str]) -> str:
    """:func:`probe` of experiment ``name`` in a process of its own (its memory is the probe's
    alone); its JSON."""
    return subprocess.run(
        [sys.executable, __file__, "--probe", url, name, str(home)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def probe(url: str, name: str, home: Path) -> dict[str, float]:
    """Load ``name`` into a control plane, then PROBE_PASSES reconcile passes, each finishing
    one trial: the median pass time and the RSS after loading and after the passes."""
    from pykatib.control.controller import Controller
    from pykatib.store import Store

    store = Store(url)
    ctl = Controller(store, home=home, runner_factory=ScriptedRunner)
    key = ("default", name)
    started = time.perf_counter()
    ctl.reconcile(key)  # loads the experiment and its trials; starts new ones
    load_s = time.perf_counter() - started
    loaded = rss_mib()
    runner: ScriptedRunner = ctl.runner  # type: ignore[assignment]
    times = []
    for _ in range(PROBE_PASSES):
        if runner.running:
            runner.finish()
        begin = time.perf_counter()
        ctl.reconcile(key)
        times.append(time.perf_counter() - begin)
    return {
        "load_s": load_s,
        "pass_ms": statistics.median(times) * 1000,
        "pass_max_ms": max(times) * 1000,
        "rss_loaded_mib": loaded,
        "rss_after_mib": rss_mib(),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- measuring ------------------------------------------------------------------------------


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, int]:
    """The median wall time of ``runs`` runs (after one warm-up), and the output's size."""
    out = subprocess.run(argv, env=env, capture_output=True, check=True).stdout
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(out)


def paged(argv: list[str], env: dict[str, str], limit: int) -> tuple[float, int, int]:
    """``get trials`` followed page by page: total seconds, pages, trials listed."""
    token: list[str] = []
    pages = listed = 0
    start = time.perf_counter()
    while True:
        proc = subprocess.run(
            [*argv, "--limit", str(limit), *token],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        proc.check_returncode()
        pages += 1
        listed += sum(1 for line in proc.stdout.splitlines() if line.startswith(" big-"))
        more = [x for x in proc.stderr.splitlines() if x.startswith("more trials:")]
        if not more:
            return time.perf_counter() - start, pages, listed
        token = ["--continue", more[0].split()[-1]]


def store_size(url: str, home: Path) -> int:
    if url.startswith("sqlite"):
        db = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return int(size)


def bench_database(kind: str, url: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    home = work / f"home-{kind}"
    env = {**os.environ, "PYKATIB_HOME": str(home), "PYKATIB_DB": url}
    env.pop("PYKATIB_SERVER", None)
    pykatib = pykatib_script()
    result: dict[str, Any] = {"kind": kind, "sizes": [], "probes": []}
    command = ["/usr/bin/printf", "loss=%s\n", *["${trialParameters.x}"] * STEPS]
    (work / "experiment.yaml").write_text(EXPERIMENT.format(command=json.dumps(command)))
    subprocess.run(
        [pykatib, "run", "-q", "-f", str(work / "experiment.yaml")],
        env=env,
        check=True,
        capture_output=True,
    )
    result["sizes"].append(("small (10 trials)", 10, store_size(url, home)))
    started = time.perf_counter()
    for size in (100, 1000):
        seed(url, f"probe-{size}", size, home, max_trials=size + PROBE_PASSES + 10)
    result["sizes"].append(("+ 1,100 trials (probe-100, probe-1000)", 1110, store_size(url, home)))
    seed(url, "big", args.trials, home, max_trials=args.trials + PROBE_PASSES + 10)
    result["sizes"].append(
        (f"+ big ({args.trials:,} trials)", 1110 + args.trials, store_size(url, home))
    )
    for i in range(args.many):
        seed(url, f"many-{i}", 100, home)
    total = 1110 + args.trials + 100 * args.many
    result["sizes"].append((f"+ {args.many} x 100 trials (many-*)", total, store_size(url, home)))
    result["seed_s"] = time.perf_counter() - started
    for name in ("probe-100", "probe-1000", "big"):
        trials = {"probe-100": 100, "probe-1000": 1000, "big": args.trials}[name]
        result["probes"].append((trials, json.loads(run_probe(url, name, home, env))))
    commands = {
        "get experiment": ["get", "experiment", "{name}"],
        "describe experiment": ["describe", "experiment", "{name}"],
        "get trials --limit 100": ["get", "trials", "-e", "{name}", "--limit", "100"],
    }
    rows = []
    for label, argv in commands.items():
        row: dict[str, Any] = {"command": label}
        for name in ("small", "big", f"many-{args.many // 2}"):
            seconds, size = timed([pykatib, *(a.format(name=name) for a in argv)], env, args.runs)
            row[name] = (seconds, size)
        rows.append(row)
    result["commands"] = rows
    result["paged"] = paged([pykatib, "get", "trials", "-e", "big"], env, 1000)
    result["unpaged"] = timed([pykatib, "get", "trials", "-e", "big"], env, 1)
    return result


def bench_control_plane(kind: str, url: str, work: Path, args: argparse.Namespace) -> str:
    """``--control-plane``: the probe stores alone (no CLI, no `many-*`), and the control
    plane's table for them."""
    home = work / f"home-{kind}"
    env = {**os.environ, "PYKATIB_HOME": str(home), "PYKATIB_DB": url}
    env.pop("PYKATIB_SERVER", None)
    command = ["/usr/bin/printf", "loss=%s\n", *["${trialParameters.x}"] * STEPS]
    (work / "experiment.yaml").write_text(EXPERIMENT.format(command=json.dumps(command)))
    subprocess.run(  # `small`, run for real: the trials seeded are copies of its own
        [pykatib_script(), "run", "-q", "-f", str(work / "experiment.yaml")],
        env=env,
        check=True,
        capture_output=True,
    )
    started = time.perf_counter()
    names = {"probe-100": 100, "probe-1000": 1000, "big": args.trials}
    for name, size in names.items():
        seed(url, name, size, home, max_trials=size + PROBE_PASSES + 10)
    seed_s = time.perf_counter() - started
    lines = [
        f"## {kind}, control plane only",
        "",
        f"- Seeding took {seed_s:.0f} s",
        "",
        (
            "| control plane | load s | pass ms (median) | pass ms (max) | RSS loaded MiB | "
            "RSS after MiB |"
        ),
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, trials in names.items():
        p = json.loads(run_probe(url, name, home, env))
        lines.append(
            f"| {trials:,} trials completed | {p['load_s']:.2f} | {p['pass_ms']:.2f} | "
            f"{p['pass_max_ms']:.2f} | {p['rss_loaded_mib']:.0f} | {p['rss_after_mib']:.0f} |"
        )
    return "\n".join(lines)


def create_postgresql() -> tuple[str, Callable[[], None]]:
    """A database of this run's own, and how to drop it (each through a fresh connection to
    the server's maintenance database: tests elsewhere may end connections to ``test``)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    def admin(statement: str) -> None:
        engine = create_engine(
            f"{POSTGRESQL}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
        engine.dispose()

    name = f"pykatib_scale_{uuid.uuid4().hex[:8]}"
    admin(f"CREATE DATABASE {name}")
    return f"{POSTGRESQL}/{name}", lambda: admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], capture_output=True, check=False
        ).stdout.strip()
        return out + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(results: list[dict[str, Any]], args: argparse.Namespace, loads: list[str]) -> str:
    n = f"{args.trials:,}"
    lines = [
        "# Ten thousand trials stay instant (bench/scale.py)",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}",
        (
            f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical "
            f"CPUs, {platform.system()} {platform.release()}"
        ),
        (
            f"- Python {platform.python_version()}, pykatib {version('pykatib')}, sqlalchemy "
            f"{version('sqlalchemy')}, psycopg {version('psycopg')}, SQLite "
            f"{__import__('sqlite3').sqlite_version}"
        ),
        (
            f"- Command: `python bench/scale.py --runs {args.runs} --trials {args.trials} "
            f"--many {args.many}" + (f" --only {args.only}`" if args.only else "`")
        ),
        f"- Load average (1, 5, 15 min) before / after: {loads[0]} / {loads[1]}",
        (
            f"- One store per database: `small` (10 trials x {STEPS} observations, run for real), "
            f"`big` ({n} trials x {STEPS}), `many-0`..`many-{args.many - 1}` ({args.many} x 100 "
            f"trials x {STEPS}), "
            "`probe-100`, `probe-1000`; the copies seeded through `Store.commit` in batches of "
            "250 trials with their observations, the status summarised from the trials (no "
            "events for the copies)"
        ),
        (
            f"- CLI: fresh processes, the median of {args.runs} runs after a warm-up; "
            "the CLI's lean reader (store/reader/: SQLite's stdlib driver, PostgreSQL's libpq)"
        ),
        "",
    ]
    for r in results:
        lines += [f"## {r['kind']}", ""]
        lines += [
            (
                f"| command | small ms | big ({n}) ms | big / small | many-{args.many // 2} ms | "
                "many / small | "
                "bytes out small / big |"
            ),
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in r["commands"]:
            small, big, many = row["small"][0], row["big"][0], row[f"many-{args.many // 2}"][0]
            lines.append(
                f"| `{row['command']}` | {small * 1000:.0f} | {big * 1000:.0f} | "
                f"{big / small:.2f} | {many * 1000:.0f} | {many / small:.2f} | "
                f"{row['small'][1]:,} / {row['big'][1]:,} |"
            )
        seconds, pages, listed = r["paged"]
        lines += [
            "",
            (
                f"- `get trials -e big` paged by 1,000: {pages} pages, {listed:,} trials in "
                f"{seconds:.1f} s ({seconds / pages * 1000:.0f} ms a page); unpaged: "
                f"{r['unpaged'][0]:.1f} s"
            ),
            "",
            (
                "| control plane | load s | pass ms (median) | pass ms (max) | RSS loaded MiB | "
                "RSS after MiB |"
            ),
            "|---|---:|---:|---:|---:|---:|",
        ]
        for trials, p in r["probes"]:
            lines.append(
                f"| {trials:,} trials completed | {p['load_s']:.2f} | {p['pass_ms']:.2f} | "
                f"{p['pass_max_ms']:.2f} | {p['rss_loaded_mib']:.0f} | {p['rss_after_mib']:.0f} |"
            )
        lines += ["", "| store | trials | size MiB | KiB a trial |", "|---|---:|---:|---:|"]
        for label, trials, size in r["sizes"]:
            lines.append(
                f"| {label} | {trials:,} | {size / 2**20:.1f} | {size / 1024 / trials:.1f} |"
            )
        lines += ["", f"- Seeding took {r['seed_s']:.0f} s", ""]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--probe":
        print(json.dumps(probe(sys.argv[2], sys.argv[3], Path(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--many", type=int, default=100, help="experiments of 100 trials")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--out", default="bench/results/scale.md")
    parser.add_argument(
        "--control-plane",
        action="store_true",
        help="only the control plane's reconcile probe (printed, --out is not written)",
    )
    args = parser.parse_args()
    if args.control_plane:
        work = Path(tempfile.mkdtemp(prefix="pykatib-scale-"))
        before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        try:
            if args.only == "postgresql":
                url, drop = create_postgresql()
                try:
                    print(bench_control_plane("PostgreSQL", url, work, args))
                finally:
                    drop()
            else:
                print(bench_control_plane("SQLite", f"sqlite:///{work / 'scale.db'}", work, args))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\n- commit {commit()}; load average before / after: {before} / {after}")
        return
    before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="pykatib-scale-"))
    results: list[dict[str, Any]] = []

    def write() -> None:  # after each database: a later failure keeps what was measured
        after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        text = report(results, args, [before, after])
        Path(args.out).write_text(text + "\n")
        print(text)

    try:
        if args.only != "postgresql":
            results.append(bench_database("SQLite", f"sqlite:///{work / 'scale.db'}", work, args))
            write()
        if args.only != "sqlite":
            url, drop = create_postgresql()
            try:
                results.append(bench_database("PostgreSQL", url, work, args))
                write()
            finally:
                drop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
