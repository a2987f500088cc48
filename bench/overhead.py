"""Control-plane overhead of ``pykatib run``: N trivial trials against a bare process pool.

Both sides run the same N processes, ``<python> -c "print('loss=0.5')" <x>`` (``python3``
resolved to this interpreter, ``sys.executable``, on both sides), P at a time:

* **pykatib**: ``pykatib run -f <experiment.yaml>`` in a subprocess, with ``PYKATIB_HOME`` set
  to a fresh temporary folder (a new SQLite store each run). The experiment: algorithm random
  over one double parameter ``x`` in [0, 1] (passed to the trial as its argument), objective
  minimize ``loss`` with no goal, ``parallelTrialCount`` P, ``maxTrialCount`` N. Wall clock from
  spawning ``pykatib`` to its exit: start-up, store creation, suggestions, trial processes,
  metrics collection, status updates, final report.
* **floor**: the same N processes run by ``concurrent.futures.ThreadPoolExecutor(P)``, each with
  ``subprocess.run`` capturing its stdout (checked to be ``loss=0.5``), each with a random x.
  Wall clock from creating the pool to its shutdown.

The two sides alternate (floor first on even repetitions, pykatib first on odd ones) K times;
the report takes the median of each side and gives:

* ratio = pykatib / floor (target: <= 1.5);
* extra wall time per trial = (pykatib - floor) / N;
* extra time per trial per worker slot = (pykatib - floor) * P / N: how much longer each trial
  holds one of the P slots than a bare process does, i.e. the control plane's cost per trial
  as a trial sees it (with P slots busy in parallel, a slot's extra time is P times the extra
  wall time per trial).

    python bench/overhead.py [--trials 500] [--repeat 3] [--parallel 2] [--out PATH]
    python bench/overhead.py --floor-only --trials 100     # the floor side alone
    python bench/overhead.py --replicas 2                  # PyTorchJob trials: Master + Worker
    python bench/overhead.py --runtime dask                # trials on a loopback Dask cluster

With ``--replicas R`` (R > 1) each trial is a PyTorchJob of a Master and R - 1 Workers, each
replica the same process; the floor and the peer start a trial's R processes together and wait
for all of them (report: ``bench/results/overhead-pytorchjob.md``).

With ``--runtime dask`` a Dask cluster is started on 127.0.0.1 (``dask scheduler`` and two
``dask worker --nthreads 1`` processes, no nanny): pykatib runs the experiment with
``--runtime dask`` on it, and the floor submits the same processes to the cluster directly
(``client.submit`` of a function that runs one, ``pure=False``), the workers' threads giving the
parallelism (report: ``bench/results/overhead-dask.md``).

Exits 1 when a ``pykatib run`` fails (its exit code and the tail of its stderr are printed).
Writes the markdown report to ``--out`` (default ``bench/results/overhead.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "overhead.md"
RESULTS_GANG = HERE / "results" / "overhead-pytorchjob.md"
RESULTS_DASK = HERE / "results" / "overhead-dask.md"
DASK_WORKERS = 2
TARGET_RATIO = 1.5
TRIAL_CODE = "print('loss=0.5')"
EXPECTED_OUTPUT = "loss=0.5\n"
EXPERIMENT_NAME = "overhead"


def trial_command(python: str) -> list[str]:
    """The trial's command line before substitution (pykatib fills in the parameter)."""
    return [python, "-c", TRIAL_CODE, "${trialParameters.x}"]


def experiment(trials: int, parallel: int, python: str, replicas: int = 1) -> dict[str, object]:
    container = {
        "name": "training-container",
        "image": "python:3.11-slim",
        "command": trial_command(python),
    }
    pod = {"spec": {"containers": [container], "restartPolicy": "Never"}}
    trial_spec: dict[str, object] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {"template": pod},
    }
    if replicas > 1:
        trial_spec = {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "spec": {
                "pytorchReplicaSpecs": {
                    "Master": {"replicas": 1, "template": pod},
                    "Worker": {"replicas": replicas - 1, "template": pod},
                }
            },
        }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": EXPERIMENT_NAME, "namespace": "default"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "maxFailedTrialCount": 0,
            "parameters": [
                {
                    "name": "x",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "0", "max": "1"},
                }
            ],
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": trial_spec,
            },
        },
    }


@dataclass
class Measurements:
    floor: list[float] = field(default_factory=list)
    pykatib: list[float] = field(default_factory=list)
    optuna: list[float] = field(default_factory=list)
    trials_recorded: list[int | None] = field(default_factory=list)
    load_before: str = field(default_factory=lambda: _load())


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- the floor ---------------------------------------------------------------------------------


