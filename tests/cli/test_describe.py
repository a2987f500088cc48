"""`pykatib describe` as kubectl describe prints it: metadata, status and the Events table."""

from __future__ import annotations

import re
from pathlib import Path

from pykatib_cli import experiment, get_json, pykatib, write


def _events(text: str) -> list[list[str]]:
    """The rows of the Events table (Type, Reason, Age, From, Message...)."""
    lines = text.split("\nEvents:\n", 1)[1].splitlines()
    assert lines[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    return [line.split() for line in lines[2:] if line.strip()]


def test_describe_trial_and_experiment_show_events_and_metadata(tmp_path: Path) -> None:
    """Katib's trial events (trial_controller.go:305, trial_controller_util.go:66, :126) as
    `kubectl describe trial` lists them; metadata as the API server sets it."""
    path = write(tmp_path / "e.yaml", experiment("described"))
    pykatib("run", "-f", str(path), "-q", check=True)
    trial = get_json("trials", "-e", "described")["items"][0]
    name = trial["metadata"]["name"]
    out = pykatib("describe", "trial", name, check=True).stdout
    rows = _events(out)
    assert [r[1] for r in rows] == ["JobCreated", "JobRunning", "JobSucceeded"]
    assert all(r[0] == "Normal" and r[3] == "pykatib-controller" for r in rows)
    assert " ".join(rows[0][4:]) == f"Job {name} has been created"
    assert re.search(rf"\n  UID:\s+{trial['metadata']['uid']}\n", out)
    assert "Owner References:" in out and "Kind:                  Experiment" in out
    exp_out = pykatib("describe", "experiment", "described", check=True).stdout
    reasons = [r[1] for r in _events(exp_out)]
    assert reasons == ["ExperimentCreated", "ExperimentRunning", "ExperimentMaxTrialsReached"]
    exp = get_json("experiment", "described")
    meta = exp["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 1
    assert meta["generation"] == 1
    assert trial["metadata"]["ownerReferences"][0]["uid"] == meta["uid"]
