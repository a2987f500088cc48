"""Early stopping costs nothing per completed trial (issue 13): the control plane keeps the
completed trials' series as trials change phase (``ExperimentState.completed``), the rules keep
what they derive from them as each trial completes, and a report reads only the running trials.
The decisions stay those of the rule computed from scratch (counted, not timed)."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import pytest
from helpers import experiment

from pykatib.api.models import Condition, ObjectiveSpec, Trial
from pykatib.control import status as st
from pykatib.control import suggestion as sg
from pykatib.control.state import ExperimentState
from pykatib.earlystop import EarlyStoppingRule, get_rule

CONDITIONS = {
    st.PENDING: [],
    st.RUNNING: ["Running"],
    st.SUCCEEDED: ["Succeeded"],
    st.FAILED: ["Failed"],
    st.EARLY_STOPPED: ["EarlyStopped"],
}


class CountedSeries(Sequence[float]):
    """A series that counts every read of it."""

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.reads = 0

    @overload
    def __getitem__(self, i: int) -> float: ...
    @overload
    def __getitem__(self, i: slice) -> list[float]: ...
    def __getitem__(self, i: Any) -> Any:
        self.reads += 1
        return self.values[i]

    def __len__(self) -> int:
        self.reads += 1
        return len(self.values)


def new_state(rule: EarlyStoppingRule, maximize: bool = False) -> ExperimentState:
    exp = experiment("pass", objective={"type": "maximize" if maximize else "minimize"})
    state = ExperimentState(experiment=exp, suggestion=sg.new_suggestion(exp), source_dir=Path())
    state.early_stopping = rule
    return state


def set_phase(state: ExperimentState, name: str, phase: str) -> None:
    trial = state.trials.get(name) or Trial.model_validate({"metadata": {"name": name}})
    trial.status.conditions = [Condition(type=c, status="True") for c in CONDITIONS[phase]]
    if name in state.trials:
        state.refresh(trial)
    else:
        state.add_trial(trial)


def make_rule(name: str, maximize: bool = False, **settings: str) -> EarlyStoppingRule:
    objective = ObjectiveSpec.model_validate(
        {"type": "maximize" if maximize else "minimize", "objectiveMetricName": "loss"}
    )
    return get_rule(name)(settings, objective)


def ask(state: ExperimentState, name: str) -> str | None:
    """What the controller asks on a report of running trial ``name``."""
    assert state.early_stopping is not None
    return state.early_stopping.should_stop(
        name, state.series.get(name, []), state.completed, running=state.running_series()
    )


@pytest.mark.parametrize("rule_name", ["medianstop", "asha"])
def test_reports_do_not_read_the_completed_trials_again(rule_name: str) -> None:
    rng = random.Random(0)
    state = new_state(make_rule(rule_name, min_trials_required="3", start_step="1"))
    done: list[CountedSeries] = []
    for i in range(200):
        series = CountedSeries([rng.random() for _ in range(100)])
        state.series[f"c{i}"] = series  # type: ignore[assignment]  # read like a list
        done.append(series)
        set_phase(state, f"c{i}", st.SUCCEEDED)
    set_phase(state, "r", st.RUNNING)
    running = state.series.setdefault("r", [])
    running.append(0.5)
    ask(state, "r")  # the first report builds the rule's index: each series read once
    assert all(s.reads > 0 for s in done)
    for s in done:
        s.reads = 0
    decisions = []
    for _ in range(60):  # K reports, at every step from 2 to 61
        running.append(rng.random())
        decisions.append(ask(state, "r"))
        state.refresh(state.trials["r"])  # the controller refreshes changed trials
    assert sum(s.reads for s in done) == 0
    # ... and the decisions are the rule's, computed from scratch over plain mappings.
    assert state.early_stopping is not None
    assert decisions[-1] == state.early_stopping.should_stop(
        "r", running, {n: list(s) for n, s in state.completed.items()}, running={"r": running}
    )
    for s in done:
        s.reads = 0  # the reference above read them
    # One more completed trial is read once; the others are not read again.
    late = CountedSeries([rng.random() for _ in range(100)])
    state.series["late"] = late  # type: ignore[assignment]
    set_phase(state, "late", st.EARLY_STOPPED)
    running.append(0.1)
    ask(state, "r")
    state.early_stopping.trial_rules(state.completed)  # a new trial's rules: no reads either
    assert sum(s.reads for s in done) == 0 and late.reads > 0


# --- the decisions, against the rules as Katib's documentation states them -----------------


def reference_medianstop(
    trial: str, series: list[float], completed: dict[str, list[float]], rule: Any
) -> bool:
    step = len(series)
    if step < rule.values["start_step"]:
        return False
    averages = []
    for name, values in completed.items():
        numbers = [v for v in values[:step] if not math.isnan(v)]
        if name != trial and len(values) >= step and numbers:
            average = sum(numbers) / len(numbers)
            if not math.isnan(average):
                averages.append(average)
    if len(averages) < rule.values["min_trials_required"]:
        return False
    return rule.is_worse(rule.best(series), statistics.median(averages))


def reference_asha(
    trial: str,
    series: list[float],
    completed: dict[str, list[float]],
    running: dict[str, list[float]],
    rule: Any,
) -> bool:
    reports = len(series)
    rungs = [r for r in (rule.values["min_resource"] * 3**k for k in range(8)) if r <= reports]
    rungs = [r for r in rungs if r >= rule.values["grace_period"]]
    if not rungs:
        return False
    rung = rungs[-1]
    others = {**running, **completed}
    others.pop(trial, None)
    values = [rule.best(series[:rung])] + [
        rule.best(s[:rung]) for s in others.values() if len(s) >= rung
    ]
    top = len(values) // 3
    if top == 0:
        return False
    better = [v for v in values if rule.is_worse(values[0], v)]
    return len(better) >= top


VALUES = [math.nan, math.inf, -math.inf, 0.0, 1.0, 2.0, 3.0, 2.5]


def a_value(rng: random.Random) -> float:
    """Few distinct values, so that ties happen; NaN and ±inf now and then."""
    return rng.choice(VALUES) if rng.random() < 0.3 else float(rng.randint(-4, 4))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize(
    ("rule_name", "settings"),
    [
        ("medianstop", {"min_trials_required": "2", "start_step": "2"}),
        ("asha", {"min_resource": "1", "reduction_factor": "3", "grace_period": "2"}),
        ("threshold", {"lower": "-3", "upper": "3", "start_step": "2"}),
    ],
)
def test_decisions_equal_the_rule_from_scratch(
    seed: int, maximize: bool, rule_name: str, settings: dict[str, str]
) -> None:
    rng = random.Random(seed)
    rule = make_rule(rule_name, maximize, **settings)
    state = new_state(rule, maximize)
    names: list[str] = []
    checked = stops = 0
    for event in range(400):
        running = [n for n in names if state.phases[n] == st.RUNNING]
        if not running or rng.random() < 0.15:
            name = f"t{event:03d}"
            names.append(name)
            set_phase(state, name, st.RUNNING)
            state.series[name] = []
            continue
        name = rng.choice(running)
        roll = rng.random()
        if roll < 0.1:  # ends: kept (Succeeded) or not (Failed)
            set_phase(state, name, rng.choice([st.SUCCEEDED, st.SUCCEEDED, st.FAILED]))
            continue
        if roll < 0.12 and state.completed:  # a completed trial is run again (rare)
            again = rng.choice(list(state.completed))
            set_phase(state, again, st.PENDING)
            state.series[again] = []
            set_phase(state, again, st.RUNNING)
            continue
        for _ in range(rng.randint(1, 3)):
            state.series[name].append(a_value(rng))
        got = ask(state, name)
        completed = {n: list(s) for n, s in state.completed.items()}
        running_now = {n: list(s) for n, s in state.running_series().items()}
        assert completed == {
            n: state.series.get(n, []) for n in names if state.phases[n] in st.RANKED_PHASES
        }
        plain = rule.should_stop(name, state.series[name], completed, running=running_now)
        assert got == plain, f"event {event}"
        if rule_name == "medianstop":
            want = reference_medianstop(name, state.series[name], completed, rule)
            assert (got is not None) == want, f"event {event}"
            assert rule.trial_rules(state.completed) == rule.trial_rules(completed)
        elif rule_name == "asha":
            want = reference_asha(name, state.series[name], completed, running_now, rule)
            assert (got is not None) == want, f"event {event}"
        checked += 1
        if got is not None:
            stops += 1
            set_phase(state, name, st.EARLY_STOPPED)
    assert checked > 100 and 0 < stops < checked
