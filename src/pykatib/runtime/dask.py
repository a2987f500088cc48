"""Runs ``batch/v1`` Job trials on the workers of a Dask cluster (``pykatib run --runtime dask``).

Everything but where the process runs is the local runner's: :class:`DaskTrial` is a
:class:`~pykatib.runtime.trial.LocalTrial` (attempts, ``backoffLimit``, deadlines, the attempt's
folder and log on the control plane's side, the collectors reading them, the Job's status for
``successCondition``) whose attempts are Dask tasks (:func:`pykatib.runtime.dask_worker.
run_attempt`) instead of shims:

* each attempt is one task, submitted with ``pure=False`` and ``retries=0``, its
  ``nvidia.com/gpu`` request as the Dask worker resource ``GPU`` (start the workers with
  ``--resources GPU=N``); cpu and memory requests are left to the workers' thread counts;
* the task runs the command the :class:`~pykatib.runtime.attempt.Layout` computes (argv, working
  directory, the trial's environment on top of the worker's) and streams its output, and a Push
  trial's reports, back through a ``distributed.Queue``: this side appends them to the attempt's
  log and report file, where the StdOut and Push collectors read them. The File and
  TensorFlowEvent collectors read files the trial writes, so they need the attempt's folder on a
  filesystem the workers share with the control plane;
* :meth:`DaskTrial.stop` sets the task's stop event: the task sends SIGTERM to the trial's
  process group, SIGKILL after the grace period;
* a worker lost mid-trial fails the attempt (as a lost node fails its pod; its processes die
  with it) and ``backoffLimit`` runs it again, on whichever worker the scheduler picks;
* a control plane that restarts finds the task by its key, which the record holds: while the
  cluster still has it, it is watched again (what it printed meanwhile waits in its queue);
  otherwise the attempt is lost and runs again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

import cloudpickle  # type: ignore[import-untyped]
from distributed import Client, Event, Future, Queue, fire_and_forget

from pykatib.metrics.parsers import PUSH_COLLECTOR
from pykatib.metrics.timestamps import parse_rfc3339
from pykatib.runtime import dask_worker, replicas, shim
from pykatib.runtime.attempt import Attempt, Launch
from pykatib.runtime.base import RunRequest, TrialKey
from pykatib.runtime.local import LocalJobRunner
from pykatib.runtime.paths import METRICS_PATH_ENV, attempt_numbers
from pykatib.runtime.resources import trial_needs
from pykatib.runtime.trial import LocalTrial, _report_offset

log = logging.getLogger("pykatib.runtime")

# The workers need Dask only, not pykatib: the task's module travels with it.
cloudpickle.register_pickle_by_value(dask_worker)

RUNTIME = "dask"
# How often a running attempt's task is looked at when nothing else wakes its watcher.
WATCH_SECONDS = 0.25
# The Dask worker resource a trial's nvidia.com/gpu request asks for (`dask worker --resources
# GPU=2` declares two).
GPU_RESOURCE = "GPU"


class DaskRuntimeError(RuntimeError):
    """The Dask scheduler can't be reached."""


