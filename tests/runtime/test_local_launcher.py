"""Attempts run by the launcher (one interpreter per runner process, a thread per attempt)
behave as attempts under a shim of their own: files written, the trial in a process group of its
own, outliving the process that asked."""

from __future__ import annotations

import os
import resource
import select
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykatib.runtime import shim
from pykatib.runtime.paths import AttemptFiles


@pytest.fixture(autouse=True)
def _close_launchers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each launcher a test makes is closed after it, and waited for (its trials have ended)."""
    made: list[shim._Launcher] = []

    class Tracked(shim._Launcher):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(shim, "_Launcher", Tracked)
    yield
    for launcher in made:
        if launcher._sock is not None:
            launcher._sock.close()
        if launcher._proc is not None:
            launcher._proc.wait(60)


def _files(tmp_path: Path, name: str) -> AttemptFiles:
    files = AttemptFiles(tmp_path / name)
    files.state.mkdir(parents=True)
    return files


def _wait_readable(fd: int, what: str) -> None:
    assert select.select([fd], [], [], 60)[0], f"{what} still runs after 60 s"


def _wait_exit(pid: int) -> None:
    """Until process ``pid`` (not a child of this one) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        _wait_readable(fd, f"process {pid}")
    finally:
        os.close(fd)


def _wait_ended(spawned: shim.Spawned) -> None:
    """Until the launcher has written the attempt's exit file (its pipe ends)."""
    assert spawned.ended is not None
    try:
        _wait_readable(spawned.ended, "the attempt")
        assert os.read(spawned.ended, 1) == b""
    finally:
        os.close(spawned.ended)


def _spawn(
    files: AttemptFiles,
    argv: list[str],
    launcher: shim._Launcher,
    env: dict[str, str] | None = None,
) -> shim.Spawned:
    old = shim._LAUNCHER
    shim._LAUNCHER = launcher
    try:
        return shim.spawn(files, argv, str(files.root), env or dict(os.environ), 5.0, 5.0)
    finally:
        shim._LAUNCHER = old


