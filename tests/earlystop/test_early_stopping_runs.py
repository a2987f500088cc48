"""Early stopping in running experiments: real trials, stopped by the control plane."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import controller, experiment, run
from katib_oracle import check_outcome
from standins import STANDINS, katib_example, rewrite_commands

from pykatib.api.yaml import parse_experiments
from pykatib.control import status as st


@pytest.mark.parametrize(
    "example",
    ["early-stopping/median-stop.yaml", "early-stopping/median-stop-with-json-format.yaml"],
)
def test_katib_median_stop_examples_stop_some_trials(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_EPOCH_SECONDS", "1.5")  # trials take a while, as training does
    # The examples set no random_state: fix the seed pykatib would draw, so that the run (and
    # which trials are worse than the median) is the same every time. With a drawn seed, about
    # one run in five happens to order its trials so that none is ever worse than the median.
    monkeypatch.setattr("pykatib.suggest.random.secrets.randbits", lambda bits: 3)
    data = rewrite_commands(katib_example(example), STANDINS)
    [(exp, _)] = parse_experiments(yaml.safe_dump(data), example)
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.condition("Succeeded").status == "True"
    stopped = done.status.trials_early_stopped or 0
    values = {t.name: (st.trial_phase(t), st.objective_value(t)) for t in ctl.store.list_trials()}
    assert stopped >= 1, values
    assert done.status.trials == exp.spec.max_trial_count  # early stopped trials count as done
    check_outcome(done, ctl.store.list_trials())  # Katib's reason and optimal trial
    for trial in ctl.store.list_trials():
        if st.trial_phase(trial) == st.EARLY_STOPPED:
            cond = trial.status.condition("EarlyStopped")
            assert cond.reason == st.TRIAL_EARLY_STOPPED
            assert cond.message == "Trial is early stopped"  # Katib's; why is in an event
            events = ctl.store.list_events(trial.namespace, "Trial", trial.name)
            assert any("median" in (e.message or "") for e in events)
            assert ctl.store.list_observations(trial.namespace, trial.name)  # kept


PUSH_STEPS = """
import pykatib
for step in range(100):
    pykatib.report_metrics({"loss": step / 10}, step=step)
"""


def test_early_stopping_acts_on_pushed_values_within_one_step(tmp_path: Path) -> None:
    exp = experiment(
        PUSH_STEPS,
        args=[],
        maxTrialCount=1,
        parallelTrialCount=1,
        metricsCollectorSpec={"collector": {"kind": "Push"}},
        earlyStopping={
            "algorithmName": "threshold",
            "algorithmSettings": [{"name": "upper", "value": "0.35"}],
        },
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_early_stopped == 1
    [trial] = ctl.store.list_trials()
    steps = [p.step for p in ctl.store.list_observations("default", trial.name)]
    # 0.4 (step 4) crosses the bound: the trial never gets to report step 5.
    assert steps == [0, 1, 2, 3, 4]


def test_medianstop_with_push_stops_worse_trials(tmp_path: Path) -> None:
    code = (
        "import sys, pykatib\n"
        "lr = float(sys.argv[1].split('=')[1])\n"
        "for step in range(20):\n"
        "    pykatib.report_metrics({'loss': abs(lr - 0.02) * 100 + 1 / (step + 1)}, step=step)\n"
    )
    exp = experiment(
        code,
        algorithm="grid",
        maxTrialCount=4,
        parallelTrialCount=1,
        parameters=[
            {
                "name": "lr",
                "parameterType": "discrete",
                "feasibleSpace": {"list": ["0.02", "0.021", "0.05", "0.09"]},
            }
        ],
        metricsCollectorSpec={"collector": {"kind": "Push"}},
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [
                {"name": "min_trials_required", "value": "1"},
                {"name": "start_step", "value": "2"},
            ],
        },
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    by_lr = {t.spec.parameter_assignments[0].value: t for t in ctl.store.list_trials()}
    assert st.trial_phase(by_lr["0.02"]) == st.SUCCEEDED
    assert st.trial_phase(by_lr["0.09"]) == st.EARLY_STOPPED
    stopped = ctl.store.list_observations("default", by_lr["0.09"].name)
    assert len(stopped) == 2  # stopped at start_step, not one report later
    assert done.status.trials == 4
