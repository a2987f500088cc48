"""The supervisor of local attempts: the one program that starts, watches and records them.

As containerd's shim does for a container, it lets an attempt outlive the control plane that
asked for it. It runs as ``python -I -S supervisor.py`` (the standard library only, outside
pykatib's package) in a session of its own, in one of two ways that share every line of the
supervision:

* **launcher** (no arguments): one per runner process, started once; its stdin is a
  ``SOCK_SEQPACKET`` socket on which each message asks for one attempt (``[args, env]`` as JSON,
  with the write end of a pipe as SCM_RIGHTS). When the runner's end closes it takes no more
  work, and exits once its last attempt has ended.
* **shim** (``args`` on the command line, ``env`` its own): one attempt, then it exits; the
  runner starts one where it has no launcher (``PYKATIB_SHIM_LAUNCHER=0``, or it died).

``args`` is ``state log grace sidecar_grace cwd N argv[N] [scwd M sargv[M] KEY=VALUE...]``. For
each attempt the supervisor

1. starts the trial's argv (never through a shell; ``posix_spawn``, so no interpreter is copied,
   or a fork when ``PYKATIB_SHIM_MEMORY_LIMIT`` asks for an address-space limit) in a process
   group of its own, in ``cwd``, stdin from /dev/null, stdout and stderr appended to ``log``;
   with a Custom collector, the sidecar the same way, with its extra env;
2. writes ``pid`` (one JSON line, in one write): its own and the trial's pid with each one's
   start time (``/proc/<pid>/stat`` field 22) and the host name, so that a later control plane
   can tell the process from another that got its pid; and sends the same line down the pipe (a
   shim's is its stdout);
3. when the trial ends, gives the sidecar ``sidecar_grace`` seconds to report its last values
   (or stops it at once when the trial failed: SIGTERM, SIGKILL after ``grace``);
4. writes ``exit`` (the same way): ``{"code": N, "signal": null, "time": ..., "error": ...}``,
   then closes the pipe, which wakes the runner at once.

A command that can't start gets its ``exit`` (code 127, ``error`` saying why) and no pid line.
It is single-threaded: one loop waits on the socket and on SIGCHLD (through a wakeup fd) and
reaps every child with ``waitpid(-1)``, so an attempt costs no thread, and a fork for a memory
limit is safe. It reaps what it starts, so their CPU time counts as its, and as its parent's
children's. Killing it loses the exits of all the attempts it runs.
"""

from __future__ import annotations

import _signal  # signal itself imports enum: milliseconds more to start
import json
import os
import select
import socket
import sys
import time

MEMORY_LIMIT_ENV = "PYKATIB_SHIM_MEMORY_LIMIT"
_INT = 4  # bytes of a file descriptor in SCM_RIGHTS
_NULL = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)


