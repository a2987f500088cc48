"""The CLI against a server (``--server URL``): every command prints what it prints locally.

A real ``pykatib server`` (on 127.0.0.1, SQLite) runs the experiments with real trial processes;
``pykatib --server URL run -f`` is a real process following it. Each read command is then given
twice, in this process (click's runner, for speed): once with ``--server`` and once with ``--db``
on the server's own database and ``$PYKATIB_HOME`` (the same state, read locally), and the two
outputs must be the same, ages aside (and, in tables of trials, the order of trials created in
the same second: the API lists by name, the local store by creation).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pykatib_cli import experiment, write

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from pykatib_server import BASE, Server, free_port, start_server

from pykatib.cli.main import cli

WAIT_SECONDS = 60
RETRY_NOTE = "[pykatib] attempt 2 (backoffLimit 1)\n"  # pykatib's line atop a retry's log


@pytest.fixture(autouse=True)
def _no_server_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYKATIB_SERVER", raising=False)
    monkeypatch.delenv("PYKATIB_TOKEN", raising=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = start_server(tmp_path, f"sqlite:///{tmp_path / 'server.db'}")
    yield s
    s.stop()


def cli_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


_AGE = re.compile(r"(?<![\w.:-])\d+[smhd](?![\w.:-])")


def normalised(text: str) -> list[str]:
    """Ages as AGE and runs of spaces as one (a column's width follows its widest age)."""
    return [re.sub(r"[ \t]+", " ", _AGE.sub("AGE", line)).strip() for line in text.splitlines()]


def same(server: Server, *args: str, rows_any_order: bool = False) -> tuple[int, str, str]:
    """The command's exit code, stdout and stderr against the server, after checking that they
    are those of the same command on the server's database and home, read locally."""
    remote = invoke("--server", server.url, *args)
    local = invoke("--db", server.db, *args)
    assert remote[0] == local[0], (args, remote, local)
    for r, loc in zip(remote[1:], local[1:]):
        r_lines, l_lines = normalised(r), normalised(loc)
        if rows_any_order:  # the header, then the rows
            r_lines, l_lines = r_lines[:1] + sorted(r_lines[1:]), l_lines[:1] + sorted(l_lines[1:])
        assert r_lines == l_lines, (args, r, loc)
    return remote


def same_objects(server: Server, *args: str) -> Any:
    """``-o json`` or ``-o yaml`` of both, parsed: the same objects (a List's by name)."""
    code, text, _ = invoke("--server", server.url, *args)
    local_code, local_text, _ = invoke("--db", server.db, *args)
    assert code == local_code == 0, (args, text, local_text)
    remote, local = yaml.safe_load(text), yaml.safe_load(local_text)
    for data in (remote, local):
        if data.get("kind") == "List":
            data["items"].sort(key=lambda o: o["metadata"]["name"])
    assert remote == local
    return remote


def test_every_command_prints_what_it_prints_locally(server: Server, tmp_path: Path) -> None:
    # The trial is a script beside the file, named by a relative path: run -f sends the file's
    # folder, where the server (on this machine) runs the trials, as a local run does.
    (tmp_path / "trial.py").write_text("import sys\nprint('loss=' + sys.argv[1])\n")
    data = experiment("remote", maxTrialCount=3, parallelTrialCount=2)
    _container(data)["command"] = [sys.executable, "trial.py", "${trialParameters.lr}"]
    path = write(tmp_path / "exp.yaml", data)
    ran = cli_process("--server", server.url, "run", "-f", str(path))
    assert ran.returncode == 0, ran.stderr
    assert "experiment.kubeflow.org/remote created" in ran.stderr
    exp = same_objects(server, "get", "experiment", "remote", "-o", "json")
    best = exp["status"]["currentOptimalTrial"]["bestTrialName"]
    assert "default/remote: Succeeded (ExperimentMaxTrialsReached" in ran.stdout
    assert f"Best trial: {best}" in ran.stdout
    assert "Traceback" not in ran.stderr

    # The server ran it: no local control plane, the trials' folders are the server's.
    trials = same_objects(server, "get", "trials", "-e", "remote", "-o", "yaml")["items"]
    assert len(trials) == 3
    assert same_objects(server, "get", "trial", best, "-o", "json")["metadata"]["name"] == best
    same_objects(server, "get", "experiments", "-o", "yaml")
    same_objects(server, "get", "suggestion", "remote", "-o", "yaml")

    code, out, _ = same(server, "get", "experiments")
    assert code == 0 and out.split()[8:10] == ["remote", "Succeeded"]
    same(server, "get", "experiments", "-o", "wide")
    same(server, "get", "experiments", "-A")
    same(server, "get", "experiment", "remote")
    code, out, _ = same(server, "get", "trials", "-e", "remote", rows_any_order=True)
    assert code == 0 and best in out
    same(server, "get", "trials", "-o", "wide", rows_any_order=True)
    same(server, "get", "trials", "-A", rows_any_order=True)
    same(server, "get", "suggestions")
    same(server, "get", "suggestions", "-o", "wide")
    for kind, name in (("experiment", "remote"), ("trial", best), ("suggestion", "remote")):
        code, out, _ = same(server, "describe", kind, name)
        assert code == 0 and f"Name: {name}" in normalised(out) and "Events:" in out
    code, out, _ = same(server, "get", "metrics", best)
    assert code == 0 and "loss" in out
    code, out, _ = same(server, "get", "metrics", best, "-o", "json")
    assert json.loads(out)["metricLogs"][0]["metricName"] == "loss"

    # Logs: the latest attempt's, a chosen one's, every one's, followed to the trial's end.
    lr = next(a["value"] for a in exp["status"]["currentOptimalTrial"]["parameterAssignments"])
    for args in ([], ["--attempt", "1"], ["--all-attempts"], ["-f"]):
        code, out, _ = same(server, "logs", best, *args)
        assert code == 0 and f"loss={lr}" in out
    code, _, err = same(server, "logs", best, "--attempt", "2")
    assert code == 1 and f'trial "{best}" has no attempt 2 (attempts: 1)' in err

    # What is not there, as locally: the namespace that has it named.
    code, _, err = same(server, "get", "experiment", "nope")
    assert code == 1 and 'experiment "nope" not found in namespace "default"' in err
    code, _, err = same(server, "describe", "experiment", "remote", "-n", "kubeflow")
    assert code == 1 and "it exists in namespace default: add -n default" in err
    for args in (["get", "metrics", "nope"], ["logs", "nope"], ["delete", "experiment", "nope"]):
        code, _, err = same(server, *args)
        assert code == 1 and ('trial "nope"' in err or 'experiment "nope"' in err), err
    code, _, err = same(server, "get", "experiments", "-n", "empty")
    assert code == 0 and err.strip() == "No resources found in empty namespace."

    # apply: unchanged; a change Katib's rules refuse is refused with the same errors (exit 2).
    code, out, _ = same(server, "apply", "-f", str(path))
    assert code == 0 and out.strip() == "experiment.kubeflow.org/remote unchanged"
    data["spec"]["objective"]["type"] = "maximize"
    bad = write(tmp_path / "bad.yaml", data)
    code, _, err = same(server, "apply", "-f", str(bad))
    assert code == 2 and "spec.objective: cannot be changed" in err
    code, _, err = same(server, "run", "-f", str(bad))
    assert code == 2 and "spec.objective: cannot be changed" in err

    # run of a finished experiment: resumed, and its result at once, as locally.
    again = cli_process("--server", server.url, "run", "-f", str(path))
    local = cli_process("--db", server.db, "run", "-f", str(path))
    assert again.returncode == local.returncode == 0
    assert again.stdout == local.stdout and "experiment.kubeflow.org/remote resumed" in again.stderr

    # apply creates; run follows; a raised budget restarts it (LongRunning), and run follows
    # the restart to its new end; delete deletes: all in the server's store.
    def other(max_trials: int) -> dict[str, Any]:
        return experiment("other", "team", maxTrialCount=max_trials, resumePolicy="LongRunning")

    other_path = write(tmp_path / "other.yaml", other(1))
    code, out, _ = invoke("--server", server.url, "apply", "-f", str(other_path))
    assert code == 0 and out.strip() == "experiment.kubeflow.org/other created"
    ran = cli_process("run", "-f", str(other_path), "--server", server.url)
    assert ran.returncode == 0 and "team/other: Succeeded" in ran.stdout
    assert "trials: 1 (succeeded 1" in ran.stdout
    write(other_path, other(2))
    ran = cli_process("run", "-f", str(other_path), "--server", server.url)
    assert ran.returncode == 0, ran.stderr
    assert "experiment.kubeflow.org/other configured" in ran.stderr
    assert "team/other: Succeeded" in ran.stdout and "trials: 2 (succeeded 2" in ran.stdout
    code, out, _ = invoke("delete", "experiment", "other", "-n", "team", "--server", server.url)
    assert code == 0 and out.strip() == 'experiment.kubeflow.org "other" deleted'
    with server.client() as http:
        assert http.get(f"{BASE}/namespaces/team/experiments/other").status_code == 404


def test_run_follows_each_experiment_to_its_end(server: Server, tmp_path: Path) -> None:
    """Two experiments in two namespaces, one that fails: run follows both, prints both
    results as a local run does, and exits 1; logs -f follows a trial into its retry."""
    failing = experiment("fails", namespace="team", maxTrialCount=2, maxFailedTrialCount=1)
    _container(failing)["command"] = [
        sys.executable,
        "-c",
        "raise SystemExit(3)",
        "${trialParameters.lr}",
    ]
    path = write(tmp_path / "two.yaml", experiment("works", maxTrialCount=1), failing)
    ran = cli_process("--server", server.url, "run", "-f", str(path))
    assert ran.returncode == 1, ran.stderr
    assert "default/works: Succeeded" in ran.stdout and "team/fails: Failed" in ran.stdout
    local = cli_process("--db", server.db, "run", "-f", str(path))
    assert local.returncode == 1 and local.stdout == ran.stdout

    # A trial whose first attempt fails (backoffLimit 1): `logs -f` shows both attempts.
    marker, go = tmp_path / "first-done", tmp_path / "go"
    script = (
        "import pathlib, sys, time\n"
        "marker, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
        "if not marker.exists():\n"
        "    print('first attempt', flush=True)\n"
        "    marker.touch()\n"
        "    while not go.exists():\n"  # the test's go-ahead, once it follows the log
        "        time.sleep(0.02)\n"
        "    sys.exit(1)\n"
        "print('second attempt')\n"
        "print('loss=0.5')\n"
    )
    retried = experiment("retried", maxTrialCount=1)
    job = retried["spec"]["trialTemplate"]["trialSpec"]["spec"]
    job["backoffLimit"] = 1
    _container(retried)["command"] = [
        sys.executable,
        "-c",
        script,
        str(marker),
        str(go),
        "${trialParameters.lr}",
    ]
    path = write(tmp_path / "retried.yaml", retried)
    runner = subprocess.Popen(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-q", "-f", str(path)],
        env={**server.env, "PYKATIB_SERVER": server.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    follower = None
    try:
        with server.client() as http:
            trial = _first_trial_running(http, runner)
        follower = subprocess.Popen(
            [sys.executable, "-m", "pykatib.cli.main", "logs", "-f", trial],
            env={**server.env, "PYKATIB_SERVER": server.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follower.stdout is not None
        assert follower.stdout.readline() == "first attempt\n"  # it follows attempt 1
        go.touch()
        out, err = follower.communicate(timeout=WAIT_SECONDS)
        assert follower.returncode == 0, err
        second = "second attempt\nloss=0.5\n"
        assert out == f"==> attempt 2 <==\n{RETRY_NOTE}{second}"
        out, err = runner.communicate(timeout=WAIT_SECONDS)
        assert runner.returncode == 0, err
        assert "default/retried: Succeeded" in out
    finally:
        for proc in (runner, follower):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    code, out, _ = same(server, "logs", trial, "--all-attempts")
    assert code == 0
    assert out == f"==> attempt 1 <==\nfirst attempt\n==> attempt 2 <==\n{RETRY_NOTE}{second}"
    assert same(server, "logs", trial, "--attempt", "1")[1] == "first attempt\n"


def _container(exp: dict[str, Any]) -> dict[str, Any]:
    """The experiment's trial container."""
    job = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]
    return job["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def _first_trial_running(http: Any, runner: subprocess.Popen[str]) -> str:
    """The name of experiment "retried"'s trial, once its first attempt is running: read from
    the server's watch stream of trials."""
    params = {"watch": "true", "labelSelector": "katib.kubeflow.org/experiment=retried"}
    params["timeoutSeconds"] = str(WAIT_SECONDS)
    with http.stream("GET", f"{BASE}/namespaces/default/trials", params=params) as events:
        for line in events.iter_lines():
            trial = json.loads(line)["object"]
            running = [c for c in trial["status"].get("conditions") or [] if c["type"] == "Running"]
            if running and running[-1]["status"] == "True":
                return str(trial["metadata"]["name"])
    raise AssertionError(f"no trial ran: {runner.poll()}")


def test_tokens_and_unreachable_servers_are_clear_errors(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("admin-secret\nteam-secret team\n")
    server = start_server(tmp_path, f"sqlite:///{tmp_path / 's.db'}", token_file=tokens)
    try:
        refused = cli_process("--server", server.url, "get", "experiments")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert "401 Unauthorized" in refused.stderr and "--token" in refused.stderr
        wrong = cli_process("get", "experiments", "--server", server.url, "--token", "nope")
        assert wrong.returncode == 1 and "401 Unauthorized" in wrong.stderr
        scoped = ("--server", server.url, "--token", "team-secret")
        forbidden = cli_process(*scoped, "get", "experiments", "-n", "default")
        assert forbidden.returncode == 1 and "Traceback" not in forbidden.stderr
        assert "403 Forbidden" in forbidden.stderr and "-n" in forbidden.stderr
        allowed = cli_process(*scoped, "get", "experiments", "-n", "team")
        assert allowed.returncode == 0 and "No resources found in team namespace." in allowed.stderr
        code, _, err = invoke(*scoped, "describe", "experiment", "x", "-n", "team")
        assert code == 1 and 'experiment "x" not found in namespace "team"' in err
    finally:
        server.stop()
    gone = cli_process("get", "experiments", "--server", server.url)
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert f"cannot reach the pykatib server at {server.url}" in gone.stderr
    assert "--server" in gone.stderr and "PYKATIB_SERVER" in gone.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["server"], "`pykatib server` does not take --server"),
        (["db", "upgrade"], "`pykatib db upgrade` does not take --server"),
        (["--db", "sqlite://", "get", "experiments"], "--db and --server exclude each other"),
    ],
)
def test_commands_that_work_locally_only_refuse_a_server(args: list[str], message: str) -> None:
    code, _, err = invoke("--server", f"http://127.0.0.1:{free_port()}", *args)
    assert code == 2 and message in err


def test_a_server_from_the_environment_is_named_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYKATIB_SERVER", "127.0.0.1:8080")
    code, _, err = invoke("get", "experiments")
    assert code == 2 and "PYKATIB_SERVER must be the URL of a pykatib server" in err
    code, _, err = invoke("db", "upgrade")
    assert code == 2 and "unset PYKATIB_SERVER" in err
