"""Katib's own Python SDK (``kubeflow-katib``), unchanged, against ``pykatib server``.

The SDK runs in a virtualenv of its own (``pip install kubeflow-katib "kubernetes<36"``: it
breaks with the kubernetes client 36 and later), built once and cached under
``~/.cache/pykatib-tests/`` (``$XDG_CACHE_HOME`` if set), keyed by the requirements and the
Python version; a machine where pip can't install them skips these tests, naming what is
missing. Each test starts ``pykatib server`` on a free port of 127.0.0.1 with a fresh
``PYKATIB_HOME``, writes a kubeconfig pointing at it, and runs ``sdk_flow.py`` in that
virtualenv; the script prints what each SDK call returned as JSON, which is compared here
with what the server's store holds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databases import KINDS, empty_database
from pykatib_server import Server, free_port, start_server

from pykatib.api.errors import NotFoundError
from pykatib.store import Store

pytest.importorskip("fastapi")
pytest.importorskip("grpc")

REQUIREMENTS = ("kubeflow-katib", "kubernetes<36")
FLOW = Path(__file__).with_name("sdk_flow.py")
NAMESPACE = "katib-sdk"
PIP_TIMEOUT = 600
# The first test also builds the virtualenv (about 20 s here; pip may take longer elsewhere).
pytestmark = pytest.mark.timeout(PIP_TIMEOUT + 300)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pykatib-tests"


def _venv_key() -> str:
    text = json.dumps([REQUIREMENTS, sys.version_info[:2], sys.platform])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _works(venv: Path) -> bool:
    """Whether a cached virtualenv still runs (its base interpreter may have moved)."""
    try:
        check = subprocess.run(
            [str(_venv_python(venv)), "-c", "import kubeflow.katib, kubernetes"],
            capture_output=True,
            check=False,
        )
    except OSError:
        return False
    return check.returncode == 0


def build_venv() -> Path:
    """The virtualenv with the Katib SDK (built on first use, under a lock); skips the test
    when pip can't install the SDK here."""
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"katib-sdk-venv-{_venv_key()}"
    done = venv / ".complete"
    with (root / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be building it
        if done.exists() and _works(venv):
            return venv
        building = root / f"{venv.name}.building"
        shutil.rmtree(building, ignore_errors=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(building)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            pytest.skip(
                f"python -m venv failed, so the Katib SDK can't be installed:\n{made.stderr}"
            )
        pip = subprocess.run(
            [
                str(_venv_python(building)),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                *REQUIREMENTS,
            ],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            check=False,
        )
        if pip.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            pytest.skip(
                f"pip could not install {' and '.join(REQUIREMENTS)} (the official Katib SDK, "
                f"package kubeflow-katib) here:\n{pip.stderr[-2000:]}"
            )
        # Only its python is run (it finds its environment beside it), so the folder may move.
        shutil.rmtree(venv, ignore_errors=True)
        building.rename(venv)
        done.write_text(json.dumps(REQUIREMENTS))
    return venv


@pytest.fixture(scope="session")
def katib_python() -> Path:
    """The Python of the Katib SDK's virtualenv."""
    return _venv_python(build_venv())


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from empty_database(request.param, tmp_path / "server.db")


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[tuple[Server, str]]:
    """The server with Katib's DB manager (gRPC) beside it; yields it and that address."""
    db_manager = f"127.0.0.1:{free_port()}"
    s = start_server(tmp_path, db_url, extra_args=("--db-manager-port", db_manager.split(":")[1]))
    yield s, db_manager
    s.stop()


def sdk(katib_python: Path, server: Server, tmp_path: Path, **args: Any) -> dict[str, Any]:
    """Run one phase of ``sdk_flow.py`` with the Katib SDK; what its calls returned."""
    args = {"kubeconfig": str(server.kubeconfig), "namespace": NAMESPACE, **args}
    args_file = tmp_path / f"sdk-{args['phase']}-{args['name']}.json"
    args_file.write_text(json.dumps(args))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYKATIB_", "KUBE")) and k.lower() not in ("http_proxy", "https_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    proc = subprocess.run(
        [str(katib_python), str(FLOW), str(args_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    errors = {k: v for k, v in out.items() if isinstance(v, dict) and "error" in v}
    assert not errors, "\n".join(f"{k}: {v.get('trace') or v}" for k, v in errors.items())
    return out


def by_name(metrics: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in metrics}


def test_official_sdk_flow(katib_python: Path, server: tuple[Server, str], tmp_path: Path) -> None:
    srv, db_manager = server
    name = "katib-sdk-flow"
    common = {"name": name, "python": sys.executable, "db_manager": db_manager}
    out = sdk(katib_python, srv, tmp_path, phase="run", **common)

    store = Store(srv.db)
    try:
        exp = store.get_experiment(NAMESPACE, name)
        trials = store.list_trials(NAMESPACE, name)
        optimal = exp.status.current_optimal_trial
        assert optimal is not None and exp.status.trials_succeeded == 3
        assert out["is_experiment_created"] and out["is_experiment_succeeded"]
        assert [c["type"] for c in out["get_experiment_conditions"]][-1] == "Succeeded"
        assert out["list_experiments"] == [name]

        # The optimal trial the SDK reads is the store's, with its parameters and metrics.
        sdk_optimal = out["get_optimal_hyperparameters"]
        assert sdk_optimal["best_trial_name"] == optimal.best_trial_name == out["best_trial_name"]
        assert sdk_optimal["parameter_assignments"] == [
            {"name": a.name, "value": a.value} for a in optimal.parameter_assignments
        ]
        stored_metrics = {m.name: m.min for m in optimal.observation.metrics}
        assert {m["name"]: m["min"] for m in sdk_optimal["observation"]["metrics"]} == (
            stored_metrics
        )
        # ... and the best of the trials the SDK lists, by their own metrics.
        listed = out["list_trials"]
        assert sorted(t["metadata"]["name"] for t in listed) == sorted(t.name for t in trials)
        losses = {
            t["metadata"]["name"]: float(
                by_name(t["status"]["observation"]["metrics"])["loss"]["min"]
            )
            for t in listed
        }
        assert min(losses, key=losses.__getitem__) == optimal.best_trial_name
        details = out["get_success_trial_details"]
        assert sorted(d["name"] for d in details) == sorted(losses)
        assert out["get_suggestion"]["status"]["suggestion_count"] == 3
        assert out["get_trial"]["metadata"]["name"] == optimal.best_trial_name

        # get_trial_metrics (gRPC, Katib's DB manager): the stored observation log.
        points = store.list_observations(NAMESPACE, optimal.best_trial_name)
        assert [(m["name"], m["value"]) for m in out["get_trial_metrics"]] == [
            (p.metric_name, p.value) for p in points
        ]
        assert {m["name"] for m in out["get_trial_metrics"]} == {"loss", "lr"}
        # get_job_logs: the trial's output, through its pod.
        lr = next(a.value for a in optimal.parameter_assignments if a.name == "lr")
        assert f"lr={float(lr)}" in out["get_job_logs"]
        assert any(line.startswith("loss=") for line in out["get_job_logs"])
    finally:
        store.close()

    out = sdk(katib_python, srv, tmp_path, phase="restart", **common)
    after = out["after_restart"]
    assert after["spec"]["max_trial_count"] == 5 and after["status"]["trials_succeeded"] == 5
    assert len(out["list_trials_after_restart"]) == 5
    assert set(out["list_trials_after_restart"]) >= set(losses)
    assert out["get_after_delete"].startswith("RuntimeError: Failed to get Katib Experiment")
    store = Store(srv.db)
    try:
        with pytest.raises(NotFoundError):
            store.get_experiment(NAMESPACE, name)
        assert store.list_trials(NAMESPACE, name) == []
    finally:
        store.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_katib_report_metrics(
    katib_python: Path, server: tuple[Server, str], tmp_path: Path
) -> None:
    """Push trials reporting with Katib's ``report_metrics`` (gRPC ReportObservationLog)."""
    srv, db_manager = server
    name = "katib-sdk-push"
    out = sdk(
        katib_python,
        srv,
        tmp_path,
        phase="push",
        name=name,
        python=str(katib_python),
        db_manager=db_manager,
    )
    store = Store(srv.db)
    try:
        exp = store.get_experiment(NAMESPACE, name)
        assert exp.status.trials_succeeded == 2
        logs = out["get_trial_metrics"]
        assert sorted(logs) == sorted(t.name for t in store.list_trials(NAMESPACE, name))
        for trial, entries in logs.items():
            stored = store.list_observations(NAMESPACE, trial)
            assert [(e["name"], e["value"]) for e in entries] == [
                (p.metric_name, p.value) for p in stored
            ]
            assert len(entries) == 3  # one per epoch, each stored before report_metrics returned
            values = [float(e["value"]) for e in entries]
            assert values == sorted(values, reverse=True)  # loss falls with each epoch
        best = out["get_optimal_hyperparameters"]["best_trial_name"]
        assert best == exp.status.current_optimal_trial.best_trial_name
    finally:
        store.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_katib_get_job_logs_follows_a_running_trial(
    katib_python: Path, server: tuple[Server, str], tmp_path: Path
) -> None:
    """``get_job_logs(..., follow=True)``: the running trial's first line arrives while it runs
    (the trial waits for the follower to have read it), the rest as it comes, and the call
    ends when the trial does, its last line included."""
    srv, db_manager = server
    gate = tmp_path / "gate"
    out = sdk(
        katib_python,
        srv,
        tmp_path,
        phase="follow",
        name="katib-sdk-follow",
        python=sys.executable,
        db_manager=db_manager,
        gate=str(gate),
    )
    assert out["phase_when_following"] == "Running"
    assert gate.exists()  # opened by the follower, on reading the first line
    assert out["follow"] == ["waiting for the gate", "gate open", "loss=0.5"]
    assert "Succeeded" in out["trial_when_followed"]  # the stream ended with the trial
