"""Load on ``pykatib server`` (SQLite, PostgreSQL) side by side with the embedded store.

N concurrent clients (threads of this process, each with its own ``httpx.Client``) run for D
seconds against a real ``pykatib server`` started here on a free port of 127.0.0.1 with a fresh
``PYKATIB_HOME``; then the same load runs on the embedded store (one ``pykatib.KatibClient``
without a server, its control plane on threads of this process, the N clients on threads).

Each client loops, in namespace ``load``:

1. **create** an experiment ``cNN-IIII`` (random over one double ``x``; trials are real
   processes, ``<python> -c "print('loss=0.5')" <x>``, metrics by StdOut; ``maxTrialCount`` 2,
   ``parallelTrialCount`` 1, ``resumePolicy`` LongRunning): POST, expected 201;
2. **patch** its budget, a JSON merge patch ``{"spec": {"maxTrialCount": 3,
   "parallelTrialCount": 2}}`` with no resourceVersion (as ``kubectl patch --type merge``);
   a 409 Conflict is retried, as kubectl does, up to 5 times and counted apart;
3. **get** it (its status): GET;
4. **list** its trials by label selector ``katib.kubeflow.org/experiment=NAME``.

The first W clients (default N/5) also hold a watch of the namespace's experiments open
(``?watch=true&resourceVersion=0``) for the whole run and count its events. Embedded: the same
four calls through ``KatibClient`` (``create_experiment``, the transport's
``edit_experiment_budget`` (the client's method would wait for a restart), ``get_experiment``,
``list_trials``) and the watch is the server's own watch loop (``WatchState`` polling the
store's version columns every 0.25 s) run on a thread, since there is no HTTP.

Errors: any answer that is not the expected 2xx (or a retried 409), and any exception. Lost
writes: at the end every experiment a client created must exist and its stored
``maxTrialCount`` must equal the last value that client patched successfully (3, or 2 when the
patch failed).

    python bench/load.py [--clients 20] [--seconds 60] [--backends sqlite,postgresql,embedded]
                         [--watchers N] [--out bench/results/load.md]

PostgreSQL: ``127.0.0.1:5432`` (trust auth, database ``test``); pykatib's tables there are
dropped before and after (as ``tests/databases.py`` does). Exits 1 on any error or lost write.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "load.md"
BASE = "/apis/kubeflow.org/v1beta1"
NAMESPACE = "load"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OPS = ("create", "patch", "get", "list")
CONFLICT_RETRIES = 5
PATCHED_MAX = 3
CREATED_MAX = 2
STARTUP_SECONDS = 30
BACKENDS = {
    "sqlite": "server + SQLite",
    "postgresql": "server + PostgreSQL",
    "embedded": "embedded SQLite",
}


def experiment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": 1,
            "maxTrialCount": CREATED_MAX,
            "maxFailedTrialCount": 0,
            "resumePolicy": "LongRunning",
            "parameters": [
                {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
            ],
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "training-container",
                                        "image": "python:3.11-slim",
                                        "command": [
                                            sys.executable,
                                            "-c",
                                            "print('loss=0.5')",
                                            "${trialParameters.x}",
                                        ],
                                    }
                                ],
                                "restartPolicy": "Never",
                            }
                        }
                    },
                },
            },
        },
    }


# ---- measurements ----------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    conflicts: int = 0
    watch_events: Counter[str] = field(default_factory=Counter)
    watchers: int = 0
    # (client, name) -> last maxTrialCount patched successfully
    expected: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    completed: int = 0
    trials: int = 0
    note: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, op: str, what: str) -> None:
        with self.lock:
            self.errors[op] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{op}: {what}")

    def ops(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


# ---- the server backends -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def empty_postgresql(url: str) -> None:
    """Drop every table of the database (as tests/databases.py's ``empty``)."""
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()


def start_server(db: str, home: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYKATIB_HOME": str(home)}
    env.pop("PYKATIB_SERVER", None)
    env.pop("PYKATIB_DB", None)
    log = home / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pykatib.cli.main", "--db", db, "server", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(base_url=url, timeout=5) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
            try:
                if client.get("/version").status_code == 200:
                    return proc, url, log
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the server did not answer in time")
            time.sleep(0.05)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HttpOps:
    """The four calls and the watch, over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url

    def session(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def create(self, http: httpx.Client, name: str) -> tuple[bool, str]:
        r = http.post(f"{BASE}/namespaces/{NAMESPACE}/experiments", json=experiment(name))
        return r.status_code == 201, f"{r.status_code} {r.text[:200]}"

    def patch(self, http: httpx.Client, name: str) -> tuple[str, str]:
        r = http.patch(
            f"{BASE}/namespaces/{NAMESPACE}/experiments/{name}",
            content=json.dumps({"spec": {"maxTrialCount": PATCHED_MAX, "parallelTrialCount": 2}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if r.status_code == 200:
            return "ok", ""
        if r.status_code == 409:
            return "conflict", r.text[:200]
        return "error", f"{r.status_code} {r.text[:200]}"

    def get(self, http: httpx.Client, name: str) -> tuple[bool, str]:
        r = http.get(f"{BASE}/namespaces/{NAMESPACE}/experiments/{name}")
        return r.status_code == 200, f"{r.status_code} {r.text[:200]}"

    def list(self, http: httpx.Client, name: str) -> tuple[bool, str]:
        r = http.get(
            f"{BASE}/namespaces/{NAMESPACE}/trials",
            params={"labelSelector": f"{EXPERIMENT_LABEL}={name}"},
        )
        ok = r.status_code == 200 and isinstance(r.json().get("items"), list)
        return ok, f"{r.status_code} {r.text[:200]}"

    def stored_max(self, http: httpx.Client, name: str) -> int | None:
        r = http.get(f"{BASE}/namespaces/{NAMESPACE}/experiments/{name}")
        if r.status_code != 200:
            return None
        return int(r.json()["spec"]["maxTrialCount"])

    def summary(self, http: httpx.Client) -> tuple[int, int]:
        exps = http.get(f"{BASE}/namespaces/{NAMESPACE}/experiments").json()["items"]
        trials = http.get(f"{BASE}/namespaces/{NAMESPACE}/trials").json()["items"]
        done = sum(
            1
            for e in exps
            if any(
                c.get("type") in ("Succeeded", "Failed") and c.get("status") == "True"
                for c in (e.get("status") or {}).get("conditions") or []
            )
        )
        return done, len(trials)

    def watch(self, stop: threading.Event, result: Result, seconds: float) -> None:
        params = {"watch": "true", "resourceVersion": "0", "timeoutSeconds": str(int(seconds))}
        try:
            with (
                httpx.Client(base_url=self.url, timeout=httpx.Timeout(60, read=None)) as http,
                http.stream(
                    "GET", f"{BASE}/namespaces/{NAMESPACE}/experiments", params=params
                ) as r,
            ):
                if r.status_code != 200:
                    result.error("watch", f"{r.status_code}")
                    return
                for line in r.iter_lines():
                    if stop.is_set():
                        return
                    if line.strip():
                        kind = json.loads(line).get("type", "?")
                        with result.lock:
                            result.watch_events[kind] += 1
                        if kind == "ERROR":
                            result.error("watch", line[:200])
        except Exception as exc:  # noqa: BLE001 - counted
            if not stop.is_set():
                result.error("watch", repr(exc)[:200])


# ---- the embedded backend ---------------------------------------------------------------------


class EmbeddedOps:
    """The same calls on one embedded ``KatibClient`` (control plane on threads here)."""

    def __init__(self, home: Path) -> None:
        from pykatib import KatibClient

        self.client = KatibClient(namespace=NAMESPACE, home=home)

    def session(self) -> None:
        return None

    def create(self, _: None, name: str) -> tuple[bool, str]:
        self.client.create_experiment(experiment(name))
        return True, ""

    def patch(self, _: None, name: str) -> tuple[str, str]:
        from pykatib.api.errors import ConflictError

        try:
            self.client.transport.edit_experiment_budget(
                NAMESPACE,
                name,
                {"max_trial_count": PATCHED_MAX, "parallel_trial_count": 2},
            )
        except ConflictError as exc:
            return "conflict", str(exc)[:200]
        return "ok", ""

    def get(self, _: None, name: str) -> tuple[bool, str]:
        self.client.get_experiment(name)
        return True, ""

    def list(self, _: None, name: str) -> tuple[bool, str]:
        self.client.list_trials(name)
        return True, ""

    def stored_max(self, _: None, name: str) -> int | None:
        try:
            return self.client.get_experiment(name).spec.max_trial_count
        except Exception:  # noqa: BLE001 - a lost experiment
            return None

    def summary(self, _: None) -> tuple[int, int]:
        from pykatib.control import status as st

        exps = self.client.list_experiments()
        return sum(1 for e in exps if st.is_completed(e)), len(self.client.list_trials())

    def watch(self, stop: threading.Event, result: Result, seconds: float) -> None:
        from pykatib.server.kinds import KINDS
        from pykatib.server.watch import POLL_SECONDS, WatchState

        store = self.client.transport.store  # type: ignore[attr-defined]
        kind = KINDS["experiments"]
        state = WatchState.from_token("")

        def fetch(keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
            found = {}
            for key in keys:
                try:
                    found[key] = kind.get(store, *key)
                except Exception:  # noqa: BLE001, S110 - deleted meanwhile
                    pass
            return found

        try:
            while not stop.is_set():
                for kind_, _ in state.poll(kind.versions(store, NAMESPACE), fetch, lambda o: True):
                    with result.lock:
                        result.watch_events[kind_] += 1
                stop.wait(POLL_SECONDS)
        except Exception as exc:  # noqa: BLE001 - counted
            result.error("watch", repr(exc)[:200])

    def close(self) -> None:
        self.client.close()


# ---- the load -----------------------------------------------------------------------------------


def client_loop(
    ops: Any, index: int, stop: threading.Event, result: Result, created: list[str]
) -> None:
    http = ops.session()
    i = 0
    try:
        while not stop.is_set():
            name = f"c{index:02d}-{i:04d}"
            i += 1

            def timed(op: str, call: Any) -> Any:
                start = time.perf_counter()
                try:
                    out = call()
                except Exception as exc:  # noqa: BLE001 - counted
                    result.error(op, repr(exc)[:200])
                    return None
                finally:
                    elapsed = time.perf_counter() - start
                    with result.lock:
                        result.latencies[op].append(elapsed)
                return out

            out = timed("create", lambda name=name: ops.create(http, name))
            if not out or not out[0]:
                if out:
                    result.error("create", out[1])
                continue
            created.append(name)
            result.expected[name] = CREATED_MAX
            status = None
            for _ in range(CONFLICT_RETRIES):
                out = timed("patch", lambda name=name: ops.patch(http, name))
                if out is None:
                    break
                status = out[0]
                if status != "conflict":
                    break
                with result.lock:
                    result.conflicts += 1
            if status == "ok":
                result.expected[name] = PATCHED_MAX
            elif out is not None:
                result.error("patch", f"{status} {out[1]}")
            for op in ("get", "list"):
                out = timed(op, lambda op=op, name=name: getattr(ops, op)(http, name))
                if out is not None and not out[0]:
                    result.error(op, out[1])
    finally:
        if http is not None:
            http.close()


def run_load(ops: Any, result: Result, clients: int, seconds: float, watchers: int) -> None:
    stop = threading.Event()
    created: list[list[str]] = [[] for _ in range(clients)]
    result.watchers = watchers
    watch_threads = [
        threading.Thread(target=ops.watch, args=(stop, result, seconds + 120), daemon=True)
        for _ in range(watchers)
    ]
    for t in watch_threads:
        t.start()
    threads = [
        threading.Thread(target=client_loop, args=(ops, k, stop, result, created[k]), daemon=True)
        for k in range(clients)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    while (elapsed := time.perf_counter() - start) < seconds:
        time.sleep(min(5.0, seconds - elapsed))
        with result.lock:
            n, errs = result.ops(), sum(result.errors.values())
        print(
            f"  [{result.backend}] {time.perf_counter() - start:5.1f} s: {n} operations "
            f"({n / max(1e-9, time.perf_counter() - start):.1f}/s), {errs} errors, "
            f"{result.conflicts} conflicts retried, "
            f"{sum(result.watch_events.values())} watch events",
            file=sys.stderr,
            flush=True,
        )
    stop.set()
    for t in threads:
        t.join(120)
    result.seconds = time.perf_counter() - start
    print(f"  [{result.backend}] checking for lost writes", file=sys.stderr, flush=True)
    http = ops.session()
    try:
        for name, want in sorted(result.expected.items()):
            got = ops.stored_max(http, name)
            if got != want:
                result.lost.append(f"{name}: stored {got}, last patched {want}")
        result.completed, result.trials = ops.summary(http)
    finally:
        if http is not None:
            http.close()
    for t in watch_threads:
        t.join(2)


def run_backend(backend: str, clients: int, seconds: float, watchers: int) -> Result:
    result = Result(backend)
    home = Path(tempfile.mkdtemp(prefix=f"pykatib-load-{backend}-"))
    print(f"{BACKENDS[backend]}: {clients} clients for {seconds:g} s", file=sys.stderr, flush=True)
    try:
        if backend == "embedded":
            ops = EmbeddedOps(home)
            try:
                run_load(ops, result, clients, seconds, watchers)
            finally:
                print(f"  [{backend}] closing the client", file=sys.stderr, flush=True)
                ops.close()
            return result
        if backend == "postgresql":
            try:
                empty_postgresql(POSTGRESQL)
            except Exception as exc:  # noqa: BLE001 - reported, skipped
                result.note = f"skipped: PostgreSQL not reachable ({exc!r:.200})"
                return result
            db = POSTGRESQL
        else:
            db = f"sqlite:///{home / 'pykatib.db'}"
        proc, url, log = start_server(db, home)
        try:
            run_load(HttpOps(url), result, clients, seconds, watchers)
        finally:
            print(f"  [{backend}] stopping the server", file=sys.stderr, flush=True)
            stop_server(proc)
            if proc.returncode not in (0, -signal.SIGTERM):
                result.note = f"server exited {proc.returncode}: {log.read_text()[-500:]}"
        if backend == "postgresql":
            empty_postgresql(POSTGRESQL)
        return result
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ---- the report ---------------------------------------------------------------------------------


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
    from importlib.metadata import version

    out = [f"Python {platform.python_version()}"]
    for package in ("pykatib", "httpx", "uvicorn", "sqlalchemy", "psycopg"):
        try:
            out.append(f"{package} {version(package)}")
        except Exception:  # noqa: BLE001, S110 - a report line, never fatal
            pass
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRESQL)
        with engine.connect() as conn:
            out.append(str(conn.execute(text("show server_version")).scalar()).split()[0])
            out[-1] = f"PostgreSQL {out[-1]}"
        engine.dispose()
    except Exception:  # noqa: BLE001, S110 - a report line, never fatal
        pass
    import sqlite3

    out.append(f"SQLite {sqlite3.sqlite_version}")
    return ", ".join(out)


def git_commit() -> str:
    proc = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "?"


def ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x * 1000:.1f}"


def report(args: argparse.Namespace, results: list[Result], command: str, load: str) -> str:
    embedded = next((r for r in results if r.backend == "embedded" and r.ops()), None)
    lines = [
        "# Load on `pykatib server` against the embedded store (bench/load.py)",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {git_commit()}",
        f"- Machine: {machine()}",
        f"- {versions()}",
        f"- Command: `{command}`",
        f"- Load average (1, 5, 15 min) before / after: {load}",
        (
            f"- Load: {args.clients} clients (threads of the benchmark, one `httpx.Client` each) for "
            f"{args.seconds:g} s per backend; each loops create (POST, `maxTrialCount` 2, "
            f"`parallelTrialCount` 1, trials `python -c \"print('loss=0.5')\" <x>` run for real by "
            f"the control plane), patch (merge patch `maxTrialCount` 3, `parallelTrialCount` 2; a "
            f"409 retried up to {CONFLICT_RETRIES} times, as kubectl), get, list trials by label "
            f"selector; {args.watchers} of them also hold a watch of the namespace's experiments open"
        ),
        (
            "- Server: `pykatib server` in its own process with a fresh `PYKATIB_HOME` (SQLite "
            "there, or PostgreSQL at 127.0.0.1:5432 with pykatib's tables dropped first); "
            "embedded: one `KatibClient` (no server) in the benchmark's process, the same calls "
            "(patch = the transport's `edit_experiment_budget`), the watch = the server's "
            "`WatchState` loop on a thread; the embedded store's control plane shares the "
            "benchmark's process (and GIL) with the clients"
        ),
        (
            "- Latency: from the call to its answer, in the client thread (2-core machine: clients, "
            "server, control plane and trial processes all share the 2 cores)"
        ),
        "",
    ]
    for r in results:
        lines += [f"## {BACKENDS[r.backend]}", ""]
        if r.note:
            lines += [f"- {r.note}", ""]
        if not r.ops():
            continue
        total = r.ops()
        lines += [
            "| operation | count | ops/s | p50 ms | p95 ms | p99 ms | errors |"
            + (
                " p50 / embedded | p99 / embedded | ops/s / embedded |"
                if embedded and r is not embedded
                else ""
            ),
            "|---|---:|---:|---:|---:|---:|---:|"
            + ("---:|---:|---:|" if embedded and r is not embedded else ""),
        ]
        for op in (*OPS, "all"):
            values = r.latencies[op] if op != "all" else [v for o in OPS for v in r.latencies[o]]
            rate = len(values) / r.seconds
            row = (
                f"| {op} | {len(values)} | {rate:.1f} | {ms(pct(values, 50))} | "
                f"{ms(pct(values, 95))} | {ms(pct(values, 99))} | "
                f"{r.errors[op] if op != 'all' else sum(r.errors[o] for o in OPS)} |"
            )
            if embedded and r is not embedded:
                ev = (
                    embedded.latencies[op]
                    if op != "all"
                    else [v for o in OPS for v in embedded.latencies[o]]
                )
                erate = len(ev) / embedded.seconds

                def ratio(a: float, b: float) -> str:
                    return "-" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}"

                row += (
                    f" {ratio(pct(values, 50), pct(ev, 50))} | {ratio(pct(values, 99), pct(ev, 99))}"
                    f" | {ratio(rate, erate)} |"
                )
            lines.append(row)
        created = len(r.expected)
        lines += [
            "",
            (
                f"- {total} operations in {r.seconds:.1f} s: **{total / r.seconds:.1f} ops/s**; "
                f"{created} experiments created, {r.completed} of them completed by the end, "
                f"{r.trials} trials created"
            ),
            f"- **Errors: {sum(r.errors.values())}** "
            + (f"({dict(r.errors)})" if r.errors else "")
            + f"; 409 conflicts retried: {r.conflicts}",
            f"- **Lost writes: {len(r.lost)}** (of {created} experiments checked)",
            f"- Watch: {r.watchers} watches, events {dict(r.watch_events) or 0}",
        ]
        for sample in r.error_samples[:5]:
            lines.append(f"  - error: `{sample.replace('`', chr(39))}`")
        for lost in r.lost[:5]:
            lines.append(f"  - lost: {lost}")
        lines.append("")
    return "\n".join(lines)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--backends", default="sqlite,postgresql,embedded")
    parser.add_argument("--watchers", type=int, default=None, help="default: clients / 5")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.watchers is None:
        args.watchers = max(1, args.clients // 5)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")
    command = "python bench/load.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    before = load_average()
    results = [run_backend(b, args.clients, args.seconds, args.watchers) for b in backends]
    load = f"{before} / {load_average()}"
    text = report(args, results, command.strip(), load)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    bad = any(r.errors or r.lost for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
