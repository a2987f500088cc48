"""Where the CLI's commands read and write: the local store (with a control plane in this
process for ``run``), or a ``pykatib server`` (``--server URL``) through the SDK's HTTP
transport (:class:`~pykatib.sdk.remote.Remote`), whose control plane does the work.

Both answer the same calls with the same models and the same errors, so every command prints
the same whichever it talks to: the commands in :mod:`pykatib.cli.main` see only a
:class:`Backend`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from pykatib.api.errors import NotFoundError

if TYPE_CHECKING:
    from pykatib.api.models import Event, Experiment, Suggestion, Trial
    from pykatib.metrics.observation import ObservationPoint

Key = tuple[str, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# How often a remote `logs -f` looks again for a trial that has not started yet.
LOG_POLL_SECONDS = 0.5
# How long `run --server` waits for the server to pick up a restart (a raised budget of a
# Succeeded experiment) before it takes the experiment's completion as final.
RESTART_WAIT_SECONDS = 60.0
# A watch stream is reopened after this long (the server ends it).
WATCH_SECONDS = 60


@dataclass
class Step:
    """What ``run``'s progress display is given: one experiment as it is now."""

    experiment: Experiment


class Backend(Protocol):
    """The calls the commands make (``namespace`` None: every namespace)."""

    remote: bool

    def get_experiment(self, namespace: str, name: str) -> Experiment: ...

    def list_experiments(self, namespace: str | None) -> list[Experiment]: ...

    def get_trial(self, namespace: str, name: str) -> Trial: ...

    def list_trials(
        self,
        namespace: str | None,
        experiment: str | None = None,
        after: Key | None = None,
        limit: int | None = None,
    ) -> list[Trial]:
        """In creation order; from the one after trial ``after``, at most ``limit``."""
        ...

    def get_suggestion(self, namespace: str, name: str) -> Suggestion: ...

    def list_suggestions(self, namespace: str | None) -> list[Suggestion]: ...

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]: ...

    def list_events(self, namespace: str, kind: str, name: str) -> list[Event]: ...

    def apply(self, exp: Experiment, source_dir: Path) -> tuple[str, list[str]]:
        """Create ``exp`` (validated and admitted), or update the stored one's budget:
        ``"created"``, ``"configured"`` or ``"unchanged"``, with any warnings of the server."""
        ...

    def delete(self, namespace: str, name: str) -> None: ...

    def run(
        self,
        keys: Sequence[Key],
        on_step: Callable[[Sequence[Step]], None],
        on_follow: Callable[[Key, Any], None],
        restarting: Mapping[Key, Experiment] | None = None,
    ) -> list[Experiment]:
        """Until every experiment of ``keys`` has completed; their final state. ``restarting``:
        those that an apply restarts, each as it was before (a server restarts them itself)."""
        ...

    def print_logs(
        self,
        namespace: str,
        trial: str,
        follow: bool,
        attempt: int | None,
        all_attempts: bool,
        replica: str | None = None,
    ) -> None: ...


class Local:
    """The local store (``--db``), and a control plane in this process for ``run``."""

    remote = False

    def __init__(self, db: str | None) -> None:
        self.db = db
        self._store: Any = None
        self._controller: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:
            from pykatib.store import Store

            self._store = Store(self.db)
        return self._store

    def close(self) -> None:
        """Close the store's connections, if it was opened."""
        if self._store is not None:
            self._store.close()

    @property
    def controller(self) -> Any:
        if self._controller is None:
            from pykatib.control.controller import Controller

            self._controller = Controller(self.store)
        return self._controller

    def get_experiment(self, namespace: str, name: str) -> Experiment:
        return self.store.get_experiment(namespace, name)  # type: ignore[no-any-return]

    def list_experiments(self, namespace: str | None) -> list[Experiment]:
        return self.store.list_experiments(namespace)  # type: ignore[no-any-return]

    def get_trial(self, namespace: str, name: str) -> Trial:
        return self.store.get_trial(namespace, name)  # type: ignore[no-any-return]

    def list_trials(
        self,
        namespace: str | None,
        experiment: str | None = None,
        after: Key | None = None,
        limit: int | None = None,
    ) -> list[Trial]:
        found = self.store.list_trials(namespace, experiment, after, limit)
        return found  # type: ignore[no-any-return]

    def get_suggestion(self, namespace: str, name: str) -> Suggestion:
        try:
            suggestion, _ = self.store.get_suggestion(namespace, name)
        except NotFoundError:
            suggestion = None  # no experiment of that name: no suggestion either
        if suggestion is None:
            raise NotFoundError(f'suggestion "{name}" not found in namespace "{namespace}"')
        return suggestion  # type: ignore[no-any-return]

    def list_suggestions(self, namespace: str | None) -> list[Suggestion]:
        return self.store.list_suggestions(namespace)  # type: ignore[no-any-return]

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]:
        return self.store.list_observations(namespace, trial)  # type: ignore[no-any-return]

    def list_events(self, namespace: str, kind: str, name: str) -> list[Event]:
        return self.store.list_events(namespace, kind, name)  # type: ignore[no-any-return]

    def apply(self, exp: Experiment, source_dir: Path) -> tuple[str, list[str]]:
        return self.controller.apply(exp, source_dir), []

    def delete(self, namespace: str, name: str) -> None:
        self.controller.delete(namespace, name)

    def run(
        self,
        keys: Sequence[Key],
        on_step: Callable[[Sequence[Step]], None],
        on_follow: Callable[[Key, Any], None],
        restarting: Mapping[Key, Experiment] | None = None,
    ) -> list[Experiment]:
        return self.controller.run(  # type: ignore[no-any-return]
            list(keys), on_step=on_step, on_follow=on_follow
        )

    def print_logs(
        self,
        namespace: str,
        trial: str,
        follow: bool,
        attempt: int | None,
        all_attempts: bool,
        replica: str | None = None,
    ) -> None:
        from pykatib.cli.logs import print_logs

        def read_trial(namespace: str, name: str) -> dict[str, Any]:
            return self.store.get_trial(namespace, name).to_dict()  # type: ignore[no-any-return]

        print_logs(read_trial, namespace, trial, follow, attempt, all_attempts, replica)


class Remote:
    """A ``pykatib server`` at ``url``, through the SDK's transport: its store and its control
    plane. Lists come in creation order, as the local store lists (the API lists by name)."""

    remote = True

    def __init__(self, url: str, token: str | None) -> None:
        from pykatib.sdk.remote import Remote as Transport

        self.url = url
        self.transport = Transport(url, token)

    def get_experiment(self, namespace: str, name: str) -> Experiment:
        return self.transport.get_experiment(namespace, name)

    def list_experiments(self, namespace: str | None) -> list[Experiment]:
        return _created_order(self.transport.list_experiments(namespace))

    def get_trial(self, namespace: str, name: str) -> Trial:
        return self.transport.get_trial(namespace, name)

    def list_trials(
        self,
        namespace: str | None,
        experiment: str | None = None,
        after: Key | None = None,
        limit: int | None = None,
    ) -> list[Trial]:
        """The server lists all (its pages go by name); the page is cut here."""
        found = _created_order(self.transport.list_trials(namespace, experiment))
        if after is not None:
            keys = [(t.namespace, t.name) for t in found]
            found = found[keys.index(after) + 1 :] if after in keys else []
        return found if limit is None else found[:limit]

    def get_suggestion(self, namespace: str, name: str) -> Suggestion:
        return self.transport.get_suggestion(namespace, name)

    def list_suggestions(self, namespace: str | None) -> list[Suggestion]:
        return _created_order(self.transport.list_suggestions(namespace))

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]:
        return self.transport.list_observations(namespace, trial)

    def list_events(self, namespace: str, kind: str, name: str) -> list[Event]:
        return self.transport.list_events(namespace, kind, name)

    def apply(self, exp: Experiment, source_dir: Path) -> tuple[str, list[str]]:
        _, outcome, warnings = self.transport.apply_experiment(exp.to_dict(), source_dir)
        return outcome, warnings

    def delete(self, namespace: str, name: str) -> None:
        self.transport.delete_experiment(namespace, name)

    def run(
        self,
        keys: Sequence[Key],
        on_step: Callable[[Sequence[Step]], None],
        on_follow: Callable[[Key, Any], None],
        restarting: Mapping[Key, Experiment] | None = None,
    ) -> list[Experiment]:
        """Follow the experiments on the server's watch stream until each has completed (one
        that is ``restarting``, once it has restarted, or after :data:`RESTART_WAIT_SECONDS`).
        Raises NotFoundError when one is deleted meanwhile."""
        latest: dict[Key, Experiment] = {}
        before = dict(restarting or {})
        waiting = set(before)
        namespaces = {ns for ns, _ in keys}
        namespace = next(iter(namespaces)) if len(namespaces) == 1 else None
        name = keys[0][1] if len(keys) == 1 else None
        deadline = time.monotonic() + RESTART_WAIT_SECONDS
        from pykatib.control import status as st

        def done() -> bool:
            if waiting and time.monotonic() >= deadline:
                waiting.clear()
            return len(latest) == len(keys) and all(
                st.is_completed(latest[k]) and k not in waiting for k in keys
            )

        while True:
            for type_, exp in self.transport.watch_experiments(namespace, name, WATCH_SECONDS):
                key = (exp.namespace, exp.name)
                if key not in keys:
                    continue
                if type_ == "DELETED":
                    raise NotFoundError(
                        f'experiment "{key[1]}" was deleted in namespace "{key[0]}"'
                    )
                latest[key] = exp
                if key in waiting and _restarted(before[key], exp):
                    waiting.discard(key)
                on_step([Step(latest[k]) for k in keys if k in latest])
                if done():
                    return [latest[k] for k in keys]
            # The server ended the stream (its timeout): watch again, from the start.
            for key in keys:
                if key not in latest:
                    latest[key] = self.transport.get_experiment(*key)
            if done():
                return [latest[k] for k in keys]

    def print_logs(
        self,
        namespace: str,
        trial: str,
        follow: bool,
        attempt: int | None,
        all_attempts: bool,
        replica: str | None = None,
        out: IO[bytes] | None = None,
    ) -> None:
        """As :func:`pykatib.cli.logs.print_logs` prints a local trial's log, read from the
        server: the latest attempt's (or ``attempt``'s, or every attempt's after a header);
        with ``follow`` until the trial completes, going on to each next attempt."""
        from pykatib.control import status as st

        out = out or sys.stdout.buffer
        numbers = self.transport.attempts(namespace, trial)
        if attempt is not None and attempt not in numbers:
            have = ", ".join(map(str, numbers)) or "none yet"
            raise NotFoundError(f'trial "{trial}" has no attempt {attempt} (attempts: {have})')
        current = attempt or (numbers[-1] if numbers else 1)
        if all_attempts and attempt is None:
            for number in numbers[:-1]:
                out.write(f"==> attempt {number} <==\n".encode())
                _copy(self.transport.log(namespace, trial, number, replica=replica), out)
            if numbers:
                out.write(f"==> attempt {current} <==\n".encode())
        if not follow:
            if not numbers:
                print(f"(no output yet: trial {trial} has not started)", file=sys.stderr)
                return
            _copy(self.transport.log(namespace, trial, current, replica=replica), out)
            return
        while not numbers:  # not started yet: wait for its first attempt, or its end
            if st.trial_phase(self.transport.get_trial(namespace, trial)) in st.COMPLETED_PHASES:
                return
            time.sleep(LOG_POLL_SECONDS)
            numbers = self.transport.attempts(namespace, trial)
        while True:
            # Pinned to ``attempt``, the server follows it to the trial's end; else its latest
            # attempt, until the trial ends or another attempt begins.
            _copy(self.transport.log(namespace, trial, attempt, follow=True, replica=replica), out)
            if attempt is not None:
                return
            newest = self.transport.attempts(namespace, trial)
            if newest and newest[-1] != current:
                current = newest[-1]  # a retry began: follow it
                out.write(f"==> attempt {current} <==\n".encode())
                continue
            if st.trial_phase(self.transport.get_trial(namespace, trial)) in st.COMPLETED_PHASES:
                return
            from pykatib.sdk.remote import ServerError

            raise ServerError(
                f"the pykatib server at {self.url} ended the log of trial {trial} before the "
                "trial completed (is it stopping?); run the command again to read on",
                self.url,
            )

    def close(self) -> None:
        self.transport.close()


def _restarted(before: Experiment, now: Experiment) -> bool:
    """Whether the control plane has restarted ``before`` (completed) by ``now``: it runs, or
    it has created trials since (and may have completed again)."""
    from pykatib.control import status as st

    return not st.is_completed(now) or (now.status.trials or 0) > (before.status.trials or 0)


def _copy(chunks: Iterator[bytes], out: IO[bytes]) -> None:
    for chunk in chunks:
        out.write(chunk)
        out.flush()


def _created_order(items: list[Any]) -> list[Any]:
    """In creation order (the API lists by namespace and name; within a second, that order)."""
    return sorted(items, key=lambda o: o.metadata.creation_timestamp or _EPOCH)
