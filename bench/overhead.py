"""Control-plane overhead of ``pykatib run``: N trivial trials against a bare process pool.

Two workloads, each measured side by side in one run (P trials at a time):

* **native**: ``/usr/bin/printf "loss=%s\n" <x>``, a process that costs about a millisecond,
  so what is measured is the tuner's own cost;
* **python**: ``<python> -c "print('loss=0.5')" <x>`` (this interpreter, ``sys.executable``),
  a trial that starts an interpreter (tens of milliseconds), as a Python training script does.

Each workload's sides run the same N processes:

* **floor**: ``concurrent.futures.ThreadPoolExecutor(P)``, each trial ``subprocess`` with its
  stdout captured and checked, each with a random x; wall clock from creating the pool to its
  shutdown.
* **Optuna in memory** / **Optuna with SQLite**: a study (random sampler) whose objective runs
  the same process, ``n_jobs=P``; in-memory storage, or its RDB storage on a fresh SQLite file.
  In-process, so no start-up of its own.
* **pykatib**: ``pykatib run -q -f <experiment.yaml>`` in a subprocess with a fresh
  ``PYKATIB_HOME`` (a new SQLite store). The experiment: algorithm random over one double
  parameter ``x`` in [0, 1] (passed to the trial as its argument), objective minimize ``loss``
  with no goal, ``parallelTrialCount`` P, ``maxTrialCount`` N. Wall clock from spawning
  ``pykatib`` to its exit: start-up, store creation, suggestions, trial processes, metrics
  collection, status updates, final report.

**pykatib's CPU**, judged on the total: the ``pykatib run`` process with every process it
starts except the trials themselves, i.e. the shim launcher (which starts each trial and reaps
it) and any shim of its own an attempt gets. This script makes itself a child subreaper
(``PR_SET_CHILD_SUBREAPER``), so the launcher and any shim left running when ``pykatib run``
exits are reparented to it; it reaps them all, and the total is its ``RUSAGE_CHILDREN`` user +
sys over the run. The trials' own CPU is taken out as the floor measured it (the same
processes, its ``RUSAGE_CHILDREN`` over the floor side, / N). Start-up is taken out by a
one-trial run of the same experiment: CPU per trial = (total of the N-trial run - total of the
one-trial run) / (N - 1) - trial process CPU. Target: <= 1.5 ms. The ``pykatib run`` process's
own share (all its threads, read from ``/proc/<pid>/stat`` once it has exited, before it is
reaped) is reported beside it.

The sides alternate (their order reversed on odd repetitions) K times; the report takes the
median of each side and gives the ratios to the floor (targets for the native workload:
pykatib <= 3x the floor, start-up included, and no slower than Optuna in memory).

    python bench/overhead.py [--trials 500] [--repeat 3] [--parallel 2] [--out PATH]
    python bench/overhead.py --workloads native          # one workload
    python bench/overhead.py --floor-only --trials 100     # the floor side alone
    python bench/overhead.py --replicas 2                  # PyTorchJob trials: Master + Worker
    python bench/overhead.py --runtime dask                # trials on a loopback Dask cluster

With ``--replicas R`` (R > 1) each trial is a PyTorchJob of a Master and R - 1 Workers, each
replica the python workload's process; the floor and the peer start a trial's R processes
together and wait for all of them (report: ``bench/results/overhead-pytorchjob.md``).

With ``--runtime dask`` a Dask cluster is started on 127.0.0.1 (``dask scheduler`` and two
``dask worker --nthreads 1`` processes, no nanny): pykatib runs the experiment with
``--runtime dask`` on it, and the floor submits the same processes to the cluster directly
(``client.submit`` of a function that runs one, ``pure=False``), the workers' threads giving the
parallelism (report: ``bench/results/overhead-dask.md``). These two modes run the python
workload, with no Optuna in-memory side.

Exits 1 when a ``pykatib run`` fails (its exit code and the tail of its stderr are printed).
Writes the markdown report to ``--out`` (default ``bench/results/overhead.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import select
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
TARGET_RATIO = 1.5  # the python workload, against its floor
TARGET_NATIVE_RATIO = 3.0  # the native workload, start-up included
TARGET_CPU_MS = 1.5  # pykatib's own CPU per trial
TRIAL_CODE = "print('loss=0.5')"
EXPECTED_OUTPUT = "loss=0.5\n"
PRINTF = "/usr/bin/printf"
EXPERIMENT_NAME = "overhead"
NATIVE, PYTHON = "native", "python"
WORKLOADS = (NATIVE, PYTHON)
FLOOR, OPTUNA_MEMORY, OPTUNA_SQLITE, PYKATIB = "floor", "optuna-memory", "optuna-sqlite", "pykatib"


def trial_command(python: str, workload: str = PYTHON) -> list[str]:
    """The trial's command line before substitution (pykatib fills in the parameter)."""
    return _argv(python, workload, "${trialParameters.x}")


