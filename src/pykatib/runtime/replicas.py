"""The Kubeflow training operator's job kinds, as one machine runs them: a replica per process.

A PyTorchJob, TFJob, XGBoostJob, PaddleJob or JAXJob (``kubeflow.org/v1``) lists replica types
(``pytorchReplicaSpecs: {Master: ..., Worker: ...}``), each with a number of ``replicas`` and a
pod template. The training operator makes one pod per replica, named ``<job>-<type>-<index>``
(type in lower case), with labels saying its role, and the environment its framework reads to
find the others; Katib collects metrics from the *primary* pods (``primaryPodLabels``, default
``training.kubeflow.org/job-role: master``), from the container ``primaryContainerName``.

Locally each replica is a process on the loopback interface, with that environment:

* PyTorchJob: ``MASTER_ADDR=127.0.0.1``, ``MASTER_PORT`` (a free port), ``WORLD_SIZE``
  (replicas x ``nprocPerNode`` when it is a number), ``RANK`` (Master 0, Worker i: i + 1),
  ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``, ``PET_NPROC_PER_NODE`` (default ``auto``),
  ``PET_NODE_RANK``, ``PET_NNODES`` (or, with an ``elasticPolicy``, ``min:max`` and the rest of
  torchrun's ``PET_*`` settings), ``PYTHONUNBUFFERED=0``;
* TFJob: ``TF_CONFIG`` with the cluster (``chief``/``master``, ``worker``, ``ps``; an
  ``evaluator`` is left out of it, as the operator does) on free loopback ports and the
  replica's own task;
* XGBoostJob: ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``, ``WORKER_ADDRS``,
  ``WORKER_PORT``; PaddleJob: ``PADDLE_MASTER``, ``PADDLE_NNODES``, ``PADDLE_TRAINER_ID``;
  JAXJob: ``COORDINATOR_ADDRESS``, ``COORDINATOR_PORT``, ``NUM_PROCESSES``, ``PROCESS_ID``.

The job succeeds when its *leader* succeeds (the Master or Chief; a TFJob without one: worker 0;
otherwise every replica), and the replicas still running are then stopped, as parameter servers
never end on their own; it fails as soon as any replica fails, and the others are stopped. This
module only plans; :mod:`pykatib.runtime.gang` runs the plan.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

API_VERSION = "kubeflow.org/v1"
LOCALHOST = "127.0.0.1"

JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"


@dataclass(frozen=True)
class KindSpec:
    """One training-operator kind: where its replica specs are, which types it knows (in the
    order the operator ranks them), and which type leads."""

    field: str
    types: tuple[str, ...]
    leaders: tuple[str, ...]  # the first present one is the master role


KINDS: dict[str, KindSpec] = {
    "PyTorchJob": KindSpec("pytorchReplicaSpecs", ("Master", "Worker"), ("Master",)),
    "TFJob": KindSpec(
        "tfReplicaSpecs", ("Chief", "Master", "PS", "Worker", "Evaluator"), ("Chief", "Master")
    ),
    "XGBoostJob": KindSpec("xgbReplicaSpecs", ("Master", "Worker"), ("Master",)),
    "PaddleJob": KindSpec("paddleReplicaSpecs", ("Master", "Worker"), ("Master",)),
    "JAXJob": KindSpec("jaxReplicaSpecs", ("Worker",), ()),
    # Only the launcher runs: its mpirun starts the ranks itself, here on this machine, where
    # on a cluster it reaches the workers' pods (which run only sshd) by ssh.
    "MPIJob": KindSpec("mpiReplicaSpecs", ("Launcher", "Worker"), ("Launcher",)),
}
MPI_ROLE_LABEL = "mpi-job-role"
SUPPORTED_KINDS = {kind: API_VERSION for kind in KINDS}


@dataclass(frozen=True)
class Replica:
    """One replica of a training job: a pod on a cluster, a process here."""

    kind: str  # PyTorchJob, TFJob, ...
    type: str  # as the spec writes it: Master, Worker, PS, ...
    index: int
    pod_spec: Mapping[str, Any]
    leader: bool  # has the master role (training.kubeflow.org/job-role: master)

    @property
    def name(self) -> str:
        """``worker-0``: the pod's name without the job's."""
        return f"{self.type.lower()}-{self.index}"

    def labels(self, job_name: str) -> dict[str, str]:
        labels = {
            JOB_NAME_LABEL: job_name,
            REPLICA_TYPE_LABEL: self.type.lower(),
            REPLICA_INDEX_LABEL: str(self.index),
        }
        if self.kind == "MPIJob":
            labels[MPI_ROLE_LABEL] = self.type.lower()
            if self.leader:
                labels[JOB_ROLE_LABEL] = "launcher"
        elif self.leader:
            labels[JOB_ROLE_LABEL] = "master"
        return labels

    def container(self, name: str | None) -> dict[str, Any] | None:
        """The container named ``name`` (None: the first)."""
        for c in self.pod_spec.get("containers") or []:
            if name is None or c.get("name") == name:
                return dict(c)
        return None


def is_training_kind(trial_spec: Mapping[str, Any]) -> bool:
    return trial_spec.get("kind") in KINDS


def replica_specs(trial_spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``{type: replica spec}`` of a training job, in the operator's order of types."""
    kind = KINDS[str(trial_spec.get("kind"))]
    specs = (trial_spec.get("spec") or {}).get(kind.field) or {}
    order = {t: i for i, t in enumerate(kind.types)}
    return {t: specs[t] for t in sorted(specs, key=lambda t: order.get(t, len(order)))}


