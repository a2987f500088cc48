"""The runner's side of the shim: how an attempt is handed to its supervisor, and what it wrote.

Each attempt of a local trial runs under a supervisor process (:mod:`pykatib.runtime.supervisor`,
as containerd's shim runs a container) that starts the trial, writes its ``pid`` and ``exit``
files and outlives the runner. A runner process starts one *launcher* (that program with no
arguments, once: starting an interpreter costs more CPU than a short trial) and hands it each
attempt over a socket, with a pipe that gets the pid line and ends once the exit file is
written (so the runner's watch wakes at once). Where there is no launcher
(``PYKATIB_SHIM_LAUNCHER=0``, or it died), the attempt gets a *shim*: the same program as an
interpreter of its own, for that attempt alone. Either runs in a session of its own, so a
Ctrl-C at the terminal is the runner's to handle. Killing the launcher loses the exits of all
the attempts it runs, as killing their shims would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pykatib.runtime.paths import AttemptFiles
from pykatib.runtime.resources import quantity

SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.py")
LAUNCHER_ENV = "PYKATIB_SHIM_LAUNCHER"  # "0": every attempt gets a shim of its own


class _Launcher:
    """This process's launcher (started on first use; None once it can't be used)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._broken = not hasattr(socket, "send_fds") or os.environ.get(LAUNCHER_ENV) == "0"
        self._pid = os.getpid()

    def launch(self, args: list[str], env: dict[str, str]) -> int | None:
        """Have the launcher run an attempt (``args`` as a shim's); the read end of the pipe
        it prints the pid line to and closes once the exit file is written (None: start a shim)."""
        message = json.dumps([args, env]).encode()
        with self._lock:
            sock = self._socket()
            if sock is None:
                return None
            read, write = os.pipe()
            try:
                socket.send_fds(sock, [message], [write])
            except OSError:
                os.close(read)
                self._stop()
                return None
            finally:
                os.close(write)
        return read

    def check(self) -> None:
        """After an attempt it took and dropped: shims from now on if it has died."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is not None:
                self._stop()

    def _socket(self) -> socket.socket | None:
        if self._pid != os.getpid():  # a forked copy of this process: the socket is the parent's
            self._sock, self._proc, self._pid = None, None, os.getpid()
        if self._broken:
            return None
        if self._sock is None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", SUPERVISOR],
                    stdin=theirs,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError:
                ours.close()
                self._broken = True
                return None
            finally:
                theirs.close()
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
            self._sock = ours
        return self._sock

    def _stop(self) -> None:
        """It died or refused a message: shims from now on."""
        if self._sock is not None:
            self._sock.close()
        self._sock, self._broken = None, True


_LAUNCHER = _Launcher()


def start_launcher() -> None:
    """Start this process's launcher now, not at the first trial: its interpreter starts while
    the caller goes on (``pykatib run`` opens its store meanwhile), off the first trial's path."""
    with _LAUNCHER._lock:
        _LAUNCHER._socket()


HOST = os.uname().nodename


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None (gone, a zombie, or no
    /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2 :].split()
        return None if fields[0] == b"Z" else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Proc:
    """A process as the shim saw it: its pid and its start time (None where /proc is absent)."""

    pid: int
    start: int | None

    def alive(self) -> bool:
        """Still running, and the same process (not another that got the pid since)."""
        if self.start is not None:
            return process_start(self.pid) == self.start
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_json(cls, data: Any) -> Proc | None:
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return None
        start = data.get("start")
        return cls(data["pid"], start if isinstance(start, int) else None)


@dataclass(frozen=True)
class Started:
    """What the shim's ``pid`` file says."""

    shim: Proc
    trial: Proc
    host: str
    sidecar: Proc | None = None

    @classmethod
    def from_json(cls, data: Any) -> Started | None:
        if not isinstance(data, dict):
            return None
        shim, trial = Proc.from_json(data.get("shim")), Proc.from_json(data.get("trial"))
        if shim is None or trial is None:
            return None
        return cls(shim, trial, str(data.get("host", "")), Proc.from_json(data.get("sidecar")))

    def to_json(self) -> dict[str, Any]:
        data = {"shim": self.shim.to_json(), "trial": self.trial.to_json(), "host": self.host}
        if self.sidecar is not None:
            data["sidecar"] = self.sidecar.to_json()
        return data


