"""What the CLI shows besides ``get``'s tables (:mod:`pykatib.cli.tables`): live progress,
results, metrics, logs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pykatib.cli.tables import COMPLETED_STATUSES, best_value, experiment_phase, trial_status

if TYPE_CHECKING:
    from pykatib.api.models import Experiment
    from pykatib.metrics.observation import ObservationPoint


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
            doc = exp.to_dict()
            text = Text.assemble(
                (f"{exp.name}", "bold"),
                f"  {experiment_phase(doc)}  trials {budget}  ",
                ("succeeded ", "green"),
                f"{s.trials_succeeded or 0}  ",
                ("running ", "cyan"),
                f"{s.trials_running or 0}  ",
                ("failed ", "red"),
                f"{(s.trials_failed or 0) + (s.trial_metrics_unavailable or 0)}  ",
                "best ",
                (best_value(doc), "bold"),
                f"  ({time.monotonic() - self._started:.0f}s)",
            )
            lines.append(text)
        self._live.update(Group(*lines))


def print_result(console: Console, exp: Experiment) -> None:
    cond = next((c for c in reversed(exp.status.conditions or []) if c.status == "True"), None)
    phase = experiment_phase(exp.to_dict())
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
    read_trial: Callable[[str, str], dict[str, Any]],
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
    (``worker-0``). ``read_trial`` reads the trial's JSON, each time it is needed."""
    import sys

    from pykatib.api.errors import NotFoundError
    from pykatib.runtime.paths import attempt_files, attempt_numbers, trial_dir
    from pykatib.store import default_home

    trial = read_trial(namespace, trial_name)
    labels = (trial.get("metadata") or {}).get("labels") or {}
    experiment = labels.get("katib.kubeflow.org/experiment", "")
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
        if not follow or trial_status(trial) in COMPLETED_STATUSES:
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
        trial = read_trial(namespace, trial_name)
