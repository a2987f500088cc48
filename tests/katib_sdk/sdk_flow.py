"""Katib's own Python SDK (``kubeflow-katib``), unchanged, against ``pykatib server``.

Runs in a virtualenv of its own (the SDK pins its own ``kubernetes`` client); the test that
starts it is ``test_official_sdk.py``. Reads one JSON argument file::

    {"phase": "run" | "restart" | "push" | "follow", "kubeconfig": PATH, "namespace": NS,
     "name": EXPERIMENT, "python": TRIAL_INTERPRETER, "db_manager": "127.0.0.1:PORT",
     "gate": PATH (follow only)}

and prints one JSON object with what each call returned (the last line of stdout). A call that
raises is recorded as ``{"error": "..."}`` under its name, so that the test says which failed.
Phase ``run`` creates the experiment, waits for it and reads it back every way the SDK can;
``restart`` raises its budget, waits for the restarted experiment and deletes it. Between the
two the test compares what the SDK read with what the server's store holds. ``push`` runs a
Push experiment whose trials report with Katib's ``report_metrics`` (gRPC, to the server's DB
manager). ``follow`` reads a running trial's log with ``get_job_logs(..., follow=True)``: the
trial prints a line, then waits until this script, having read that line from the stream,
creates the ``gate`` file, then prints its metric and exits; the stream must end with it.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

from kubeflow.katib import (
    KatibClient,
    V1beta1AlgorithmSpec,
    V1beta1CollectorSpec,
    V1beta1Experiment,
    V1beta1ExperimentSpec,
    V1beta1FeasibleSpace,
    V1beta1MetricsCollectorSpec,
    V1beta1ObjectiveSpec,
    V1beta1ParameterSpec,
    V1beta1TrialParameterSpec,
    V1beta1TrialTemplate,
)
from kubernetes.client import V1ObjectMeta

# The trial: a tiny program printing Katib's StdOut format, best at lr = 0.03.
TRIAL_CODE = (
    "import sys\n"
    "lr = float(sys.argv[1].split('=', 1)[1])\n"
    "print(f'lr={lr}')\n"
    "print(f'loss={(lr - 0.03) ** 2 + 0.5}')\n"
)
# A Push trial reporting with Katib's own report_metrics, over gRPC to the DB manager.
PUSH_TRIAL_CODE = (
    "import sys\n"
    "from kubeflow.katib.utils import utils\n"
    "# report_metrics reads the trial's namespace from a pod's service-account file (only for\n"
    "# its error messages: the DB manager's API names the trial alone); there is no pod here.\n"
    "utils.get_current_k8s_namespace = lambda: 'default'\n"
    "from kubeflow.katib import report_metrics\n"
    "lr = float(sys.argv[1])\n"
    "for epoch in range(3):\n"
    "    report_metrics({'loss': (lr - 0.03) ** 2 + 1 / (epoch + 1)}, db_manager_address=sys.argv[2])\n"
)
# A trial that stays Running until the gate file exists (the follower creates it).
GATED_TRIAL_CODE = (
    "import os, sys, time\n"
    "print('waiting for the gate', flush=True)\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.05)\n"
    "print('gate open', flush=True)\n"
    "print('loss=0.5', flush=True)\n"
)
FIRST_BUDGET = 3
SECOND_BUDGET = 5
WAIT_SECONDS = 120


def experiment(name: str, namespace: str, python: str) -> V1beta1Experiment:
    """A small Katib Experiment, built with the SDK's models as its documentation does."""
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {
                    "containers": [
                        {
                            "name": "training-container",
                            "image": "docker.io/library/python:3.11",
                            "command": [
                                python,
                                "-c",
                                TRIAL_CODE,
                                "--lr=${trialParameters.learningRate}",
                            ],
                        }
                    ],
                    "restartPolicy": "Never",
                },
            }
        },
    }
    return V1beta1Experiment(
        api_version="kubeflow.org/v1beta1",
        kind="Experiment",
        metadata=V1ObjectMeta(name=name, namespace=namespace),
        spec=V1beta1ExperimentSpec(
            max_trial_count=FIRST_BUDGET,
            parallel_trial_count=2,
            max_failed_trial_count=1,
            resume_policy="LongRunning",
            algorithm=V1beta1AlgorithmSpec(algorithm_name="random"),
            objective=V1beta1ObjectiveSpec(
                type="minimize", objective_metric_name="loss", additional_metric_names=["lr"]
            ),
            parameters=[
                V1beta1ParameterSpec(
                    name="lr",
                    parameter_type="double",
                    feasible_space=V1beta1FeasibleSpace(min="0.01", max="0.05"),
                )
            ],
            trial_template=V1beta1TrialTemplate(
                primary_container_name="training-container",
                trial_parameters=[
                    V1beta1TrialParameterSpec(
                        name="learningRate", description="Learning rate", reference="lr"
                    )
                ],
                trial_spec=job,
            ),
        ),
    )