@dataclass(frozen=True)
class Exited:
    """What the shim's ``exit`` file says."""

    code: int | None
    signal: int | None
    time: float | None
    error: str | None
    # The shim ended without writing it (killed): nothing is known of how the trial ended.
    lost: bool = False

    @property
    def exit_code(self) -> int | None:
        """As ``Popen.returncode``: the code, or minus the signal (None: lost)."""
        if self.code is not None:
            return self.code
        return -self.signal if self.signal else None


MEMORY_LIMIT_ENV = "PYKATIB_SHIM_MEMORY_LIMIT"


def memory_bytes(value: Any) -> int | None:
    """A Kubernetes memory quantity (``512Mi``, ``1G``, ``1e9``, ``128974848``) in bytes; None
    when it isn't one."""
    try:
        amount = quantity(value)
    except ValueError:
        return None
    return int(amount) if amount > 0 else None


def read_json(path: Path) -> Any:
    """A small JSON file the supervisor wrote in one write (None: not there, or cut short)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # no file object: 4 system calls fewer
        try:
            data = os.read(fd, 65536)
        finally:
            os.close(fd)
        return json.loads(data)
    except (OSError, ValueError):
        return None


def read_started(files: AttemptFiles) -> Started | None:
    return Started.from_json(read_json(files.pid))


def read_exited(files: AttemptFiles) -> Exited | None:
    data = read_json(files.exit)
    if not isinstance(data, dict):
        return None
    code, sig, at, error = (data.get(k) for k in ("code", "signal", "time", "error"))
    return Exited(
        code if isinstance(code, int) else None,
        sig if isinstance(sig, int) else None,
        float(at) if isinstance(at, (int, float)) else None,
        error if isinstance(error, str) else None,
    )


class Spawned(NamedTuple):
    """What :func:`spawn` started."""

    proc: subprocess.Popen[bytes] | None  # a shim of its own, this process's child
    started: Started | None  # what it started (None: nothing; the exit file says why)
    # Run by the launcher: the read end of a pipe that ends once the exit file is written.
    ended: int | None = None


def spawn(
    files: AttemptFiles,
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    grace: float,
    sidecar_grace: float,
    sidecar: tuple[str, list[str], dict[str, str]] | None = None,
    memory_limit: int | None = None,
) -> Spawned:
    """Start one attempt: by the launcher, else (no launcher) under a shim of its own.

    ``sidecar`` is (cwd, argv, extra env) of a Custom collector; ``memory_limit`` (bytes) caps
    the trial's address space (RLIMIT_AS), as its container's memory limit would.
    """
    # The supervisor works from "/": every path it is given is absolute.
    args = [str(files.state.absolute()), str(files.log.absolute()), str(grace), str(sidecar_grace)]
    args += [os.path.abspath(cwd), str(len(argv)), *argv]
    if sidecar is not None:
        scwd, sargv, extra = sidecar
        args += [os.path.abspath(scwd), str(len(sargv)), *sargv]
        args += [f"{k}={v}" for k, v in extra.items()]
    if memory_limit:
        env = {**env, MEMORY_LIMIT_ENV: str(memory_limit)}
    pipe = _LAUNCHER.launch(args, env)
    if pipe is not None:
        line = _first_line(pipe)
        if line:
            return Spawned(None, _started(line), pipe)
        os.close(pipe)
        if files.exit.exists():  # the command did not start: the exit file says why
            return Spawned(None, None)
        if files.pid.exists():  # it started its trial, and died after
            return Spawned(None, read_started(files))
        _LAUNCHER.check()  # it died before: a shim starts the attempt
    with open(files.log, "ab") as log:  # where the shim itself would complain
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", SUPERVISOR, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=files.state,
            start_new_session=True,
        )
    assert proc.stdout is not None
    with proc.stdout:
        line = proc.stdout.readline()
    return Spawned(proc, _started(line))


def _started(line: bytes) -> Started | None:
    try:
        return Started.from_json(json.loads(line))
    except ValueError:
        return None


def _first_line(fd: int) -> bytes:
    """What the launcher printed (one line), without reading past it."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


__all__ = ["HOST", "Exited", "Proc", "Started", "process_start", "read_exited", "read_started"]