@dataclass
class _Task:
    """One attempt's Dask task, and the cluster-side objects it talks through."""

    number: int
    key: str
    future: Future
    queue: Queue
    stop: Event
    claim: Event
    result: dict[str, Any] | None = None  # how the trial ended, as the task sent it
    started: bool = False  # the task said it started the trial
    # Adopted after the scheduler forgot it (it ended while no control plane watched): what it
    # left in its queue is all there is.
    forgotten: bool = False

    @classmethod
    def names(cls, key: str) -> tuple[str, str, str]:
        return f"{key}-output", f"{key}-stop", f"{key}-claim"

    @classmethod
    def attach(cls, client: Client, number: int, key: str, future: Future) -> _Task:
        queue, stop, claim = cls.names(key)
        return cls(
            number,
            key,
            future,
            Queue(queue, client=client),
            Event(stop, client=client),
            Event(claim, client=client),
        )

    def exited(self) -> tuple[shim.Exited, str]:
        """How the finished task says the trial ended, and more of why it was lost, if it was
        lost other than with its worker."""
        now = time.time()
        result = self.result
        if result is None and self.future.status == "finished":
            result = self.future.result()
        if result is not None:
            if "lost" in result:  # re-run by the scheduler after its worker was lost
                return shim.Exited(None, None, now, None, lost=True), ""
            return shim.Exited(result["code"], result["signal"], now, result["error"]), ""
        if self.future.cancelled():  # stopped before it started: as a pod deleted while Pending
            return shim.Exited(None, signal.SIGTERM, now, None), ""
        if self.forgotten:
            why = "the Dask scheduler forgot the task before its end was seen"
        elif self.future.status == "error":
            why = f"the Dask task failed: {self.future.exception()!r}"
        else:
            why = f"the Dask scheduler lost the task ({self.future.status})"
        return shim.Exited(None, None, now, None, lost=True), why

    def release(self, stopped: bool) -> None:
        """Free what the cluster keeps for the task; a stopped one's stop event stays set, for
        a task that starts after all (cancelled while the scheduler was handing it out)."""
        with contextlib.suppress(OSError):  # a scheduler that is gone keeps nothing
            if not stopped:
                self.stop.clear()
            self.claim.clear()
            self.queue.close()
            self.future.release()


