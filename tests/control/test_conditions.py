"""Katib's ``successCondition`` / ``failureCondition``: the GJSON evaluator and the judgement.

The expected values in ``GJSON_CASES`` were produced by running tidwall/gjson v1.14.1 (the
version Katib pins, go.mod:22) on the same documents, and the expected judgements by Katib's
``GetDeployedJobStatus`` logic (pkg/controller.v1beta1/trial/util/job_util.go:59-120) over that
library. Katib paths cited are at commit 33c8ff4e of kubeflow/katib.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from helpers import experiment
from standins import katib_examples_dir

from pykatib.api.validation import validate_experiment
from pykatib.control.conditions import ConditionError, check_condition, job_verdict, judge_job
from pykatib.control.gjson import MISSING, PathSyntaxError, get

# --- documents ---------------------------------------------------------------------------------

T0, T1, T2 = "2024-05-01T10:00:00Z", "2024-05-01T10:02:30Z", "2024-05-01T10:05:00Z"

# Katib's own fake job (pkg/controller.v1beta1/trial/util/job_util_test.go:123-146).
KATIB_FAKE_JOB = {
    "metadata": {"name": "test-job"},
    "status": {
        "conditions": [
            {
                "type": "Failed",
                "status": "False",
                "reason": "test-reason",
                "message": "test-message",
            },
            {
                "type": "Complete",
                "status": "True",
                "reason": "test-reason",
                "message": "test-message",
            },
        ],
        "succeeded": 1,
    },
}
WORKFLOW = {"status": {"phase": "Succeeded", "progress": "2/2"}}
MIXED = {
    "a": [1, 2, 3, "2", True, False, None, {"b": 1}, [1, 2]],
    "n": {"x.y": 5, "x": {"y": 6}, "k1": 1, "k2": 2, "abc": "v"},
    "items": [
        {"name": "a", "ok": True, "n": 1.5, "tags": ["x", "y"]},
        {"name": "b", "ok": False, "n": 3, "tags": ["z"]},
        {"name": "c", "ok": None, "n": "3", "tags": []},
        {"nm": "d"},
    ],
    "empty": [],
}
DOCUMENTS = {"job": KATIB_FAKE_JOB, "workflow": WORKFLOW, "mixed": MIXED}


def condition(type_: str, status: str, reason: str = "", message: str = "", t: str = T1) -> dict:
    c = {"type": type_, "status": status, "lastProbeTime": t, "lastTransitionTime": t}
    return {
        **c,
        **({"reason": reason} if reason else {}),
        **({"message": message} if message else {}),
    }


def batch_job(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "random-exp-abc12345", "namespace": "kubeflow"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never"}}},
        "status": status,
    }


def job_failed(reason: str, message: str) -> dict[str, Any]:
    conditions = [condition(kind, "True", reason, message) for kind in ("FailureTarget", "Failed")]
    return batch_job({"conditions": conditions, "failed": 1, "ready": 0, "startTime": T0})


COMPLETIONS = ("CompletionsReached", "Reached expected number of succeeded pods")


def training_job(kind: str, api: str, replica: str, phase: str) -> dict[str, Any]:
    """A Kubeflow training operator job as the operator writes its status."""
    conditions = [condition("Created", "True", f"{kind}Created", f"{kind} t is created.", T0)]
    if phase == "Running":
        conditions.append(condition("Running", "True", f"{kind}Running", f"{kind} t is running."))
    else:
        conditions.append(condition("Running", "False", f"{kind}Running", f"{kind} t is running."))
        message = {
            "Succeeded": f"{kind} kubeflow/t successfully completed.",
            "Failed": f"{kind} kubeflow/t has failed because 1 {replica} replica(s) failed.",
        }[phase]
        conditions.append(condition(phase, "True", f"{kind}{phase}", message, T2))
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "t", "namespace": "kubeflow"},
        "status": {"conditions": conditions, "replicaStatuses": {replica: {}}, "startTime": T0},
    }


def workflow(phase: str | None, message: str = "") -> dict[str, Any]:
    """An Argo Workflow; ``None``: not yet picked up by the workflow controller (no status)."""
    doc: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow"}
    if phase is not None:
        doc["status"] = {"phase": phase, "startedAt": T0, "progress": "1/2"}
        if message:
            doc["status"]["message"] = message
    return doc


def pipeline_run(status: str, reason: str, message: str) -> dict[str, Any]:
    """A Tekton PipelineRun: one Succeeded condition, Unknown while it runs."""
    succeeded = {"type": "Succeeded", "status": status, "reason": reason, "message": message}
    return {
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "PipelineRun",
        "status": {"conditions": [succeeded], "startTime": T0},
    }


def train_job(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "status": {"conditions": conditions},
    }


JOBS: dict[str, dict[str, Any]] = {
    "job running": batch_job({"active": 1, "ready": 1, "startTime": T0, "terminating": 0}),
    "job complete": batch_job(
        {
            "completionTime": T1,
            "conditions": [
                condition(kind, "True", *COMPLETIONS) for kind in ("SuccessCriteriaMet", "Complete")
            ],
            "ready": 0,
            "startTime": T0,
            "succeeded": 1,
        }
    ),
    "job complete (Kubernetes < 1.31)": batch_job(
        {"completionTime": T1, "conditions": [condition("Complete", "True")], "succeeded": 1}
    ),
    "job backoff": job_failed(
        "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    ),
    "job deadline": job_failed("DeadlineExceeded", "Job was active longer than specified deadline"),
    "katib fake job": KATIB_FAKE_JOB,
    "katib fake job, Complete False": {
        "status": {
            "conditions": [
                {"type": "Failed", "status": "False", "reason": "r", "message": "m"},
                {"type": "Complete", "status": "False", "reason": "r", "message": "m"},
            ],
            "succeeded": 1,
        }
    },
    "workflow running": workflow("Running"),
    "workflow succeeded": workflow("Succeeded"),
    "workflow failed": workflow("Failed", "child 't-1' failed"),
    "workflow error": workflow("Error", "pod deleted"),
    "workflow pending": workflow(None),
    "pipelinerun running": pipeline_run("Unknown", "Running", "Tasks Completed: 1"),
    "pipelinerun succeeded": pipeline_run("True", "Succeeded", "Tasks Completed: 2"),
    "pipelinerun failed": pipeline_run("False", "Failed", "Tasks Completed: 2 (Failed: 1)"),
    "trainjob running": train_job([]),
    "trainjob complete": train_job([condition("Complete", "True", "JobsCompleted", "done")]),
    "trainjob failed": train_job([condition("Failed", "True", "JobsFailed", "a job failed")]),
}
for _kind, _api, _replica in (
    ("PyTorchJob", "kubeflow.org/v1", "Master"),
    ("TFJob", "kubeflow.org/v1", "Chief"),
    ("MPIJob", "kubeflow.org/v2beta1", "Launcher"),
):
    for _phase in ("Running", "Succeeded", "Failed"):
        JOBS[f"{_kind} {_phase.lower()}"] = training_job(_kind, _api, _replica, _phase)

# --- every condition Katib's docs, examples, defaults and tests write -------------------------

JOB_CONDITIONS = (
    'status.conditions.#(type=="Complete")#|#(status=="True")#',
    'status.conditions.#(type=="Failed")#|#(status=="True")#',
)
KUBEFLOW_CONDITIONS = (
    'status.conditions.#(type=="Succeeded")#|#(status=="True")#',
    'status.conditions.#(type=="Failed")#|#(status=="True")#',
)
ARGO_CONDITIONS = ('status.[@this].#(phase=="Succeeded")#', 'status.[@this].#(phase=="Failed")#')
TEKTON_CONDITIONS = (
    'status.conditions.#(type=="Succeeded")#|#(status=="True")#',
    'status.conditions.#(type=="Succeeded")#|#(status=="False")#',
)
KATIB_TEST_CONDITIONS = ("status.[@this].#(succeeded==1)", JOB_CONDITIONS[1])

# (successCondition, failureCondition) -> where Katib writes them.
KATIB_CONDITIONS = {
    JOB_CONDITIONS: [
        "pkg/apis/controller/experiments/v1beta1/constants.go:27,30 (Job defaults)",
        "pkg/apis/controller/experiments/v1beta1/constants.go:39,42 (TrainJob defaults)",
        "examples/v1beta1/trial-template/trial-configmap-source.yaml:39-40",
        "pkg/ui/v1beta1/frontend/src/app/services/experiment-form.service.ts:220-221",
        "examples/v1beta1/sdk/nas-with-darts.ipynb:429,432",
        "pkg/controller.v1beta1/trial/util/job_util_test.go:40-41",
    ],
    KUBEFLOW_CONDITIONS: [
        "pkg/apis/controller/experiments/v1beta1/constants.go:33,36 (Kubeflow job defaults)",
        "examples/v1beta1/kubeflow-training-operator/mpijob-horovod.yaml:33-34",
        "examples/v1beta1/kubeflow-pipelines/mpi-job-horovod.py:164-165",
    ],
    ARGO_CONDITIONS: ["examples/v1beta1/argo/argo-workflow.yaml:35-36"],
    TEKTON_CONDITIONS: ["examples/v1beta1/tekton/pipeline-run.yaml:35-36"],
    KATIB_TEST_CONDITIONS: ["pkg/controller.v1beta1/trial/util/job_util_test.go:91"],
}


# --- the evaluator -----------------------------------------------------------------------------

GJSON_CASES = [
    (
        "job",
        'status.conditions.#(type=="Complete")#|#(status=="True")#',
        [
            {
                "type": "Complete",
                "status": "True",
                "reason": "test-reason",
                "message": "test-message",
            }
        ],
    ),
    ("job", 'status.conditions.#(type=="Failed")#|#(status=="True")#', []),
    ("job", 'status.conditions.#(type=="Complete")#.#(status=="True")#', []),
    ("job", 'status.conditions.#(type=="Complete")#.status', ["True"]),
    ("job", 'status.conditions.#(type=="Complete")#|#', 1),
    ("job", 'status.conditions.#(type=="Complete")#|0.reason', "test-reason"),
    ("job", 'status.conditions.#(type=="Nope")#', []),
    ("job", 'status.conditions.#(type=="Nope")#.reason|#', []),
    ("job", 'status.conditions.#(type=="Nope")#|#', 0),
    (
        "job",
        'status.conditions.#(type=="Complete")',
        {"type": "Complete", "status": "True", "reason": "test-reason", "message": "test-message"},
    ),
    ("job", 'status.conditions.#(type=="Complete").status', "True"),
    ("job", 'status.conditions.#(type=="Nope")', MISSING),
    ("job", 'status.conditions.#(type=="Nope")|@keys', []),
    ("job", 'status.conditions.#(status=="True").type', "Complete"),
    ("job", "status.conditions.#(type==Complete)#|#", 1),
    ("job", "status.conditions.#(type=Complete)#|#", 1),
    ("job", 'status.conditions.#( type == "Complete" )#|#', 1),
    ("job", 'status.conditions.#[type=="Complete"]#|#', 1),
    ("job", 'status.conditions.#(type!="Complete")#.type', ["Failed"]),
    ("job", 'status.conditions.#(type%"Comp*")#.type', ["Complete"]),
    ("job", 'status.conditions.#(type%"?ailed")#.type', ["Failed"]),
    ("job", 'status.conditions.#(type!%"C*")#.type', ["Failed"]),
    ("job", 'status.conditions.#(type<"D")#.type', ["Complete"]),
    ("job", 'status.conditions.#(type>="Failed")#.type', ["Failed"]),
    ("job", "status.conditions.#(reason)#|#", 2),
    ("job", "status.conditions.#(lastProbeTime)#", []),
    (
        "job",
        "status.[@this].#(succeeded==1)",
        {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "False",
                    "reason": "test-reason",
                    "message": "test-message",
                },
                {
                    "type": "Complete",
                    "status": "True",
                    "reason": "test-reason",
                    "message": "test-message",
                },
            ],
            "succeeded": 1,
        },
    ),
    ("job", "status.[@this].#(succeeded==1)#|#", 1),
    ("job", 'status.[@this].#(succeeded=="1")#|#', 1),
    ("job", "status.[@this].#(succeeded==1.0)#|#", 1),
    ("job", "status.[@this].#(succeeded>=1)#|#", 1),
    ("job", "status.[@this].#(succeeded>1)#|#", 0),
    ("job", "status.[@this].#(succeeded<2)#|#", 1),
    ("job", "status.[@this].#(succeeded<=0)#|#", 0),
    ("job", "status.[@this].#(succeeded!=1)#|#", 0),
    ("job", "status.[@this].#(failed>=1)#", []),
    ("job", 'status.[@this].#(conditions.#(type=="Complete"))#|#', 1),
    ("job", "status.[@this].#(conditions.#>1)#|#", 1),
    ("job", "status.[@this]|#", 1),
    ("job", "status.@this.succeeded", 1),
    ("job", "status|@this|succeeded", 1),
    ("job", "@this.metadata.name", "test-job"),
    ("job", "status.conditions.#", 2),
    ("job", "status.conditions.#.type", ["Failed", "Complete"]),
    ("job", "status.conditions.#.type|1", "Complete"),
    ("job", "status.conditions.1.type", "Complete"),
    ("job", "status.conditions.2", MISSING),
    ("job", "status.conditions.-1", MISSING),
    ("job", "status.conditions.type", MISSING),
    ("job", "status.nope", MISSING),
    ("job", "status.nope|@keys", []),
    ("job", "status.nope.deeper|@keys", MISSING),
    ("job", "status.succeeded.#(==1)", MISSING),
    ("job", "status.#(succeeded==1)", MISSING),
    ("job", "status.conditions.@reverse.0.type", "Complete"),
    ("job", 'status.conditions|@reverse|#(status=="False").type', "Failed"),
    ("job", "status.@keys", ["conditions", "succeeded"]),
    ("job", "status.@values|#", 2),
    ("job", "status.conditions.0.@keys", ["type", "status", "reason", "message"]),
    ("job", "status.conditions.#.type.@valid", ["Failed", "Complete"]),
    ("job", "[metadata.name,status.succeeded,status.nope]", ["test-job", 1]),
    ("job", "status.[succeeded,nope].#(==1)#", [1]),
    ("job", "status.conditions.[0.type,1.type]|1", "Complete"),
    (
        "workflow",
        'status.[@this].#(phase=="Succeeded")#',
        [{"phase": "Succeeded", "progress": "2/2"}],
    ),
    ("workflow", 'status.[@this].#(phase=="Failed")#', []),
    ("workflow", 'status.[@this].#(phase%"Succ*")', {"phase": "Succeeded", "progress": "2/2"}),
    ("workflow", 'status.[@this].#(phase=="Succeeded")#.progress', ["2/2"]),
    ("workflow", 'nope.[@this].#(phase=="Succeeded")#', []),
    ("workflow", "status.nope.[@this]", []),
    ("mixed", "a.#(==2)#", [2, "2"]),
    ("mixed", 'a.#(=="2")#', [2, "2"]),
    ("mixed", "a.#(>1)#", [2, 3, "2"]),
    ("mixed", "a.#(!=2)#", [1, 3, True, False]),
    ("mixed", "a.#(==true)#", [True]),
    ("mixed", "a.#(<=false)#", ["2", False]),
    ("mixed", "a.#(==null)#", []),
    ("mixed", "a.#(b==1)#", [{"b": 1}]),
    ("mixed", "a.#(==~true)#", [1, 2, 3, True]),
    ("mixed", "a.#(==~false)#", ["2", False, None, {"b": 1}, [1, 2]]),
    ("mixed", 'a.#(%"*")#', ["2"]),
    ("mixed", "a.#(#==2)#", [[1, 2]]),
    ("mixed", "a.#(==inf)#", []),
    ("mixed", "a.#(<inf)#|#", 4),
    ("mixed", "a.#(==1_0)#", []),
    ("mixed", "a.7.b", 1),
    ("mixed", "a.#.b", [1]),
    ("mixed", "a|@flatten", [1, 2, 3, "2", True, False, None, {"b": 1}, 1, 2]),
    ("mixed", 'a|@flatten:{"deep":true}|#', 10),
    ("mixed", "n.x\\.y", 5),
    ("mixed", "n.x.y", 6),
    ("mixed", "n.k*", 1),
    ("mixed", "n.k?|@this", 1),
    ("mixed", "n.*.y", 6),
    ("mixed", "n.a?c", "v"),
    ("mixed", "items.#(ok==true)#.name", ["a"]),
    ("mixed", "items.#(ok==false)#.name", ["b"]),
    ("mixed", "items.#(ok)#.name", ["a", "b", "c"]),
    ("mixed", "items.#(ok==~false)#.name", ["b", "c"]),
    ("mixed", "items.#(ok==null)#.name", []),
    ("mixed", "items.#(n==3)#.name", ["b", "c"]),
    ("mixed", 'items.#(n=="3")#.name', ["b", "c"]),
    ("mixed", 'items.#(n>"1")#.name', ["a", "b", "c"]),
    ("mixed", "items.#(n==15e-1)#.name", ["a"]),
    ("mixed", "items.#(n==abc)#.name", []),
    ("mixed", 'items.#(tags.#(=="z"))#.name', ["b"]),
    ("mixed", 'items.#(tags.#(=="z")).name', "b"),
    ("mixed", "items.#(tags.#==0)#.name", ["c"]),
    ("mixed", 'items.#(tags.0=="x")#.name', ["a"]),
    ("mixed", 'items.#(name%"[ab]")#', []),
    ("mixed", 'items.#(name=="\\u0061")#.n', [1.5]),
    ("mixed", "items.#.name", ["a", "b", "c"]),
    ("mixed", "items.#.tags|@flatten", ["x", "y", "z"]),
    ("mixed", "items.#(nm)#", [{"nm": "d"}]),
    ("mixed", 'items.#(name=="a").tags.1', "y"),
    ("mixed", 'items.#(name=="c")#.ok', [None]),
    ("mixed", "items.#.[name]", [["a"], ["b"], ["c"], []]),
    ("mixed", "empty.#(a==1)#", []),
    ("mixed", "empty.#(a==1)", MISSING),
    ("mixed", "empty.#", 0),
    # gjson's quirks: ".@" after an escaped key finds nothing; a query on an object is read as a
    # key, cut at a "." inside it (parseObjectPath, gjson.go:952-1018).
    ("mixed", "n.x\\.y.@this", MISSING),
    ("mixed", "n.x\\.y|@this", 5),
    ("mixed", "n.x.@this", {"y": 6}),
    ("mixed", 'items.0.#(tags.0=="x")|@keys', MISSING),
    ("mixed", "items.0.#(ok==true)|@keys", []),
]


@pytest.mark.parametrize(("document", "path", "expected"), GJSON_CASES)
def test_paths_evaluate_as_tidwall_gjson_does(document: str, path: str, expected: Any) -> None:
    """Every path form, as tidwall/gjson v1.14.1 (Katib's go.mod:22) evaluates it: queries are
    typed by the value compared (gjson.go:1239-1319), ``.`` after ``#(...)#`` maps and ``|``
    pipes (gjson.go:1338-1390, 1630-1713), ``.@`` / ``.[`` pipe (gjson.go:939-950), and a pipe
    after a missing key still runs (gjson.go:1072-1075, 2030-2034)."""
    assert get(DOCUMENTS[document], path) == expected


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ('status.conditions.#(type=="Complete"', "'#(' is never closed (at character 19"),
        ('status.conditions.#(type=="Complete")#|', "nothing after the last '|'"),
        ('status.conditions.#(type=="Complete")#|#(status=="True"', "'#(' is never closed"),
        ('status.conditions.#(type=="Complete)#', "unterminated string"),
        ('status.conditions.#(type=="Complete"))#', "unexpected ')' after the query"),
        ('status.conditions.#(type=="Complete")##', "unexpected '#' after the query"),
        ("status..conditions", "empty component between '.' and '.'"),
        (".status", "empty component (at character 1"),
        ("", "empty path"),
        ('status.conditions#(type=="Complete")#', "unexpected '#' in a key"),
        ('status.conditions.#(type=>"Complete")#', "unexpected '>' after the operator '='"),
        ('status.conditions.#(type!"Complete")#', "'!' must be followed by '=' or '%'"),
        ("status.conditions.#()#", "empty query"),
        ("status.conditions.#x", "unexpected 'x' after '#'"),
        ("status.@pretty", "modifier @pretty is not supported by pykatib"),
        ("status.@nope", "modifier @nope is not supported"),
        ("status.{phase,message}", "{...} selectors are not supported"),
        ("status.[phase:x]", "'name:path' is for {...} selectors"),
        ("status.[phase", "'[' is never closed"),
        ("!true", "'!' literals are not supported"),
        ("..status", "empty component"),
        ('status.#(a==~"true")#', 'the value ~"true" is not one quoted string'),
    ],
)
def test_malformed_paths_say_what_and_where(path: str, why: str) -> None:
    """gjson never reports a malformed path: it finds nothing (gjson.go:842-922 returns
    ``ok=false`` and parseArrayPath stops), so a trial judged by one would wait forever in Katib
    (job_util.go:111-119); pykatib reports it instead."""
    with pytest.raises(PathSyntaxError) as raised:
        get(KATIB_FAKE_JOB, path)
    assert why in str(raised.value)
    assert check_condition(path) == str(raised.value)


# --- Katib's judgement -------------------------------------------------------------------------

SUCCEEDED, FAILED = "succeeded", "failed"
JUDGEMENTS = [
    # The Job defaults (constants.go:27,30), also TrainJob's (constants.go:39,42).
    (JOB_CONDITIONS, "job running", None),
    (JOB_CONDITIONS, "job complete", (SUCCEEDED, *COMPLETIONS)),
    (JOB_CONDITIONS, "job complete (Kubernetes < 1.31)", (SUCCEEDED, "", "")),
    (
        JOB_CONDITIONS,
        "job backoff",
        (FAILED, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    ),
    (
        JOB_CONDITIONS,
        "job deadline",
        (FAILED, "DeadlineExceeded", "Job was active longer than specified deadline"),
    ),
    (JOB_CONDITIONS, "katib fake job", (SUCCEEDED, "test-reason", "test-message")),
    (JOB_CONDITIONS, "katib fake job, Complete False", None),
    (JOB_CONDITIONS, "trainjob running", None),
    (JOB_CONDITIONS, "trainjob complete", (SUCCEEDED, "JobsCompleted", "done")),
    (JOB_CONDITIONS, "trainjob failed", (FAILED, "JobsFailed", "a job failed")),
    # A training operator job never has a Complete condition: the Job defaults never see it end.
    (JOB_CONDITIONS, "PyTorchJob succeeded", None),
    # The Kubeflow training job defaults (constants.go:33,36; mpijob-horovod.yaml:33-34).
    (KUBEFLOW_CONDITIONS, "PyTorchJob running", None),
    (
        KUBEFLOW_CONDITIONS,
        "PyTorchJob succeeded",
        (SUCCEEDED, "PyTorchJobSucceeded", "PyTorchJob kubeflow/t successfully completed."),
    ),
    (
        KUBEFLOW_CONDITIONS,
        "PyTorchJob failed",
        (
            FAILED,
            "PyTorchJobFailed",
            "PyTorchJob kubeflow/t has failed because 1 Master replica(s) failed.",
        ),
    ),
    (KUBEFLOW_CONDITIONS, "TFJob running", None),
    (
        KUBEFLOW_CONDITIONS,
        "TFJob succeeded",
        (SUCCEEDED, "TFJobSucceeded", "TFJob kubeflow/t successfully completed."),
    ),
    (
        KUBEFLOW_CONDITIONS,
        "TFJob failed",
        (FAILED, "TFJobFailed", "TFJob kubeflow/t has failed because 1 Chief replica(s) failed."),
    ),
    (KUBEFLOW_CONDITIONS, "MPIJob running", None),
    (
        KUBEFLOW_CONDITIONS,
        "MPIJob succeeded",
        (SUCCEEDED, "MPIJobSucceeded", "MPIJob kubeflow/t successfully completed."),
    ),
    (
        KUBEFLOW_CONDITIONS,
        "MPIJob failed",
        (
            FAILED,
            "MPIJobFailed",
            "MPIJob kubeflow/t has failed because 1 Launcher replica(s) failed.",
        ),
    ),
    (KUBEFLOW_CONDITIONS, "job complete", None),
    # Argo (argo-workflow.yaml:35-36): the status object is the match; its message is read.
    (ARGO_CONDITIONS, "workflow pending", None),
    (ARGO_CONDITIONS, "workflow running", None),
    (ARGO_CONDITIONS, "workflow succeeded", (SUCCEEDED, "", "")),
    (ARGO_CONDITIONS, "workflow failed", (FAILED, "", "child 't-1' failed")),
    # Phase Error matches neither of the example's conditions: Katib leaves the trial Running.
    (ARGO_CONDITIONS, "workflow error", None),
    # Tekton (pipeline-run.yaml:35-36): one Succeeded condition, Unknown while running.
    (TEKTON_CONDITIONS, "pipelinerun running", None),
    (TEKTON_CONDITIONS, "pipelinerun succeeded", (SUCCEEDED, "Succeeded", "Tasks Completed: 2")),
    (TEKTON_CONDITIONS, "pipelinerun failed", (FAILED, "Failed", "Tasks Completed: 2 (Failed: 1)")),
    # Katib's own test (job_util_test.go:90-98): the status object when status.succeeded is 1.
    (KATIB_TEST_CONDITIONS, "katib fake job", (SUCCEEDED, "", "")),
    (KATIB_TEST_CONDITIONS, "katib fake job, Complete False", (SUCCEEDED, "", "")),
    (KATIB_TEST_CONDITIONS, "job running", None),
    (
        KATIB_TEST_CONDITIONS,
        "job backoff",
        (FAILED, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    ),
]


@pytest.mark.parametrize(("conditions", "job", "expected"), JUDGEMENTS)
def test_katib_conditions_judge_realistic_jobs(
    conditions: tuple[str, str], job: str, expected: tuple[str, str, str] | None
) -> None:
    """Failure first, then success; met when the result is an object or a non-empty array, whose
    first element gives reason and message (job_util.go:67-109); neither: None, the trial stays
    Running (job_util.go:111-119)."""
    success, failure = conditions
    verdict = job_verdict(JOBS[job], success, failure)
    assert (tuple(verdict) if verdict else None) == expected
    assert judge_job(JOBS[job], success, failure) == (expected[0] if expected else None)


def test_every_katib_condition_parses() -> None:
    """Every condition Katib writes (KATIB_CONDITIONS cites each place) passes the apply-time
    check (Katib's validator only checks that both are set: validator.go:319-322)."""
    for pair in KATIB_CONDITIONS:
        for expression in pair:
            assert check_condition(expression) is None, expression


def _conditions_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("successCondition", "failureCondition") and isinstance(value, str):
                found.add(value)
            found |= _conditions_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= _conditions_in(item)
    return found


def test_every_condition_in_katib_examples_is_covered() -> None:
    """Each successCondition / failureCondition in Katib's examples (argo-workflow.yaml:35-36,
    pipeline-run.yaml:35-36, mpijob-horovod.yaml:33-34, trial-configmap-source.yaml:39-40, and any
    added later) is one of the pairs judged above."""
    folder = katib_examples_dir()
    if folder is None:
        pytest.skip("Katib's example experiments are not here (expected ../shared/katib-examples)")
    found: set[str] = set()
    for path in sorted(folder.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            # A ConfigMap's template is YAML inside a string.
            for text in _strings(document):
                if "successCondition" in text or "failureCondition" in text:
                    found |= _conditions_in(yaml.safe_load(text))
            found |= _conditions_in(document)
    covered = {expression for pair in KATIB_CONDITIONS for expression in pair}
    assert found, "no conditions found in Katib's examples"
    assert found <= covered, found - covered


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def test_failure_is_checked_first() -> None:
    """A job that meets both conditions failed: failureCondition is evaluated first
    (job_util.go:67-88) and success only when it is not met (job_util.go:90-109)."""
    both = batch_job(
        {"conditions": [condition("Complete", "True"), condition("Failed", "True", "X")]}
    )
    assert job_verdict(both, *JOB_CONDITIONS) == (FAILED, "X", "")


def test_scalars_and_empty_arrays_are_not_met() -> None:
    """Only an object or a non-empty array counts as met (job_util.go:70-71): a number, a string,
    or ``[]`` (what ``#(...)#`` gives when nothing matches) leaves the trial Running."""
    job = JOBS["job complete"]
    assert judge_job(job, "status.succeeded", 'status.conditions.#(type=="Failed")#') is None
    assert judge_job(job, 'status.conditions.#(type=="Complete").type', "status.nope") is None
    assert judge_job(job, 'status.conditions.#(type=="Nope")#', "status.nope") is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # A string's own text is what Katib unmarshals (gjson Result.String, job_util.go:76).
        ({"matched": ['{"reason": "from-text", "message": "m"}']}, ("from-text", "m")),
        ({"matched": ["null"]}, ("", "")),
        # encoding/json matches field names case-insensitively; the last key wins.
        ({"matched": [{"type": "X", "Reason": "upper", "message": None}]}, ("upper", "")),
        ({"matched": [{"REASON": "a", "reason": "b"}]}, ("b", "")),
        ({"matched": {"reason": "an object", "condition": "ignored"}}, ("an object", "")),
    ],
)
def test_the_match_is_read_as_encoding_json_reads_it(
    status: dict[str, Any], expected: tuple[str, str]
) -> None:
    """Katib unmarshals the object, or the first element, into {condition, reason, message}
    (job_util.go:72-83, the struct at job_util.go:31-41)."""
    verdict = job_verdict({"status": status}, "status.matched", "status.nope")
    assert verdict is not None and (verdict.reason, verdict.message) == expected


@pytest.mark.parametrize(
    ("success", "why"),
    [
        ("status.conditions.#.type", 'matched ["SuccessCriteriaMet", "Complete"], whose first'),
        ('status.conditions.#(type=="Complete")#.reason', 'matched ["CompletionsReached"]'),
        ("status.[@this].#(succeeded==1)#.conditions", "whose first element is not an object"),
        ("status.bad", "whose 'reason' is 5, not a string"),
        ("status.nulls", "matched [null]"),
    ],
)
def test_a_match_katib_cannot_read_is_an_error_naming_the_condition(success: str, why: str) -> None:
    """Katib returns an error when the match does not unmarshal (job_util.go:79-83); the trial
    controller logs it and leaves the trial as it is (trial_controller.go:240-248)."""
    job = {**JOBS["job complete"]}
    job["status"] = {**job["status"], "bad": [{"reason": 5}], "nulls": [None]}
    with pytest.raises(ConditionError) as raised:
        judge_job(job, success, JOB_CONDITIONS[1])
    assert str(raised.value).startswith(f"successCondition {success!r} ")
    assert why in str(raised.value)


def test_an_unreadable_failure_match_stops_before_success() -> None:
    """The failure condition's error returns at once (job_util.go:80-83): success is not tried."""
    with pytest.raises(ConditionError, match="^failureCondition 'status.conditions.#.type'"):
        judge_job(JOBS["job complete"], JOB_CONDITIONS[0], "status.conditions.#.type")


def test_a_condition_that_cannot_be_parsed_is_an_error_naming_it() -> None:
    """gjson finds nothing in a malformed path, so Katib would never judge the trial
    (job_util.go:68, 111-119); pykatib raises, naming the condition."""
    with pytest.raises(ConditionError, match=r"^successCondition: '#\(' is never closed"):
        judge_job(JOBS["job complete"], 'status.conditions.#(type=="Complete"', "status.x")


def test_the_job_is_read_with_its_keys_sorted() -> None:
    """Katib judges the job's JSON as Unstructured.MarshalJSON writes it, map keys sorted
    (job_util.go:65, pkg/controller.v1beta1/util/unstructured.go:37-45): a wildcard key finds
    the first key in sorted order, whatever order the job was built in."""
    job = {"status": {"zeta": {"reason": "z"}, "alpha": {"reason": "a"}}}
    assert get(job, "status.*") == {"reason": "z"}
    assert job_verdict(job, "status.*", "status.nope") == (SUCCEEDED, "a", "")


def test_missing_is_not_null() -> None:
    """gjson tells a missing value from JSON null (Result.Exists, gjson.go:651-663)."""
    assert get({"a": None}, "a") is None
    assert get({"a": None}, "b") is MISSING


# --- applying an experiment --------------------------------------------------------------------


def test_apply_rejects_a_malformed_condition_naming_the_field() -> None:
    """Katib's validator only checks that both conditions are set (validator.go:319-322), so a
    malformed one would leave every trial Running; pykatib rejects it when it is applied."""
    exp = experiment("print('loss=1')")
    assert exp.spec.trial_template is not None
    exp.spec.trial_template.success_condition = 'status.conditions.#(type=="Complete"'
    exp.spec.trial_template.failure_condition = "status.conditions.@pretty"
    errors, _ = validate_experiment(exp)
    assert errors == [
        (
            "spec.trialTemplate.successCondition: '#(' is never closed (at character 19 of "
            "'status.conditions.#(type==\"Complete\"')"
        ),
        (
            "spec.trialTemplate.failureCondition: modifier @pretty is not supported by pykatib "
            "(@this, @reverse, @keys, @values, @flatten, @valid) (at character 19 of "
            "'status.conditions.@pretty')"
        ),
    ]


def test_apply_accepts_katib_conditions() -> None:
    """The defaults (experiment_defaults.go:103-124) and every example pair apply cleanly."""
    for success, failure in KATIB_CONDITIONS:
        exp = experiment("print('loss=1')")
        assert exp.spec.trial_template is not None
        exp.spec.trial_template.success_condition = success
        exp.spec.trial_template.failure_condition = failure
        assert validate_experiment(exp) == ([], [])
