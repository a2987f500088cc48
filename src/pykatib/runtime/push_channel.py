"""The files through which a Push trial (or a Custom collector) reports, beside the attempt.

Reports are JSON lines appended to the attempt's report file, ``PYKATIB_METRICS_FILE``
(:func:`pykatib.metrics.push.report_metrics`), which the Push collector tails like any file. In
synchronous mode (early stopping on) two more files make each report a round trip, as Katib's
push is a synchronous call to its DB manager, so that early stopping acts before the next step:

* the doorbell, a FIFO the runner holds open (``PYKATIB_METRICS_BELL``): the reporter writes a
  byte after its report, which wakes the runner at once instead of at its next poll; with no
  runner holding it, opening it fails at once;
* the ack file (``PYKATIB_METRICS_ACK``): the report file's offset up to which the control plane
  has looked at the reports, written (a temporary file renamed) by :meth:`PushChannel.ack`.
  The reporter waits until it reaches the end of its report.

None of them is a pipe: a trial never dies or blocks for ever because the control plane did.
"""

from __future__ import annotations

import os

from pykatib.metrics.push import ACK_FILE_ENV, BELL_ENV, METRICS_FILE_ENV
from pykatib.runtime.paths import AttemptFiles


class PushChannel:
    """One attempt's report file, and in synchronous mode its doorbell and ack file."""

    def __init__(self, files: AttemptFiles, sync: bool) -> None:
        self.files = files
        self.sync = sync
        self._bell: int | None = None
        self._acked = 0

    def open(self) -> None:
        """Hold the doorbell open (create it first for a new attempt)."""
        if not self.sync:
            return
        try:
            os.mkfifo(self.files.bell)
        except FileExistsError:
            pass
        # Read and write: the FIFO never reads as closed between two reporters.
        self._bell = os.open(self.files.bell, os.O_RDWR | os.O_NONBLOCK)
        try:
            self._acked = int(self.files.ack.read_bytes() or 0)
        except (OSError, ValueError):
            self._acked = 0

    def environment(self, reporter: bool) -> dict[str, str]:
        """Env for the trial (``reporter``: it may wait for acks) or a Custom collector."""
        env = {METRICS_FILE_ENV: str(self.files.metrics)}
        if self.sync and reporter:
            env[ACK_FILE_ENV] = str(self.files.ack)
            env[BELL_ENV] = str(self.files.bell)
        return env

    def fileno(self) -> int | None:
        """The doorbell, readable when a reporter rang (None when not synchronous)."""
        return self._bell

    def clear(self) -> None:
        """Take the rings read so far."""
        if self._bell is None:
            return
        try:
            while os.read(self._bell, 4096):
                pass
        except BlockingIOError:
            pass

    def ack(self, offset: int) -> None:
        """The control plane has looked at every report up to ``offset`` of the report file."""
        if not self.sync or offset <= self._acked:
            return
        tmp = self.files.ack.with_name(".ack.tmp")
        tmp.write_bytes(str(offset).encode())
        os.replace(tmp, self.files.ack)
        self._acked = offset

    def close(self) -> None:
        if self._bell is not None:
            os.close(self._bell)
            self._bell = None
