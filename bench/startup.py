"""CLI start-up: how long `pykatib get`, `describe` and `logs` take, end to end, as a user runs
them, side by side with `python -c pass` and `kubectl version --client` (issue 13, part 2); and
what `pykatib run` costs before its trials: a one-trial run of a native command in a fresh
``PYKATIB_HOME`` (a new SQLite store each time), beside `pykatib run --help` (the CLI's own
floor: the interpreter, click and the command's module).

One store (a fresh ``PYKATIB_HOME``, SQLite) holds one experiment of 10 finished trials, made by
a real ``pykatib run`` of a trivial native command. Each command then runs N times as a fresh
process, the commands interleaved round by round so that a change in the machine's load falls
on all of them alike; the table gives the median and the fastest run. The same read commands
also run against a ``pykatib server`` of that store (``--server URL``), and with ``--db`` on a
PostgreSQL and a MySQL/MariaDB database of their own (created on the servers that
``--postgresql`` and ``--mysql`` name, filled by the same run, dropped at the end; a server
that does not answer leaves its rows out).

The interpreter is this one (``sys.executable``) and the ``pykatib`` script beside it: a pyenv
shim in front of them adds its own bash start-up (about 150 ms here) to every row.

    python bench/startup.py [--runs 20] [--out bench/results/startup.md] [--at REV] [--before REV]
        [--postgresql URL] [--mysql URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

TARGET_MS = 150  # for get, describe and logs
RUN_ONE = "run -q -f <one trial>"
EXPERIMENT = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: startup}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: random}
  parallelTrialCount: 2
  maxTrialCount: 10
  parameters:
  - {name: x, parameterType: double, feasibleSpace: {min: "0", max: "1"}}
  trialTemplate:
    primaryContainerName: main
    trialParameters: [{name: x, reference: x}]
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
              command: [/usr/bin/printf, "loss=%s\\n", "${trialParameters.x}"]
"""


# One trial at a time, one trial in all: what a run costs beyond its trials (start-up, store,
# admission, algorithm, launcher, shutdown), as bench/overhead.py's one-trial runs measure it.
ONE_TRIAL = EXPERIMENT.replace("name: startup", "name: one-trial").replace(
    "parallelTrialCount: 2\n  maxTrialCount: 10", "parallelTrialCount: 1\n  maxTrialCount: 1"
)


def pykatib_script() -> str:
    beside = Path(sys.executable).with_name("pykatib")
    return str(beside) if beside.exists() else shutil.which("pykatib") or "pykatib"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_server(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/version", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not answer in 120 s")


