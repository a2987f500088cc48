"""The local runner's ``RunStatus.job``: the trial's batch/v1 Job as Katib's conditions see it."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from helpers import finished

from pykatib.api.defaults import JOB_FAILURE_CONDITION, JOB_SUCCESS_CONDITION
from pykatib.api.models import MetricsCollectorSpec
from pykatib.control.conditions import job_verdict, judge_job
from pykatib.runtime.base import RunRequest
from pykatib.runtime.local import LocalJobRunner

KEY = ("default", "exp-7xk2p9qd")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
BLOCK = "import threading; threading.Event().wait()"


def start(tmp_path: Path, code: str, **job_spec: Any) -> tuple[LocalJobRunner, dict[str, Any]]:
    run_spec = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": KEY[1], "namespace": KEY[0], "labels": {"app": "x"}},
        "spec": {
            **job_spec,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "training-container", "command": [sys.executable, "-c", code]}
                    ],
                    "restartPolicy": "Never",
                }
            },
        },
    }
    runner = LocalJobRunner(lambda: None)
    runner.start(
        RunRequest(
            key=KEY,
            run_spec=run_spec,
            primary_container_name="training-container",
            metrics_collector=MetricsCollectorSpec(),
            metric_names=("loss",),
            working_dir=tmp_path,
            trial_dir=tmp_path / "trial",
        )
    )
    return runner, run_spec


def judged(job: dict[str, Any]) -> str | None:
    return judge_job(job, JOB_SUCCESS_CONDITION, JOB_FAILURE_CONDITION)


def check_shape(job: dict[str, Any], run_spec: dict[str, Any]) -> dict[str, Any]:
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"] == KEY[1] and job["metadata"]["namespace"] == KEY[0]
    assert job["metadata"]["labels"] == {"app": "x"}
    assert RFC3339.fullmatch(job["metadata"]["creationTimestamp"])
    assert job["spec"] == run_spec["spec"]
    status = job["status"]
    assert RFC3339.fullmatch(status["startTime"])
    assert status["uncountedTerminatedPods"] == {} and status["terminating"] == 0
    for condition in status.get("conditions", []):
        assert condition["status"] == "True"
        assert RFC3339.fullmatch(condition["lastProbeTime"])
        assert condition["lastTransitionTime"] == condition["lastProbeTime"]
    return status


def test_a_succeeded_trial_has_a_complete_job(tmp_path: Path) -> None:
    """The Job defaults (constants.go:27,30) judge it succeeded (job_util.go:90-109), with
    the reason and message Kubernetes' job controller writes; Katib's own test condition
    ``status.[@this].#(succeeded==1)`` (job_util_test.go:91) sees ``status.succeeded``."""
    runner, run_spec = start(tmp_path, "print('loss=0.5')")
    status = finished(runner, KEY)
    assert status.phase == "succeeded" and status.job is not None
    job_status = check_shape(status.job, run_spec)
    assert [c["type"] for c in job_status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert {(c["reason"], c["message"]) for c in job_status["conditions"]} == {
        ("CompletionsReached", "Reached expected number of succeeded pods")
    }
    assert job_status["succeeded"] == 1 and job_status["ready"] == 0
    assert "failed" not in job_status and "active" not in job_status  # zero counts left out
    assert job_status["completionTime"] >= job_status["startTime"]
    assert judged(status.job) == "succeeded"
    assert judge_job(status.job, "status.[@this].#(succeeded==1)", JOB_FAILURE_CONDITION) == (
        "succeeded"
    )


def test_a_trial_failing_past_its_backoff_limit_has_a_failed_job(tmp_path: Path) -> None:
    """``status.failed`` counts every failed attempt (backoffLimit 1: two); the Failed condition
    has reason BackoffLimitExceeded, which Katib copies into the trial's condition
    (job_util.go:79-87, trial_controller_util.go:98-110)."""
    runner, run_spec = start(tmp_path, "import sys; sys.exit(3)", backoffLimit=1)
    status = finished(runner, KEY)
    assert status.phase == "failed" and status.job is not None
    job_status = check_shape(status.job, run_spec)
    assert [c["type"] for c in job_status["conditions"]] == ["FailureTarget", "Failed"]
    assert job_status["failed"] == 2
    assert "completionTime" not in job_status and "succeeded" not in job_status
    verdict = job_verdict(status.job, JOB_SUCCESS_CONDITION, JOB_FAILURE_CONDITION)
    assert verdict is not None
    assert (verdict.phase, verdict.reason) == ("failed", "BackoffLimitExceeded")
    assert verdict.message.startswith("Job has reached the specified backoff limit")


def test_a_trial_past_its_deadline_has_a_failed_job(tmp_path: Path) -> None:
    """activeDeadlineSeconds fails the Job with reason DeadlineExceeded; the killed attempt counts
    as failed. The Job failure default (constants.go:30) judges it failed (job_util.go:67-88)."""
    runner, run_spec = start(tmp_path, BLOCK, backoffLimit=0, activeDeadlineSeconds=1)
    status = finished(runner, KEY)
    assert status.job is not None
    job_status = check_shape(status.job, run_spec)
    assert {c["reason"] for c in job_status["conditions"]} == {"DeadlineExceeded"}
    assert job_status["failed"] == 1
    verdict = job_verdict(status.job, JOB_SUCCESS_CONDITION, JOB_FAILURE_CONDITION)
    assert verdict is not None and (verdict.phase, verdict.reason) == ("failed", "DeadlineExceeded")


def test_a_running_trial_has_an_active_job_that_meets_neither_condition(tmp_path: Path) -> None:
    """While it runs the Job has no Complete or Failed condition, so neither condition is met and
    the trial stays Running (job_util.go:111-119); a stopped trial's Job (Katib deletes it) gets
    no terminal condition either."""
    marker = tmp_path / "started"
    runner, run_spec = start(tmp_path, f"open({str(marker)!r}, 'w').close()\n{BLOCK}")
    for _ in range(1200):  # until the process runs
        if marker.exists():
            break
        time.sleep(0.05)
    assert marker.exists()
    running = runner.status(KEY)
    assert running is not None and running.phase == "running" and running.job is not None
    job_status = check_shape(running.job, run_spec)
    assert (job_status["active"], job_status["ready"]) == (1, 1)
    assert "conditions" not in job_status
    assert judged(running.job) is None
    runner.stop(KEY, "experiment is done")
    stopped = finished(runner, KEY)
    assert stopped.phase == "stopped" and stopped.job is not None
    job_status = check_shape(stopped.job, run_spec)
    assert "conditions" not in job_status and "active" not in job_status
    assert judged(stopped.job) is None
