"""What the CLI shows: tables of experiments, trials and suggestions, live progress, results, logs.

Tables follow kubectl's layout: with ``-A`` (``all_namespaces``) a NAMESPACE column comes first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pykatib.api.models import Experiment, Suggestion, Trial
from pykatib.control import status as st
from pykatib.metrics.observation import ObservationPoint


def _age(start: datetime | None) -> str:
    if start is None:
        return "-"
    seconds = int((datetime.now(timezone.utc) - start).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def experiment_phase(exp: Experiment) -> str:
    """The last condition that is True, as kubectl's STATUS column shows it."""
    for cond in reversed(exp.status.conditions or []):
        if cond.status == "True":
            return cond.type
    return "Created" if exp.status.conditions else "Pending"


def trial_status(trial: Trial) -> str:
    phase = st.trial_phase(trial)
    return {
        st.PENDING: "Pending" if trial.status.conditions else "Created",
        st.RUNNING: "Running",
        st.SUCCEEDED: "Succeeded",
        st.FAILED: "Failed",
        st.KILLED: "Killed",
        st.EARLY_STOPPED: "EarlyStopped",
        st.METRICS_UNAVAILABLE: "MetricsUnavailable",
    }[phase]


def _best(exp: Experiment) -> str:
    best = exp.status.current_optimal_trial
    if best is None or not best.best_trial_name or exp.spec.objective is None:
        return "-"
    name = exp.spec.objective.objective_metric_name
    strategy = next(
        (s.value for s in exp.spec.objective.metric_strategies or [] if s.name == name), "latest"
    )
    for metric in (best.observation.metrics or []) if best.observation else []:
        if metric.name == name:
            return f"{getattr(metric, str(strategy), None) or metric.latest}"
    return "-"


def _table(all_namespaces: bool) -> Table:
    table = Table(box=None, header_style="bold")
    if all_namespaces:
        table.add_column("NAMESPACE")
    return table


def experiments_table(
    items: Sequence[Experiment], wide: bool = False, all_namespaces: bool = False
) -> Table:
    table = _table(all_namespaces)
    for col in ("NAME", "STATUS", "TRIALS", "SUCCEEDED", "RUNNING", "FAILED", "BEST", "AGE"):
        table.add_column(col)
    if wide:
        table.add_column("ALGORITHM")
        table.add_column("BEST TRIAL")
    for exp in items:
        s = exp.status
        row = [exp.namespace] if all_namespaces else []
        row += [
            exp.name,
            experiment_phase(exp),
            str(s.trials or 0),
            str(s.trials_succeeded or 0),
            str(s.trials_running or 0),
            str((s.trials_failed or 0) + (s.trial_metrics_unavailable or 0)),
            _best(exp),
            _age(s.start_time),
        ]
        if wide:
            best = s.current_optimal_trial
            row += [
                (exp.spec.algorithm.algorithm_name or "") if exp.spec.algorithm else "",
                (best.best_trial_name or "-") if best else "-",
            ]
        table.add_row(*row)
    return table


def trials_table(items: Sequence[Trial], wide: bool = False, all_namespaces: bool = False) -> Table:
    table = _table(all_namespaces)
    names: list[str] = []
    for trial in items:
        for a in trial.spec.parameter_assignments or []:
            if a.name and a.name not in names:
                names.append(a.name)
    metric_names: list[str] = []
    for trial in items:
        for m in (trial.status.observation.metrics or []) if trial.status.observation else []:
            if m.name and m.name not in metric_names:
                metric_names.append(m.name)
    table.add_column("NAME")
    table.add_column("STATUS")
    for n in metric_names:
        table.add_column(n.upper(), justify="right")
    for n in names:
        table.add_column(n, justify="right")
    table.add_column("AGE")
    if wide:
        table.add_column("EXPERIMENT")
        table.add_column("REASON")
    for trial in items:
        values = {a.name: a.value for a in trial.spec.parameter_assignments or []}
        metrics: dict[str, Any] = {}
        for m in (trial.status.observation.metrics or []) if trial.status.observation else []:
            value = st.metric_value(trial, m.name or "")
            metrics[m.name or ""] = f"{value:.6g}" if value is not None else "-"
        row = [trial.namespace] if all_namespaces else []
        row += [trial.name, trial_status(trial)]
        row += [metrics.get(n, "-") for n in metric_names]
        row += [_short(values.get(n)) for n in names]
        row.append(_age(trial.status.start_time))
        if wide:
            conditions = trial.status.conditions or []
            last = conditions[-1] if conditions else None
            row += [
                (trial.metadata.labels or {}).get("katib.kubeflow.org/experiment", ""),
                (last.reason or "") if last else "",
            ]
        table.add_row(*row)
    return table


