"""The shim: a tiny supervisor that runs one attempt of a trial, detached from the control plane.

As containerd's shim does for a container, the shim lets an attempt outlive the process that
started it. The runner starts ``python -I -S -c SHIM ...`` (the standard library only, so it
starts in about 10 ms) in a session of its own; the shim

1. starts the trial's argv (never through a shell) in a process group of its own, in the
   container's working directory, with stdin from /dev/null and stdout and stderr appended to
   the attempt's log file: no pipe leads back to the control plane, so nothing dies with it;
2. with a Custom collector, starts the collector the same way (a sidecar, in its own group,
   with extra env), writing to the same log;
3. writes ``pid`` (atomically): its own and the trial's pid with each process's start time
   (``/proc/<pid>/stat`` field 22), and the host name, so a later control plane can tell the
   process from another that got the same pid; and prints the same line once on stdout for the
   runner that started it (ignoring a runner that is gone);
4. waits for the trial; gives the sidecar ``sidecar_grace`` seconds to report its last values
   (or stops it at once when the trial failed, SIGTERM then SIGKILL after ``grace``);
5. writes ``exit`` (atomically): ``{"code": N, "signal": null, "time": ..., "error": ...}``
   (or ``signal`` when a signal ended it; ``error`` when the command could not start), and exits.

The runner stops an attempt by signalling the trial's process group, as before.

Starting an interpreter (or even forking one) for every attempt costs more CPU than a short
trial itself, so a runner process starts one *launcher* (``python -I -S -c LAUNCHER``, once)
that does the shim's work for each attempt it is asked to run, in a thread of its own: it starts
the trial (``subprocess``, so vfork and no Python in the child) in a process group of its own,
writes the same ``pid`` file (with itself as the shim, as it is the trial's reaper) and the
same ``exit`` file, and closes a pipe the runner holds once it has (so the runner's watch wakes
at once). Like a shim, it runs in a session of its own and outlives the runner: when the
runner's end of its socket closes it takes no more work and exits once its last trial has
ended. It reaps what it starts, so their CPU time counts as its, and as its parent's children's.
An attempt with a memory limit (set between fork and exec, which threads can't do safely), one
whose command does not start (the shim reports why, as before) and a runner with no launcher
(no ``socket.send_fds``, Python 3.10, ``PYKATIB_SHIM_LAUNCHER=0``, or it died) get a shim
started as an interpreter of its own. Killing the launcher loses the exits of all the attempts
it runs, as killing their shims would; a control plane that adopts an attempt a launcher runs
(its runner is gone) sees it end at its next look (within a second), not at once.
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

# Defined first in both programs below: a process's start time, and "cwd n argv... rest" split.
_HELPERS = r"""
def ticks(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
        return str(int(data[data.rindex(b")") + 2 :].split()[19]))
    except (OSError, ValueError, IndexError):
        return "null"


def take(args):
    n = int(args[1])
    return args[0], args[2 : 2 + n], args[2 + n :]
"""

SHIM = (
    _HELPERS
    + r"""
import _signal as signal, os, sys, time  # signal itself imports enum: 4 ms more to start
state, log, grace, sidecar_grace = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])



def put(name, text):
    tmp = os.path.join(state, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(state, name))


def spawn(cwd, argv, env, memory=None):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setpgid(0, 0)
            if memory:  # the container's resources.limits.memory, as an address-space limit
                import resource
                resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        except BaseException as exc:
            text = str(getattr(exc, "strerror", None) or exc) or type(exc).__name__
            os.write(w, text.encode("utf-8", "replace"))
        os._exit(127)
    os.close(w)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    error = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        error += chunk
    os.close(r)
    return pid, error.decode("utf-8", "replace")


def kill(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def reap(pid, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.05)
    kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


null = os.open(os.devnull, os.O_RDWR)
out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
cwd, argv, rest = take(sys.argv[5:])
memory = os.environ.pop("PYKATIB_SHIM_MEMORY_LIMIT", None)
pid, error = spawn(cwd, argv, os.environ, memory)
host = os.uname().nodename.replace("\\", "\\\\").replace('"', '\\"')
me = os.getpid()
ident = '"shim": {"pid": %d, "start": %s}, "trial": {"pid": %d, "start": %s}, "host": "%s"' % (
    me, ticks(me), pid, ticks(pid), host
)
side = None
if rest and not error:
    scwd, sargv, extra = take(rest)
    env = dict(os.environ)
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    side, serror = spawn(scwd, sargv, env)
    if serror:
        os.waitpid(side, 0)
        side = None
        note = "[pykatib] error: can't start the custom collector %r: %s\n" % (sargv[0], serror)
        os.write(out, note.encode("utf-8", "replace"))
    else:
        ident += ', "sidecar": {"pid": %d, "start": %s}' % (side, ticks(side))
line = "{" + ident + "}"
put("pid", line)
try:
    os.write(1, (line + "\n").encode())
except OSError:
    pass
os.dup2(null, 1)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
if side is not None:
    if code != 0:
        kill(side, signal.SIGTERM)
        reap(side, grace)
    else:
        reap(side, sidecar_grace)
if error:
    import json

    error = json.dumps(error)
put(
    "exit",
    '{"code": %s, "signal": %s, "time": %r, "error": %s}'
    % (code if code >= 0 else "null", -code if code < 0 else "null", time.time(), error or "null"),
)
"""
)

# Supervises the attempts its runner asks for, each as the shim would (one thread each): a
# request is [args, env] as JSON (args as the shim's argv), with the write end of a pipe
# (SCM_RIGHTS) that gets the pid line, and is closed once the exit file is written. A command it
# can't start gets no line: the runner starts a shim, which says why.
LAUNCHER = (
    _HELPERS
    + r"""
import json, os, socket, subprocess, threading, time
sock = socket.socket(fileno=0)
null = os.open(os.devnull, os.O_RDWR)



def put(state, name, text):
    tmp = os.path.join(state, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(state, name))


def start(cwd, argv, env, out):
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=null, stdout=out, stderr=out, process_group=0
    )


