"""A local trial's ``batch/v1`` Job as the Kubernetes API server would show it.

Katib's trial controller judges a trial by its job's status (the template's
``successCondition`` / ``failureCondition``, :mod:`pykatib.control.conditions`), so the local
runner reports the Job with the conditions Kubernetes' job controller writes (v1.31 and later:
``SuccessCriteriaMet`` / ``FailureTarget`` first), ``status.failed`` counting failed attempts.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pykatib.runtime import replicas
from pykatib.runtime.paths import AttemptFiles


def job_resource(
    run_spec: dict[str, Any],
    phase: str,
    reason: str,
    message: str,
    started: datetime,
    failed: int,
    attempt: AttemptFiles | None = None,
) -> dict[str, Any]:
    """The Job of a run in ``phase`` (running, succeeded, failed or stopped) that started at
    ``started`` and has had ``failed`` failed attempts; a training job (PyTorchJob...) as the
    training operator shows it, its replicas as the gang of ``attempt`` last saw them.

    Its ``spec`` (and what ``metadata`` holds) is the run spec's own, not a copy: the Job is
    read (judged by the trial's conditions), never changed."""
    now = _k8s_time(datetime.now(timezone.utc))
    start = _k8s_time(started)
    if replicas.is_training_kind(run_spec):
        replica_states = attempt.replica_states() if attempt is not None else {}
        states = {name: str(s.get("state")) for name, s in replica_states.items()}
        return {
            "apiVersion": run_spec.get("apiVersion", replicas.API_VERSION),
            "kind": run_spec.get("kind"),
            "metadata": {**(run_spec.get("metadata") or {}), "creationTimestamp": start},
            "spec": run_spec.get("spec") or {},
            "status": replicas.job_status(run_spec, phase, reason, message, start, now, states),
        }
    kinds: tuple[str, ...] = ()
    if phase == "succeeded":
        kinds = ("SuccessCriteriaMet", "Complete")
        reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
    elif phase == "failed":
        kinds = ("FailureTarget", "Failed")
    job_status: dict[str, Any] = {}
    if kinds:
        job_status["conditions"] = [
            {
                "type": kind,
                "status": "True",
                "lastProbeTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
            for kind in kinds
        ]
    job_status["startTime"] = start
    if phase == "succeeded":
        job_status.update(completionTime=now, succeeded=1)
    if phase == "running":
        job_status["active"] = 1
    if failed:  # the API server leaves zero counts out
        job_status["failed"] = failed
    job_status.update(terminating=0, uncountedTerminatedPods={})
    job_status["ready"] = 1 if phase == "running" else 0
    return {
        "apiVersion": run_spec.get("apiVersion", "batch/v1"),
        "kind": run_spec.get("kind", "Job"),
        "metadata": {**(run_spec.get("metadata") or {}), "creationTimestamp": start},
        "spec": run_spec.get("spec") or {},
        "status": job_status,
    }


def _k8s_time(moment: datetime) -> str:
    """metav1.Time's text (isoformat: several times cheaper than strftime)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")[:19] + "Z"
