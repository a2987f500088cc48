"""What runs on a Dask worker for one attempt of a trial (:mod:`pykatib.runtime.dask`).

:func:`run_attempt` is the Dask task. It imports nothing of pykatib (the runner ships this
module to the workers by value), so a worker needs Dask and nothing else. It

1. claims the attempt (a ``distributed.Event``): a task that finds it claimed already is a
   re-run by the scheduler after the worker running it was lost, and ends at once as lost, so
   that ``backoffLimit``, not Dask, decides whether the attempt runs again;
2. starts the trial's argv (never through a shell) in a session and process group of its own,
   in its working directory, with the worker's environment plus the trial's, stdin from
   /dev/null and stdout and stderr merged into a pipe; and a *guard*, a tiny process that kills
   the trial's process group once the task's end of a pipe closes: when the trial ends, or
   when the worker dies (SIGKILL included), as a lost node's pods die;
3. sends the output, and a Push trial's reports (``PYKATIB_METRICS_FILE``, a file on the
   worker), as they come, through a ``distributed.Queue`` to the control plane, which appends
   them to the attempt's files where its collectors read them;
4. on the stop event: SIGTERM to the process group, SIGKILL after the grace period;
5. returns how the trial exited, ``{"code": N | None, "signal": N | None, "error": str | None}``,
   and sends it as the queue's last item.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

# Kills the trial's process group (argv[1]) once its stdin reads as closed.
GUARD = r"""
import os, sys
sys.stdin.buffer.read()
try:
    os.killpg(int(sys.argv[1]), 9)
except OSError:
    pass
"""
METRICS_FILE_ENV = "PYKATIB_METRICS_FILE"  # pykatib.metrics.push's names, not imported here
SYNC_ENV = ("PYKATIB_METRICS_ACK", "PYKATIB_METRICS_BELL")
FLUSH_SECONDS = 0.1  # output is sent at most this late
FLUSH_BYTES = 1 << 16
STOP_POLL_SECONDS = 0.2  # how often the stop event is looked at


def run_attempt(job: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt as ``job`` describes it (:meth:`pykatib.runtime.dask.DaskTrial._submit`)."""
    from distributed import Event, Queue, get_worker

    worker = get_worker()
    claim = Event(job["claim"])
    if claim.is_set():
        return {"lost": True}
    claim.set()
    out = Queue(job["queue"])
    stop = Event(job["stop"])
    if stop.is_set():
        return _exit(out, {"code": None, "signal": int(signal.SIGTERM), "error": None})
    for folder in job["folders"]:
        os.makedirs(folder, exist_ok=True)  # the attempt's folder, where no filesystem is shared
    env = {**os.environ, **job["env"]}
    report = None
    if job["push"]:
        # The reports go to a file of the worker's own, sent on as they come (asynchronously:
        # no ack file or doorbell crosses the network).
        fd, report = tempfile.mkstemp(prefix="pykatib-report-", suffix=".jsonl")
        os.close(fd)
        env[METRICS_FILE_ENV] = report
        for name in SYNC_ENV:
            env.pop(name, None)
    try:
        trial = subprocess.Popen(
            job["argv"],
            cwd=job["cwd"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        _remove(report)
        return _exit(out, {"code": None, "signal": None, "error": exc.strerror or str(exc)})
    guard = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", GUARD, str(trial.pid)],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    if job.get("memory"):
        _limit_memory(trial.pid, int(job["memory"]))
    where = {"worker": worker.name, "address": worker.address, "host": socket.gethostname()}
    out.put(["started", {**where, "pid": trial.pid}])
    try:
        code = _follow(trial, out, stop, report, float(job["grace"]))
    finally:
        assert guard.stdin is not None
        guard.stdin.close()  # the guard kills what is left of the group
        guard.wait()
        _remove(report)
    result = {"code": code if code >= 0 else None, "signal": -code if code < 0 else None}
    return _exit(out, {**result, "error": None})


def _exit(out: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Leave how the trial ended in the queue too: a control plane that restarts after the
    task ended (and the scheduler forgot it) finds it there."""
    out.put(["exit", result])
    out.close()  # this side's hold on the queue; the control plane releases the other
    return result


def task_state(dask_scheduler: Any, key: str) -> str | None:
    """A task's state as the scheduler knows it (None: it doesn't); run on the scheduler."""
    task = dask_scheduler.tasks.get(key)
    return None if task is None else str(task.state)


def _follow(
    trial: subprocess.Popen[bytes], out: Any, stop: Any, report: str | None, grace: float
) -> int:
    """Send the trial's output and reports until it exits; stop it when asked. Its exit code."""
    assert trial.stdout is not None
    fd = trial.stdout.fileno()
    os.set_blocking(fd, False)
    pending: dict[str, bytearray] = {"log": bytearray(), "metrics": bytearray()}
    offset = 0
    flushed = looked = time.monotonic()
    kill_at: float | None = None
    open_pipe = True
    while open_pipe or trial.poll() is None:
        if open_pipe:
            if select.select([fd], [], [], FLUSH_SECONDS)[0]:
                try:
                    chunk = os.read(fd, FLUSH_BYTES)
                except BlockingIOError:  # a spurious wakeup
                    chunk = None
                if chunk == b"":
                    open_pipe = False
                elif chunk:
                    pending["log"] += chunk
        else:
            time.sleep(FLUSH_SECONDS)  # the pipe is closed (the trial closed its stdout)
        if report is not None:
            offset = _read_report(report, offset, pending["metrics"])
        now = time.monotonic()
        if now - flushed >= FLUSH_SECONDS or len(pending["log"]) >= FLUSH_BYTES:
            _flush(out, pending)
            flushed = now
        if kill_at is None and now - looked >= STOP_POLL_SECONDS:
            looked = now
            if stop.is_set():
                _signal_group(trial.pid, signal.SIGTERM)
                kill_at = now + grace
        if kill_at is not None and now >= kill_at:
            _signal_group(trial.pid, signal.SIGKILL)
            kill_at = float("inf")
        if trial.poll() is not None and open_pipe:
            # The trial exited; a child of its own may hold the pipe: the group goes with it.
            _signal_group(trial.pid, signal.SIGKILL)
    if report is not None:
        _read_report(report, offset, pending["metrics"])
    _flush(out, pending)
    return int(trial.returncode)


def _read_report(path: str, offset: int, into: bytearray) -> int:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return offset
    into += data
    return offset + len(data)


def _flush(out: Any, pending: dict[str, bytearray]) -> None:
    for stream, data in pending.items():
        if data:
            out.put([stream, bytes(data)])
            data.clear()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def _limit_memory(pid: int, limit: int) -> None:
    """The container's ``resources.limits.memory``, as an address-space limit (set just after
    the trial started: it holds from then on)."""
    try:
        import resource

        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass


def _remove(path: str | None) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass
