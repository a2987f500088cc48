"""When a namespace's experiments or trials last changed, for the UI's live pages: a number
that changes whenever one of them is created, written or deleted (two aggregate queries,
:func:`pykatib.ui.reads.change_digest`, quick at 10,000 trials). Every page
open on a namespace shares one reading per poll interval, so ten open pages of a 10,000-trial
experiment cost the database what one does."""

from __future__ import annotations

import threading
import time

from pykatib.store import Store
from pykatib.ui.reads import change_digest

POLL_SECONDS = 0.5


class ChangeFeed:
    def __init__(self, store: Store, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._readings: dict[str | None, tuple[float, int]] = {}

    def fingerprint(self, namespace: str | None) -> int:
        """The namespace's (every namespace's with None) state, read at most once a poll."""
        now = time.monotonic()
        with self._lock:
            reading = self._readings.get(namespace)
            if reading is not None and now - reading[0] < self.poll_seconds * 0.9:
                return reading[1]
        value = hash(change_digest(self.store, namespace))
        with self._lock:
            self._readings[namespace] = (now, value)
        return value
