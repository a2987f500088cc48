"""The status summary kept as trials change phase (issue 13) says what Katib's rule says of the
whole set of trials: counters and the optimal trial (the first created of the best), whatever
order the trials change in. It keeps no trial-name list (the store makes them on read)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from helpers import experiment

from pykatib.api.models import Condition, Trial
from pykatib.control import status as st
from pykatib.suggest.base import TrialResult
from pykatib.suggest.registry import create_algorithm

# The conditions that put a trial in each phase (trial_phase reads them).
CONDITIONS = {
    st.PENDING: [],
    st.RUNNING: ["Running"],
    st.SUCCEEDED: ["Succeeded"],
    st.FAILED: ["Failed"],
    st.KILLED: ["Killed"],
    st.EARLY_STOPPED: ["EarlyStopped"],
    st.METRICS_UNAVAILABLE: ["MetricsUnavailable"],
}


def reference(trials: list[Trial], phases: dict[str, str], values: dict, maximize: bool):
    """Katib's summary, written out plainly: every trial looked at, in creation order."""
    lists = {p: [t.name for t in trials if phases[t.name] == p] for p in st.ALL_PHASES}
    best, best_value = None, 0.0
    for t in trials:
        v = values[t.name]
        ranked = phases[t.name] in st.RANKED_PHASES and v is not None
        if ranked and (best is None or (v > best_value if maximize else v < best_value)):
            best, best_value = t.name, v
    return lists, best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("maximize", [False, True])
def test_kept_summary_matches_the_whole_set(seed: int, maximize: bool) -> None:
    rng = random.Random(seed)
    exp = experiment("pass", objective={"type": "maximize" if maximize else "minimize"})
    summary = st.TrialsSummary()
    trials: list[Trial] = []
    phases: dict[str, str] = {}
    values: dict[str, float | None] = {}
    for step in range(300):
        if not trials or rng.random() < 0.3:
            trial = Trial.model_validate({"metadata": {"name": f"t{step:03d}"}})
            trials.append(trial)
            old = None
        else:
            trial = rng.choice(trials)
            old = phases[trial.name]
        phase = rng.choice(st.ALL_PHASES)
        # Few distinct values, so that ties happen; sometimes none.
        value = rng.choice([None, 1.0, 2.0, 3.0, float(rng.randint(0, 9))])
        trial.status.conditions = [Condition(type=c, status="True") for c in CONDITIONS[phase]]
        assert st.trial_phase(trial) == phase
        phases[trial.name], values[trial.name] = phase, value
        summary.update(trial, old, phase, value if phase in st.RANKED_PHASES else None)
        if rng.random() < 0.5:
            continue  # several changes between two passes
        summary.apply(exp)
        lists, best = reference(trials, phases, values, maximize)
        s = exp.status
        got = {
            st.PENDING: s.trials_pending,
            st.RUNNING: s.trials_running,
            st.SUCCEEDED: s.trials_succeeded,
            st.FAILED: s.trials_failed,
            st.KILLED: s.trials_killed,
            st.EARLY_STOPPED: s.trials_early_stopped,
            st.METRICS_UNAVAILABLE: s.trial_metrics_unavailable,
        }
        assert got == {p: len(names) or None for p, names in lists.items()}, f"step {step}"
        assert s.trials == len(trials)
        assert not any(k.endswith("TrialList") for k in s.to_dict()), f"step {step}"
        if best is not None:
            assert s.current_optimal_trial.best_trial_name == best, f"step {step}"


def test_a_status_read_with_lists_is_written_without_them() -> None:
    """A status read from the store has its lists (made from the trials): the summary written
    into it drops them, so that the status the control plane writes holds none."""
    exp = experiment("pass")
    exp.status.succeeded_trial_list, exp.status.trials_succeeded = ["old"], 1
    summary = st.TrialsSummary()
    trial = Trial.model_validate({"metadata": {"name": "t0"}})
    trial.status.conditions = [Condition(type="Succeeded", status="True")]
    summary.update(trial, None, st.SUCCEEDED, 1.0)
    summary.apply(exp)
    assert exp.status.succeeded_trial_list is None and exp.status.trials_succeeded == 1
    assert exp.status.current_optimal_trial.best_trial_name == "t0"


@pytest.mark.parametrize("seed", range(4))
def test_random_keeps_what_it_saw_of_the_history_as_a_fresh_one_would(seed: int) -> None:
    """The random algorithm looks only at new and running trials on each call (issue 13); it
    proposes what a fresh instance, looking at the whole history, proposes."""
    rng = random.Random(seed)
    parameters = [{"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "6"}}]
    exp = experiment("pass", parameters=parameters)
    exp.spec.algorithm = type(exp.spec.algorithm).model_validate(
        {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "7"}]}
    )
    kept = create_algorithm(exp)
    history: list[TrialResult] = []
    for _ in range(40):
        # Some running trials end, in any order.
        history = [
            replace(t, state=st.SUCCEEDED, value=1.0)
            if not t.completed and rng.random() < 0.5
            else t
            for t in history
        ]
        n = rng.randint(0, 3)
        got = kept.suggest(history, n)
        assert got == create_algorithm(exp).suggest(history, n)
        history += [
            TrialResult(name=f"t{len(history) + i}", assignments=p.assignments, state=st.RUNNING)
            for i, p in enumerate(got)
        ]
    assert len({t.assignments["n"] for t in history}) == 6 and len(history) > 6
