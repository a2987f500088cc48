"""Shims forked by the launcher (one interpreter per runner process) behave as shims started as
interpreters of their own: own session, files written, outliving the process that asked."""

from __future__ import annotations

import os
import select
import signal
import sys
from pathlib import Path

import pytest

from pykatib.runtime import shim
from pykatib.runtime.paths import AttemptFiles


def _files(tmp_path: Path, name: str) -> AttemptFiles:
    files = AttemptFiles(tmp_path / name)
    files.state.mkdir(parents=True)
    return files


def _wait_exit(pid: int) -> None:
    """Until process ``pid`` (not a child of this one) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([fd], [], [], 60)[0], f"process {pid} still runs after 60 s"
    finally:
        os.close(fd)


def _spawn(files: AttemptFiles, argv: list[str], launcher: shim._Launcher):
    old = shim._LAUNCHER
    shim._LAUNCHER = launcher
    try:
        return shim.spawn(files, argv, str(files.root), dict(os.environ), 5.0, 5.0)
    finally:
        shim._LAUNCHER = old


def test_a_forked_shim_runs_its_trial_in_a_session_of_its_own(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    files = _files(tmp_path, "a")
    code = "import os, sys; print('loss=0.5', os.getsid(0)); sys.exit(3)"
    proc, started = _spawn(files, [sys.executable, "-c", code], launcher)
    assert proc is None  # forked by the launcher: not this process's child
    assert started is not None and started.host == shim.HOST
    assert started.shim.pid not in (os.getpid(), launcher._proc.pid)
    _wait_exit(started.shim.pid)
    exited = shim.read_exited(files)
    assert exited is not None and exited.exit_code == 3
    out = files.log.read_text().split()
    assert out[0] == "loss=0.5"
    assert int(out[1]) == started.shim.pid  # the shim leads the session the trial runs in
    assert shim.read_started(files) == started


def test_a_killed_trial_is_told_by_its_signal(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    files = _files(tmp_path, "b")
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    _, started = _spawn(files, [sys.executable, "-c", code], launcher)
    assert started is not None
    _wait_exit(started.shim.pid)
    exited = shim.read_exited(files)
    assert exited is not None and exited.signal == signal.SIGKILL and exited.code is None


def test_an_unstartable_command_is_reported(tmp_path: Path) -> None:
    files = _files(tmp_path, "c")
    _, started = _spawn(files, [str(tmp_path / "no-such-program")], shim._Launcher())
    assert started is not None
    _wait_exit(started.shim.pid)
    exited = shim.read_exited(files)
    assert exited is not None and exited.exit_code == 127
    assert exited.error and "No such file" in exited.error


def test_a_dead_launcher_leaves_shims_to_start_as_interpreters(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    first = _files(tmp_path, "d1")
    proc, started = _spawn(first, [sys.executable, "-c", "pass"], launcher)
    assert proc is None and started is not None
    launcher._proc.kill()
    launcher._proc.wait()
    second = _files(tmp_path, "d2")
    proc, started = _spawn(second, [sys.executable, "-c", "print('loss=1')"], launcher)
    assert proc is not None, "the shim should have started as an interpreter of its own"
    assert proc.wait(60) == 0
    assert started is not None and shim.read_exited(second).exit_code == 0
    assert "loss=1" in second.log.read_text()


def test_the_launcher_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shim.LAUNCHER_ENV, "0")
    files = _files(tmp_path, "e")
    proc, started = _spawn(files, [sys.executable, "-c", "pass"], shim._Launcher())
    assert proc is not None and proc.wait(60) == 0
    assert started is not None and shim.read_exited(files).exit_code == 0


def test_the_launcher_exits_when_its_runner_closes_the_socket(tmp_path: Path) -> None:
    launcher = shim._Launcher()
    files = _files(tmp_path, "f")
    _, started = _spawn(files, [sys.executable, "-c", "pass"], launcher)
    assert started is not None
    assert launcher._proc is not None and launcher._proc.poll() is None
    launcher._sock.close()
    assert launcher._proc.wait(60) == 0


def test_a_command_is_looked_up_in_the_trials_path(tmp_path: Path) -> None:
    """As execvpe would: the trial's env names the PATH, not the runner's."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "only-here").write_text("#!/bin/sh\necho loss=2\n")
    (tools / "only-here").chmod(0o755)
    files = _files(tmp_path, "g")
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    _, started = shim.spawn(files, ["only-here"], str(files.root), env, 5.0, 5.0)
    assert started is not None
    _wait_exit(started.shim.pid)
    assert shim.read_exited(files).exit_code == 0
    assert "loss=2" in files.log.read_text()


def test_the_launcher_counts_its_shims_cpu(tmp_path: Path) -> None:
    """It reaps its shims, so their CPU (and their trials') reaches its parent's children's
    time: what bench/overhead.py counts as pykatib's."""
    import resource

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    launcher = shim._Launcher()
    files = _files(tmp_path, "h")
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    before = children_cpu()
    _, started = _spawn(files, [sys.executable, "-c", burn], launcher)
    assert started is not None
    _wait_exit(started.shim.pid)
    launcher._sock.close()
    assert launcher._proc.wait(60) == 0
    assert children_cpu() - before >= 0.3