def suggestions_table(
    items: Sequence[Suggestion], wide: bool = False, all_namespaces: bool = False
) -> Table:
    """Katib's printer columns for Suggestion (manifests/v1beta1/components/crd/suggestion.yaml):
    the last condition's type and status, requests, assignments made, age."""
    table = _table(all_namespaces)
    for col in ("NAME", "TYPE", "STATUS", "REQUESTED", "ASSIGNED", "AGE"):
        table.add_column(col)
    if wide:
        table.add_column("ALGORITHM")
    for suggestion in items:
        conditions = suggestion.status.conditions or []
        last = conditions[-1] if conditions else None
        row = [suggestion.metadata.namespace or ""] if all_namespaces else []
        row += [
            suggestion.metadata.name or "",
            (last.type or "") if last else "",
            (last.status or "") if last else "",
            str(suggestion.spec.requests or 0),
            str(suggestion.status.suggestion_count or 0),
            # Katib ages it from creationTimestamp; pykatib's suggestion starts when it is created.
            _age(suggestion.metadata.creation_timestamp or suggestion.status.start_time),
        ]
        if wide:
            algorithm = suggestion.spec.algorithm
            row.append((algorithm.algorithm_name or "") if algorithm else "")
        table.add_row(*row)
    return table


def _short(value: str | None) -> str:
    """A parameter value for a table cell: doubles to 6 significant digits."""
    if value is None:
        return ""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() and "." not in value else f"{number:.6g}"