def _argv(python: str, workload: str, x: str) -> list[str]:
    if workload == NATIVE:
        return [PRINTF, "loss=%s\n", x]
    return [python, "-c", TRIAL_CODE, x]


def _expected(workload: str, x: str) -> str:
    return f"loss={x}\n" if workload == NATIVE else EXPECTED_OUTPUT


def experiment(
    trials: int, parallel: int, python: str, replicas: int = 1, workload: str = PYTHON
) -> dict[str, object]:
    container = {
        "name": "training-container",
        "image": "python:3.11-slim",
        "command": trial_command(python, workload),
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
    """Seconds per (workload, side), and pykatib's own and its children's CPU seconds."""

    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # N-trial runs
    cpu_one: dict[str, list[float]] = field(default_factory=dict)  # one-trial runs
    # With its launcher, shims and trials (N-trial and one-trial runs), and the floor's trials.
    cpu_total: dict[str, list[float]] = field(default_factory=dict)
    cpu_total_one: dict[str, list[float]] = field(default_factory=dict)
    cpu_trials: dict[str, list[float]] = field(default_factory=dict)
    trials_recorded: list[int | None] = field(default_factory=list)
    load_before: str = field(default_factory=lambda: _load())

    def add(self, workload: str, side: str, seconds: float) -> None:
        self.seconds.setdefault((workload, side), []).append(seconds)

    def median(self, workload: str, side: str) -> float | None:
        values = self.seconds.get((workload, side))
        return statistics.median(values) if values else None


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def children_cpu() -> float:
    """User + sys seconds of this process's reaped children (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def become_subreaper() -> bool:
    """Adopt the processes orphaned under this one (Linux's ``PR_SET_CHILD_SUBREAPER``), so that
    the shim launcher and shims ``pykatib run`` leaves behind are reaped, and counted, here."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap_orphans() -> None:
    """Wait for every process adopted here (the sides run one at a time: none is another's)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


# ---- the floor ---------------------------------------------------------------------------------


def _one_trial(
    python: str, cwd: Path, x: float, replicas: int = 1, workload: str = PYTHON
) -> float:
    """Run one trial's ``replicas`` processes together; the first one's loss."""
    argv = _argv(python, workload, repr(x))
    procs = [
        subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(replicas)
    ]
    outputs = [p.communicate() for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0 or out != _expected(workload, repr(x)):
            raise RuntimeError(f"trial process failed (exit {proc.returncode}): {out!r} {err!r}")
    return float(outputs[0][0].strip().split("=", 1)[1])


def run_floor(
    trials: int,
    parallel: int,
    python: str,
    workdir: Path,
    replicas: int = 1,
    workload: str = PYTHON,
) -> tuple[float, float]:
    """Seconds to run ``trials`` trials (of ``replicas`` processes each) with a
    ``parallel``-worker thread pool, and the CPU seconds of its trial processes."""
    rng = random.Random(0)
    xs = [rng.random() for _ in range(trials)]
    cpu = children_cpu()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        jobs = [pool.submit(_one_trial, python, workdir, x, replicas, workload) for x in xs]
        for future in jobs:
            future.result()
    return time.perf_counter() - start, children_cpu() - cpu


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


# ---- the peers: Optuna in memory and with its SQLite storage -----------------------------------


def run_optuna(
    trials: int,
    parallel: int,
    python: str,
    workdir: Path,
    replicas: int = 1,
    workload: str = PYTHON,
    sqlite: bool = True,
) -> float:
    """Seconds for Optuna to run the same processes as objective calls, ``parallel`` at a time,
    recording the study in SQLite (its RDB storage) or in memory: a tuner's bookkeeping."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{workdir / f'optuna-{time.monotonic_ns()}.db'}" if sqlite else None

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        return _one_trial(python, workdir, x, replicas, workload)

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


@dataclass
class PykatibRun:
    seconds: float
    recorded: int | None
    cpu: float  # the pykatib process's user + sys seconds
    cpu_children: float  # its reaped children's (shims started as interpreters, trials)
    cpu_total: float  # with the launcher, the shims and the trials


def run_pykatib(
    pykatib: list[str],
    experiment_file: Path,
    home: Path,
    timeout: float,
    dask_scheduler: str | None = None,
) -> PykatibRun:
    """``pykatib run -f experiment_file`` with a fresh ``PYKATIB_HOME`` (on the Dask cluster at
    ``dask_scheduler``, when given): its wall time, and its CPU time as the kernel counted it."""
    home.mkdir(parents=True)
    env = {**os.environ, "PYKATIB_HOME": str(home), "PYKATIB_RUNTIME": "local"}
    if dask_scheduler:
        env.update(PYKATIB_RUNTIME="dask", PYKATIB_DASK_SCHEDULER=dask_scheduler)
    out_path, err_path = home.parent / f"{home.name}.out", home.parent / f"{home.name}.err"
    before = children_cpu()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*pykatib, "run", "-q", "-f", str(experiment_file)],
            stdout=out,
            stderr=err,
            env=env,
            cwd=experiment_file.parent,
        )
        cpu = _cpu_at_exit(proc.pid, timeout)
        elapsed = time.perf_counter() - start
        if cpu is None:
            proc.kill()
            proc.wait()
            sys.stderr.write(_tail(err_path))
            sys.exit(f"pykatib run did not finish within {timeout:.0f} s")
        code = proc.wait()
    reap_orphans()
    total = children_cpu() - before
    if code != 0:
        sys.stderr.write(f"--- stdout ---\n{_tail(out_path)}--- stderr ---\n{_tail(err_path)}")
        print(f"pykatib run exited {code} (expected 0: Succeeded)", file=sys.stderr)
        sys.exit(1)
    return PykatibRun(elapsed, count_trials(home), *cpu, total)


