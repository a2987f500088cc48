"""The embedded control plane's life: it ends with the interpreter, leaving the experiment
resumable, and shares experiments with ``pykatib run`` through the lease."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml
from standins import STANDINS, katib_example, rewrite_commands

from pykatib import KatibClient
from pykatib.control import status as st


def _experiment(name: str, seconds: float, trials: int) -> dict:
    data = rewrite_commands(katib_example("resume-experiment/long-running-resume.yaml"), STANDINS)
    data["metadata"] = {"name": name, "namespace": "default"}
    data["spec"]["objective"].pop("goal")
    data["spec"].update(maxTrialCount=trials, parallelTrialCount=2, maxFailedTrialCount=trials)
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    container["command"] = [
        sys.executable,
        "-c",
        f"import time; time.sleep({seconds}); print('loss=0.5')",
        "--lr=${trialParameters.learningRate}",
        "--momentum=${trialParameters.momentum}",
    ]
    return data


def test_interpreter_exit_stops_trials_and_leaves_it_resumable(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(_experiment("slow", 60, 2)))
    script = textwrap.dedent(
        f"""
        from pykatib import KatibClient
        client = KatibClient()
        client.create_experiment({str(path)!r})
        client.wait_for_experiment_condition("slow", expected_condition="Running", progress=False)
        while not client.get_experiment("slow").status.trials_running:
            pass
        print("running", flush=True)
        # no close(): the interpreter's exit stops the control plane
        """
    )
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout
    assert time.monotonic() - began < 30  # did not wait for the 60 s trials

    with KatibClient() as client:
        exp = client.get_experiment("slow")
        assert not st.is_completed(exp)
        assert (exp.status.trials_running or 0) == 0 and exp.status.trials_pending == 2
        trials = client.list_trials("slow")
        assert [st.trial_phase(t) for t in trials] == [st.PENDING, st.PENDING]


def test_follows_a_pykatib_run_of_the_same_experiment(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump(_experiment("shared", 1.0, 4)))
    run = subprocess.Popen(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-q", "-f", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with KatibClient() as client:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if client.get_experiment("shared").status.trials_running:
                        break
                except RuntimeError:
                    pass
                time.sleep(0.05)
            done = client.wait_for_experiment_condition("shared", polling_interval=0.1, timeout=60)
            assert done.status.trials_succeeded == 4
            # One control plane ran the trials: each trial ran once, four in all.
            assert len(client.list_trials("shared")) == 4
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    finally:
        if run.poll() is None:
            run.kill()