class Progress:
    """Live progress of ``pykatib run``: one line per experiment, redrawn at each step."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet or not console.is_terminal
        self._live = Live(console=console, refresh_per_second=4, transient=True)
        self._started = time.monotonic()

    def __enter__(self) -> Progress:  # noqa: PYI034
        if not self.quiet:
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.quiet:
            self._live.__exit__(kind, value, traceback)

    def update(self, states: Sequence[Any]) -> None:
        if self.quiet:
            return
        lines = []
        for state in states:
            exp = state.experiment
            s = exp.status
            total = exp.spec.max_trial_count
            done = sum(
                (
                    s.trials_succeeded or 0,
                    s.trials_failed or 0,
                    s.trials_killed or 0,
                    s.trials_early_stopped or 0,
                    s.trial_metrics_unavailable or 0,
                )
            )
            budget = f"{done}/{total}" if total else str(done)
            text = Text.assemble(
                (f"{exp.name}", "bold"),
                f"  {experiment_phase(exp)}  trials {budget}  ",
                ("succeeded ", "green"),
                f"{s.trials_succeeded or 0}  ",
                ("running ", "cyan"),
                f"{s.trials_running or 0}  ",
                ("failed ", "red"),
                f"{(s.trials_failed or 0) + (s.trial_metrics_unavailable or 0)}  ",
                "best ",
                (_best(exp), "bold"),
                f"  ({time.monotonic() - self._started:.0f}s)",
            )
            lines.append(text)
        self._live.update(Group(*lines))


def print_result(console: Console, exp: Experiment) -> None:
    cond = next((c for c in reversed(exp.status.conditions or []) if c.status == "True"), None)
    phase = experiment_phase(exp)
    colour = {"Succeeded": "green", "Failed": "red"}.get(phase, "yellow")
    console.print(
        f"[bold]{exp.namespace}/{exp.name}[/]: [{colour}]{phase}[/] "
        f"({cond.reason if cond else ''}: {cond.message if cond else ''})",
        highlight=False,
    )
    s = exp.status
    console.print(
        f"  trials: {s.trials or 0} (succeeded {s.trials_succeeded or 0}, failed "
        f"{s.trials_failed or 0}, metrics unavailable {s.trial_metrics_unavailable or 0}, "
        f"killed {s.trials_killed or 0}, early stopped {s.trials_early_stopped or 0})",
        highlight=False,
    )
    best = s.current_optimal_trial
    if best and best.best_trial_name:
        table = Table(title=f"Best trial: {best.best_trial_name}", box=None, title_justify="left")
        table.add_column("parameter / metric")
        table.add_column("value", justify="right")
        for a in best.parameter_assignments or []:
            table.add_row(a.name or "", a.value or "")
        for m in (best.observation.metrics or []) if best.observation else []:
            table.add_row(f"{m.name} (min / max / latest)", f"{m.min} / {m.max} / {m.latest}")
        console.print(table)


def print_metrics(
    console: Console, trial: str, points: Sequence[ObservationPoint], output: str | None
) -> None:
    if output == "json":
        data = [
            {
                "metricName": p.metric_name,
                "value": p.value,
                "step": p.step,
                "timestamp": p.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
            for p in points
        ]
        console.print_json(json.dumps({"trialName": trial, "metricLogs": data}))
        return
    table = Table(box=None, header_style="bold")
    for col in ("TIMESTAMP", "METRIC", "STEP", "VALUE"):
        table.add_column(col)
    for p in points:
        table.add_row(p.timestamp.isoformat(), p.metric_name, str(p.step), p.value)
    console.print(table)


def print_logs(
    store: Any,
    namespace: str,
    trial_name: str,
    follow: bool,
    attempt: int | None = None,
    all_attempts: bool = False,
    replica: str | None = None,
) -> None:
    """Print the log of the trial's latest attempt (or of ``attempt``; or of every attempt, each
    after a header); with ``follow``, keep printing until the trial completes, going on to the
    next attempt when one begins. A training job's: its primary replica's, or ``replica``'s
    (``worker-0``)."""
    import sys

    from pykatib.api.errors import NotFoundError
    from pykatib.runtime.paths import attempt_files, attempt_numbers, trial_dir
    from pykatib.store import default_home

    trial = store.get_trial(namespace, trial_name)
    experiment = (trial.metadata.labels or {}).get("katib.kubeflow.org/experiment", "")
    home = default_home()
    folder = trial_dir(home, namespace, experiment, trial_name)
    numbers = attempt_numbers(folder)
    if attempt is not None and attempt not in numbers:
        have = ", ".join(map(str, numbers)) or "none yet"
        raise NotFoundError(f'trial "{trial_name}" has no attempt {attempt} (attempts: {have})')

    def trial_log_path(
        home: Path, namespace: str, experiment: str, trial: str, number: int
    ) -> Path:
        files = attempt_files(home, namespace, experiment, trial, number)
        if replica is None:
            return files.log
        logs = files.replica_logs()
        if replica not in logs:
            have = ", ".join(logs) or "none: it is not a training job (PyTorchJob...)"
            raise NotFoundError(
                f'trial "{trial}" has no replica {replica} in attempt {number} (replicas: {have})'
            )
        return logs[replica]

    out = sys.stdout.buffer
    current = attempt or (numbers[-1] if numbers else 1)
    if all_attempts and attempt is None:
        for number in numbers[:-1]:
            out.write(f"==> attempt {number} <==\n".encode())
            earlier = trial_log_path(home, namespace, experiment, trial_name, number)
            out.write(earlier.read_bytes() if earlier.exists() else b"")
        if numbers:
            out.write(f"==> attempt {current} <==\n".encode())
    path = trial_log_path(home, namespace, experiment, trial_name, current)
    position = 0
    while True:
        if path.exists():
            with open(path, "rb") as f:
                f.seek(position)
                chunk = f.read()
                position += len(chunk)
                out.write(chunk)
                out.flush()
        if not follow or st.trial_phase(trial) in st.COMPLETED_PHASES:
            if not path.exists() and not follow:
                print(f"(no output yet: {path})", file=sys.stderr)
            return
        newest = attempt_numbers(folder)
        if attempt is None and newest and newest[-1] != current:
            current, position = newest[-1], 0  # a retry began: follow it
            path = trial_log_path(home, namespace, experiment, trial_name, current)
            out.write(f"==> attempt {current} <==\n".encode())
            continue
        time.sleep(0.5)  # tail -f: poll the file, as `kubectl logs -f` streams
        trial = store.get_trial(namespace, trial_name)