def replicas(trial_spec: Mapping[str, Any]) -> list[Replica]:
    """Every replica of the job, leaders first."""
    kind_name = str(trial_spec.get("kind"))
    kind = KINDS[kind_name]
    specs = replica_specs(trial_spec)
    leader_type = next((t for t in kind.leaders if t in specs), None)
    if leader_type is None and kind_name == "TFJob":
        leader_type = "Worker"  # no chief: worker 0 has the master role
    out = []
    for rtype, spec in specs.items():
        if kind_name == "MPIJob" and rtype != "Launcher":
            continue  # the launcher's mpirun starts the ranks
        pod = ((spec.get("template") or {}).get("spec")) or {}
        for index in range(_count(spec)):
            leader = rtype == leader_type and index == 0
            out.append(Replica(kind_name, rtype, index, pod, leader))
    return sorted(out, key=lambda r: not r.leader)


def _count(spec: Mapping[str, Any]) -> int:
    value = spec.get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def primaries(
    all_replicas: list[Replica], job_name: str, primary_pod_labels: Mapping[str, str] | None
) -> list[Replica]:
    """The replicas whose pods carry every one of ``primary_pod_labels`` (Katib's default:
    the master role)."""
    if not primary_pod_labels or any(r.kind == "MPIJob" for r in all_replicas):
        # MPIJob: only the launcher runs here; its mpirun's output holds every rank's.
        return [r for r in all_replicas if r.leader] or all_replicas[:1]
    # The job's name is the trial's; a template can't know it (Katib's never name it).
    wanted = {k: v for k, v in primary_pod_labels.items() if k != JOB_NAME_LABEL}
    return [
        r for r in all_replicas if all(r.labels(job_name).get(k) == v for k, v in wanted.items())
    ]


