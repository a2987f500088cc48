"""The embedded transport: the local store, and the control plane on threads of this process.

Each experiment the client creates, edits or waits for, unless it has completed, gets a driver: a
thread running :meth:`Controller.run` for it, with its own controller and store connection. The
controller's lease makes this safe beside a ``pykatib run`` (or another client) of the same
experiment: the one that holds the lease drives, the other follows and takes over if the first
stops. A driver ends when its experiment completes (or is deleted); it starts again when a budget
edit restarts it. :meth:`Embedded.close` stops every driver as Ctrl-C stops ``pykatib run``: the
running trials are stopped and put back to Pending, and the experiments resume when driven again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykatib.api.errors import ConflictError, InvalidExperimentError, NotFoundError
from pykatib.api.models import Experiment, Suggestion, Trial
from pykatib.api.validation import validate_experiment
from pykatib.api.yaml import load_experiments
from pykatib.control import status as st
from pykatib.control.admission import admit
from pykatib.control.controller import EXPERIMENT_LABEL, Controller
from pykatib.metrics.observation import ObservationPoint
from pykatib.runtime.paths import attempt_numbers, trial_dir, trial_log_path
from pykatib.store import Store, default_home

log = logging.getLogger("pykatib.sdk")

# How long close() waits for the drivers to stop their trials (each waits up to 10 s for its
# trials to exit after SIGTERM).
CLOSE_TIMEOUT_SECONDS = 30.0
# How often a followed log is read again (as `pykatib logs -f`).
FOLLOW_POLL_SECONDS = 0.5


class _Stop(KeyboardInterrupt):
    """Raised inside a driver's loop to stop it the way Ctrl-C stops ``pykatib run``."""


