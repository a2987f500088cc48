"""Parameter importance, computed on the server with Optuna's evaluators: fANOVA when
scikit-learn is importable (Optuna's FanovaImportanceEvaluator fits its random forest), else
PED-ANOVA, which needs nothing more than Optuna. The forest is smaller than Optuna's default:
16 trees of depth 6 on an even sample of 1,000 trials at most, about a second at 10,000 trials
(the default's 64 trees of depth 64 took half a minute on 500 trials; depth 8 on 2,000 trials
took three times as long and found the same two parameters to matter). The result is kept
with the rows it came from until a trial changes; the server computes it for the newest
experiments as it starts."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.importance import (
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.trial import create_trial

from pykatib.control import status as st
from pykatib.ui.trials import Rows

MIN_TRIALS = 2  # the evaluators need two completed trials at least
FANOVA_MAX_TRIALS = 1000  # fANOVA's forest grows slow past this: sample it down
FANOVA_TREES, FANOVA_DEPTH = 16, 6


def _distribution(param: dict[str, Any], values: list[Any]) -> BaseDistribution | None:
    kind = param.get("parameterType")
    space = param.get("feasibleSpace") or {}
    if kind in ("double", "int"):
        seen = [float(v) for v in values if isinstance(v, float)]
        low = float(space["min"]) if "min" in space else min(seen, default=None)
        high = float(space["max"]) if "max" in space else max(seen, default=None)
        if low is None or high is None or not low < high:
            return None
        if kind == "int":
            return IntDistribution(int(low), int(high))
        log = (space.get("distribution") or "").startswith("log") and low > 0
        return FloatDistribution(low, high, log=log)
    choices = list(dict.fromkeys(str(v) for v in (space.get("list") or values)))
    return CategoricalDistribution(choices) if len(choices) > 1 else None


def _evaluator() -> tuple[Any, str]:
    if importlib.util.find_spec("sklearn") is None:
        return PedAnovaImportanceEvaluator(), "PED-ANOVA"
    return FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=0), "fANOVA"


def importances(rows: Rows, metric: str | None = None) -> dict[str, Any]:
    """``{"evaluator", "metric", "trials", "importances": [{"name", "value"}]}``, most
    important first; ``importances`` is empty with a ``message`` when there is too little."""
    chosen = metric or rows.objective.main
    result: dict[str, Any] = rows.derive(("importance", chosen), lambda r: _compute(r, chosen))
    return result


def _compute(rows: Rows, metric: str) -> dict[str, Any]:
    ranked = [
        t for t in rows.trials if t.phase in st.RANKED_PHASES and t.metrics.get(metric) is not None
    ]
    result: dict[str, Any] = {"metric": metric, "trials": len(ranked), "importances": []}
    distributions: dict[str, BaseDistribution] = {}
    for param in rows.parameters:
        name = param["name"]
        dist = _distribution(param, [t.params.get(name) for t in ranked])
        if dist is not None:
            distributions[name] = dist
    if len(ranked) < MIN_TRIALS or not distributions:
        result["message"] = "parameter importance needs two completed trials with varied parameters"
        return result
    evaluator, label = _evaluator()
    if label == "fANOVA" and len(ranked) > FANOVA_MAX_TRIALS:
        step = len(ranked) / FANOVA_MAX_TRIALS
        ranked = [ranked[int(i * step)] for i in range(FANOVA_MAX_TRIALS)]
    frozen = []
    for t in ranked:
        params: dict[str, Any] = {}
        dists: dict[str, BaseDistribution] = {}
        for name, dist in distributions.items():
            value = t.params.get(name)
            if isinstance(dist, CategoricalDistribution):
                value = str(value)
                if value not in dist.choices:
                    continue
            elif not isinstance(value, float) or not math.isfinite(value):
                continue
            elif isinstance(dist, (FloatDistribution, IntDistribution)):
                if isinstance(dist, IntDistribution):
                    value = int(value)
                if not dist.low <= value <= dist.high:  # outside the search space
                    continue
            params[name], dists[name] = value, dist
        if len(dists) == len(distributions):
            frozen.append(create_trial(value=t.metrics[metric], params=params, distributions=dists))
    if len(frozen) < MIN_TRIALS:
        result["message"] = "parameter importance needs two trials inside the search space"
        return result
    maximize = metric in rows.objective.names and (
        rows.objective.types[rows.objective.names.index(metric)] == "maximize"
    )
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    study.add_trials(frozen)
    try:
        found = get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as exc:  # e.g. every trial has the same value
        result["message"] = f"parameter importance could not be computed: {exc}"
        return result
    result["evaluator"] = label
    result["importances"] = [{"name": k, "value": float(v)} for k, v in found.items()]
    return result