def check(
    trial_spec: Mapping[str, Any],
    primary_container_name: str | None,
    primary_pod_labels: Mapping[str, str] | None,
) -> list[str]:
    """What keeps a training job from running here, as ``path: message``."""
    kind_name = str(trial_spec.get("kind"))
    kind = KINDS[kind_name]
    base = f"spec.trialTemplate.trialSpec.spec.{kind.field}"
    specs = (trial_spec.get("spec") or {}).get(kind.field)
    if not isinstance(specs, Mapping) or not specs:
        types = ", ".join(kind.types)
        return [f"{base}: a {kind_name} needs at least one replica type ({types})"]
    errors = []
    if kind_name == "MPIJob" and "Launcher" not in specs:
        errors.append(f"{base}: an MPIJob needs a Launcher (it runs mpirun)")
    for rtype, spec in specs.items():
        if kind_name == "MPIJob" and rtype == "Worker":
            continue  # not run here: the launcher's mpirun starts the ranks on this machine
        if rtype not in kind.types:
            errors.append(
                f"{base}.{rtype}: unknown replica type for {kind_name}; known: "
                + ", ".join(kind.types)
            )
            continue
        count = spec.get("replicas", 1) if isinstance(spec, Mapping) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            errors.append(f"{base}.{rtype}.replicas: must be a whole number of at least 1")
            continue
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        path = f"{base}.{rtype}.template.spec.containers"
        named = [c for c in containers if primary_container_name in (None, c.get("name"))]
        if not named:
            have = ", ".join(str(c.get("name")) for c in containers) or "none"
            errors.append(
                f'{path}: no container named "{primary_container_name}" (containers: {have}); '
                "each replica runs its container named by spec.trialTemplate.primaryContainerName"
            )
        elif not named[0].get("command"):
            errors.append(
                f"{path}[{containers.index(named[0])}].command: a local replica needs a command "
                "to run (an image's entrypoint can't run outside its container); write the "
                "entrypoint as the container's command"
            )
        elif kind_name == "MPIJob" and shutil.which(str(named[0]["command"][0])) is None:
            errors.append(
                f"{path}[{containers.index(named[0])}].command: {named[0]['command'][0]!r} is not "
                "installed here: an MPIJob's launcher runs mpirun, which starts the ranks on "
                "this machine; install an MPI (e.g. `apt-get install openmpi-bin`) or use a "
                "PyTorchJob"
            )
    if errors:
        return errors
    job_name = "job"
    if not primaries(replicas(trial_spec), job_name, primary_pod_labels):
        labels = json.dumps(dict(primary_pod_labels or {}))
        errors.append(
            f"spec.trialTemplate.primaryPodLabels: no replica of this {kind_name} carries the "
            f"labels {labels}; its replicas' labels are {REPLICA_TYPE_LABEL} (the type in lower "
            f'case), {REPLICA_INDEX_LABEL} and, on the leader, {JOB_ROLE_LABEL}: "master"'
        )
    return errors