def proc(pid: int) -> dict[str, int | None]:
    """Process ``pid`` with when it started (clock ticks since boot; None: unknown)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)  # no file object: 6
        try:  # system calls fewer
            data = os.read(fd, 4096)  # a few hundred bytes
        finally:
            os.close(fd)
        start: int | None = int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        start = None
    return {"pid": pid, "start": start}


def take(args: list[str]) -> tuple[str, list[str], list[str]]:
    """``cwd N argv[N] rest...`` split."""
    n = int(args[1])
    return args[0], args[2 : 2 + n], args[2 + n :]


def put(state: str, name: str, text: str) -> None:
    """Write ``state/name`` in one write: a reader that finds it empty or cut short (it was
    being written, or this process was killed meanwhile) takes it as not there. A rename would
    cost three times as much on ext4, for no safer a reader."""
    path = os.path.join(state, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def executable(name: str, env: dict[str, str]) -> str:
    """``name`` looked up as execvpe would: in the trial's PATH, not this process's."""
    if "/" in name:
        return name
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(2, "No such file or directory", name)


def spawn(cwd: str, argv: list[str], env: dict[str, str], out: int, memory: str | None) -> int:
    """Start ``argv`` in a process group of its own; its pid (OSError: it did not start)."""
    if memory:
        return _fork(cwd, argv, env, out, int(memory))
    os.chdir(cwd)  # posix_spawn has no cwd; this process has no other thread to disturb
    try:
        return _posix_spawn(executable(argv[0], env), argv, env, out)
    finally:
        os.chdir("/")  # holding no folder (a file system to unmount) while it waits


def _posix_spawn(path: str, argv: list[str], env: dict[str, str], out: int) -> int:
    return os.posix_spawn(
        path,
        argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, _NULL, 0),
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, out, 2),
        ],
        setpgroup=0,
        setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ),  # Python ignores them; the trial must not
    )


def _fork(cwd: str, argv: list[str], env: dict[str, str], out: int, memory: int) -> int:
    """As :func:`spawn`, with the address space limited to ``memory`` bytes (the container's
    ``resources.limits.memory``), which only a fork can set before the exec."""
    r, w = os.pipe()  # close-on-exec: no bytes once the exec has succeeded
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
            _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
            os.dup2(_NULL, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        except BaseException as exc:  # noqa: BLE001 - the child must reach its _exit
            os.write(w, _why(exc).encode("utf-8", "replace"))
        os._exit(127)
    os.close(w)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    error = b""
    while chunk := os.read(r, 4096):
        error += chunk
    os.close(r)
    if error:
        os.waitpid(pid, 0)
        raise OSError(error.decode("utf-8", "replace"))
    return pid


def _why(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc) or type(exc).__name__


class Attempt:
    """One attempt's processes and the fds it holds (its log, the pipe to its runner)."""

    __slots__ = ("code", "grace", "out", "pipe", "sidecar", "sidecar_grace", "state", "trial")

    def __init__(self, state: str, out: int, pipe: int, grace: float, sidecar_grace: float):
        self.state, self.out, self.pipe = state, out, pipe
        self.grace, self.sidecar_grace = grace, sidecar_grace
        self.trial = self.sidecar = 0
        self.code: int | None = None  # the trial's, once it has ended


