"""Katib's rule for a trial's value of a metric, in one place for every reader: the control
plane (models), the UI and the CLI (the stored JSON, read without pydantic).

A trial's observation keeps, per metric, its ``latest``, ``min`` and ``max`` as strings
(Katib's ``Metric``); the objective's ``metricStrategies`` say which one counts (``latest``
by default). ``min`` and ``max`` fall back to ``latest`` when they are unavailable (only
non-numeric values were reported: Katib's ``getObjectiveMetricValue``). Standard library only,
so that ``pykatib get`` can import it without the models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

UNAVAILABLE = "unavailable"  # pykatib.api.models.UNAVAILABLE_METRIC_VALUE


def parse_value(value: str) -> float | None:
    """The number a reported value stands for, or None when it is not a plain decimal float.

    Katib keeps values as strings and parses them with Go's ``strconv.ParseFloat``; this accepts
    the same decimal shapes (``-1``, ``.333``, ``888.``, ``1E-5``, ``inf``, ``nan``) and rejects
    what Python's ``float`` allows beyond them (``1_000``, non-ASCII digits).
    """
    if not value.isascii() or "_" in value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def pick(strategy: str, latest: str | None, min_: str | None, max_: str | None) -> float | None:
    """The value ``strategy`` (``latest``, ``min`` or ``max``) picks, or None when unavailable."""
    picked = min_ if strategy == "min" else max_ if strategy == "max" else latest
    if picked is None or picked == UNAVAILABLE:
        picked = latest
    if picked is None or picked == UNAVAILABLE:
        return None
    return parse_value(picked)


def strategy_of(strategies: Iterable[tuple[str | None, str | None]], name: str) -> str:
    """The strategy named for metric ``name`` among (name, value) pairs; ``latest`` if none."""
    return next((value for n, value in strategies if n == name and value), None) or "latest"


def document_value(trial: dict[str, Any], name: str) -> float | None:
    """The trial's value of metric ``name`` under its objective's strategy, from the trial's
    JSON (as :func:`pykatib.control.status.metric_value` reads the model)."""
    objective = (trial.get("spec") or {}).get("objective")
    observation = (trial.get("status") or {}).get("observation")
    if not observation or objective is None:
        return None
    strategies = ((s.get("name"), s.get("value")) for s in objective.get("metricStrategies") or [])
    strategy = strategy_of(strategies, name)
    for metric in observation.get("metrics") or []:
        if metric.get("name") == name:
            return pick(strategy, metric.get("latest"), metric.get("min"), metric.get("max"))
    return None