def _cpu_at_exit(pid: int, timeout: float) -> tuple[float, float] | None:
    """(own, reaped children's) CPU seconds of process ``pid`` once it has exited, read while
    it is a zombie (before it is reaped); None if it runs past ``timeout``."""
    pidfd = os.pidfd_open(pid)  # readable once it has exited
    try:
        if not select.select([pidfd], [], [], timeout)[0]:
            return None
    finally:
        os.close(pidfd)
    # WNOWAIT: take the exit, leaving the process to be reaped (and its /proc entry readable).
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    # Fields 14-17 of proc(5): utime, stime, cutime, cstime (here offset by the two before).
    utime, stime, cutime, cstime = (int(v) / tick for v in fields[11:15])
    return utime + stime, cutime + cstime


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

        found = {name: version(name) for name in ("pykatib", "optuna", "sqlalchemy")}
    except Exception:  # noqa: BLE001 - a report line, never fatal
        found = {}
    parts = [f"{name} {found.get(name, '?')}" for name in ("pykatib", "optuna", "sqlalchemy")]
    return f"Python {platform.python_version()}, " + ", ".join(parts)


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


SIDE_NAMES = {
    FLOOR: "floor (bare {p}-slot pool)",
    OPTUNA_MEMORY: "Optuna, in-memory storage, `n_jobs={p}`",
    OPTUNA_SQLITE: "Optuna, SQLite storage, `n_jobs={p}`",
    PYKATIB: "pykatib run",
}