def reap(proc, seconds):
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        stop(proc, 9)
        proc.wait()


def stop(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except OSError:
        pass


me = '"shim": {"pid": %d, "start": %s}' % (os.getpid(), ticks(os.getpid()))
host = os.uname().nodename.replace("\\", "\\\\").replace('"', '\\"')


def supervise(args, env, pipe):
    try:
        run(args, env, pipe)
    finally:
        os.close(pipe)


def run(args, env, pipe):
    state, log, grace, sidecar_grace = args[0], args[1], float(args[2]), float(args[3])
    cwd, argv, rest = take(args[4:])
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        trial = start(cwd, argv, env, out)
    except OSError:
        os.close(out)
        return
    ident = '%s, "trial": {"pid": %d, "start": %s}, "host": "%s"' % (
        me, trial.pid, ticks(trial.pid), host
    )
    side = None
    if rest:
        scwd, sargv, extra = take(rest)
        senv = dict(env)
        for item in extra:
            key, _, value = item.partition("=")
            senv[key] = value
        try:
            side = start(scwd, sargv, senv, out)
        except OSError as exc:
            text = str(exc.strerror or exc)
            note = "[pykatib] error: can't start the custom collector %r: %s\n" % (sargv[0], text)
            os.write(out, note.encode("utf-8", "replace"))
        else:
            ident += ', "sidecar": {"pid": %d, "start": %s}' % (side.pid, ticks(side.pid))
    line = "{" + ident + "}"
    try:
        put(state, "pid", line)
    except OSError:
        pass  # the runner has the line (it runs: it must not be started again)
    try:
        os.write(pipe, (line + "\n").encode())
    except OSError:
        pass
    code = trial.wait()
    if side is not None:
        if code != 0:
            stop(side, 15)
            reap(side, grace)
        else:
            reap(side, sidecar_grace)
    os.close(out)
    put(
        state,
        "exit",
        '{"code": %s, "signal": %s, "time": %r, "error": null}'
        % (code if code >= 0 else "null", -code if code < 0 else "null", time.time()),
    )


while True:
    try:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 22, 1)
    except OSError:
        break
    if not data:
        break
    if fds:
        args, env = json.loads(data)
        threading.Thread(target=supervise, args=(args, env, fds[0])).start()
# The runner is gone: the attempts it started run on, and this process with them.
"""
)

LAUNCHER_ENV = "PYKATIB_SHIM_LAUNCHER"  # "0": every shim starts as an interpreter of its own


class _Launcher:
    """This process's launcher (started on first use; None once it can't be used)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._broken = (
            not hasattr(socket, "send_fds")
            or sys.version_info < (3, 11)  # Popen(process_group=) is 3.11's
            or os.environ.get(LAUNCHER_ENV) == "0"
        )
        self._pid = os.getpid()

    def launch(self, args: list[str], env: dict[str, str]) -> int | None:
        """Have the launcher run an attempt (``args`` as the shim's); the read end of the pipe
        it prints the pid line to and closes once the exit file is written (None: start a shim
        as an interpreter of its own)."""
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

    def _socket(self) -> socket.socket | None:
        if self._pid != os.getpid():  # a forked copy of this process: the socket is the parent's
            self._sock, self._proc, self._pid = None, None, os.getpid()
        if self._broken:
            return None
        if self._sock is None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", LAUNCHER],
                    stdin=theirs,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # a Ctrl-C at the terminal is the runner's to handle
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
        """It died or refused a message: shims start as interpreters from now on."""
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
    try:
        return json.loads(path.read_bytes())
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

    proc: subprocess.Popen[bytes] | None  # the shim, when started as an interpreter of its own
    started: Started | None  # what it started (None: it failed)
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
    """Start one attempt: by the launcher, else (a memory limit, a command that does not start,
    no launcher) under a shim started as an interpreter of its own.

    ``sidecar`` is (cwd, argv, extra env) of a Custom collector; ``memory_limit`` (bytes) caps
    the trial's address space (RLIMIT_AS), as its container's memory limit would.
    """
    args = [str(grace), str(sidecar_grace), cwd, str(len(argv)), *argv]
    if sidecar is not None:
        scwd, sargv, extra = sidecar
        args += [scwd, str(len(sargv)), *sargv, *(f"{k}={v}" for k, v in extra.items())]
    shim_args = [str(files.state), str(files.log), *args]
    pipe = None if memory_limit else _LAUNCHER.launch(shim_args, env)
    if pipe is not None:
        try:
            return Spawned(None, Started.from_json(json.loads(_first_line(pipe))), pipe)
        except ValueError:
            os.close(pipe)
            if files.pid.exists():  # it started its trial, and died after
                return Spawned(None, read_started(files))
            # It could not start the command (a shim will say why), or it died before.
    if memory_limit:
        env = {**env, MEMORY_LIMIT_ENV: str(memory_limit)}
    with open(files.log, "ab") as log:  # where the shim itself would complain
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", SHIM, *shim_args],
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
    try:
        return Spawned(proc, Started.from_json(json.loads(line)))
    except ValueError:
        return Spawned(proc, None)


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