def push_experiment(name: str, namespace: str, python: str, db_manager: str) -> V1beta1Experiment:
    """The same experiment, its trial reporting with ``kubeflow.katib.report_metrics``."""
    exp = experiment(name, namespace, python)
    exp.spec.max_trial_count = 2
    exp.spec.resume_policy = "Never"
    exp.spec.objective.additional_metric_names = None
    exp.spec.metrics_collector_spec = V1beta1MetricsCollectorSpec(
        collector=V1beta1CollectorSpec(kind="Push")
    )
    container = exp.spec.trial_template.trial_spec["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [
        python,
        "-c",
        PUSH_TRIAL_CODE,
        "${trialParameters.learningRate}",
        db_manager,
    ]
    return exp


def gated_experiment(name: str, namespace: str, python: str, gate: str) -> V1beta1Experiment:
    """One trial, Running until ``gate`` exists."""
    exp = experiment(name, namespace, python)
    exp.spec.max_trial_count = 1
    exp.spec.parallel_trial_count = 1
    exp.spec.resume_policy = "Never"
    exp.spec.objective.additional_metric_names = None
    container = exp.spec.trial_template.trial_spec["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [
        python,
        "-c",
        GATED_TRIAL_CODE,
        gate,
        "--lr=${trialParameters.learningRate}",
    ]
    return exp


def plain(value: Any) -> Any:
    """An SDK model (or list of them) as JSON-ready data."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return json.loads(json.dumps(value.to_dict(), default=str))
    return value


class Calls:
    """Each SDK call's result (JSON-ready), or the error it raised, by name."""

    def __init__(self) -> None:
        self.out: dict[str, Any] = {}

    def __call__(self, key: str, fn: Any, *a: Any, **kw: Any) -> Any:
        try:
            result = fn(*a, **kw)
        except Exception as exc:  # noqa: BLE001 (recorded, for the test to report)
            self.out[key] = {
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(),
            }
            return None
        self.out[key] = plain(result)
        return result


def run(client: KatibClient, args: dict[str, Any], call: Calls) -> None:
    """Create the experiment, wait for it, and read everything the SDK reads."""
    name = args["name"]
    call(
        "create_experiment",
        client.create_experiment,
        experiment(name, args["namespace"], args["python"]),
    )
    done = call(
        "wait_for_experiment_condition",
        client.wait_for_experiment_condition,
        name,
        timeout=WAIT_SECONDS,
        polling_interval=0.1,
    )
    if done is None:
        return
    call("is_experiment_created", client.is_experiment_created, name)
    call("is_experiment_succeeded", client.is_experiment_succeeded, name)
    call("get_experiment_conditions", client.get_experiment_conditions, name)
    call("list_experiments", lambda: [e.metadata.name for e in client.list_experiments()])
    call("get_optimal_hyperparameters", client.get_optimal_hyperparameters, name)
    call("get_suggestion", client.get_suggestion, name)
    call("list_trials", client.list_trials, name)
    call("get_success_trial_details", client.get_success_trial_details, name)
    best = done.status.current_optimal_trial.best_trial_name
    call.out["best_trial_name"] = best
    call("get_trial", client.get_trial, best)
    call(
        "get_trial_metrics",
        lambda: [
            # protobuf MetricLog messages: the fields the test compares
            {"timeStamp": m.time_stamp, "name": m.metric.name, "value": m.metric.value}
            for m in client.get_trial_metrics(
                best, db_manager_address=args["db_manager"], timeout=30
            )
        ],
    )
    call("get_job_logs", lambda: list(client.get_job_logs(name, best)))