def free_port() -> int:
    """A TCP port free on the loopback interface now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def environments(
    trial_spec: Mapping[str, Any], all_replicas: list[Replica]
) -> dict[str, dict[str, str]]:
    """``{replica name: the variables the training operator gives its pod}``, on loopback;
    ranks follow ``all_replicas`` (as :func:`replicas` orders them: the leader first)."""
    kind = str(trial_spec.get("kind"))
    spec = trial_spec.get("spec") or {}
    if kind == "TFJob":
        return _tf_config(all_replicas)
    if kind == "MPIJob":
        return {r.name: {} for r in all_replicas}
    if kind == "JAXJob":
        port = free_port()
        return {
            r.name: {
                "COORDINATOR_ADDRESS": LOCALHOST,
                "COORDINATOR_PORT": str(port),
                "NUM_PROCESSES": str(len(all_replicas)),
                "PROCESS_ID": str(rank),
                "PYTHONUNBUFFERED": "1",
            }
            for rank, r in enumerate(all_replicas)
        }
    port = free_port()
    world = len(all_replicas)
    out: dict[str, dict[str, str]] = {}
    for rank, r in enumerate(all_replicas):
        env = {"MASTER_ADDR": LOCALHOST, "MASTER_PORT": str(port), "RANK": str(rank)}
        if kind == "PyTorchJob":
            nproc = str(spec.get("nprocPerNode") or "auto")
            env.update(
                PYTHONUNBUFFERED="0",
                WORLD_SIZE=str(world * (int(nproc) if nproc.isdigit() else 1)),
                PET_MASTER_ADDR=LOCALHOST,
                PET_MASTER_PORT=str(port),
                PET_NPROC_PER_NODE=nproc,
                PET_NODE_RANK=str(rank),
            )
            env.update(_elastic(spec.get("elasticPolicy"), world, port))
        elif kind == "XGBoostJob":
            workers = [w for w in all_replicas if w.type == "Worker"]
            env.update(
                WORLD_SIZE=str(world),
                PYTHONUNBUFFERED="0",
                WORKER_PORT=str(port),
                WORKER_ADDRS=",".join(LOCALHOST for _ in workers),
            )
        elif kind == "PaddleJob":
            env = {
                "PADDLE_MASTER": f"{LOCALHOST}:{port}",
                "PADDLE_NNODES": str(world),
                "PADDLE_TRAINER_ID": str(rank),
                "PYTHONUNBUFFERED": "0",
            }
        out[r.name] = env
    return out


def _elastic(policy: Any, world: int, port: int) -> dict[str, str]:
    """torchrun's ``PET_*`` settings from a PyTorchJob's ``elasticPolicy`` (else the node count)."""
    if not isinstance(policy, Mapping):
        return {"PET_NNODES": str(world)}
    lo, hi = policy.get("minReplicas", world), policy.get("maxReplicas", world)
    env = {
        "PET_NNODES": f"{lo}:{hi}",
        "PET_RDZV_BACKEND": str(policy.get("rdzvBackend") or "c10d"),
        "PET_RDZV_ENDPOINT": f"{LOCALHOST}:{port}",
    }
    if policy.get("rdzvId"):
        env["PET_RDZV_ID"] = str(policy["rdzvId"])
    if policy.get("maxRestarts") is not None:
        env["PET_MAX_RESTARTS"] = str(policy["maxRestarts"])
    if policy.get("rdzvConf"):
        env["PET_RDZV_CONF"] = ",".join(
            f"{c.get('key')}={c.get('value')}" for c in policy["rdzvConf"]
        )
    if policy.get("nProcPerNode") is not None:
        env["PET_NPROC_PER_NODE"] = str(policy["nProcPerNode"])
    return env


def _tf_config(all_replicas: list[Replica]) -> dict[str, dict[str, str]]:
    cluster: dict[str, list[str]] = {}
    for r in all_replicas:
        if r.type != "Evaluator":
            cluster.setdefault(r.type.lower(), []).append(f"{LOCALHOST}:{free_port()}")
    out = {}
    for r in all_replicas:
        config = {
            "cluster": cluster,
            "task": {"type": r.type.lower(), "index": r.index},
            "environment": "cloud",
        }
        out[r.name] = {"TF_CONFIG": json.dumps(config), "PYTHONUNBUFFERED": "0"}
    return out


def run_policy(trial_spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((trial_spec.get("spec") or {}).get("runPolicy")) or {}


def job_status(
    trial_spec: Mapping[str, Any],
    phase: str,
    reason: str,
    message: str,
    start: str,
    now: str,
    states: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The job's ``status`` as the training operator writes it: conditions Created, Running,
    then Succeeded or Failed, and ``replicaStatuses`` counting each type's replicas by state
    (``states``: ``{replica name: running|succeeded|failed}``, as the gang last wrote them)."""
    kind = str(trial_spec.get("kind"))
    name = ((trial_spec.get("metadata") or {}).get("name")) or "job"

    def condition(ctype: str, status: str, why: str, text: str) -> dict[str, str]:
        return {
            "type": ctype,
            "status": status,
            "reason": why,
            "message": text,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
        }

    conditions = [condition("Created", "True", f"{kind}Created", f"{kind} {name} is created.")]
    ended = phase in ("succeeded", "failed")
    conditions.append(
        condition(
            "Running",
            "False" if ended else "True",
            f"{kind}Running",
            f"{kind} {name} is running.",
        )
    )
    if phase == "succeeded":
        text = message or f"{kind} {name} is successfully completed."
        conditions.append(condition("Succeeded", "True", f"{kind}Succeeded", text))
    elif phase == "failed":
        text = message or f"{kind} {name} has failed."
        conditions.append(condition("Failed", "True", reason or f"{kind}Failed", text))
    counts: dict[str, dict[str, int]] = {}
    for r in replicas(trial_spec):
        state = (states or {}).get(r.name, "running" if phase == "running" else phase)
        key = {"running": "active", "succeeded": "succeeded"}.get(state, "failed")
        if state == "stopped":
            continue
        bucket = counts.setdefault(r.type, {})
        bucket[key] = bucket.get(key, 0) + 1
    status: dict[str, Any] = {
        "conditions": conditions,
        "replicaStatuses": counts,
        "startTime": start,
    }
    if ended:
        status["completionTime"] = now
    return status