@dataclass
class _Driver:
    key: tuple[str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    # Asked to drive again while driving: run once more after the experiment completes (a
    # budget edit may have restarted it just as the run ended).
    again: bool = False
    thread: threading.Thread | None = None


class Embedded:
    """A :class:`~pykatib.sdk.transport.Transport` on the local store (``db``, default SQLite in
    ``home``, default ``$PYKATIB_HOME``)."""

    def __init__(self, db: str | None = None, home: str | Path | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        url = db or os.environ.get("PYKATIB_DB")
        if url is None:
            self.home.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{self.home / 'pykatib.db'}"
        self.url = url
        self.store = Store(url)
        self._lock = threading.Lock()
        self._drivers: dict[tuple[str, str], _Driver] = {}
        self._errors: dict[tuple[str, str], BaseException] = {}
        self._closed = False
        # Notified after every reconcile step of every driver: waiters read again at once.
        self._stepped = threading.Condition()

    # --- experiments -----------------------------------------------------------------------

    def create_experiment(
        self,
        document: Mapping[str, Any],
        source: str,
        source_dir: Path,
        configmaps: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[Experiment, list[str]]:
        text = json.dumps(document, default=str)  # JSON is YAML: the CLI's own loading path
        [doc] = load_experiments(text, source, configmaps=configmaps)
        if doc.experiment is not None and not doc.errors:
            errors, warnings = admit(doc.experiment)
            doc.errors += errors
            doc.warnings += warnings
        if doc.errors or doc.experiment is None:
            raise InvalidExperimentError(doc.errors, source)
        exp = doc.experiment
        exists = ConflictError(f'experiment "{exp.namespace}/{exp.name}" already exists')
        try:
            self.store.get_experiment(exp.namespace, exp.name)
            raise exists
        except NotFoundError:
            pass
        if self._controller().apply(exp, source_dir) != "created":
            raise exists  # created by another process just now
        self._drive(exp.namespace, exp.name)
        return self.store.get_experiment(exp.namespace, exp.name), doc.warnings

    def get_experiment(self, namespace: str, name: str) -> Experiment:
        return self.store.get_experiment(namespace, name)

    def list_experiments(self, namespace: str | None) -> list[Experiment]:
        return self.store.list_experiments(namespace)

    def edit_experiment_budget(
        self, namespace: str, name: str, budget: Mapping[str, int]
    ) -> Experiment:
        stored = self.store.get_experiment(namespace, name)
        exp = stored.model_copy(deep=True)
        for field_name, value in budget.items():
            setattr(exp.spec, field_name, value)
        errors, _ = validate_experiment(exp, old=stored)
        if errors:
            raise InvalidExperimentError(errors, f"experiment {namespace}/{name}")
        self._controller().apply(exp)  # Katib's update rules again, against the newest version
        self._drive(namespace, name)
        return self.store.get_experiment(namespace, name)

    def delete_experiment(self, namespace: str, name: str) -> None:
        self._controller().delete(namespace, name)
        # Its driver finds it gone, stops its trials and ends.
        with self._lock:
            driver = self._drivers.get((namespace, name))
        if driver is not None and driver.thread is not None:
            driver.thread.join(CLOSE_TIMEOUT_SECONDS)

    # --- suggestions, trials, observations, logs -------------------------------------------

    def get_suggestion(self, namespace: str, name: str) -> Suggestion:
        suggestion, _ = self.store.get_suggestion(namespace, name)
        if suggestion is None:
            raise NotFoundError(f'suggestion "{name}" not found in namespace "{namespace}"')
        return suggestion

    def list_suggestions(self, namespace: str | None) -> list[Suggestion]:
        return self.store.list_suggestions(namespace)

    def get_trial(self, namespace: str, name: str) -> Trial:
        return self.store.get_trial(namespace, name)

    def list_trials(self, namespace: str | None, experiment: str | None) -> list[Trial]:
        return self.store.list_trials(namespace, experiment)

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]:
        return self.store.list_observations(namespace, trial)

    def read_logs(self, namespace: str, trial: str, follow: bool) -> Iterator[str]:
        found = self.store.get_trial(namespace, trial)
        experiment = (found.metadata.labels or {}).get(EXPERIMENT_LABEL, "")
        folder = trial_dir(self.home, namespace, experiment, trial)
        current = (attempt_numbers(folder) or [1])[-1]
        path = trial_log_path(self.home, namespace, experiment, trial, current)
        position, partial = 0, b""
        while True:
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(position)
                    chunk = f.read()
                position += len(chunk)
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", errors="replace")
            if not follow or st.trial_phase(found) in st.COMPLETED_PHASES:
                break
            newest = attempt_numbers(folder)
            if newest and newest[-1] != current:  # a retry began: go on with it
                current, position = newest[-1], 0
                path = trial_log_path(self.home, namespace, experiment, trial, current)
                continue
            time.sleep(FOLLOW_POLL_SECONDS)
            found = self.store.get_trial(namespace, trial)
        if partial:
            yield partial.decode("utf-8", errors="replace")

    # --- the control plane -----------------------------------------------------------------

    def watch(self, namespace: str, name: str) -> None:
        error = self._errors.get((namespace, name))
        if error is not None:
            raise RuntimeError(
                f"the control plane driving experiment {namespace}/{name} stopped: {error}"
            ) from error
        exp = self.store.get_experiment(namespace, name)
        if not st.is_completed(exp) or st.restart_pending(exp):
            self._drive(namespace, name)

    def pause(self, namespace: str, name: str, seconds: float) -> None:
        with self._stepped:
            self._stepped.wait(seconds)

    def driving(self) -> list[tuple[str, str]]:
        """The experiments this process drives (or follows) now."""
        with self._lock:
            return sorted(self._drivers)

    def _controller(self) -> Controller:
        """A controller for applying and deleting (it runs nothing)."""
        return Controller(self.store, home=self.home)

    def _drive(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        with self._lock:
            if self._closed:
                raise RuntimeError("this KatibClient is closed: make a new one")
            self._errors.pop(key, None)
            driver = self._drivers.get(key)
            if driver is not None and driver.thread is not None and driver.thread.is_alive():
                driver.again = True
                return
            driver = self._drivers[key] = _Driver(key)
            driver.thread = threading.Thread(
                target=self._run, args=(driver,), name=f"pykatib {namespace}/{name}", daemon=True
            )
            driver.thread.start()

    def _run(self, driver: _Driver) -> None:
        store: Store | None = None
        try:
            store = Store(self.url)
            while True:
                completed = self._run_once(store, driver)
                with self._lock:
                    if completed and driver.again and not driver.stop.is_set():
                        driver.again = False
                        continue
                    # Leaves in the same step as the check: a later _drive() starts a new one.
                    self._leave(driver)
                    return
        except BaseException as exc:  # reported to whoever waits on it
            log.exception("the control plane of experiment %s/%s stopped", *driver.key)
            with self._lock:
                self._errors[driver.key] = exc
                self._leave(driver)
        finally:
            if store is not None:
                store.close()
            with self._stepped:
                self._stepped.notify_all()

    def _leave(self, driver: _Driver) -> None:
        """Forget ``driver`` (with the lock held) unless a newer one has replaced it."""
        if self._drivers.get(driver.key) is driver:
            del self._drivers[driver.key]

    def _run_once(self, store: Store, driver: _Driver) -> bool:
        """Drive the experiment until it completes (True) or the driver ends (False)."""

        def check(_states: Any) -> None:
            with self._stepped:
                self._stepped.notify_all()
            if driver.stop.is_set():
                raise _Stop

        try:
            Controller(store, home=self.home).run([driver.key], on_step=check)
        except _Stop:
            return False
        except NotFoundError:
            return False  # deleted: its trials were stopped
        except Exception as exc:  # reported to whoever waits on it
            log.exception("the control plane of experiment %s/%s stopped", *driver.key)
            self._errors[driver.key] = exc
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            drivers = list(self._drivers.values())
        for driver in drivers:
            driver.stop.set()
        deadline = time.monotonic() + CLOSE_TIMEOUT_SECONDS
        for driver in drivers:
            if driver.thread is not None:
                driver.thread.join(max(0.0, deadline - time.monotonic()))
        self.store.close()