def restart(client: KatibClient, args: dict[str, Any], call: Calls) -> None:
    """More budget for the LongRunning experiment that Succeeded (Katib restarts it), then
    delete it."""
    name = args["name"]
    call(
        "edit_experiment_budget", client.edit_experiment_budget, name, max_trial_count=SECOND_BUDGET
    )
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        exp = client.get_experiment(name)
        if (
            client.is_experiment_succeeded(name, experiment=exp)
            and (exp.status.trials_succeeded or 0) >= SECOND_BUDGET
        ):
            call.out["after_restart"] = plain(exp)
            break
        if time.monotonic() > deadline:
            call.out["after_restart"] = {
                "error": "did not succeed again",
                "status": plain(exp.status),
            }
            break
        time.sleep(0.1)
    call("list_trials_after_restart", lambda: [t.metadata.name for t in client.list_trials(name)])
    call("delete_experiment", client.delete_experiment, name)
    try:
        client.get_experiment(name)
        call.out["get_after_delete"] = "still there"
    except RuntimeError as exc:
        call.out["get_after_delete"] = f"RuntimeError: {exc}"


def push(client: KatibClient, args: dict[str, Any], call: Calls) -> None:
    """A Push experiment whose trials report with Katib's report_metrics (gRPC)."""
    name = args["name"]
    exp = push_experiment(name, args["namespace"], args["python"], args["db_manager"])
    call("create_experiment", client.create_experiment, exp)
    done = call(
        "wait_for_experiment_condition",
        client.wait_for_experiment_condition,
        name,
        timeout=WAIT_SECONDS,
        polling_interval=0.1,
    )
    if done is None:
        return
    call("get_optimal_hyperparameters", client.get_optimal_hyperparameters, name)
    call(
        "get_trial_metrics",
        lambda: {
            t.metadata.name: [
                {"timeStamp": m.time_stamp, "name": m.metric.name, "value": m.metric.value}
                for m in client.get_trial_metrics(
                    t.metadata.name, db_manager_address=args["db_manager"], timeout=30
                )
            ]
            for t in client.list_trials(name)
        },
    )


def follow(client: KatibClient, args: dict[str, Any], call: Calls) -> None:
    """``get_job_logs(follow=True)`` on a running trial: its lines as they come, the call
    ending when the trial does."""
    name, namespace, gate = args["name"], args["namespace"], args["gate"]
    exp = gated_experiment(name, namespace, args["python"], gate)
    call("create_experiment", client.create_experiment, exp)
    deadline = time.monotonic() + WAIT_SECONDS
    selector = f"katib.kubeflow.org/experiment={name}"
    # The trial's pod is listed once its process has started (polled, as the restart waits).
    while not (
        pods := client.core_api.list_namespaced_pod(namespace, label_selector=selector)
    ).items:
        if time.monotonic() > deadline:
            call.out["follow"] = {"error": "no trial started"}
            return
        time.sleep(0.1)
    trial = pods.items[0].metadata.name
    call.out["phase_when_following"] = pods.items[0].status.phase

    def read() -> list[str]:
        lines = []
        for line in client.get_job_logs(name, trial, follow=True):
            lines.append(line)
            if line == "waiting for the gate":
                open(gate, "w").close()  # the trial may finish now
        return lines

    call("follow", read)
    conditions = client.get_trial(trial).status.conditions
    call.out["trial_when_followed"] = [c.type for c in conditions if c.status == "True"]
    call("wait_for_experiment_condition", client.wait_for_experiment_condition, name,
         timeout=WAIT_SECONDS, polling_interval=0.1)  # fmt: skip


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        args = json.load(f)
    call = Calls()
    client = KatibClient(config_file=args["kubeconfig"], namespace=args["namespace"])
    phases = {"run": run, "restart": restart, "push": push, "follow": follow}
    phases[args["phase"]](client, args, call)
    print(json.dumps(call.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