def _what(workload: str, replicas: int) -> str:
    if workload == NATIVE:
        return f'`{PRINTF} "loss=%s\\n" <x>`'
    what = f'`{Path(sys.executable).name} -c "{TRIAL_CODE}" <x>`'
    if replicas > 1:
        what = (
            f"PyTorchJobs of {replicas} replicas (a Master and {replicas - 1} Worker"
            f"{'s' if replicas > 2 else ''}), each replica {what}"
        )
    return what


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def workload_report(args: argparse.Namespace, m: Measurements, workload: str) -> str:
    n, p = args.trials, args.parallel
    floor = m.median(workload, FLOOR)
    assert floor is not None
    rows = []
    for side in (FLOOR, OPTUNA_MEMORY, OPTUNA_SQLITE, PYKATIB):
        median = m.median(workload, side)
        if median is None:
            continue
        name = SIDE_NAMES[side].format(p=p)
        if side == FLOOR and args.runtime == "dask":
            name = f"floor (tasks on the Dask cluster's {DASK_WORKERS} one-thread workers)"
        rows.append(
            f"| {name} | {median:.2f} | {median * 1000 / n:.2f} ms wall, "
            f"{median * p * 1000 / n:.1f} ms per slot | {median / floor:.2f} |"
        )
    pk = m.median(workload, PYKATIB)
    lines = [
        f"### Workload: {workload} ({_what(workload, args.replicas)}, {n} trials, {p} at a time)",
        "",
        "| side | seconds (median) | per trial | ratio to floor |",
        "|---|---:|---:|---:|",
        *rows,
        "",
    ]
    if pk is None:
        return "\n".join(lines)
    ratio = pk / floor
    target = TARGET_NATIVE_RATIO if workload == NATIVE else TARGET_RATIO
    lines.append(
        f"- **Ratio pykatib / floor ({workload}): {ratio:.2f}** (target <= {target}: "
        f"{_verdict(ratio <= target)})"
    )
    memory = m.median(workload, OPTUNA_MEMORY)
    if memory is not None:
        lines.append(
            f"- **Ratio pykatib / Optuna in memory ({workload}): {pk / memory:.2f}** "
            f"(target <= 1: {_verdict(pk <= memory)})"
        )
    sqlite = m.median(workload, OPTUNA_SQLITE)
    if sqlite is not None:
        lines.append(f"- Ratio pykatib / Optuna with SQLite ({workload}): {pk / sqlite:.2f}")
    extra = pk - floor
    lines.append(
        f"- Extra wall time per trial: (pykatib - floor) / {n} = {extra * 1000 / n:.2f} ms; "
        f"per worker slot: x {p} = {extra * p * 1000 / n:.1f} ms"
    )
    lines += _cpu_lines(args, m, workload)
    runs = "\n".join(
        f"| {i + 1} | "
        + " | ".join(
            f"{v[i]:.2f}" if (v := m.seconds.get((workload, side))) and i < len(v) else "-"
            for side in (FLOOR, OPTUNA_MEMORY, OPTUNA_SQLITE, PYKATIB)
        )
        + " |"
        for i in range(args.repeat)
    )
    lines += [
        "",
        "| run | floor s | Optuna memory s | Optuna SQLite s | pykatib s |",
        "|---:|---:|---:|---:|---:|",
        runs,
        "",
    ]
    return "\n".join(lines)


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _cpu_lines(args: argparse.Namespace, m: Measurements, workload: str) -> list[str]:
    """pykatib's CPU per trial: the total (judged on), and the ``pykatib run`` process's own."""
    n = args.trials
    lines = []
    total, total_one = m.cpu_total.get(workload), m.cpu_total_one.get(workload)
    trial_cpu = m.cpu_trials.get(workload)
    if total and total_one and trial_cpu and args.subreaper and args.runtime == "local":
        all_, start = statistics.median(total), statistics.median(total_one)
        trials = statistics.median(trial_cpu) / n
        per_trial = (all_ - start) * 1000 / (n - 1) - trials * 1000
        lines.append(
            f"- **pykatib CPU per trial, total ({workload}): {per_trial:.2f} ms** "
            f"(target <= {TARGET_CPU_MS}: {_verdict(per_trial <= TARGET_CPU_MS)}): `pykatib "
            f"run` with the shim launcher and the shims, {all_:.2f} s over {n} trials minus "
            f"{start:.2f} s for one trial (start-up), / {n - 1}, minus the trial process's own "
            f"{trials * 1000:.2f} ms (the floor's {n} processes: "
            f"{_runs(trial_cpu)} s); runs: {_runs(total)} s; one-trial runs: "
            f"{_runs(total_one)} s"
        )
    cpu, one = m.cpu.get(workload), m.cpu_one.get(workload)
    if cpu and one and n > 1:
        own, start = statistics.median(cpu), statistics.median(one)
        per_trial = (own - start) * 1000 / (n - 1)
        lines.append(
            f"- pykatib CPU per trial, the `pykatib run` process alone ({workload}): "
            f"{per_trial:.2f} ms: its user + sys, {own:.2f} s over {n} trials minus "
            f"{start:.2f} s for one trial, / {n - 1}; runs: {_runs(cpu)} s; one-trial runs: "
            f"{_runs(one)} s"
        )
    return lines


