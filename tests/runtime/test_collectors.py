"""Every metrics collector, live, with real trial processes (issue: metrics collection)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from helpers import controller, experiment, reason, run
from katib_oracle import check_outcome
from standins import STANDINS, katib_example, rewrite_commands

from pykatib.api.yaml import parse_experiments
from pykatib.control import status as st

REPO = Path(__file__).parents[2]


def run_example(relative: str, tmp_path: Path):
    data = rewrite_commands(katib_example(relative), STANDINS)
    [(exp, _)] = parse_experiments(yaml.safe_dump(data), relative)
    ctl = controller(tmp_path)
    return ctl, run(ctl, exp, tmp_path)


@pytest.mark.parametrize(
    "example",
    [
        "metrics-collector/file-metrics-collector.yaml",
        "metrics-collector/file-metrics-collector-with-json-format.yaml",
        "metrics-collector/metrics-collection-strategy.yaml",
    ],
)
def test_katib_file_collector_examples(example: str, tmp_path: Path) -> None:
    ctl, done = run_example(example, tmp_path)
    assert reason(done, "Succeeded") in (
        st.EXPERIMENT_MAX_TRIALS_REACHED,
        st.EXPERIMENT_GOAL_REACHED,
    )
    assert done.status.trials_succeeded == done.status.trials
    check_outcome(done, ctl.store.list_trials())  # Katib's reason and optimal trial
    # Each trial wrote its own file: the collector path was remapped into the trial's folder.
    for trial in ctl.store.list_trials():
        points = ctl.store.list_observations(trial.namespace, trial.name)
        assert points, trial.name
        names = {m.name for m in trial.status.observation.metrics}
        assert done.spec.objective.objective_metric_name in names


def test_metrics_collection_strategy_uses_each_metric_strategy(tmp_path: Path) -> None:
    ctl, done = run_example("metrics-collector/metrics-collection-strategy.yaml", tmp_path)
    strategies = {s.name: s.value for s in done.spec.objective.metric_strategies}
    for trial in ctl.store.list_trials():
        points = ctl.store.list_observations(trial.namespace, trial.name)
        for metric in trial.status.observation.metrics:
            values = [float(p.value) for p in points if p.metric_name == metric.name]
            if not values:  # Katib's mnist prints accuracy in a shape StdOut's filter skips
                assert (metric.min, metric.max, metric.latest) == ("unavailable",) * 3
                continue
            assert float(metric.min) == min(values) and float(metric.max) == max(values)
            assert float(metric.latest) == values[-1]
            expected = {"min": min(values), "max": max(values), "latest": values[-1]}[
                strategies[metric.name]
            ]
            assert st.metric_value(trial, metric.name) == expected


def test_custom_collector_without_command_is_rejected_at_apply(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "custom.yaml"
    path.write_text(
        yaml.safe_dump(katib_example("metrics-collector/custom-metrics-collector.yaml"))
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "spec.metricsCollectorSpec.collector.customCollector.command" in proc.stderr
    assert "needs a command" in proc.stderr


PUSH_1000 = """
import pykatib
for step in range(1000):
    pykatib.report_metrics({"loss": 1.0 / (step + 1), "accuracy": step / 1000}, step=step)
"""


def test_push_collector_keeps_1000_steps_in_order(tmp_path: Path) -> None:
    exp = experiment(
        PUSH_1000,
        args=[],
        maxTrialCount=1,
        parallelTrialCount=1,
        objective={
            "type": "minimize",
            "objectiveMetricName": "loss",
            "additionalMetricNames": ["accuracy"],
        },
        metricsCollectorSpec={"collector": {"kind": "Push"}},
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 1
    [trial] = ctl.store.list_trials()
    points = ctl.store.list_observations("default", trial.name)
    loss = [p for p in points if p.metric_name == "loss"]
    assert [p.step for p in loss] == list(range(1000))
    assert [float(p.value) for p in loss] == [1.0 / (s + 1) for s in range(1000)]
    assert len([p for p in points if p.metric_name == "accuracy"]) == 1000


def test_report_metrics_outside_a_trial_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import pykatib

    for var in ("PYKATIB_METRICS_FD", "PYKATIB_METRICS_FILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match="Push"):
        pykatib.report_metrics({"loss": 0.1})
    with pytest.raises(ValueError, match="loss"):
        pykatib.report_metrics({"loss": "not a number"})


TFEVENT = """
import os
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
writer = EventFileWriter(os.path.join(os.environ["PYKATIB_METRICS_PATH"], "train"))
for step in range(5):
    summary = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1)),
        summary_pb2.Summary.Value(tag="accuracy", simple_value=0.5 + step / 10),
    ])
    writer.add_event(event_pb2.Event(step=step, wall_time=1700000000 + step, summary=summary))