def server_database(admin_url: str) -> str | None:
    """The URL of a new database of its own on the server ``admin_url`` names (its name
    ``pykatib_startup_PID``), or None when the server does not answer."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"pykatib_startup_{os.getpid()}"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except OperationalError as exc:
        print(f"no rows for {admin_url}: {exc.orig}", file=sys.stderr)
        return None
    finally:
        engine.dispose()
    return engine.url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url`` (made by :func:`server_database` on ``admin_url``)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    force = " WITH (FORCE)" if parsed.get_backend_name() == "postgresql" else ""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {parsed.database}{force}")
    finally:
        engine.dispose()


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The command's wall time, and its CPU time (user + sys: what a loaded machine's other
    processes change least)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def reads(trial: str) -> list[tuple[str, list[str]]]:
    """The read commands timed (issue 13's ``get``, ``describe`` and ``logs``)."""
    return [
        ("get experiments", ["get", "experiments"]),
        ("get trials", ["get", "trials", "-e", "startup"]),
        ("describe experiment", ["describe", "experiment", "startup"]),
        ("logs", ["logs", trial]),
    ]


def first_trial(pykatib: str, env: dict[str, str], db_args: list[str]) -> str:
    """The name of the store's first trial (``logs`` prints its output)."""
    listed = subprocess.run(
        [pykatib, *db_args, "get", "trials", "-o", "json"],
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    return str(json.loads(listed)["items"][0]["metadata"]["name"])


def checkout(rev: str, into: Path) -> Path:
    """``rev``'s ``src`` folder, extracted under ``into`` (for PYTHONPATH); its path."""
    into.mkdir()
    archive = subprocess.run(["git", "archive", rev, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def commit(at: str | None = None) -> str:
    if at:
        short = subprocess.run(
            ["git", "rev-parse", "--short", at], capture_output=True, text=True, check=False
        )
        return f"{short.stdout.strip() or at} (its src/ alone, from git archive)"
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], capture_output=True, check=False
        )
        return out.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", default="bench/results/startup.md")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="Also time the local read commands of this git revision (its src/ on PYTHONPATH), "
        "interleaved with the others",
    )
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="A PostgreSQL server (its URL, with a database to connect to) on which to create "
        "the database of the --db rows; '' for none",
    )
    parser.add_argument(
        "--mysql",
        metavar="URL",
        default="mysql+pymysql://root@127.0.0.1:3306/test",
        help="The same for MySQL or MariaDB; '' for none",
    )
    parser.add_argument(
        "--at",
        metavar="REV",
        help="Time this git revision's src/ (on PYTHONPATH) instead of the working tree's: a "
        "tree others are editing still gives a clean measurement of a commit",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with ExitStack() as cleanup:
        work = Path(tempfile.mkdtemp(prefix="pykatib-startup-"))
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        rows, envs = prepare(args, work, cleanup)
        times = measure(rows, envs, args.runs, work)
    load_after = os.getloadavg()
    write(args, rows, times, load_before, load_after)


def prepare(
    args: argparse.Namespace, work: Path, cleanup: ExitStack
) -> tuple[list[tuple[str, list[str]]], dict[str, dict[str, str]]]:
    """The stores (SQLite, a server of it, the servers' databases), each filled by a run; the
    rows to time (label, argv) and the environment of each."""
    env = {**os.environ, "PYKATIB_HOME": str(work / "home")}
    # As an installed package runs: its modules compiled once (.pyc), not at every start.
    for key in ("PYKATIB_DB", "PYKATIB_SERVER", "PYKATIB_TOKEN", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
    if args.at:
        env["PYTHONPATH"] = str(checkout(args.at, work / "at"))
    pykatib = pykatib_script()
    (work / "experiment.yaml").write_text(EXPERIMENT)
    (work / "one-trial.yaml").write_text(ONE_TRIAL)
    # (label suffix, arguments before the command, environment, a trial): the SQLite store,
    # then each server's database, filled by the same run in a PYKATIB_HOME of its own.
    stores: list[tuple[str, list[str], dict[str, str], str]] = []
    for admin in ("", args.postgresql, args.mysql):
        db = server_database(admin) if admin else None
        if admin and db is None:
            continue
        if db is not None:
            cleanup.callback(drop_database, admin, db)
        backend = db.split(":", 1)[0].split("+", 1)[0] if db else ""
        db_args = ["--db", db] if db else []
        store_env = {**env, "PYKATIB_HOME": str(work / f"home-{backend}")} if db else env
        experiment = str(work / "experiment.yaml")
        subprocess.run(
            [pykatib, *db_args, "run", "-q", "-f", experiment],
            env=store_env,
            check=True,
            capture_output=True,
        )
        suffix = f" --db {backend}" if db else ""
        stores.append((suffix, db_args, store_env, first_trial(pykatib, store_env, db_args)))
    rows: list[tuple[str, list[str]]] = [("python -c pass", [sys.executable, "-c", "pass"])]
    kubectl = shutil.which("kubectl")
    if kubectl:
        rows.append(("kubectl version --client", [kubectl, "version", "--client"]))
    runs = [
        ("run --help", ["run", "--help"]),
        (RUN_ONE, ["run", "-q", "-f", str(work / "one-trial.yaml")]),
    ]
    old = checkout(args.before, work / "before") if args.before else None
    envs: dict[str, dict[str, str]] = {}
    for suffix, db_args, store_env, trial in stores:
        commands = [(label, [*db_args, *argv]) for label, argv in reads(trial)]
        if not db_args:
            commands += runs
        for at, path in (("", None), (f" (at {args.before})", old)):
            if at and path is None:
                continue
            for label, argv in commands:
                row = f"pykatib {label}{suffix}{at}"
                rows.append((row, [pykatib, *argv]))
                envs[row] = {**store_env, "PYTHONPATH": str(path)} if path else store_env
    url = start_server(pykatib, env, work, cleanup)
    for label, argv in reads(stores[0][3]):
        rows.append((f"pykatib {label} --server", [pykatib, *argv, "--server", url]))
    return rows, {label: envs.get(label, env) for label, _ in rows}


def start_server(pykatib: str, env: dict[str, str], work: Path, cleanup: ExitStack) -> str:
    """A `pykatib server` of the SQLite store, stopped by ``cleanup``; its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "server.log"
    server = subprocess.Popen(
        [pykatib, "server", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()

    cleanup.callback(stop)
    wait_for_server(server, url, log)
    return url


def measure(
    rows: list[tuple[str, list[str]]], envs: dict[str, dict[str, str]], runs: int, work: Path
) -> dict[str, list[tuple[float, float]]]:
    """Each row's (wall, CPU) times: one warm-up each, then ``runs`` rounds, interleaved."""
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in rows}
    homes = iter(range(1_000_000))

    def env_of(label: str) -> dict[str, str]:
        """A one-trial run gets a fresh PYKATIB_HOME each time: it creates its store."""
        chosen = envs[label]
        if RUN_ONE not in label:
            return chosen
        home = work / f"run-{next(homes)}"
        return {**chosen, "PYKATIB_HOME": str(home), "PYKATIB_RUNTIME": "local"}

    for label, argv in rows:  # one warm-up each: the page cache, .pyc files
        timed(argv, env_of(label))
    for _ in range(runs):
        for label, argv in rows:
            times[label].append(timed(argv, env_of(label)))
    return times


def write(
    args: argparse.Namespace,
    rows: list[tuple[str, list[str]]],
    times: dict[str, list[tuple[float, float]]],
    before: tuple[float, float, float],
    after: tuple[float, float, float],
) -> None:
    wall = {label: [w for w, _ in runs] for label, runs in times.items()}
    cpu = {label: [c for _, c in runs] for label, runs in times.items()}
    base = statistics.median(wall["python -c pass"])
    base_cpu = statistics.median(cpu["python -c pass"])
    lines = [
        "# CLI start-up (bench/startup.py)",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit(args.at)}",
        (
            f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical "
            f"CPUs, {platform.system()} {platform.release()}"
        ),
        (
            f"- Python {platform.python_version()}, pykatib {version('pykatib')}, click "
            f"{version('click')}, rich {version('rich')}, sqlalchemy {version('sqlalchemy')}, "
            f"pydantic {version('pydantic')}"
        ),
        f"- Command: `python bench/startup.py --runs {args.runs}"
        + (f" --at {args.at}" if args.at else "")
        + (f" --before {args.before}" if args.before else "")
        + "`",
        "- Load average (1, 5, 15 min) before / after: "
        + " ".join(f"{x:.2f}" for x in before)
        + " / "
        + " ".join(f"{x:.2f}" for x in after),
        (
            "- Store: SQLite in a fresh PYKATIB_HOME, one experiment of 10 finished trials (a "
            "real `pykatib run` of `/usr/bin/printf loss=...`); `--server`: a `pykatib server` "
            "of that store on 127.0.0.1; `run -q -f <one trial>`: one trial of "
            "`/usr/bin/printf loss=...`, one at a time, in a fresh PYKATIB_HOME each run (a new "
            "SQLite store); `--db postgresql`, `--db mysql`: the same experiment run into a "
            f"database of its own on the servers at {args.postgresql or '-'} and "
            f"{args.mysql or '-'} (each with its own PYKATIB_HOME, for the trials' logs)"
        ),
        (
            f"- Each command a fresh process, {args.runs} runs after one warm-up (which writes the "
            "modules' .pyc files, as an install does: PYTHONDONTWRITEBYTECODE is unset), the "
            "commands interleaved round by round; wall time from spawn to exit"
        ),
        "",
        (
            "| command | wall median ms | wall fastest ms | CPU median ms (user+sys) | "
            f"CPU - python -c pass, ms | wall median ≤ {TARGET_MS} ms |"
        ),
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, _ in rows:
        median = statistics.median(wall[label]) * 1000
        fastest = min(wall[label]) * 1000
        used = statistics.median(cpu[label]) * 1000
        read = label.startswith("pykatib") and not label.startswith("pykatib run")
        target = ("yes" if median <= TARGET_MS else "no") if read else ""
        lines.append(
            f"| `{label}` | {median:.0f} | {fastest:.0f} | {used:.0f} | "
            f"{used - base_cpu * 1000:.0f} | {target} |"
        )
    lines.append("")
    lines.append(
        f"- `python -c pass` wall median {base * 1000:.0f} ms: the interpreter's own start-up "
        "on this machine at this load (its site-packages `.pth` files included)"
    )
    lines.append(
        f"- `pykatib {RUN_ONE}`: everything a run costs but its trial's own work: start-up, "
        "a new store, admission, the algorithm, the trial launcher, one trial, the exit. Its CPU "
        "is the `pykatib` process's and the children it reaped; the launcher (one `python -I -S` "
        "a run, the trials' parent) exits on its own once the run has ended and is not counted"
    )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
