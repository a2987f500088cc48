"""What the CLI shows besides ``get``'s tables (:mod:`pykatib.cli.tables`) and logs
(:mod:`pykatib.cli.logs`): live progress, results, metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pykatib.cli.tables import best_value, experiment_phase

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
