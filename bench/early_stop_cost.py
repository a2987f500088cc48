"""Time per early-stopping report as completed trials accumulate (issue 13).

Builds an ExperimentState with N completed trials of S steps, one running trial, and asks the
rule about that trial at each of its reports, as the controller does. "before" is the
computation from scratch (the completed and running mappings built over every trial, the rule's
statistics over all of them: what the controller did before issue 13 part 3); "after" is the
kept ``state.completed`` with the rule's index. The first "after" report, which builds the
index, is timed apart; then "after, 1st" is each step's first report (medianstop sorts that
step's averages then, once) and "after" the same reports again, as other running trials make them.
"+1 done" is one more trial completing and then a report at every step of it (the rule's index
takes the new series in).

    nice -n 10 python bench/early_stop_cost.py --trials 1000 10000 --steps 100 --rule medianstop
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from pykatib.api.models import Condition, Experiment, ObjectiveSpec, Trial
from pykatib.control import status as st
from pykatib.control import suggestion as sg
from pykatib.control.state import ExperimentState
from pykatib.earlystop import get_rule


def build(rule_name: str, trials: int, steps: int, seed: int = 0) -> ExperimentState:
    rng = random.Random(seed)
    exp = Experiment.model_validate(
        {"metadata": {"name": "bench"}, "spec": {"objective": {"type": "minimize"}}}
    )
    objective = ObjectiveSpec.model_validate({"type": "minimize", "objectiveMetricName": "loss"})
    state = ExperimentState(experiment=exp, suggestion=sg.new_suggestion(exp), source_dir=Path())
    state.early_stopping = get_rule(rule_name)({}, objective)
    for i in range(trials):
        name = f"c{i}"
        state.series[name] = [rng.random() for _ in range(steps)]
        trial = Trial.model_validate({"metadata": {"name": name}})
        trial.status.conditions = [Condition(type="Succeeded", status="True")]
        state.add_trial(trial)
    trial = Trial.model_validate({"metadata": {"name": "r"}})
    trial.status.conditions = [Condition(type="Running", status="True")]
    state.add_trial(trial)
    state.series["r"] = [0.0] * 4  # from medianstop's start_step; never stopped (0 is best)
    return state


def before(state: ExperimentState) -> None:
    rule = state.early_stopping
    assert rule is not None
    completed = {
        n: state.series.get(n, []) for n, p in state.phases.items() if p in st.RANKED_PHASES
    }
    running = {n: state.series.get(n, []) for n, p in state.phases.items() if p == st.RUNNING}
    rule.should_stop("r", state.series["r"], completed, running=running)


def after(state: ExperimentState) -> None:
    rule = state.early_stopping
    assert rule is not None
    rule.should_stop("r", state.series["r"], state.completed, running=state.running_series())


def per_report(state: ExperimentState, ask, reports: int) -> float:
    """Mean seconds per report over ``reports`` reports at successive steps from the 5th."""
    series = state.series["r"]
    del series[4:]
    total = 0.0
    for _ in range(reports):
        series.append(0.0)
        start = time.perf_counter()
        ask(state)
        total += time.perf_counter() - start
    return total / reports


def one_more_completed(state: ExperimentState, steps: int, rounds: int = 5) -> float:
    """Mean seconds for a trial to complete and then a report at each step 5..steps."""
    rng = random.Random(1)
    for k in range(5, steps + 1):  # every step's list asked for (and sorted) once first
        state.series["r"] = [0.0] * k
        after(state)
    total = 0.0
    for i in range(rounds):
        name = f"late{i}"
        state.series[name] = [rng.random() for _ in range(steps)]
        trial = Trial.model_validate({"metadata": {"name": name}})
        trial.status.conditions = [Condition(type="Succeeded", status="True")]
        start = time.perf_counter()
        state.add_trial(trial)
        for k in range(5, steps + 1):
            state.series["r"] = [0.0] * k
            after(state)
        total += time.perf_counter() - start
    return total / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--reports", type=int, default=20)
    parser.add_argument("--rule", default="medianstop")
    args = parser.parse_args()
    print(f"rule {args.rule}, {args.steps} steps a trial, {args.reports} reports (steps 5..)")
    for n in args.trials:
        state = build(args.rule, n, args.steps)
        start = time.perf_counter()
        after(state)
        first = time.perf_counter() - start
        t_first = per_report(state, after, args.reports)
        t_after = per_report(state, after, args.reports)
        t_before = per_report(state, before, args.reports)
        t_more = one_more_completed(state, args.steps)
        print(
            f"{n:>6} completed: before {t_before * 1e3:8.3f}  after, 1st {t_first * 1e3:7.3f}  "
            f"after {t_after * 1e3:7.3f} ms/report  (index built once: {first * 1e3:.0f} ms; "
            f"+1 done, then a report at each step: {t_more * 1e3:.1f} ms)"
        )


if __name__ == "__main__":
    main()
