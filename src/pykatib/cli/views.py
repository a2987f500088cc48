"""What the CLI shows besides ``get``'s tables (:mod:`pykatib.cli.tables`) and logs
(:mod:`pykatib.cli.logs`): live progress, results, metrics.

rich is imported only to draw: a quiet ``run`` shows no progress, and its result, piped, is
written as rich would write it (:func:`plain_result`), so that such a run never imports rich.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pykatib.cli.tables import Grid, best_value, experiment_phase, plain

if TYPE_CHECKING:
    from rich.console import Console

    from pykatib.api.models import Experiment
    from pykatib.metrics.observation import ObservationPoint

# Piped output (scripts, `| grep`) is not cut to 80 columns.
PIPED_WIDTH = 250
# What rich would read as markup or an emoji code (``[bold]``, ``:smile:``) in a line.
_RICH_SYNTAX = re.compile(r"\[|:\S*?:")


class Progress:
    """Live progress of ``pykatib run``: one line per experiment, redrawn at each step (none when
    quiet, or when the console is not a terminal)."""

    def __init__(self, console: Callable[[], Console], quiet: bool = False) -> None:
        self._live: Any = None
        self.quiet = quiet or not console().is_terminal
        if not self.quiet:
            from rich.live import Live

            self._live = Live(console=console(), refresh_per_second=4, transient=True)
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
        from rich.console import Group
        from rich.text import Text

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


def print_result(console: Callable[[], Console], exp: Experiment) -> None:
    """The experiment's outcome, its trial counts and its best trial."""
    cond = next((c for c in reversed(exp.status.conditions or []) if c.status == "True"), None)
    phase = experiment_phase(exp.to_dict())
    because = f"({cond.reason if cond else ''}: {cond.message if cond else ''})"
    s = exp.status
    counts = (
        f"  trials: {s.trials or 0} (succeeded {s.trials_succeeded or 0}, failed "
        f"{s.trials_failed or 0}, metrics unavailable {s.trial_metrics_unavailable or 0}, "
        f"killed {s.trials_killed or 0}, early stopped {s.trials_early_stopped or 0})"
    )
    title, best = _best_trial(exp)
    if not sys.stdout.isatty():
        text = plain_result([f"{exp.namespace}/{exp.name}: {phase} {because}", counts], title, best)
        if text is not None:
            sys.stdout.write(text)
            return
    out = console()
    colour = {"Succeeded": "green", "Failed": "red"}.get(phase, "yellow")
    out.print(
        f"[bold]{exp.namespace}/{exp.name}[/]: [{colour}]{phase}[/] {because}", highlight=False
    )
    out.print(counts, highlight=False)
    if best is not None:
        from rich.table import Table

        table = Table(title=title, box=None, title_justify="left")
        table.add_column("parameter / metric")
        table.add_column("value", justify="right")
        for row in best.rows:
            table.add_row(*row)
        out.print(table)


def is_plain(line: str, width: int | None = None) -> bool:
    """Whether rich prints ``line`` as it is on a console that is not a terminal (``width``
    wide; None: one that does not fold lines): printable ASCII, no markup or emoji code."""
    if width is not None and len(line) > width:
        return False
    return line.isascii() and line.isprintable() and not _RICH_SYNTAX.search(line)


def _best_trial(exp: Experiment) -> tuple[str, Grid | None]:
    """The best trial's title and its parameters and metrics (None before there is one)."""
    best = exp.status.current_optimal_trial
    if not best or not best.best_trial_name:
        return "", None
    grid = Grid()
    grid.add_column("parameter / metric")
    grid.add_column("value", "right")
    for a in best.parameter_assignments or []:
        grid.add_row(a.name or "", a.value or "")
    for m in (best.observation.metrics or []) if best.observation else []:
        grid.add_row(f"{m.name} (min / max / latest)", f"{m.min} / {m.max} / {m.latest}")
    return f"Best trial: {best.best_trial_name}", grid


def plain_result(lines: Sequence[str], title: str, best: Grid | None) -> str | None:
    """:func:`print_result`'s output as rich prints it on a console that is not a terminal
    (:data:`PIPED_WIDTH` wide), or None when rich might print it otherwise (markup, emoji codes,
    wide characters, a line it would fold; see :func:`pykatib.cli.tables.plain`)."""
    if not all(is_plain(line, PIPED_WIDTH) for line in [*lines, title]):
        return None
    text = "".join(f"{line}\n" for line in lines)
    if best is None:
        return text
    table = plain(best, PIPED_WIDTH)
    if table is None:
        return None
    width = len(table.split("\n", 1)[0])
    if len(title) > width:
        return None  # rich folds a title to the table's width
    return f"{text}{title.ljust(width)}\n{table}"


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
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("TIMESTAMP", "METRIC", "STEP", "VALUE"):
        table.add_column(col)
    for p in points:
        table.add_row(p.timestamp.isoformat(), p.metric_name, str(p.step), p.value)
    console.print(table)