class Supervisor:
    """Every attempt this process runs: started by :meth:`start`, ended by :meth:`reap`."""

    def __init__(self) -> None:
        self.me, self.host = proc(os.getpid()), os.uname().nodename
        self.children: dict[int, Attempt] = {}  # trial and sidecar pids
        self.live = 0  # attempts without their exit file yet
        self.kills: dict[Attempt, float] = {}  # a sidecar's SIGKILL is due (time.monotonic)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self.wake = wake_r
        _signal.set_wakeup_fd(wake_w)  # SIGCHLD makes it readable: the loop wakes to reap
        _signal.signal(_signal.SIGCHLD, lambda *_: None)

    def start(self, args: list[str], env: dict[str, str], pipe: int) -> None:
        """Start one attempt; ``pipe`` gets its pid line and is closed once its exit is written."""
        state, out = args[0], -1
        try:
            out = os.open(args[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            attempt = Attempt(state, out, pipe, float(args[2]), float(args[3]))
            cwd, argv, rest = take(args[4:])
            attempt.trial = spawn(cwd, argv, env, out, env.pop(MEMORY_LIMIT_ENV, None))
        except (OSError, ValueError, IndexError) as exc:  # did not start: the exit file says why
            if out >= 0:
                os.close(out)
            try:
                put(state, "exit", _exit_text(127, _why(exc)))
            except OSError:
                pass  # nothing written: the runner starts a shim, which fails as loudly as it can
            os.close(pipe)
            return
        self.children[attempt.trial] = attempt
        self.live += 1
        started = {"shim": self.me, "trial": proc(attempt.trial), "host": self.host}
        if rest:
            self._start_sidecar(attempt, env, rest, started)
        line = json.dumps(started)
        try:
            put(state, "pid", line)
        except OSError:
            pass  # the runner has the line (it runs: it must not be started again)
        try:
            os.write(pipe, (line + "\n").encode())
        except OSError:
            pass  # the runner is gone

    def _start_sidecar(
        self, attempt: Attempt, env: dict[str, str], rest: list[str], started: dict[str, object]
    ) -> None:
        """Start a Custom collector beside the trial (``started``: the pid line, as a dict)."""
        cwd, argv, extra = take(rest)
        env = dict(env)
        for item in extra:
            key, _, value = item.partition("=")
            env[key] = value
        try:
            attempt.sidecar = spawn(cwd, argv, env, attempt.out, None)
        except (OSError, ValueError) as exc:
            note = f"[pykatib] error: can't start the custom collector {argv[0]!r}: {_why(exc)}\n"
            os.write(attempt.out, note.encode("utf-8", "replace"))
            return
        self.children[attempt.sidecar] = attempt
        started["sidecar"] = proc(attempt.sidecar)

    def reap(self) -> None:
        """Take the exit of every child that has ended."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            attempt = self.children.pop(pid, None)
            if attempt is None:
                continue
            if pid == attempt.trial:
                attempt.code = os.waitstatus_to_exitcode(status)
                if attempt.sidecar:  # it reports the trial's last values, then goes
                    wait = attempt.sidecar_grace
                    if attempt.code != 0:
                        killpg(attempt.sidecar, _signal.SIGTERM)
                        wait = attempt.grace
                    self.kills[attempt] = time.monotonic() + wait
                    continue
            else:
                attempt.sidecar = 0
                self.kills.pop(attempt, None)
                if attempt.code is None:
                    continue
            self.finish(attempt)

    def finish(self, attempt: Attempt) -> None:
        """Write the attempt's exit, then close its pipe (the runner wakes to read it)."""
        os.close(attempt.out)
        code = attempt.code if attempt.code is not None else 0
        try:
            put(attempt.state, "exit", _exit_text(code, None))
        except OSError:
            pass  # its folder is gone or full: the runner finds no exit, and counts it lost
        os.close(attempt.pipe)
        self.live -= 1

    def timeout(self) -> float | None:
        """Seconds until the next sidecar must be killed (None: none is due)."""
        if not self.kills:
            return None
        return max(0.0, min(self.kills.values()) - time.monotonic())

    def kill_due(self) -> None:
        now = time.monotonic()
        for attempt, when in list(self.kills.items()):
            if when <= now:
                del self.kills[attempt]
                killpg(attempt.sidecar, _signal.SIGKILL)  # reaped at its SIGCHLD

    def serve(self, sock: socket.socket | None) -> None:
        """Run until the attempts have ended and no more can come (``sock``: the runner's
        socket, None for a shim)."""
        poll = select.poll()
        poll.register(self.wake, select.POLLIN)
        if sock is not None:
            poll.register(sock, select.POLLIN)
        while self.live or sock is not None:
            timeout = self.timeout()
            ready = poll.poll(None if timeout is None else timeout * 1000 + 1)
            for fd, _ in ready:
                if fd == self.wake:
                    while _drain(self.wake):
                        pass
                    self.reap()
                elif sock is not None and not self._receive(sock):
                    poll.unregister(sock)
                    sock = None  # the runner is gone: the attempts it started run on
            self.kill_due()

    def _receive(self, sock: socket.socket) -> bool:
        """Start the attempt the runner asks for; False once the runner is gone."""
        try:
            # Close-on-exec as it arrives: a trial that held another attempt's pipe would keep
            # its runner from seeing that attempt end (socket.recv_fds drops the flag).
            data, ancillary, _, _ = sock.recvmsg(
                1 << 22, socket.CMSG_SPACE(_INT), socket.MSG_CMSG_CLOEXEC
            )
        except OSError:
            return False
        if not data:
            return False
        fds = [
            int.from_bytes(cmsg[i : i + _INT], sys.byteorder)
            for level, kind, cmsg in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
            for i in range(0, len(cmsg) - _INT + 1, _INT)
        ]
        if fds:
            args, env = json.loads(data)
            self.start(args, env, fds[0])
        return True


def _drain(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


def _exit_text(code: int, error: str | None) -> str:
    """The exit file: the trial's code, or the signal that ended it."""
    return json.dumps(
        {
            "code": code if code >= 0 else None,
            "signal": -code if code < 0 else None,
            "time": time.time(),
            "error": error,
        }
    )


def main(args: list[str]) -> None:
    supervisor = Supervisor()
    if not args:  # the launcher
        supervisor.serve(socket.socket(fileno=0))
        return
    pipe = os.dup(1)  # the pid line goes to the runner; nothing else may hold its pipe
    os.dup2(_NULL, 1)
    supervisor.start(args, dict(os.environ), pipe)
    supervisor.serve(None)


if __name__ == "__main__":
    main(sys.argv[1:])
