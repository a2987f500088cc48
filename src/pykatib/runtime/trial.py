"""One local trial's run: its attempts, one after another, watched by :data:`WATCHER`.

Kubernetes' Job semantics that matter locally are kept: ``backoffLimit`` (default 6) retries a
failed attempt (immediately: there is no pod scheduling to back off from), each in a fresh
folder; ``activeDeadlineSeconds`` on the Job (from the first attempt's start, across
adoptions) or on the pod (one attempt) ends the attempt and fails the run with reason
``DeadlineExceeded``; a stopped attempt gets SIGTERM, then SIGKILL after
``terminationGracePeriodSeconds``.

The run's *record* (:meth:`LocalTrial.record`) is what a later control plane needs to adopt it:

.. code-block:: json

    {"attempt": 2, "dir": ".../trials/<ns>/<exp>/<trial>/attempt-2", "host": "box",
     "shim": {"pid": 4242, "start": 9912345}, "trial": {"pid": 4243, "start": 9912346},
     "jobStartTime": "2024-05-01T10:00:00.123456Z",
     "attemptStartTime": "2024-05-01T10:00:07.654321Z", "failed": 1,
     "positions": {"offset": 1234, "parser": {"steps": {"loss": 3}}}}

(pids with their start times in clock ticks since boot; ``failed``: failed attempts so far;
``positions``: where the collector goes on reading, as of the observations drained with it).

A trial's run is a generator (:meth:`LocalTrial.steps`) that yields what it waits for (the
launcher's pipe, the Push bell, a timeout); one thread, :class:`Watcher`, waits for all of them
with ``selectors`` and resumes each trial whose wait is over. A thread per trial cost its start
(~0.1 ms) and the switches between threads (~0.5 ms a trial, more than the trial's own work).
A subclass that watches by blocking (Dask's) runs the same steps on a thread of its own
(:attr:`LocalTrial.thread`).
"""

from __future__ import annotations

import logging
import os
import select
import selectors
import signal
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pykatib.metrics import collectors as _collectors
from pykatib.metrics.collectors import Collector
from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.timestamps import format_rfc3339, parse_rfc3339
from pykatib.runtime import replicas, shim
from pykatib.runtime.attempt import (
    Attempt,
    ExitWaiter,
    Layout,
    end_orphan,
    primary_pod,
    read_stopping,
)
from pykatib.runtime.base import Drained, RunRequest, RunStatus
from pykatib.runtime.job import job_resource
from pykatib.runtime.paths import AttemptFiles, attempt_dir, attempt_numbers

log = logging.getLogger("pykatib.runtime")

DEFAULT_BACKOFF_LIMIT = 6
DEFAULT_GRACE_SECONDS = 5.0
# How often the collector reads while early stopping is on (a Push report rings at once).
EARLY_STOPPING_POLL_SECONDS = 0.1
# How often an attempt whose collector reads nothing is looked at (stop, deadlines, release).
IDLE_SECONDS = 1.0

# What a step waits for: any of these file descriptors readable, or this many seconds; it is
# resumed with the descriptors found readable.
Wait = tuple[tuple[int, ...], float]
Steps = Generator[Wait, frozenset[int], RunStatus | None]


