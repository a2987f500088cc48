"""The server's control plane: it holds the lease of what it drives (a ``pykatib run`` of the
same experiment follows it), and SIGTERM stops its trials, leaving them resumable."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import yaml
from pykatib_server import BASE, Server, start_server
from test_api import experiment

from pykatib.store import Store


def running_processes(marker: str) -> list[int]:
    """Pids of this machine's processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for_processes(marker: str, timeout: float = 30) -> list[int]:
    """The pids of ``marker``'s processes, once there are any (AssertionError after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not (found := running_processes(marker)):
        assert time.monotonic() < deadline, f"no process with {marker} in its command line"
        time.sleep(0.05)
    return found


def wait_until_running(server: Server, experiment_name: str) -> None:
    deadline = time.monotonic() + 30
    with server.client() as c:
        while True:
            trials = c.get(
                f"{BASE}/namespaces/default/trials",
                params={"labelSelector": f"katib.kubeflow.org/experiment={experiment_name}"},
            ).json()["items"]
            conditions = [c for t in trials for c in t["status"].get("conditions", [])]
            if any(c["type"] == "Running" and c["status"] == "True" for c in conditions):
                return
            assert time.monotonic() < deadline, trials
            time.sleep(0.05)


def test_lease_and_graceful_stop(tmp_path: Path, sqlite_url: str) -> None:
    server = start_server(tmp_path, sqlite_url)
    marker = f"pykatib-test-{uuid.uuid4().hex}"
    exp = experiment("held", trials=3)
    container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    container["containers"][0]["command"].append(marker)
    try:
        with server.client() as c:
            assert c.post(f"{BASE}/namespaces/default/experiments", json=exp).status_code == 201
        wait_until_running(server, "held")
        # Running is set once the trial's shim has started; its command may exec a moment later.
        wait_for_processes(marker)

        # Another control plane on the same database follows; it does not drive it too.
        path = tmp_path / "held.yaml"
        path.write_text(yaml.safe_dump(exp))
        follower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pykatib.cli.main",
                "--db",
                sqlite_url,
                "run",
                "-q",
                "-f",
                str(path),
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=server.env,
        )
        try:
            assert follower.stderr is not None
            for line in follower.stderr:
                if "is driven by" in line:
                    assert f"pid {server.proc.pid}" in line, line
                    break
            else:
                raise AssertionError("the second control plane did not follow")
        finally:
            follower.send_signal(signal.SIGINT)
            follower.wait(30)
        assert running_processes(marker)  # following stops nothing
    finally:
        code = server.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM)
    assert running_processes(marker) == []
    store = Store(sqlite_url)
    try:
        assert store.get_lease("default", "held") is None
        [trial] = store.list_trials("default", "held")
        assert [c.type for c in trial.status.conditions or []] == ["Created"]  # Pending again
    finally:
        store.close()