def report(args: argparse.Namespace, m: Measurements, command: str) -> str:
    p = args.parallel
    floor_side = f"`ThreadPoolExecutor({p})` + `subprocess`"
    pykatib_side = "`pykatib run -q -f <yaml>`"
    if args.runtime == "dask":
        floor_side = (
            f"tasks submitted to a loopback Dask cluster ({DASK_WORKERS} workers of 1 thread), "
            "each running one with `subprocess`"
        )
        pykatib_side = "`pykatib run -q --runtime dask -f <yaml>` on the same cluster"
    recorded = ", ".join("?" if c is None else str(c) for c in m.trials_recorded)
    sections = "\n".join(workload_report(args, m, w) for w in args.workloads)
    return f"""# Control-plane overhead of `pykatib run` (bench/overhead.py)

- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {git_commit()}
- Machine: {machine()}
- {versions()}
- Command: `{command}`
- Load average (1, 5, 15 min) before / after: {m.load_before} / {_load()} (the machine is
  shared: with a load above its cores, the sides' times vary from run to run; CPU times vary
  less than wall times)
- Experiment: random over one double `x` in [0, 1], minimize `loss`, no goal,
  `parallelTrialCount` {p}
- Floor: the same processes run by {floor_side} (stdout captured and checked);
  pykatib: {pykatib_side} with a fresh `PYKATIB_HOME` (a new SQLite store), wall clock
  including its start-up; peers: Optuna studies (random sampler) running the same processes as
  their objective, `n_jobs={p}`, with in-memory storage and with RDB (SQLite) storage
  (in-process, so no start-up of their own)
- {args.repeat} runs of each side, alternating; medians below
- Trials recorded in the store after each pykatib run: {recorded}

{sections}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=500, help="trials per run (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--parallel", type=int, default=2, help="parallelTrialCount (default 2)")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated, of {', '.join(WORKLOADS)} (default both; --replicas and "
        "--runtime dask: python)",
    )
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
    parser.add_argument("--no-optuna", action="store_true", help="leave out the Optuna peers")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.trials < 2 or args.repeat < 1 or args.parallel < 1 or args.replicas < 1:
        parser.error("--trials must be 2 or more; --repeat, --parallel and --replicas positive")
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown or not args.workloads:
        allowed = ", ".join(WORKLOADS)
        parser.error(f"--workloads: {', '.join(unknown) or 'none'} (allowed: {allowed})")
    if args.runtime == "dask":
        if args.replicas != 1:
            parser.error("--runtime dask runs Job trials: --replicas 1")
        args.parallel, args.no_optuna = DASK_WORKERS, True
    if args.runtime == "dask" or args.replicas > 1:
        args.workloads = [PYTHON]
    if NATIVE in args.workloads and not os.access(PRINTF, os.X_OK):
        parser.error(f"the native workload runs {PRINTF}, which is not here")
    args.out = args.out or {
        (1, "local"): RESULTS,
        (1, "dask"): RESULTS_DASK,
    }.get((args.replicas, args.runtime), RESULTS_GANG)

    python = sys.executable
    args.subreaper = become_subreaper()
    pykatib = shlex.split(args.pykatib) if args.pykatib else default_pykatib_command()
    if not args.floor_only:
        check_cli(pykatib)

    tmp = Path(tempfile.mkdtemp(prefix="pykatib-overhead-"))
    files: dict[tuple[str, int], Path] = {}
    for workload in args.workloads:
        for n in (args.trials, 1):
            path = files[(workload, n)] = tmp / f"experiment-{workload}-{n}.yaml"
            spec = experiment(n, min(args.parallel, n), python, args.replicas, workload)
            path.write_text(yaml.safe_dump(spec, sort_keys=False))
    m = Measurements()
    cluster = LoopbackDask(tmp, DASK_WORKERS) if args.runtime == "dask" else None
    address = cluster.address if cluster is not None else None
    sides = [FLOOR, OPTUNA_MEMORY, OPTUNA_SQLITE, PYKATIB]
    if args.floor_only:
        sides = [FLOOR]
    elif args.no_optuna:
        sides = [FLOOR, PYKATIB]
    elif args.replicas > 1:
        sides = [FLOOR, OPTUNA_SQLITE, PYKATIB]
    try:
        for rep in range(args.repeat):
            for workload in args.workloads:
                for side in sides if rep % 2 == 0 else sides[::-1]:
                    seconds = run_side(
                        args, m, side, workload, python, pykatib, tmp, files, rep, address
                    )
                    m.add(workload, side, seconds)
                    what = f"run {rep + 1}/{args.repeat} {workload:6s} {side:13s}"
                    print(f"{what} {seconds:8.2f} s", flush=True)
    finally:
        if cluster is not None:
            cluster.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if args.floor_only:
        for workload in args.workloads:
            floor = m.median(workload, FLOOR) or 0.0
            print(
                f"floor ({workload}): median {floor:.2f} s for {args.trials} processes, "
                f"{args.parallel} at a time ({floor * 1000 / args.trials:.2f} ms wall per trial)"
            )
        return 0
    command = "python bench/overhead.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = report(args, m, command.strip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


def run_side(
    args: argparse.Namespace,
    m: Measurements,
    side: str,
    workload: str,
    python: str,
    pykatib: list[str],
    tmp: Path,
    files: dict[tuple[str, int], Path],
    rep: int,
    address: str | None,
) -> float:
    """Run one side once; its seconds (pykatib: also its CPU, and a one-trial run's)."""
    n, p, r = args.trials, args.parallel, args.replicas
    if side == FLOOR and address is not None:
        return run_dask_floor(n, python, tmp, address)
    if side == FLOOR:
        seconds, cpu = run_floor(n, p, python, tmp, r, workload)
        m.cpu_trials.setdefault(workload, []).append(cpu)
        return seconds
    if side in (OPTUNA_MEMORY, OPTUNA_SQLITE):
        return run_optuna(n, p, python, tmp, r, workload, sqlite=side == OPTUNA_SQLITE)
    home = tmp / f"home-{workload}-{rep}"
    run = run_pykatib(pykatib, files[(workload, n)], home, args.timeout, address)
    m.trials_recorded.append(run.recorded)
    m.cpu.setdefault(workload, []).append(run.cpu)
    m.cpu_total.setdefault(workload, []).append(run.cpu_total)
    home = tmp / f"home-{workload}-{rep}-one"
    one = run_pykatib(pykatib, files[(workload, 1)], home, args.timeout, address)
    m.cpu_one.setdefault(workload, []).append(one.cpu)
    m.cpu_total_one.setdefault(workload, []).append(one.cpu_total)
    return run.seconds


if __name__ == "__main__":
    sys.exit(main())
