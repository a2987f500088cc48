"""What :meth:`KatibClient.wait_for_experiment_condition` shows while it waits: a live bar of the
experiment's trials (done of maxTrialCount, running, failed, the best objective so far), in a
terminal or a notebook; nothing when the output goes elsewhere (a file, a pipe, a CI log)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from pykatib.api.models import Experiment


def _best(exp: Experiment) -> str:
    best = exp.status.current_optimal_trial
    objective = exp.spec.objective
    if best is None or best.observation is None or objective is None:
        return ""
    for metric in best.observation.metrics or []:
        if metric.name == objective.objective_metric_name:
            try:
                value = f"{float(metric.latest or ''):.6g}"
            except ValueError:
                value = metric.latest or ""
            return f"best {metric.name}={value}"
    return ""


class WaitDisplay:
    """A context manager; :meth:`update` with each experiment read."""

    def __init__(self, enabled: bool | None = None) -> None:
        console = Console()
        if enabled is None:
            enabled = console.is_terminal or console.is_jupyter
        self._progress = (
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=console,
            )
            if enabled
            else None
        )
        self._task: TaskID | None = None

    def __enter__(self) -> WaitDisplay:  # noqa: PYI034
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, exp: Experiment) -> None:
        if self._progress is None:
            return
        status = exp.status
        done = sum(
            n or 0
            for n in (
                status.trials_succeeded,
                status.trials_failed,
                status.trials_killed,
                status.trials_early_stopped,
                status.trial_metrics_unavailable,
            )
        )
        total = exp.spec.max_trial_count or max(status.trials or 0, 1)
        phase = next(
            (c.type for c in reversed(status.conditions or []) if c.status == "True"), "Pending"
        )
        detail = f"{status.trials_running or 0} running"
        if status.trials_failed:
            detail += f", {status.trials_failed} failed"
        best = _best(exp)
        if best:
            detail += f", {best}"
        description = f"{exp.name} {phase}"
        if self._task is None:
            self._task = self._progress.add_task(description, total=total, detail=detail)
        self._progress.update(
            self._task, description=description, completed=done, total=total, detail=detail
        )
