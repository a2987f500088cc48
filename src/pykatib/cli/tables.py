"""``get``'s tables of experiments, trials and suggestions, in kubectl's layout (with ``-A``, a
NAMESPACE column first).

Drawn from Katib's JSON (dicts), not the pydantic models: the local store's read path gives
JSON straight from the database (:mod:`pykatib.store.reader`), and building the models would
cost more than the whole command should take. The server's and the full store's objects come
here through ``to_dict()``.

A table is a :class:`Grid`; :func:`plain` writes it as rich lays out a borderless table, without
importing rich, whenever the result is sure to be the same (plain ASCII cells that fit the
width); else :func:`to_rich` gives the rich Table to print.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from pykatib.api import phase_rule
from pykatib.api.metric_rule import document_value, strategy_of

Doc = dict[str, Any]


def age(start: datetime | str | None) -> str:
    """kubectl's AGE: ``5s``, ``3m``, ``2h``, ``4d`` since ``start`` ("-" without one)."""
    if start is None:
        return "-"
    if isinstance(start, str):
        start = datetime.fromisoformat(start.replace("Z", "+00:00"))
    seconds = int((datetime.now(timezone.utc) - start).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _conditions(obj: Doc) -> list[Doc]:
    return (obj.get("status") or {}).get("conditions") or []


def experiment_phase(exp: Doc) -> str:
    """The last condition that is True, as kubectl's STATUS column shows it."""
    conditions = _conditions(exp)
    for cond in reversed(conditions):
        if cond.get("status") == "True":
            return str(cond.get("type"))
    return "Created" if conditions else "Pending"


COMPLETED_STATUSES = phase_rule.COMPLETED


def trial_status(trial: Doc) -> str:
    """The trial's phase by Katib's rule, as its condition's type (kubectl's STATUS column)."""
    decided = phase_rule.first_true(phase_rule.document_conditions(trial))
    return decided or ("Pending" if _conditions(trial) else "Created")


def _metrics(obj: Doc | None) -> list[Doc]:
    return ((obj or {}).get("observation") or {}).get("metrics") or []


def best_value(exp: Doc) -> str:
    """The optimal trial's objective value under its strategy ("-" before there is one)."""
    best = (exp.get("status") or {}).get("currentOptimalTrial")
    objective = (exp.get("spec") or {}).get("objective")
    if not best or not best.get("bestTrialName") or objective is None:
        return "-"
    name = objective.get("objectiveMetricName")
    strategies = ((s.get("name"), s.get("value")) for s in objective.get("metricStrategies") or [])
    strategy = strategy_of(strategies, name)
    for metric in _metrics(best):
        if metric.get("name") == name:
            return f"{metric.get(strategy) or metric.get('latest')}"
    return "-"


def _short(value: str | None) -> str:
    """A parameter value for a table cell: doubles to 6 significant digits."""
    if value is None:
        return ""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() and "." not in value else f"{number:.6g}"


class Grid:
    """A table's columns (header, ``"left"`` or ``"right"``) and rows of cells."""

    def __init__(self) -> None:
        self.columns: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []

    def add_column(self, header: str, justify: str = "left") -> None:
        self.columns.append((header, justify))

    def add_row(self, *cells: str) -> None:
        self.rows.append(list(cells))


def plain(grid: Grid, width: int) -> str | None:
    """``grid`` as rich prints ``to_rich(grid)`` on a console ``width`` wide that is not a
    terminal (a cell padded by a space each side, no border), or None when rich might print it
    otherwise: a cell rich reads as markup or emoji (``[``, ``:``), one not plain ASCII (whose
    width rich measures in terminal cells), or a table wider than ``width`` (rich folds it)."""
    lines = [[h for h, _ in grid.columns], *grid.rows]
    for line in lines:
        for cell in line:
            if not cell.isascii() or "[" in cell or ":" in cell or not cell.isprintable():
                return None
    widths = [max(len(line[i]) for line in lines) for i in range(len(grid.columns))]
    if sum(w + 2 for w in widths) > width:
        return None
    out = []
    for line in lines:
        cells = (
            cell.rjust(w) if justify == "right" else cell.ljust(w)
            for cell, w, (_, justify) in zip(line, widths, grid.columns)
        )
        out.append("".join(f" {cell} " for cell in cells))
    return "\n".join(out) + "\n"


def to_rich(grid: Grid) -> Any:
    """``grid`` as a borderless rich Table with a bold header (kubectl's look)."""
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for header, justify in grid.columns:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in grid.rows:
        table.add_row(*row)
    return table


def _table(all_namespaces: bool) -> Grid:
    table = Grid()
    if all_namespaces:
        table.add_column("NAMESPACE")
    return table


def _namespace(obj: Doc) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def _name(obj: Doc) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def experiments_table(
    items: Sequence[Doc], wide: bool = False, all_namespaces: bool = False
) -> Grid:
    table = _table(all_namespaces)
    for col in ("NAME", "STATUS", "TRIALS", "SUCCEEDED", "RUNNING", "FAILED", "BEST", "AGE"):
        table.add_column(col)
    if wide:
        table.add_column("ALGORITHM")
        table.add_column("BEST TRIAL")
    for exp in items:
        s = exp.get("status") or {}
        row = [_namespace(exp)] if all_namespaces else []
        row += [
            _name(exp),
            experiment_phase(exp),
            str(s.get("trials") or 0),
            str(s.get("trialsSucceeded") or 0),
            str(s.get("trialsRunning") or 0),
            str((s.get("trialsFailed") or 0) + (s.get("trialMetricsUnavailable") or 0)),
            best_value(exp),
            age(s.get("startTime")),
        ]
        if wide:
            algorithm = (exp.get("spec") or {}).get("algorithm") or {}
            best = s.get("currentOptimalTrial")
            row += [
                algorithm.get("algorithmName") or "",
                (best.get("bestTrialName") or "-") if best else "-",
            ]
        table.add_row(*row)
    return table


def _assignments(trial: Doc) -> list[Doc]:
    return (trial.get("spec") or {}).get("parameterAssignments") or []


def _names(found: Iterable[Doc]) -> list[str]:
    """The names in ``found``, once each, in first-seen order."""
    return list(dict.fromkeys(d["name"] for d in found if d.get("name")))


def trials_table(items: Sequence[Doc], wide: bool = False, all_namespaces: bool = False) -> Grid:
    table = _table(all_namespaces)
    names = _names(a for trial in items for a in _assignments(trial))
    metric_names = _names(m for trial in items for m in _metrics(trial.get("status")))
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
        values = {a.get("name"): a.get("value") for a in _assignments(trial)}
        metrics: dict[str, str] = {}
        for m in _metrics(trial.get("status")):
            value = document_value(trial, m.get("name") or "")
            metrics[m.get("name") or ""] = f"{value:.6g}" if value is not None else "-"
        row = [_namespace(trial)] if all_namespaces else []
        row += [_name(trial), trial_status(trial)]
        row += [metrics.get(n, "-") for n in metric_names]
        row += [_short(values.get(n)) for n in names]
        row.append(age((trial.get("status") or {}).get("startTime")))
        if wide:
            conditions = _conditions(trial)
            labels = (trial.get("metadata") or {}).get("labels") or {}
            row += [
                labels.get("katib.kubeflow.org/experiment", ""),
                (conditions[-1].get("reason") or "") if conditions else "",
            ]
        table.add_row(*row)
    return table


def suggestions_table(
    items: Sequence[Doc], wide: bool = False, all_namespaces: bool = False
) -> Grid:
    """Katib's printer columns for Suggestion (manifests/v1beta1/components/crd/suggestion.yaml):
    the last condition's type and status, requests, assignments made, age."""
    table = _table(all_namespaces)
    for col in ("NAME", "TYPE", "STATUS", "REQUESTED", "ASSIGNED", "AGE"):
        table.add_column(col)
    if wide:
        table.add_column("ALGORITHM")
    for suggestion in items:
        conditions = _conditions(suggestion)
        last = conditions[-1] if conditions else {}
        meta = suggestion.get("metadata") or {}
        status = suggestion.get("status") or {}
        row = [meta.get("namespace") or ""] if all_namespaces else []
        row += [
            meta.get("name") or "",
            last.get("type") or "",
            last.get("status") or "",
            str((suggestion.get("spec") or {}).get("requests") or 0),
            str(status.get("suggestionCount") or 0),
            # Katib ages it from creationTimestamp; pykatib's suggestion starts when it is created.
            age(meta.get("creationTimestamp") or status.get("startTime")),
        ]
        if wide:
            algorithm = (suggestion.get("spec") or {}).get("algorithm") or {}
            row.append(algorithm.get("algorithmName") or "")
        table.add_row(*row)
    return table