def _one_trial(python: str, cwd: Path, x: float, replicas: int = 1) -> float:
    """Run one trial's ``replicas`` processes together; the first one's loss."""
    procs = [
        subprocess.Popen(
            [python, "-c", TRIAL_CODE, repr(x)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(replicas)
    ]
    outputs = [p.communicate() for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0 or out != EXPECTED_OUTPUT:
            raise RuntimeError(f"trial process failed (exit {proc.returncode}): {out!r} {err!r}")
    return float(outputs[0][0].strip().split("=", 1)[1])


def run_floor(trials: int, parallel: int, python: str, workdir: Path, replicas: int = 1) -> float:
    """Seconds to run ``trials`` trials (of ``replicas`` processes each) with a
    ``parallel``-worker thread pool."""
    rng = random.Random(0)
    xs = [rng.random() for _ in range(trials)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for future in [pool.submit(_one_trial, python, workdir, x, replicas) for x in xs]:
            future.result()
    return time.perf_counter() - start


def run_dask_floor(trials: int, python: str, workdir: Path, address: str) -> float:
    """Seconds to run ``trials`` trial processes as tasks on the Dask cluster at ``address``."""
    from distributed import Client

    rng = random.Random(0)
    xs = [rng.random() for _ in range(trials)]
    with Client(address, set_as_default=False) as client:
        start = time.perf_counter()
        futures = [client.submit(_one_trial, python, workdir, x, pure=False) for x in xs]
        client.gather(futures)
        return time.perf_counter() - start


class LoopbackDask:
    """A Dask scheduler and ``workers`` one-thread workers on 127.0.0.1, as processes."""

    def __init__(self, folder: Path, workers: int) -> None:
        from distributed import Client

        scheduler_file = folder / "scheduler.json"
        log = open(folder / "dask.log", "ab")  # noqa: SIM115 (kept open by the processes)
        base = [sys.executable, "-m"]
        where = ["--scheduler-file", str(scheduler_file), "--no-dashboard"]
        self.procs = [
            subprocess.Popen(
                [*base, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", *where],
                stdout=log,
                stderr=log,
            )
        ]
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                self.close()
                sys.exit(f"the Dask scheduler did not start (see {folder / 'dask.log'})")
            time.sleep(0.1)
        for _ in range(workers):
            self.procs.append(
                subprocess.Popen(
                    [
                        *base,
                        "distributed.cli.dask_worker",
                        "--host",
                        "127.0.0.1",
                        "--no-nanny",
                        "--nthreads",
                        "1",
                        *where,
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
        with Client(scheduler_file=str(scheduler_file), set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)
            self.address = str(client.scheduler.address)

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


# ---- the peer: Optuna with its SQLite storage ------------------------------------------------------


def run_optuna(trials: int, parallel: int, python: str, workdir: Path, replicas: int = 1) -> float:
    """Seconds for Optuna to run the same processes as objective calls, ``parallel`` at a time,
    recording the study in SQLite (its RDB storage): a hyperparameter tuner's bookkeeping."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{workdir / f'optuna-{time.monotonic_ns()}.db'}"

    def objective(trial: optuna.Trial) -> float:
        return _one_trial(python, workdir, trial.suggest_float("x", 0.0, 1.0), replicas)

    start = time.perf_counter()
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=trials, n_jobs=parallel)
    return time.perf_counter() - start


# ---- pykatib -------------------------------------------------------------------------------------


def default_pykatib_command() -> list[str]:
    """The ``pykatib`` console script of this interpreter's environment, else one on PATH."""
    beside = Path(sys.executable).parent / "pykatib"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pykatib")
    if found:
        return [found]
    return [sys.executable, "-c", "from pykatib.cli.main import main; main()"]


def check_cli(pykatib: list[str]) -> None:
    """Exit with a clear message if ``pykatib run`` is not there yet."""
    try:
        proc = subprocess.run(
            [*pykatib, "--help"], capture_output=True, text=True, check=False, timeout=60
        )
    except OSError as error:
        sys.exit(f"cannot start {shlex.join(pykatib)}: {error}")
    if proc.returncode != 0 or " run " not in proc.stdout:
        sys.exit(
            f"{shlex.join(pykatib)} --help exited {proc.returncode} without a 'run' command:\n"
            f"{proc.stdout}{proc.stderr}\n(use --floor-only to measure the floor alone)"
        )


def count_trials(home: Path) -> int | None:
    """Best effort: rows of the trials table of the SQLite store(s) under ``home``."""
    total: int | None = None
    for db in sorted(home.rglob("*.db")) + sorted(home.rglob("*.sqlite*")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                tables = [
                    name
                    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                    if name.lower() in ("trial", "trials")
                ]
                for table in tables:
                    (rows,) = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
                    total = (total or 0) + int(rows)
        except sqlite3.Error:
            continue
    return total


def run_pykatib(
    pykatib: list[str],
    experiment_file: Path,
    home: Path,
    timeout: float,
    dask_scheduler: str | None = None,
) -> tuple[float, int | None]:
    """Seconds for ``pykatib run -f experiment_file`` with a fresh ``PYKATIB_HOME`` (on the
    Dask cluster at ``dask_scheduler``, when given)."""
    home.mkdir(parents=True)
    env = {**os.environ, "PYKATIB_HOME": str(home), "PYKATIB_RUNTIME": "local"}
    if dask_scheduler:
        env.update(PYKATIB_RUNTIME="dask", PYKATIB_DASK_SCHEDULER=dask_scheduler)
    out_path, err_path = home.parent / f"{home.name}.out", home.parent / f"{home.name}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [*pykatib, "run", "-q", "-f", str(experiment_file)],
                stdout=out,
                stderr=err,
                env=env,
                cwd=experiment_file.parent,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            sys.stderr.write(_tail(err_path))
            sys.exit(f"pykatib run did not finish within {timeout:.0f} s")
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(f"--- stdout ---\n{_tail(out_path)}--- stderr ---\n{_tail(err_path)}")
        print(f"pykatib run exited {proc.returncode} (expected 0: Succeeded)", file=sys.stderr)
        sys.exit(1)
    return elapsed, count_trials(home)


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text) + "\n" if text else ""


# ---- the report ----------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs (nproc), {platform.system()} {platform.release()}"


def versions() -> str:
    try:
        from importlib.metadata import version

        pykatib_version = version("pykatib")
    except Exception:  # noqa: BLE001 - a report line, never fatal
        pykatib_version = "?"
    return f"Python {platform.python_version()}, pykatib {pykatib_version}"


def git_commit() -> str:
    try:
        proc = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() or "?"
    except OSError:
        return "?"


def report(args: argparse.Namespace, m: Measurements, command: str) -> str:
    n, p, r = args.trials, args.parallel, args.replicas
    what = f'`{Path(sys.executable).name} -c "{TRIAL_CODE}" <x>`'
    if r > 1:
        what = (
            f"PyTorchJobs of {r} replicas (a Master and {r - 1} Worker"
            f"{'s' if r > 2 else ''}), each replica {what}"
        )
        procs = f"{n} trials of {r} processes started together"
    else:
        procs = f"{n} processes"
    floor_side = f"`ThreadPoolExecutor({p})` + `subprocess`"
    pykatib_side = "`pykatib run -q -f <yaml>`"
    if args.runtime == "dask":
        floor_side = (
            f"tasks submitted to a loopback Dask cluster ({DASK_WORKERS} workers of 1 thread), "
            "each running one with `subprocess`"
        )
        pykatib_side = "`pykatib run -q --runtime dask -f <yaml>` on the same cluster"
    floor, pk = statistics.median(m.floor), statistics.median(m.pykatib)
    ratio = pk / floor
    extra = pk - floor
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    recorded = ", ".join("?" if c is None else str(c) for c in m.trials_recorded)
    rows = "\n".join(
        f"| {i + 1} | {f:.2f} | {k:.2f} | {k / f:.2f} |"
        for i, (f, k) in enumerate(zip(m.floor, m.pykatib, strict=True))
    )
    optuna_row = ""
    if m.optuna:
        op = statistics.median(m.optuna)
        optuna_row = (
            f"| peer: Optuna, SQLite storage, `n_jobs={p}` | {op:.2f} | "
            f"{op * 1000 / n:.1f} ms wall, {op * p * 1000 / n:.1f} ms per slot "
            f"(ratio to floor {op / floor:.2f}; pykatib / Optuna {pk / op:.2f}) |\n"
        )
    return f"""# Control-plane overhead of `pykatib run` (bench/overhead.py)

- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {git_commit()}
- Machine: {machine()}
- {versions()}
- Command: `{command}`
- Load average (1, 5, 15 min) before / after: {m.load_before} / {_load()} (the machine is
  shared: with a load above its cores, the sides' times vary from run to run)
- Workload: {n} trials, {what}, {p} at a time;
  experiment: random over one double `x` in [0, 1], minimize `loss`, no goal
- Floor: the same {procs} run by {floor_side}
  (stdout captured); pykatib: {pykatib_side} with a fresh `PYKATIB_HOME`,
  wall clock including its start-up; peer: an Optuna study with RDB (SQLite) storage running
  the same processes as its objective, `n_jobs={p}` (in-process, so no start-up of its own)
- {args.repeat} runs of each side, alternating; medians below

| | seconds (median) | per trial |
|---|---:|---:|
| floor (bare {p}-slot pool) | {floor:.2f} | {floor * 1000 / n:.1f} ms wall, {floor * p * 1000 / n:.1f} ms per slot |
| pykatib run | {pk:.2f} | {pk * 1000 / n:.1f} ms wall, {pk * p * 1000 / n:.1f} ms per slot |
{optuna_row}
- **Ratio pykatib / floor: {ratio:.2f}** (target <= {TARGET_RATIO}: {verdict})
- Extra wall time per trial: (pykatib - floor) / {n} = **{extra * 1000 / n:.1f} ms**
- Extra time per trial per worker slot: (pykatib - floor) x {p} / {n} = **{extra * p * 1000 / n:.1f} ms**
  (how much longer each trial holds one of the {p} slots than a bare process does)
- Trials recorded in the store after each pykatib run: {recorded}

| run | floor s | pykatib s | ratio |
|---:|---:|---:|---:|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=500, help="trials per run (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--parallel", type=int, default=2, help="parallelTrialCount (default 2)")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="replicas per trial: 1, a Job (default); more, a PyTorchJob (Master + Workers)",
    )
    parser.add_argument(
        "--runtime",
        choices=["local", "dask"],
        default="local",
        help=f"where trials run: local processes (default), or a loopback Dask cluster of "
        f"{DASK_WORKERS} one-thread workers (sets --parallel {DASK_WORKERS}, no Optuna peer)",
    )
    parser.add_argument(
        "--out", type=Path, help=f"report (default {RESULTS}; with --replicas: {RESULTS_GANG})"
    )
    parser.add_argument(
        "--pykatib", help="the pykatib command, shell-quoted (default: this environment's)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per pykatib run")
    parser.add_argument("--floor-only", action="store_true", help="measure the floor alone")
    parser.add_argument("--no-optuna", action="store_true", help="leave out the Optuna peer")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.repeat < 1 or args.parallel < 1 or args.replicas < 1:
        parser.error("--trials, --repeat, --parallel and --replicas must be positive")
    if args.runtime == "dask":
        if args.replicas != 1:
            parser.error("--runtime dask runs Job trials: --replicas 1")
        args.parallel, args.no_optuna = DASK_WORKERS, True
    args.out = args.out or {
        (1, "local"): RESULTS,
        (1, "dask"): RESULTS_DASK,
    }.get((args.replicas, args.runtime), RESULTS_GANG)

    python = sys.executable
    pykatib = shlex.split(args.pykatib) if args.pykatib else default_pykatib_command()
    if not args.floor_only:
        check_cli(pykatib)

    tmp = Path(tempfile.mkdtemp(prefix="pykatib-overhead-"))
    experiment_file = tmp / "experiment.yaml"
    experiment_file.write_text(
        yaml.safe_dump(
            experiment(args.trials, args.parallel, python, args.replicas), sort_keys=False
        )
    )
    m = Measurements()
    cluster = LoopbackDask(tmp, DASK_WORKERS) if args.runtime == "dask" else None
    address = cluster.address if cluster is not None else None
    try:
        for rep in range(args.repeat):
            sides = ["floor", "pykatib", "optuna"]
            sides = sides if rep % 2 == 0 else sides[::-1]
            for side in sides:
                if side == "floor" and address is not None:
                    seconds = run_dask_floor(args.trials, python, tmp, address)
                    m.floor.append(seconds)
                elif side == "floor":
                    seconds = run_floor(args.trials, args.parallel, python, tmp, args.replicas)
                    m.floor.append(seconds)
                elif side == "optuna":
                    if args.floor_only or args.no_optuna:
                        continue
                    seconds = run_optuna(args.trials, args.parallel, python, tmp, args.replicas)
                    m.optuna.append(seconds)
                elif not args.floor_only:
                    seconds, recorded = run_pykatib(
                        pykatib, experiment_file, tmp / f"home-{rep}", args.timeout, address
                    )
                    m.pykatib.append(seconds)
                    m.trials_recorded.append(recorded)
                else:
                    continue
                print(f"run {rep + 1}/{args.repeat} {side:8s} {seconds:8.2f} s", flush=True)
    finally:
        if cluster is not None:
            cluster.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    floor = statistics.median(m.floor)
    print(
        f"floor: median {floor:.2f} s for {args.trials} processes, {args.parallel} at a time "
        f"({floor * 1000 / args.trials:.1f} ms wall per trial)"
    )
    if args.floor_only:
        return 0
    command = "python bench/overhead.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = report(args, m, command.strip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
