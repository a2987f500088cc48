"""The control plane of a server: drives every experiment of the store that needs driving.

``pykatib run`` drives the experiments of one file in the foreground (:meth:`Controller.run`);
a server runs a :class:`Manager` in a background thread instead. Each pass of its loop it

1. discovers the experiments of the store (a cheap read of their resourceVersions; an
   experiment is read whole only when its version changed), keeping those that need driving:
   not completed, or completed but restartable with budget left (a raised ``maxTrialCount``);
2. claims the lease of each (:meth:`Controller._claim`), so that a server and a ``pykatib run``
   on the same database never both drive one experiment, and renews the leases it holds;
3. reconciles each held experiment (:meth:`Controller._step`) and lets go of those that have
   completed (their lease released: another control plane may restart them later).

It sleeps until a trial's runner reports something, a request handler calls :meth:`wake` after a
write, or a second has passed (changes made by other processes). :meth:`stop` stops the trials
it runs, leaving their experiments resumable (Pending again), and releases every lease; a
detached runner's trials (a cluster's jobs) run on, for the next control plane to adopt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from pykatib.api.errors import ConflictError, NotFoundError
from pykatib.api.models import Experiment
from pykatib.control import status as st
from pykatib.control.controller import (
    LEASE_RENEW_SECONDS,
    RESYNC_SECONDS,
    Controller,
    Key,
    _reason,
    _transient,
)
from pykatib.runtime.base import TrialRunner
from pykatib.store import Store
from pykatib.store.schema import experiments

log = logging.getLogger("pykatib.manager")


def needs_driving(exp: Experiment) -> bool:
    """Not completed, or completed but about to restart (its budget was raised)."""
    if not st.is_completed(exp):
        return True
    completed, _, _ = st.counts(exp)
    budget = exp.spec.max_trial_count
    return st.is_restartable(exp) and budget is not None and budget > completed


class Manager:
    """Drives, in a background thread, every experiment of ``store`` no other control plane
    drives. Start it with :meth:`start`; :meth:`stop` leaves every experiment resumable."""

    def __init__(
        self,
        store: Store,
        home: Path | None = None,
        # None: the runtime this process chose (pykatib.runtime.selection; local by default).
        runner_factory: Callable[[Callable[[], None]], TrialRunner] | None = None,
    ) -> None:
        self.controller = Controller(store, home, runner_factory)
        self.store = store
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._changed: set[Key] = set()
        # Experiments as last discovered: their resourceVersion, and whether they need driving.
        self._versions: dict[Key, int] = {}
        self._wanted: set[Key] = set()
        self._next_claim: dict[Key, float] = {}

    # --- the faces' side -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pykatib-manager", daemon=True)
        self._thread.start()

    def wake(self, key: Key | None = None) -> None:
        """Something changed in the store (``key``'s spec, when given): look at once."""
        if key is not None:
            with self._lock:
                self._changed.add(key)
        self.controller._wakeup.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the running trials (Pending again, to resume), release every lease, return."""
        self._stopping.set()
        self.controller._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def held(self) -> set[Key]:
        """The experiments this control plane drives now."""
        return set(self.controller._held)

    # --- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        ctl = self.controller
        try:
            while not self._stopping.is_set():
                ctl._wakeup.clear()
                try:
                    self._pass()
                except DBAPIError as exc:
                    if not _transient(exc):
                        log.exception("the control plane's database read failed")
                    else:
                        log.warning("database unavailable (%s); trying again", _reason(exc))
                except Exception:  # one bad pass must not stop the control plane
                    log.exception("the control plane's pass failed; trying again")
                ctl._wakeup.wait(RESYNC_SECONDS)
        finally:
            self._shut_down()

    def _pass(self) -> None:
        ctl = self.controller
        with self._lock:
            changed, self._changed = self._changed, set()
        for key in changed:
            ctl._next_spec_check.pop(key, None)  # take a spec change at once
            self._next_claim.pop(key, None)
        self._discover()
        now = time.monotonic()
        for key in sorted(self._wanted):
            if now >= self._next_claim.get(key, 0.0):
                self._next_claim[key] = now + LEASE_RENEW_SECONDS
                try:
                    ctl._claim(key)
                except NotFoundError:
                    self._forget(key)
        for key in sorted(ctl._held):
            if self._stopping.is_set():
                return
            self._step(key)

    def _discover(self) -> None:
        """Read the experiments' versions; read whole only the ones that changed."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(experiments.c.namespace, experiments.c.name, experiments.c.resource_version)
            ).all()
        found = {(ns, name): int(version) for ns, name, version in rows}
        for key in set(self._versions) - set(found):
            self._forget(key)
        held = self.controller._held
        for key, version in found.items():
            if key in held or self._versions.get(key) == version:
                continue
            try:
                exp = self.store.get_experiment(*key, trial_lists=False)
            except NotFoundError:
                continue
            self._versions[key] = version
            if needs_driving(exp):
                self._wanted.add(key)
            else:
                self._wanted.discard(key)

    def _step(self, key: Key) -> None:
        ctl = self.controller
        try:
            state = ctl._step(key)
        except NotFoundError:  # deleted (its trials were stopped)
            self._forget(key)
            return
        except ConflictError as exc:
            log.warning("%s/%s: %s; trying again", *key, exc)
            return
        if key in ctl._held and st.is_completed(state.experiment):
            # Done: let go, so that another control plane may restart it some day.
            for name in state.phases:  # every trial (state.trials holds the active ones)
                ctl.runner.forget((key[0], name))
            ctl._release(key)
            ctl._abandon(key, stop_trials=False)
            self._wanted.discard(key)
            self._versions[key] = -1  # read afresh next pass; still known, so its deletion is seen

    def _forget(self, key: Key) -> None:
        self._versions.pop(key, None)
        self._wanted.discard(key)
        self._next_claim.pop(key, None)
        if key in self.controller._held:
            self.controller._abandon(key, stop_trials=True)
        self.controller.runner.experiment_deleted(*key)  # a cluster's retained jobs

    def _shut_down(self) -> None:
        ctl = self.controller
        held = sorted(ctl._held)
        try:
            ctl.interrupt(held, leave_running=True)  # a cluster's jobs run on
        except Exception:
            log.exception("stopping the trials failed")
        for key in held:
            try:
                ctl._release(key)
            except Exception:
                log.exception("releasing the lease of %s/%s failed", *key)


__all__ = ["Manager", "needs_driving"]