class LocalTrial:
    """One trial's attempts, stepped by :data:`WATCHER` (or by :attr:`thread`)."""

    # Why an attempt ended with no exit status, in its log and in the Job's failure message.
    LOST_NOTE = "the attempt's shim was killed; how it ended is unknown"
    LOST_REASON = "its shim was killed"

    def __init__(
        self,
        request: RunRequest,
        wake: Callable[[], None],
        on_end: Callable[[], None] = lambda: None,
    ) -> None:
        self.request = request
        self.wake = wake
        self.on_end = on_end  # the run has ended: what it held of the machine is free
        self._lock = threading.Lock()
        self._points: list[ObservationPoint] = []
        self._position: dict[str, Any] = {}  # the collector's, as of the points handed over
        self._offset = 0  # the report file's offset, as of the points handed over
        self._drained_offset = 0
        self._restarted = False
        self._record_changed = False
        self._attempt: Attempt | None = None
        self._number = 1
        self._adopted: Attempt | None = None
        self._stopped: str | None = None
        self._released = False
        self._deadline_hit = False
        self._job_started = datetime.now(timezone.utc)
        self._failed = 0
        self._why = ""  # why the last attempt failed, when pykatib can tell (out of memory)
        spec = request.run_spec.get("spec") or {}
        pod = primary_pod(request.run_spec)
        if replicas.is_training_kind(request.run_spec):
            # A training job: its runPolicy; a failed replica fails the job unless it allows
            # retries (the whole gang starts again).
            spec = replicas.run_policy(request.run_spec)
            self._backoff_limit = int(spec.get("backoffLimit", 0))
        else:
            self._backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT))
        self._job_deadline = spec.get("activeDeadlineSeconds")
        self._pod_deadline = pod.get("activeDeadlineSeconds")
        grace = float(pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
        self.layout = Layout(request, grace)
        self._status: RunStatus | None = None  # None: running (its Job made when asked for)
        self.done = threading.Event()  # watched no more: ended, or released

    @cached_property
    def thread(self) -> threading.Thread:
        """A thread of its own, for a subclass whose :meth:`_watch` blocks."""
        return threading.Thread(target=self._run, name=f"trial-{self.request.key[1]}", daemon=True)

    # --- control-plane side ----------------------------------------------------------------

    def begin(self) -> dict[str, Any]:
        """A new run: its first attempt gets the next folder. Returns the run's record."""
        numbers = attempt_numbers(self.request.trial_dir)
        for number in numbers:
            # Left by a control plane that crashed before it stored that it had started them.
            end_orphan(self.layout.files(number))
        self._number = (numbers[-1] if numbers else 0) + 1
        return self.record()

    def adopt(self, record: dict[str, Any]) -> bool:
        """Take over the run ``record`` describes; False when it is lost."""
        number = record.get("attempt")
        if not isinstance(number, int) or record.get("host") != shim.HOST:
            return False  # not a run this machine can see
        latest = attempt_numbers(self.request.trial_dir)
        if not latest or latest[-1] < number:
            return False
        position = record.get("positions") or {}
        self._failed = int(record.get("failed") or 0)
        if latest[-1] > number:
            # Retries began after the record was stored: each began because the one before failed.
            self._failed += latest[-1] - number
            number, position = latest[-1], {}
            self._restarted = self._record_changed = True
        files = self.layout.files(number)
        exited = shim.read_exited(files)
        started = shim.read_started(files) or shim.Started.from_json(record)
        stopping = read_stopping(files)
        if stopping == "stopped" or (
            exited is None and (started is None or not started.shim.alive())
        ):
            # Lost (its shim is gone), or being stopped by a control plane that is gone: it ends
            # here, to be run again.
            end_orphan(files)
            return False
        self._job_started = _time(record.get("jobStartTime")) or self._job_started
        begun = None if self._restarted else _time(record.get("attemptStartTime"))
        if begun is None:
            begun = datetime.fromtimestamp(files.state.stat().st_mtime, timezone.utc)
        attempt = self.layout.open(number, begun, fresh=False)
        attempt.ident, attempt.stopping = started, stopping
        attempt.collector.restore(position)
        self._position = attempt.collector.position()
        self._offset = self._drained_offset = _report_offset(attempt.collector)
        self._number, self._adopted = number, attempt
        self._attempt = attempt  # stop() reaches it from now on
        return True

    def drain(self) -> Drained:
        with self._lock:
            points, self._points = self._points, []
            record = self.record() if points or self._record_changed else None
            restarted, self._restarted, self._record_changed = self._restarted, False, False
            self._drained_offset = self._offset
        return Drained(points, record, restarted)

    def acknowledge(self) -> None:
        with self._lock:
            attempt, offset = self._attempt, self._drained_offset
            if self._stopped is not None or attempt is None or attempt.channel is None:
                return  # a stopped trial must not report another step
        attempt.channel.ack(offset)

    def stop(self, message: str) -> None:
        with self._lock:
            if self._stopped is None:
                self._stopped = message
            attempt = self._attempt
        if attempt is not None:
            self._collect(attempt)  # what the trial wrote before it was stopped counts
            self._terminate(attempt, "stopped")

    @property
    def status(self) -> RunStatus:
        """The run as last seen; while it runs, its Job is made when first asked for, not at
        every start: a short trial may end before anyone asks."""
        with self._lock:
            if self._status is None:
                self._status = RunStatus("running", job=self._job("running"))
            return self._status

    @property
    def stopping(self) -> bool:
        return self._stopped is not None

    def release(self) -> None:
        """Stop watching (and leave the trial running)."""
        self._released = True

    def record(self) -> dict[str, Any]:
        """The run as the store keeps it (the trial's ``pykatib.kubeflow.org/attempt``)."""
        attempt = self._attempt
        if attempt is not None and attempt.number != self._number:
            attempt = None  # the next attempt is about to begin
        record: dict[str, Any] = {
            "attempt": self._number,
            "dir": str(attempt_dir(self.request.trial_dir, self._number)),
            "host": shim.HOST,
        }
        if attempt is not None and attempt.ident is not None:
            record["shim"] = attempt.ident.shim.to_json()
            record["trial"] = attempt.ident.trial.to_json()
        record["jobStartTime"] = format_rfc3339(self._job_started)
        if attempt is not None:
            record["attemptStartTime"] = format_rfc3339(attempt.started)
        record["failed"] = self._failed
        record["positions"] = self._position
        if self.request.devices:
            record["devices"] = {k: list(v) for k, v in self.request.devices.items()}
        return record

    def _collect(self, attempt: Attempt, final: bool = False) -> None:
        collector = attempt.collector
        with attempt.reading:
            if attempt.closed:
                return
            points = collector.close() if final else collector.poll()
            attempt.closed = final
            if not points:
                return
            with self._lock:
                if attempt is not self._attempt:
                    return  # a newer attempt began: these points no longer count
                self._points.extend(points)
                self._position = collector.position()
                self._offset = _report_offset(collector)
        if not final:
            # (A final read is told with the run's end, by _finish, or dropped with its failed
            # attempt: a wake now would have the control plane write the trial twice.)
            self.wake()

    # --- the run ---------------------------------------------------------------------------

    def steps(self) -> Steps:
        """The whole run, as :class:`Watcher` steps it."""
        try:
            status = yield from self._attempts(blocking=False)
        except Exception as exc:  # a bug here must not leave the trial running forever
            log.exception("trial %s: runner error", self.request.key[1])
            status = RunStatus("failed", "RunnerError", str(exc))
        self._finish(status)
        return status

    def _run(self) -> None:
        """The whole run on :attr:`thread` (a subclass whose :meth:`_watch` blocks)."""
        try:
            status = _drive(self._attempts(blocking=True))
        except Exception as exc:
            log.exception("trial %s: runner error", self.request.key[1])
            status = RunStatus("failed", "RunnerError", str(exc))
        self._finish(status)

    def _finish(self, status: RunStatus | None) -> None:
        if status is not None:  # None: released, another control plane watches the trial
            final = replace(status, job=self._job(status.phase, status.reason, status.message))
            with self._lock:  # a reader sees the final phase and its Job together
                self._status = final
            self.on_end()
            self.wake()
        self.done.set()

    def _attempts(self, blocking: bool) -> Steps:
        attempt = self._adopted
        while True:
            if attempt is None:
                attempt = self._launch()
            with self._lock:
                self._attempt = attempt
            try:
                if blocking:
                    exited = self._watch(attempt)
                else:
                    exited = yield from self._watch_steps(attempt)
            finally:
                if attempt.channel is not None:
                    attempt.channel.close()
            if exited is None:
                return None
            code = exited.exit_code
            if exited.error:
                argv0 = (self.layout.argv(attempt) or [""])[0]
                attempt.note(f"error: can't start {argv0!r}: {exited.error}")
            if exited.lost:  # counted as a failed attempt, as Kubernetes counts a lost pod
                attempt.note(f"error: {self.LOST_NOTE}")
            for note in attempt.collector.notes:
                attempt.note(note)
            if self._stopped is not None:
                attempt.note(f"stopped: {self._stopped}")
                return RunStatus("stopped", "Stopped", self._stopped, code)
            if code != 0:
                self._failed += 1
                failed_replica = _failed_replica(attempt.files)
                if failed_replica:
                    self._why = failed_replica
                memory = self.layout.memory_limit()
                if memory and _ran_out_of_memory(attempt.files.log):
                    self._why = (
                        f"it ran out of memory: its container's resources.limits.memory is "
                        f"{memory} (enforced locally as an address-space limit)"
                    )
                    attempt.note(f"error: {self._why}")
            if self._deadline_hit or attempt.stopping == "deadline":
                return RunStatus(
                    "failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    code,
                )
            if code == 0:
                return RunStatus("succeeded", exit_code=0)
            if self._failed > self._backoff_limit:
                last = self.LOST_REASON if exited.lost else f"last exit code {code}"
                if code is not None and code < 0:
                    last = f"last attempt killed by signal {-code} ({_signal_name(-code)})"
                if self._why:
                    last = f"{last}; {self._why}"
                return RunStatus(
                    "failed",
                    "BackoffLimitExceeded",
                    f"Job has reached the specified backoff limit ({last})",
                    code,
                )
            with self._lock:  # the next attempt: what this one read no longer counts
                self._number = attempt.number + 1
                self._points.clear()
                self._position, self._offset = {}, 0
                self._restarted = self._record_changed = True
            with self._lock:
                self._status = None  # running again: its Job counts one more failure
            attempt = None

    def _launch(self) -> Attempt:
        """Start the next attempt in a fresh folder."""
        number = self._number
        notes = [f"attempt {number} (backoffLimit {self._backoff_limit})"] if number > 1 else []
        attempt, launch = self.layout.create(number, datetime.now(timezone.utc), notes)
        with self._lock:
            self._attempt = attempt
            if self._stopped is not None:
                return attempt  # stopped before it began: the watch ends it at once
        self.layout.spawn(attempt, launch)
        if self._stopped is not None:  # stop() came while the shim started
            self._terminate(attempt, "stopped")
        return attempt

    def _watch(self, attempt: Attempt) -> shim.Exited | None:
        """Collect while the attempt runs, blocking; its exit, or None when released."""
        return _drive(self._watch_steps(attempt))

    def _watch_steps(self, attempt: Attempt) -> Generator[Wait, frozenset[int], shim.Exited | None]:
        """Collect while the attempt runs; its exit, or None when released."""
        waiter = ExitWaiter(attempt)
        collector = attempt.collector
        bell = attempt.channel.fileno() if attempt.channel is not None else None
        fds = tuple(fd for fd in (waiter.fileno(), bell) if fd is not None)
        interval = _collectors.POLL_SECONDS if collector.polls else IDLE_SECONDS
        if self.request.sync_reports and collector.polls:
            interval = EARLY_STOPPING_POLL_SECONDS  # early stopping acts on what is read
        try:
            while True:
                if self._released:
                    return None
                exited = waiter.poll()
                if exited is not None:
                    break
                ready = yield fds, self._check_deadlines(attempt, interval)
                if bell in ready and attempt.channel:
                    attempt.channel.clear()
                if collector.polls and waiter.fileno() not in ready:
                    self._collect(attempt)  # (an attempt that ended is read once, below)
        finally:
            waiter.close()
        self._collect(attempt, final=True)
        return exited

    def _check_deadlines(self, attempt: Attempt, interval: float) -> float:
        """End an attempt past a deadline, or kill one past its grace; returns how long to wait
        before looking again."""
        now = time.time()
        wait = interval
        deadlines = []
        if self._job_deadline is not None:
            deadlines.append(self._job_started.timestamp() + float(self._job_deadline))
        if self._pod_deadline is not None:
            deadlines.append(attempt.started.timestamp() + float(self._pod_deadline))
        for deadline in deadlines:
            if deadline > now:
                wait = min(wait, deadline - now)
            elif attempt.stopping is None:
                self._deadline_hit = True
                self._terminate(attempt, "deadline")
        if attempt.kill_at is not None:
            left = attempt.kill_at - time.monotonic()
            if left <= 0:
                attempt.kill_at = None
                attempt.signal(signal.SIGKILL)
            else:
                wait = min(wait, left)
        return wait

    def _terminate(self, attempt: Attempt, why: str) -> None:
        """SIGTERM to the attempt's process groups, SIGKILL after the grace period."""
        with self._lock:
            # Not started yet: _launch ends it once it has, as it finds the trial stopped.
            if attempt.stopping is not None or attempt.ident is None:
                return
            attempt.stopping = why
        attempt.mark_stopping(why)
        attempt.signal(signal.SIGTERM)
        attempt.kill_at = time.monotonic() + self.layout.grace

    def _job(self, phase: str, reason: str = "", message: str = "") -> dict[str, Any]:
        attempt = self._attempt
        return job_resource(
            self.request.run_spec,
            phase,
            reason,
            message,
            self._job_started,
            self._failed,
            attempt.files if attempt is not None else None,
        )


class Watcher:
    """Steps every local trial of this process on one thread: it waits with ``selectors`` for
    what each trial's step yielded, and resumes each trial whose wait is over. Started with the
    first trial (again in a forked child), it then waits for the next ones, as the launcher
    does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._new: list[LocalTrial] = []
        self._pid = 0  # the process whose thread runs
        self._bell = -1  # written to when a trial is added

    def add(self, trial: LocalTrial) -> None:
        """Step ``trial`` from now on (its first step starts its first attempt)."""
        with self._lock:
            if self._pid != os.getpid():  # the first trial, or a forked child's first
                self._new = []  # a parent's trials are its own thread's to step
                read, self._bell = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
                self._pid = os.getpid()
                threading.Thread(
                    target=self._loop, args=(read,), name="pykatib-trials", daemon=True
                ).start()
            self._new.append(trial)
            bell = self._bell
        try:
            os.write(bell, b"\0")
        except BlockingIOError:
            pass  # it rings already

    def _loop(self, bell: int) -> None:
        selector = selectors.DefaultSelector()
        selector.register(bell, selectors.EVENT_READ)
        runs: dict[LocalTrial, Steps] = {}
        waits: dict[LocalTrial, tuple[tuple[int, ...], float]] = {}  # fds, due (monotonic)
        while True:
            due = min((at for _, at in waits.values()), default=None)
            timeout = None if due is None else max(0.0, due - time.monotonic())
            ready: dict[LocalTrial, set[int]] = {}
            for key, _ in selector.select(timeout):
                if key.data is None:
                    self._take(bell, runs, waits, selector)
                else:
                    ready.setdefault(key.data, set()).add(key.fd)
            now = time.monotonic()
            for trial, (_, at) in waits.items():
                if at <= now:
                    ready.setdefault(trial, set())
            for trial, fds in ready.items():
                self._step(trial, frozenset(fds), runs, waits, selector)

    def _take(
        self,
        bell: int,
        runs: dict[LocalTrial, Steps],
        waits: dict[LocalTrial, tuple[tuple[int, ...], float]],
        selector: selectors.BaseSelector,
    ) -> None:
        """Start stepping the trials added since."""
        try:
            os.read(bell, 4096)
        except BlockingIOError:
            pass
        with self._lock:
            new, self._new = self._new, []
        for trial in new:
            runs[trial] = trial.steps()
            self._step(trial, None, runs, waits, selector)

    @staticmethod
    def _step(
        trial: LocalTrial,
        ready: frozenset[int] | None,
        runs: dict[LocalTrial, Steps],
        waits: dict[LocalTrial, tuple[tuple[int, ...], float]],
        selector: selectors.BaseSelector,
    ) -> None:
        """Resume ``trial`` with what is ``ready`` (None: its first step); register what it
        waits for next. Its descriptors are unregistered first: the step may close them, and a
        new one may get the same number."""
        fds, _ = waits.pop(trial, ((), 0.0))
        for fd in fds:
            selector.unregister(fd)
        try:
            fds, timeout = runs[trial].send(ready)  # type: ignore[arg-type]
        except StopIteration:
            del runs[trial]
            return
        except Exception:  # a bug in _finish: the trial is watched no more
            log.exception("trial %s: runner error", trial.request.key[1])
            del runs[trial]
            trial.done.set()
            return
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ, trial)
        waits[trial] = (fds, time.monotonic() + timeout)


WATCHER = Watcher()

_T = TypeVar("_T")


def _drive(steps: Generator[Wait, frozenset[int], _T]) -> _T:
    """Run ``steps`` to their end on this thread, blocking while each waits."""
    try:
        fds, timeout = next(steps)
        while True:
            if fds:
                ready = frozenset(select.select(fds, [], [], timeout)[0])
            else:
                time.sleep(timeout)
                ready = frozenset()
            fds, timeout = steps.send(ready)
    except StopIteration as end:
        return end.value


def _failed_replica(files: AttemptFiles) -> str:
    """Which replica of a training job failed first, as the gang recorded it ("" if none)."""
    for name, state in files.replica_states().items():
        if state.get("state") == "failed":
            return f"replica {name} failed with exit code {state.get('exitCode')}"
    return ""


def _report_offset(collector: Collector) -> int:
    return int(getattr(collector, "offset", 0))


def _time(text: Any) -> datetime | None:
    return parse_rfc3339(text) if isinstance(text, str) else None


# What a process that hit its address-space limit leaves in its output (Python, C++, C).
_OUT_OF_MEMORY = (b"MemoryError", b"std::bad_alloc", b"Cannot allocate memory", b"out of memory")


def _ran_out_of_memory(log: Path, tail: int = 8192) -> bool:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - tail))
            text = f.read()
    except OSError:
        return False
    return any(marker in text for marker in _OUT_OF_MEMORY)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"