writer.close()
"""


def test_tensorflow_event_collector(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tfevent extra (tensorboard) is not installed")
    exp = experiment(
        TFEVENT,
        args=[],
        maxTrialCount=1,
        parallelTrialCount=1,
        objective={
            "type": "maximize",
            "objectiveMetricName": "accuracy",
            "additionalMetricNames": ["loss"],
        },
        metricsCollectorSpec={
            "collector": {"kind": "TensorFlowEvent"},
            "source": {"fileSystemPath": {"path": "/train-logs", "kind": "Directory"}},
        },
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 1
    [trial] = ctl.store.list_trials()
    points = ctl.store.list_observations("default", trial.name)
    loss = sorted(float(p.value) for p in points if p.metric_name == "loss")
    assert loss == pytest.approx(sorted(1.0 / (s + 1) for s in range(5)))
    assert len([p for p in points if p.metric_name == "accuracy"]) == 5
    assert st.objective_value(trial) == pytest.approx(0.9)


PROMETHEUS = """
import http.server, threading
values = iter([0.9, 0.5, 0.2])
current = {"loss": next(values)}
served = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"# TYPE loss gauge\\nloss {current['loss']}\\nother 7\\n".encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
        served.append(current["loss"])
        # Move on to the next value once this one has been scraped.
        nxt = next(values, None)
        if nxt is None:
            threading.Thread(target=server.shutdown).start()
        else:
            current["loss"] = nxt
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", PORT), Handler)
server.serve_forever()
"""


def test_prometheus_collector_scrapes_the_trial_while_it_runs(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exp = experiment(
        PROMETHEUS.replace("PORT", str(port)),
        args=[],
        maxTrialCount=1,
        parallelTrialCount=1,
        metricsCollectorSpec={
            "collector": {"kind": "PrometheusMetric"},
            "source": {"httpGet": {"port": port, "path": "/metrics"}},
        },
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 1
    [trial] = ctl.store.list_trials()
    points = ctl.store.list_observations("default", trial.name)
    assert [float(p.value) for p in points] == [0.9, 0.5, 0.2]
    assert st.objective_value(trial) == pytest.approx(0.2)


CUSTOM_COLLECTOR = """
import os, re, time, pykatib
path = os.environ["PYKATIB_METRICS_PATH"]
# Read the trial's file once it is complete (the trial writes "done" last).
while True:
    text = open(path).read() if os.path.exists(path) else ""
    if "done" in text:
        break
    time.sleep(0.05)  # a collector polling a file, as Katib's sidecars do
for n, m in enumerate(re.findall(r"score: ([0-9.]+)", text)):
    pykatib.report_metrics({"loss": float(m)}, step=n)
"""

CUSTOM_TRIAL = """
import sys
path = sys.argv[1].split("=", 1)[1]
with open(path, "w") as f:
    f.write("score: 0.7\\nscore: 0.3\\ndone\\n")
"""


def test_custom_collector_with_a_command_runs_beside_the_trial(tmp_path: Path) -> None:
    exp = experiment(
        CUSTOM_TRIAL,
        args=["--out=/custom/metrics.txt"],
        maxTrialCount=1,
        parallelTrialCount=1,
        metricsCollectorSpec={
            "collector": {
                "kind": "Custom",
                "customCollector": {
                    "name": "collector",
                    "image": "x",
                    "command": [sys.executable, "-c", CUSTOM_COLLECTOR],
                },
            },
            "source": {"fileSystemPath": {"path": "/custom/metrics.txt", "kind": "File"}},
        },
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 1, json.dumps(done.status.to_dict())
    [trial] = ctl.store.list_trials()
    assert [p.value for p in ctl.store.list_observations("default", trial.name)] == ["0.7", "0.3"]


def test_collector_paths_are_remapped_per_trial(tmp_path: Path) -> None:
    # Both trials write to "/katib/out/metrics.log", named in full and through its folder.
    code = (
        "import os, sys\n"
        "folder = sys.argv[1].split('=', 1)[1]\n"
        "os.makedirs(folder, exist_ok=True)\n"
        "open(os.path.join(folder, 'metrics.log'), 'w').write("
        "'loss=' + str(ord(os.environ['KATIB_TRIAL_NAME'][-1])) + '\\n')\n"
        "assert os.environ['PYKATIB_METRICS_PATH'] == os.path.join(folder, 'metrics.log')\n"
    )
    exp = experiment(
        code,
        args=["--log-dir=/katib/out"],
        maxTrialCount=2,
        parallelTrialCount=2,
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/katib/out/metrics.log", "kind": "File"}},
        },
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 2
    assert not Path("/katib/out/metrics.log").exists()
    for trial in ctl.store.list_trials():
        [point] = ctl.store.list_observations("default", trial.name)
        assert point.value == str(ord(trial.name[-1]))


def test_json_numbers_are_read_and_noted_in_the_trial_log(tmp_path: Path) -> None:
    """Katib's JSON collector reads only string values
    (pkg/metricscollector/v1beta1/file-metricscollector/file-metricscollector.go:153); pykatib
    reads numbers too and says, once, in the trial's log that Katib would skip them."""
    code = (
        "import json, os\n"
        "with open(os.environ['PYKATIB_METRICS_PATH'], 'w') as f:\n"
        "    f.write(json.dumps({'loss': 0.5}) + '\\n' + json.dumps({'loss': 0.25}) + '\\n')\n"
    )
    exp = experiment(
        code,
        args=[],
        parameters=[{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.2"}}],
        maxTrialCount=1,
        parallelTrialCount=1,
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/katib/m.json", "kind": "File", "format": "JSON"}},
        },
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 1
    [trial] = ctl.store.list_trials()
    assert [p.value for p in ctl.store.list_observations("default", trial.name)] == ["0.5", "0.25"]
    log = ctl.log_path("default", "exp", trial.name).read_text()
    assert log.count("Katib reads only JSON strings") == 1
