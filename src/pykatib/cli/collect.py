"""``pykatib collect``: a trial's metrics collector, run beside it in its pod.

With ``--runtime kubernetes``, a File, TensorFlowEvent or PrometheusMetric collector can't be
read from the control plane: the file (or the endpoint) is in the trial's pod. The runner adds
this command to the pod as a native sidecar (an init container with ``restartPolicy: Always``,
sharing the collector path's folder with the primary container through an ``emptyDir``). It
reads with pykatib's own collectors (:func:`pykatib.metrics.collectors.make_collector`) and
prints each observation as one JSON line, as a Push report file holds them::

    {"metric": "loss", "value": "0.12", "timestamp": "2024-03-04T17:55:08.123456Z", "step": 3}

The runner reads that container's log through the API, as it reads a StdOut trial's, and takes
the lines as Push reports: no webhook, and nothing in the pod needs to reach the server. Its
startupProbe waits for ``--ready-file``, so that the trial starts once the collector handles
SIGTERM; when the primary container ends, the kubelet sends SIGTERM: the collector reads one
last time and exits 0.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

INTERVAL_SECONDS = 1.0


@click.command(name="collect")
@click.option(
    "--spec",
    "spec_json",
    required=True,
    metavar="JSON",
    help="The experiment's metricsCollectorSpec, as JSON.",
)
@click.option(
    "--metric-names",
    required=True,
    metavar="NAMES",
    help="The metrics to collect, comma-separated (the objective's first).",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False),
    help="A file made once SIGTERM is handled (the pod's startupProbe waits for it, so that "
    "the trial starts only then), removed at exit.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=INTERVAL_SECONDS,
    show_default=True,
    help="Seconds between reads.",
)
def collect(spec_json: str, metric_names: str, interval: float, ready_file: str | None) -> None:
    """Read a trial's metrics in its pod and print them as JSON lines (until SIGTERM)."""
    ended = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: ended.set())
    from pykatib.api.models import MetricsCollectorSpec
    from pykatib.metrics.collectors import collector_kind, collector_path, make_collector

    try:
        spec = MetricsCollectorSpec.model_validate(json.loads(spec_json))
    except ValueError as exc:
        raise click.BadParameter(f"not a metricsCollectorSpec: {exc}", param_hint="--spec")
    names = [n for n in metric_names.split(",") if n]
    if not names:
        raise click.BadParameter("at least one metric name", param_hint="--metric-names")
    kind = collector_kind(spec)
    if kind not in ("File", "TensorFlowEvent", "PrometheusMetric"):
        raise click.BadParameter(
            f"{kind}: pykatib collect reads File, TensorFlowEvent and PrometheusMetric "
            "collectors (StdOut and Push need no collector beside the trial)",
            param_hint="--spec",
        )
    path = collector_path(spec)
    local = Path(path) if path else None
    # Unused paths: a File collector reads its own path, the rest no log or report file.
    collector = make_collector(spec, names, local, Path("/dev/null"), Path("/dev/null"))
    ready = Path(ready_file) if ready_file else None
    if ready is not None:
        ready.parent.mkdir(parents=True, exist_ok=True)
        ready.touch()
    try:
        while not ended.wait(interval):
            _print(collector.poll())
        _print(collector.close())
    finally:
        if ready is not None:
            ready.unlink(missing_ok=True)


def _print(points: list[Any]) -> None:
    from pykatib.metrics.timestamps import format_rfc3339

    for p in points:
        record = {
            "metric": p.metric_name,
            "value": p.value,
            "timestamp": format_rfc3339(p.timestamp),
            "step": p.step,
        }
        sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