def test_the_launcher_runs_a_trial_in_a_process_group_of_its_own(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    files = _files(tmp_path, "a")
    code = "import os, sys; print('loss=0.5', os.getpgid(0)); sys.exit(3)"
    spawned = _spawn(files, [sys.executable, "-c", code], launcher)
    assert spawned.proc is None  # run by the launcher: not this process's child
    started = spawned.started
    assert started is not None and started.host == shim.HOST
    assert launcher._proc is not None and started.shim.pid == launcher._proc.pid  # its reaper
    _wait_ended(spawned)
    exited = shim.read_exited(files)
    assert exited is not None and exited.exit_code == 3
    out = files.log.read_text().split()
    assert out[0] == "loss=0.5"
    assert int(out[1]) == started.trial.pid  # it leads a process group of its own
    assert shim.read_started(files) == started
    assert launcher._proc.poll() is None  # the launcher runs on, for the next attempts


def test_a_killed_trial_is_told_by_its_signal(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    files = _files(tmp_path, "b")
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    spawned = _spawn(files, [sys.executable, "-c", code], launcher)
    assert spawned.started is not None
    _wait_ended(spawned)
    exited = shim.read_exited(files)
    assert exited is not None and exited.signal == signal.SIGKILL and exited.code is None


def test_an_unstartable_command_is_reported_in_its_exit_file(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    files = _files(tmp_path, "c")
    spawned = _spawn(files, [str(tmp_path / "no-such-program")], launcher)
    assert spawned == shim.Spawned(None, None)  # nothing runs: nothing to watch or signal
    exited = shim.read_exited(files)
    assert exited is not None and exited.exit_code == 127
    assert exited.error and "No such file" in exited.error
    assert not files.pid.exists()
    assert launcher._proc is not None and launcher._proc.poll() is None  # it goes on


def test_a_shim_reports_an_unstartable_command_as_the_launcher_does(tmp_path: Path) -> None:
    off = shim._Launcher()
    off._broken = True
    files = _files(tmp_path, "c2")
    spawned = _spawn(files, [str(tmp_path / "no-such-program")], off)
    assert spawned.proc is not None and spawned.started is None
    assert spawned.proc.wait(60) == 0
    exited = shim.read_exited(files)
    assert exited is not None and exited.exit_code == 127
    assert exited.error and "No such file" in exited.error


def test_a_dead_launcher_leaves_shims_to_start_as_interpreters(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    first = _files(tmp_path, "d1")
    spawned = _spawn(first, [sys.executable, "-c", "pass"], launcher)
    assert spawned.proc is None and spawned.started is not None
    _wait_ended(spawned)
    launcher._proc.kill()
    launcher._proc.wait()
    second = _files(tmp_path, "d2")
    proc, started, _ = _spawn(second, [sys.executable, "-c", "print('loss=1')"], launcher)
    assert proc is not None, "the shim should have started as an interpreter of its own"
    assert proc.wait(60) == 0
    assert started is not None and shim.read_exited(second).exit_code == 0
    assert "loss=1" in second.log.read_text()


def test_the_launcher_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shim.LAUNCHER_ENV, "0")
    files = _files(tmp_path, "e")
    proc, started, ended = _spawn(files, [sys.executable, "-c", "pass"], shim._Launcher())
    assert proc is not None and proc.wait(60) == 0 and ended is None
    assert started is not None and shim.read_exited(files).exit_code == 0


def test_the_launcher_runs_a_memory_limited_trial(tmp_path: Path) -> None:
    """The address-space limit is set between fork and exec: the launcher has no other thread
    that a fork could catch holding a lock."""
    files = _files(tmp_path, "m")
    launcher = shim._Launcher()
    old, shim._LAUNCHER = shim._LAUNCHER, launcher
    try:
        code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS))"
        spawned = shim.spawn(
            files,
            [sys.executable, "-c", code],
            str(files.root),
            dict(os.environ),
            5.0,
            5.0,
            memory_limit=1 << 33,
        )
    finally:
        shim._LAUNCHER = old
    assert spawned.proc is None and spawned.started is not None
    assert launcher._proc is not None and spawned.started.shim.pid == launcher._proc.pid
    _wait_ended(spawned)
    assert shim.read_exited(files).exit_code == 0
    assert f"({1 << 33}, {1 << 33})" in files.log.read_text()


def test_the_launcher_exits_when_its_runner_closes_the_socket(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    files = _files(tmp_path, "f")
    spawned = _spawn(files, [sys.executable, "-c", "pass"], launcher)
    assert spawned.started is not None
    _wait_ended(spawned)
    assert launcher._proc is not None and launcher._proc.poll() is None
    launcher._sock.close()
    assert launcher._proc.wait(60) == 0


def test_the_launcher_outlives_its_runner_until_its_trials_end(tmp_path: Path) -> None:
    """The runner gone (its socket closed), a running trial still gets its exit file."""
    launcher = shim._Launcher()
    files = _files(tmp_path, "o")
    gate = tmp_path / "gate"
    code = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)"
    spawned = _spawn(files, [sys.executable, "-c", code], launcher)
    assert spawned.started is not None
    launcher._sock.close()
    assert launcher._proc.poll() is None  # still reaping its trial
    assert not files.exit.exists()
    gate.touch()
    assert launcher._proc.wait(60) == 0
    assert shim.read_exited(files).exit_code == 0
    os.close(spawned.ended)


def test_a_command_is_looked_up_in_the_trials_path(tmp_path: Path) -> None:
    """As execvpe would: the trial's env names the PATH, not the runner's."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "only-here").write_text("#!/bin/sh\necho loss=2\n")
    (tools / "only-here").chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    off = shim._Launcher()
    off._broken = True  # a shim started as an interpreter
    for name, launcher in (("g1", shim._Launcher()), ("g2", off)):
        files = _files(tmp_path, name)
        spawned = _spawn(files, ["only-here"], launcher, env)
        if spawned.proc is not None:
            assert spawned.proc.wait(60) == 0
        else:
            _wait_ended(spawned)
        assert shim.read_exited(files).exit_code == 0
        assert "loss=2" in files.log.read_text()


def test_the_launcher_counts_its_trials_cpu(tmp_path: Path) -> None:
    """It reaps what it starts, so their CPU reaches its parent's children's time (what
    bench/overhead.py counts)."""

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    launcher = shim._Launcher()
    files = _files(tmp_path, "h")
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    before = children_cpu()
    spawned = _spawn(files, [sys.executable, "-c", burn], launcher)
    assert spawned.started is not None
    _wait_ended(spawned)
    launcher._sock.close()
    assert launcher._proc.wait(60) == 0
    assert children_cpu() - before >= 0.3


def test_a_trial_holds_no_pipe_of_the_launcher(tmp_path: Path) -> None:
    """A trial that held an attempt's pipe (its own, or one that arrived while it ran) would
    keep that attempt's runner from seeing it end."""
    launcher = shim._Launcher()
    gate = tmp_path / "gate"
    wait = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)"
    first = _files(tmp_path, "p1")
    running = _spawn(first, [sys.executable, "-c", wait], launcher)
    second = _files(tmp_path, "p2")
    code = "import os; print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))"
    listed = _spawn(second, [sys.executable, "-c", code], launcher)
    _wait_ended(listed)  # while the first runs on
    assert second.log.read_text().strip() == "[0, 1, 2, 3]"  # 3: the listing's own
    gate.touch()
    _wait_ended(running)
    assert shim.read_exited(first).exit_code == 0
