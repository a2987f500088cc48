"""Reporting observations over the network (Katib DB manager's ReportObservationLog): the
HTTP ``POST .../trials/NAME/observationlog``, ``pykatib.report_metrics`` with
``PYKATIB_SERVER``, and the DB manager's gRPC service, against a real server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import experiment_doc
from pykatib_server import BASE, Server, free_port, start_server
from test_api import is_status

from pykatib.metrics import push
from pykatib.store import Store

grpc = pytest.importorskip("grpc")

EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"

# The trial's work "runs elsewhere": it has no report file, only the server's address.
REMOTE_TRIAL = """
import os, sys
for name in ("PYKATIB_METRICS_FILE", "PYKATIB_METRICS_ACK", "PYKATIB_METRICS_BELL"):
    os.environ.pop(name, None)
import pykatib
lr = float(sys.argv[1])
for epoch in range(3):
    pykatib.report_metrics({"loss": (lr - 0.03) ** 2 + 1 / (epoch + 1), "accuracy": epoch / 10})
pykatib.report_metrics({"not-a-metric-of-the-experiment": 1})
print("reported")
"""
# A trial that runs until the test writes to the FIFO named by its second argument.
BLOCKED_TRIAL = "import sys; open(sys.argv[2]).read()"


def push_experiment(
    name: str, code: str, args: list[str], env: dict[str, str], trials: int = 2, **spec: Any
) -> dict[str, Any]:
    return experiment_doc(
        code,
        name=name,
        container="main",
        args=args,
        env=[{"name": k, "value": v} for k, v in env.items()],
        objective={
            "type": "minimize",
            "objectiveMetricName": "loss",
            "additionalMetricNames": ["accuracy"],
        },
        **{
            "maxTrialCount": trials,
            "parallelTrialCount": trials,
            "metricsCollectorSpec": {"collector": {"kind": "Push"}},
            **spec,
        },
    )


def log_url(trial: str, namespace: str = "default") -> str:
    return f"{BASE}/namespaces/{namespace}/trials/{trial}/observationlog"


def wait_for(c: httpx.Client, path: str, done: Any, seconds: float = 60) -> Any:
    """Poll ``path`` until ``done(body)`` holds (the server's state, not a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while True:
        body = c.get(path).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def trials_of(c: httpx.Client, experiment: str, count: int) -> list[dict[str, Any]]:
    path = f"{BASE}/namespaces/default/trials?labelSelector={EXPERIMENT_LABEL}={experiment}"
    return wait_for(c, path, lambda b: len(b.get("items", [])) >= count)["items"]


def succeeded(body: dict[str, Any]) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Succeeded" and c["status"] == "True" for c in conditions)


def test_report_metrics_from_elsewhere(server: Server) -> None:
    """Trials whose work reports with ``pykatib.report_metrics`` over HTTP: each report is
    stored before the call returns, numbered by the server, and counts for the trial."""
    env = {"PYKATIB_SERVER": server.url, "PYKATIB_TRIAL_NAMESPACE": "default"}
    exp = push_experiment("remote", REMOTE_TRIAL, ["${trialParameters.lr}"], env)
    with server.client() as c:
        assert c.post(f"{BASE}/namespaces/default/experiments", json=exp).status_code == 201
        done = wait_for(c, f"{BASE}/namespaces/default/experiments/remote", succeeded)
        assert done["status"]["trialsSucceeded"] == 2
        trials = trials_of(c, "remote", 2)
        for trial in trials:
            logs = c.get(log_url(trial["metadata"]["name"])).json()["metricLogs"]
            by_metric: dict[str, list[tuple[int, float]]] = {}
            for entry in logs:
                by_metric.setdefault(entry["metric"]["name"], []).append(
                    (entry["step"], float(entry["metric"]["value"]))
                )
            # The metric the experiment does not name was left out; steps numbered per metric.
            assert sorted(by_metric) == ["accuracy", "loss"]
            assert [s for s, _ in by_metric["loss"]] == [0, 1, 2]
            assert [v for _, v in by_metric["accuracy"]] == [0.0, 0.1, 0.2]
            metrics = {m["name"]: m for m in trial["status"]["observation"]["metrics"]}
            assert float(metrics["loss"]["min"]) == min(v for _, v in by_metric["loss"])
            assert float(metrics["loss"]["latest"]) == by_metric["loss"][-1][1]
        best = min(
            trials,
            key=lambda t: next(
                float(m["min"])
                for m in t["status"]["observation"]["metrics"]
                if m["name"] == "loss"
            ),
        )
        assert done["status"]["currentOptimalTrial"]["bestTrialName"] == best["metadata"]["name"]

        # Refused reports: Status bodies, and nothing stored.
        name = best["metadata"]["name"]
        before = c.get(log_url(name)).json()
        report = {"metricLogs": [{"metric": {"name": "loss", "value": "0.1"}}]}
        body = is_status(c.post(log_url(name), json=report), 409, "Conflict")
        assert "has ended (Succeeded)" in body["message"]
        body = is_status(c.post(log_url("nope"), json=report), 404, "NotFound")
        assert body["message"] == 'trials.kubeflow.org "nope" not found'
        is_status(c.post(log_url(name), content=b"{not json"), 400, "BadRequest")
        body = is_status(c.post(log_url(name), json={}), 422, "Invalid")
        assert [c["field"] for c in body["details"]["causes"]] == ["metricLogs"]
        bad = {
            "metricLogs": [
                {"metric": {"name": "", "value": "x"}, "timeStamp": "yesterday", "step": -1},
                "loss=0.1",
                {"metric": {"name": "loss", "value": True}},
            ]
        }
        body = is_status(c.post(log_url(name), json=bad), 422, "Invalid")
        assert [c["field"] for c in body["details"]["causes"]] == [
            "metricLogs[0].metric.name",
            "metricLogs[0].metric.value",
            "metricLogs[0].timeStamp",
            "metricLogs[0].step",
            "metricLogs[1]",
            "metricLogs[2].metric.value",
        ]
        assert c.get(log_url(name)).json() == before

        # A trial whose collector is not Push takes no reports.
        stdout = push_experiment("stdout", "print('loss=1')", ["${trialParameters.lr}"], {}, 1)
        del stdout["spec"]["metricsCollectorSpec"]
        assert c.post(f"{BASE}/namespaces/default/experiments", json=stdout).status_code == 201
        [trial] = trials_of(c, "stdout", 1)
        body = is_status(c.post(log_url(trial["metadata"]["name"]), json=report), 409, "Conflict")
        assert "StdOut collector" in body["message"]


def test_reports_to_a_running_trial(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports over HTTP and gRPC to a running trial, with tokens and scopes: a 201 means
    stored; 401, 403 and refused calls store nothing."""
    tokens = tmp_path / "tokens"
    tokens.write_text("admin-secret\nother-secret other\n")
    grpc_port = free_port()
    server = start_server(
        tmp_path,
        sqlite_url,
        token="admin-secret",
        token_file=tokens,
        extra_args=("--db-manager-port", str(grpc_port)),
    )
    fifo = tmp_path / "release"
    os.mkfifo(fifo)
    released = threading.Event()

    def release() -> None:  # lets the trial end (it reads the FIFO until a writer closes it)
        if not released.is_set():
            released.set()
            with fifo.open("w") as f:
                f.write("go")

    exp = push_experiment("held", BLOCKED_TRIAL, ["${trialParameters.lr}", str(fifo)], {}, 1)
    try:
        with server.client() as c, server.client(token="") as anonymous:
            assert c.post(f"{BASE}/namespaces/default/experiments", json=exp).status_code == 201
            [trial] = trials_of(c, "held", 1)
            name = trial["metadata"]["name"]
            report = {
                "metricLogs": [
                    {
                        "timeStamp": "2024-03-04T17:55:08.5Z",
                        "metric": {"name": "loss", "value": 0.25},
                        "step": 7,
                    },
                    {"metric": {"name": "accuracy", "value": "0.9"}},
                    {"metric": {"name": "latency", "value": "3"}},
                ]
            }
            response = c.post(log_url(name), json=report)
            assert response.status_code == 201, response.text
            assert "latency" in response.headers["Warning"]
            assert [e["metric"] for e in response.json()["metricLogs"]] == [
                {"name": "loss", "value": "0.25"},
                {"name": "accuracy", "value": "0.9"},
            ]
            # Stored before the answer: read at once, no waiting.
            logs = c.get(log_url(name)).json()["metricLogs"]
            assert logs[0] == {
                "timeStamp": "2024-03-04T17:55:08.500000Z",
                "metric": {"name": "loss", "value": "0.25"},
                "step": 7,
            }
            assert [(e["metric"]["name"], e["step"]) for e in logs] == [
                ("loss", 7),
                ("accuracy", 0),
            ]
            stored = c.get(f"{BASE}/namespaces/default/trials/{name}").json()
            metrics = {m["name"]: m for m in stored["status"]["observation"]["metrics"]}
            assert metrics["loss"]["latest"] == "0.25" and metrics["accuracy"]["max"] == "0.9"

            # Tokens and scopes: refused before anything is read or written.
            is_status(anonymous.post(log_url(name), json=report), 401, "Unauthorized")
            with server.client("other-secret") as other:
                is_status(other.post(log_url(name), json=report), 403, "Forbidden")
                is_status(other.get(log_url(name)), 403, "Forbidden")
            assert c.get(log_url(name)).json()["metricLogs"] == logs

            # pykatib.report_metrics from a process with no report file, as a trial's work
            # elsewhere would call it.
            monkeypatch.delenv(push.METRICS_FILE_ENV, raising=False)
            monkeypatch.setenv("PYKATIB_SERVER", server.url)
            monkeypatch.setenv("PYKATIB_TOKEN", "admin-secret")
            monkeypatch.setenv("KATIB_TRIAL_NAME", name)
            monkeypatch.setenv("PYKATIB_TRIAL_NAMESPACE", "default")
            push.report_metrics({"loss": 0.125}, step=8)
            logs = c.get(log_url(name)).json()["metricLogs"]
            assert (logs[-1]["metric"], logs[-1]["step"]) == ({"name": "loss", "value": "0.125"}, 8)
            monkeypatch.setenv("PYKATIB_TOKEN", "other-secret")
            with pytest.raises(RuntimeError, match="403 Forbidden"):
                push.report_metrics({"loss": 0.1})
            monkeypatch.setenv("PYKATIB_TOKEN", "admin-secret")
            monkeypatch.setenv("KATIB_TRIAL_NAME", "nope")
            with pytest.raises(RuntimeError, match='404 NotFound: trials.kubeflow.org "nope"'):
                push.report_metrics({"loss": 0.1})
            with pytest.raises(ValueError, match="Invalid value"):
                push.report_metrics({"loss": "fast"})
            assert c.get(log_url(name)).json()["metricLogs"] == logs

            grpc_checks(f"127.0.0.1:{grpc_port}", name, len(logs))

            release()
            wait_for(c, f"{BASE}/namespaces/default/experiments/held", succeeded)
        store = Store(sqlite_url)
        try:
            [final] = store.list_trials("default", "held")
            assert [(p.metric_name, p.value) for p in store.list_observations("default", name)][
                -1
            ] == ("loss", "0.5")
            assert final.status.observation is not None
        finally:
            store.close()
    finally:
        release()
        server.stop()


def _field(number: int, data: bytes | str) -> bytes:
    """A length-delimited protobuf field, short enough for a one-byte length."""
    data = data.encode() if isinstance(data, str) else data
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def _report(trial: str, stamp: str, name: str, value: str) -> bytes:
    """ReportObservationLogRequest: trial_name 1, observation_log 2 { metric_logs 1 {
    time_stamp 1, metric 2 { name 1, value 2 } } }."""
    metric = _field(1, name) + _field(2, value)
    return _field(1, trial) + _field(2, _field(1, _field(1, stamp) + _field(2, metric)))


def grpc_checks(address: str, trial: str, stored: int) -> None:
    """Katib's DB manager API on the same store: tokens as metadata, errors as gRPC codes."""
    admin = (("authorization", "Bearer admin-secret"),)
    with grpc.insecure_channel(address) as channel:
        get = channel.unary_unary("/api.v1.beta1.DBManager/GetObservationLog")
        report = channel.unary_unary("/api.v1.beta1.DBManager/ReportObservationLog")
        delete = channel.unary_unary("/api.v1.beta1.DBManager/DeleteObservationLog")

        def code(call: Any, request: bytes, metadata: Any = admin) -> Any:
            with pytest.raises(grpc.RpcError) as raised:
                call(request, metadata=metadata, timeout=30)
            return raised.value.code()

        request = _field(1, trial)
        assert code(get, request, ()) == grpc.StatusCode.UNAUTHENTICATED
        assert code(get, request, (("authorization", "Bearer other-secret"),)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert code(get, _field(1, "nope")) == grpc.StatusCode.NOT_FOUND
        assert code(get, b"\x0a\xff") == grpc.StatusCode.INVALID_ARGUMENT
        assert code(delete, request) == grpc.StatusCode.UNIMPLEMENTED
        reply = get(request, metadata=admin, timeout=30)
        assert reply.count(b"loss") + reply.count(b"accuracy") == stored
        assert b"0.125" in reply and b"2024-03-04T17:55:08.500000Z" in reply
        stamp = "2024-03-04T18:00:00Z"
        assert report(_report(trial, stamp, "loss", "0.5"), metadata=admin, timeout=30) == b""
        assert code(report, _report(trial, stamp, "loss", "x")) == grpc.StatusCode.INVALID_ARGUMENT
        assert code(report, _report("nope", stamp, "loss", "1")) == grpc.StatusCode.NOT_FOUND
        reply = get(request + _field(2, "loss"), metadata=admin, timeout=30)
        assert b"accuracy" not in reply and reply.endswith(b"0.5")