class DaskTrial(LocalTrial):
    """A trial whose attempts run as Dask tasks (see the module's docstring)."""

    LOST_NOTE = "the Dask worker running the attempt was lost; how it ended is unknown"
    LOST_REASON = "its Dask worker was lost"

    def __init__(
        self,
        request: RunRequest,
        wake: Callable[[], None],
        client: Client,
        on_end: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(request, wake, on_end)
        self.client = client
        self._task: _Task | None = None
        self._run_id = uuid.uuid4().hex[:12]  # this run of the trial, in its tasks' keys
        self._worker: dict[str, Any] = {}  # where the current attempt runs

    # --- control-plane side ----------------------------------------------------------------

    def adopt(self, record: dict[str, Any]) -> bool:
        """Watch again the run ``record`` describes, if the cluster has its task (or what the
        task left when it ended); False when it is lost."""
        number, run = record.get("attempt"), record.get("run")
        if record.get("runtime") != RUNTIME or not isinstance(number, int) or not run:
            return False
        self._run_id = str(run)
        position = record.get("positions") or {}
        self._failed = int(record.get("failed") or 0)
        latest = attempt_numbers(self.request.trial_dir)
        if latest and latest[-1] > number:
            # Retries began after the record was stored: each because the one before failed.
            self._failed += latest[-1] - number
            number, position = latest[-1], {}
            self._restarted = self._record_changed = True
        key = self._key(number)
        state = self.client.run_on_scheduler(dask_worker.task_state, key=key)
        task = _Task.attach(self.client, number, key, Future(key, client=self.client))
        if state is None:
            # Ended while no control plane watched (how, it left in its queue), or never
            # started (the control plane went before it submitted it), or lost with the
            # scheduler.
            if not task.claim.is_set():
                task.stop.set()  # should it be on its way still
                return False
            task.forgotten = True
        self._job_started = _time(record.get("jobStartTime")) or self._job_started
        begun = None if self._restarted else _time(record.get("attemptStartTime"))
        attempt = self.layout.open(number, begun or datetime.now(timezone.utc), fresh=False)
        attempt.collector.restore(position)
        self._position = attempt.collector.position()
        self._offset = self._drained_offset = _report_offset(attempt.collector)
        self._worker = dict(record.get("worker") or {})
        self._number, self._adopted, self._attempt, self._task = number, attempt, attempt, task
        return True

    def record(self) -> dict[str, Any]:
        record = super().record()
        # The task's key follows from these, so that a control plane that goes right after it
        # submitted the task (before the record naming it is stored) does not lose it.
        record.update(runtime=RUNTIME, run=self._run_id, task=self._key(self._number))
        if self._worker:
            record["worker"] = self._worker
        return record

    def _key(self, number: int) -> str:
        namespace, name = self.request.key
        return f"pykatib-{namespace}-{name}-{self._run_id}-attempt-{number}"

    # --- the thread ------------------------------------------------------------------------

    def _launch(self) -> Attempt:
        """Submit the next attempt's task (its folder and log are on this side)."""
        number = self._number
        notes = [f"attempt {number} (backoffLimit {self._backoff_limit})"] if number > 1 else []
        attempt, launch = self.layout.create(number, datetime.now(timezone.utc), notes)
        with self._lock:
            self._attempt = attempt
            self._worker = {}
            if self._stopped is not None:
                return attempt  # stopped before it began: the watch ends it at once
        task = self._submit(attempt, launch)
        with self._lock:
            self._task = task
        if self._stopped is not None:  # stop() came while it was submitted
            self._terminate(attempt, "stopped")
        return attempt

    def _submit(self, attempt: Attempt, launch: Launch) -> _Task:
        key = self._key(attempt.number)
        queue, stop, claim = _Task.names(key)
        folders = [str(attempt.files.root)]
        metrics_path = launch.env.get(METRICS_PATH_ENV)
        if metrics_path:
            folders.append(metrics_path.rsplit("/", 1)[0] or "/")
        job = {
            "argv": launch.argv,
            "cwd": launch.cwd,
            # The trial's variables on top of the worker's own (not this machine's).
            "env": {k: v for k, v in launch.env.items() if os.environ.get(k) != v},
            "grace": self.layout.grace,
            "memory": launch.memory_limit,
            "push": self.layout.kind == PUSH_COLLECTOR,
            "folders": folders,
            "queue": queue,
            "stop": stop,
            "claim": claim,
        }
        needs = trial_needs(self.request.run_spec, self.request.primary_container_name)
        need = next(iter(needs.values()), None)
        resources = {GPU_RESOURCE: need.gpus} if need is not None and need.gpus else None
        task = _Task.attach(
            self.client,
            attempt.number,
            key,
            self.client.submit(
                dask_worker.run_attempt,
                job,
                key=key,
                pure=False,
                retries=0,
                resources=resources,
            ),
        )
        fire_and_forget(task.future)  # runs on if this control plane goes (adopted later)
        return task

    def _watch(self, attempt: Attempt) -> shim.Exited | None:
        """Take the task's output while it runs; its exit, or None when released."""
        task = self._task
        if task is None or task.number != attempt.number:
            return shim.Exited(None, signal.SIGTERM, time.time(), None)  # stopped before it began
        collector = attempt.collector
        try:
            while task.result is None and not task.forgotten and not task.future.done():
                if self._released:
                    return None
                wait = self._check_deadlines(attempt, WATCH_SECONDS)
                if attempt.stopping and not task.started:
                    # Stopped while it waits for a worker (one with the GPUs it asks for,
                    # perhaps never): it must not start at all.
                    task.future.cancel()
                    break
                self._receive(attempt, task, wait)
                if collector.polls:
                    self._collect(attempt)
            self._receive(attempt, task, 0)  # the task put everything before it returned
        except OSError as exc:  # the scheduler is gone, and what it knew of the task with it
            if self._released:
                return None  # the client closed under a watch that had ended
            attempt.note(f"error: lost contact with the Dask scheduler: {exc}")
            self._collect(attempt, final=True)
            return shim.Exited(None, None, time.time(), None, lost=True)
        exited, why = task.exited()
        if why:
            attempt.note(f"error: {why}")
        self._collect(attempt, final=True)
        task.release(stopped=attempt.stopping is not None)
        return exited

    def _receive(self, attempt: Attempt, task: _Task, wait: float) -> None:
        """Append what the task sent to the attempt's files (waiting up to ``wait`` s for it)."""
        items: list[Any] = []
        if wait > 0:
            try:
                items.append(task.queue.get(timeout=wait))
            except TimeoutError:
                return
        items += task.queue.get(batch=True)
        for stream, data in items:
            if stream == "log":
                with open(attempt.files.log, "ab") as f:
                    f.write(data)
            elif stream == "exit":
                task.result = data
            elif stream == "metrics":
                with open(attempt.files.metrics, "ab") as f:
                    f.write(data)
            elif stream == "started":
                task.started = True
                with self._lock:
                    self._worker = {k: data[k] for k in ("worker", "address", "host")}
                    self._record_changed = True
                attempt.note(
                    f"running on Dask worker {data['worker']} ({data['address']}, host "
                    f"{data['host']}, pid {data['pid']})"
                )
        if items:
            self.wake()

    def _terminate(self, attempt: Attempt, why: str) -> None:
        """Have the task stop the trial: SIGTERM, SIGKILL after the grace period (on the
        worker, which knows the process)."""
        with self._lock:
            task = self._task
            if attempt.stopping is not None or task is None or task.number != attempt.number:
                return  # not submitted yet: _launch ends it once it is
            attempt.stopping = why
        attempt.mark_stopping(why)
        try:
            task.stop.set()
        except OSError as exc:
            log.warning(
                "trial %s: the Dask scheduler is out of reach: %s", self.request.key[1], exc
            )


class DaskJobRunner(LocalJobRunner):
    """``batch/v1`` Job trials as tasks on the Dask cluster at ``scheduler`` (an address, or a
    connected :class:`distributed.Client`)."""

    kinds: ClassVar[dict[str, str]] = {"Job": "batch/v1"}

    def __init__(self, wake: Callable[[], None], scheduler: str | Client) -> None:
        super().__init__(wake)
        self._released: list[LocalTrial] = []
        if isinstance(scheduler, Client):
            self.client = scheduler
        else:
            try:
                self.client = Client(scheduler, set_as_default=False, timeout=30)
            except OSError as exc:
                raise DaskRuntimeError(
                    f"can't reach the Dask scheduler at {scheduler}: {exc}; start one with "
                    "`dask scheduler` or give its address with --dask-scheduler "
                    "(or PYKATIB_DASK_SCHEDULER)"
                ) from exc

    @classmethod
    def check(
        cls,
        trial_spec: dict[str, Any],
        primary_container_name: str | None,
        primary_pod_labels: dict[str, str] | None = None,
    ) -> list[str]:
        if replicas.is_training_kind(trial_spec):
            return [
                (
                    f"spec.trialTemplate.trialSpec.kind: {trial_spec.get('kind')} trials can't run "
                    "on Dask yet (the dask runtime runs batch/v1 Job trials); run them with "
                    "--runtime local"
                )
            ]
        return super().check(trial_spec, primary_container_name, primary_pod_labels)

    @classmethod
    def check_collector(cls, custom_collector: dict[str, Any] | None) -> list[str]:
        return [
            (
                "spec.metricsCollectorSpec.collector.kind: a Custom collector can't run on Dask "
                "(it would need a process beside the trial on the worker); use StdOut, File or "
                "Push, or run with --runtime local"
            )
        ]

    def reserve(self, request: RunRequest) -> str | None:
        return None  # the Dask scheduler places each task where its resources are

    def start(self, request: RunRequest) -> dict[str, Any]:
        trial = DaskTrial(request, self.wake, self.client)
        record = trial.begin()
        self._trials[request.key] = trial
        trial.thread.start()
        return record

    def adopt(self, request: RunRequest, record: dict[str, Any]) -> bool:
        trial = DaskTrial(request, self.wake, self.client)
        if not trial.adopt(record):
            return False
        self._trials[request.key] = trial
        trial.thread.start()
        return True

    def forget(self, key: TrialKey) -> None:
        trial = self._trials.get(key)
        super().forget(key)
        if trial is not None and not trial.status.finished:  # its watch ends at its next look
            self._released = [t for t in self._released if t.thread.is_alive()] + [trial]

    def shutdown(self, timeout: float = 10.0) -> None:
        super().shutdown(timeout)
        # Released watches end before the client goes: a queue read in flight for a client
        # that is gone would take output that no one appends.
        for trial in self._released:
            trial.thread.join(timeout)
        self.client.close()


def _time(text: Any) -> datetime | None:
    return parse_rfc3339(text) if isinstance(text, str) else None
