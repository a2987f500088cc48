"""The pipe a Push trial (or a Custom collector) reports its metrics through.

The runner makes the pipe, hands the write end to the trial as ``PYKATIB_METRICS_FD``, and reads
it on a thread of its own. Each report is JSON lines (:class:`PushRecordParser`'s format) ended by
an empty line. In synchronous mode the trial then waits for one byte on the ack pipe
(``PYKATIB_METRICS_ACK_FD``), which :meth:`PushChannel.ack` writes once the control plane has
looked at the report: Katib's push is a synchronous call too, and it lets early stopping act
before the trial reports its next step.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from pykatib.metrics.observation import ObservationPoint
from pykatib.metrics.push import ACK_FD_ENV, METRICS_FD_ENV, PushRecordParser


class PushChannel:
    """One trial run's report pipe. ``on_points`` gets each report's observations as they are
    read; ``on_report`` is called when a report is complete."""

    def __init__(
        self,
        metric_names: Sequence[str],
        on_points: Callable[[list[ObservationPoint]], None],
        on_report: Callable[[], None],
    ) -> None:
        self._parser = PushRecordParser(metric_names)
        self._on_points = on_points
        self._on_report = on_report
        self._read_fd, self._write_fd = os.pipe()
        self._ack_read, self._ack_write = os.pipe()
        self._ack_open = True
        self.sync = False
        self._thread = threading.Thread(target=self._read, daemon=True)

    def child_env(self, sync: bool) -> dict[str, str]:
        """Environment for a process that reports through this channel."""
        self.sync = self.sync or sync
        env = {METRICS_FD_ENV: str(self._write_fd)}
        if sync:
            env[ACK_FD_ENV] = str(self._ack_read)
        return env

    def child_fds(self) -> tuple[int, ...]:
        return (self._write_fd, self._ack_read)

    def started(self) -> None:
        """The children hold their ends now: closing ours lets the reader see EOF at their exit."""
        os.close(self._write_fd)
        os.close(self._ack_read)
        self._thread.start()

    def ack(self, reports: int) -> None:
        """Release a synchronous reporter waiting on ``reports`` reports."""
        if self.sync and self._ack_open and reports > 0:
            try:
                os.write(self._ack_write, b"k" * reports)
            except OSError:
                pass  # the trial is gone

    def _read(self) -> None:
        with open(self._read_fd, "rb", closefd=True) as pipe:
            for raw in pipe:
                line = raw.strip()
                if line:
                    points = self._parser.feed(line.decode("utf-8", "replace"))
                    if points:
                        self._on_points(points)
                else:
                    self._on_report()

    def abandon(self) -> None:
        """The process never started: close every end."""
        for fd in (self._read_fd, self._write_fd, self._ack_read, self._ack_write):
            try:
                os.close(fd)
            except OSError:
                pass
        self._ack_open = False

    def close(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._ack_open = False
        try:
            os.close(self._ack_write)
        except OSError:
            pass
