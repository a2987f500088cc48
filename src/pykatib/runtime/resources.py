"""The machine's CPUs, memory and GPUs, shared among the trials running on it, as a node's are.

Each replica of a trial (a Job has one, a PyTorchJob a Master and Workers) asks for its primary
container's ``resources.requests`` (``cpu``, ``memory``, ``nvidia.com/gpu``; where a request is
missing, its limit, as Kubernetes defaults a request to the limit). A trial starts only when all
its replicas fit in what the running trials leave free (gang scheduling: no half-started jobs);
until then it waits, Pending, with the reason, as an unschedulable pod does. GPUs are devices:
each replica that asks for some gets its own (``CUDA_VISIBLE_DEVICES``), never one another trial
holds. A trial that could not fit even on the empty machine is rejected when it is applied.

The capacity is detected (the CPUs this process may use, the memory, the GPUs ``nvidia-smi``
lists or ``CUDA_VISIBLE_DEVICES`` names) and can be set with ``pykatib run --cpus N --memory SIZE
--gpus N`` (or ``PYKATIB_CPUS`` / ``PYKATIB_MEMORY`` / ``PYKATIB_GPUS``). Trials that ask for
nothing always fit: ``parallelTrialCount`` alone limits them, as before.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pykatib.runtime import replicas
from pykatib.runtime.base import TrialKey

GPU = "nvidia.com/gpu"
JOB_REPLICA = "job"  # the one "replica" of a batch/v1 Job
# Thread pools that take a CPU limit as their size, unless the template sets them.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
_QUANTITY = re.compile(
    r"^([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti|E|Ei|P|Pi)?$"
)
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (``500m``, ``2``, ``4Gi``, ``1.5G``, ``1e9``) as a number;
    ValueError if it is not one."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)")
    return float(match.group(1)) * _FACTORS[match.group(2)]


@dataclass(frozen=True)
class Need:
    """What one replica asks for."""

    cpu: float = 0.0
    memory: float = 0.0  # bytes
    gpus: int = 0

    @classmethod
    def of(cls, container: Mapping[str, Any] | None) -> Need:
        resources = (container or {}).get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}

        def amount(name: str) -> float:
            value = requests.get(name, limits.get(name))
            return 0.0 if value is None else quantity(value)

        return cls(amount("cpu"), amount("memory"), int(amount(GPU)))

    def __bool__(self) -> bool:
        return bool(self.cpu or self.memory or self.gpus)


def trial_needs(run_spec: Mapping[str, Any], primary_container_name: str | None) -> dict[str, Need]:
    """``{replica: its need}`` of a rendered trial (a Job: ``{"job": ...}``)."""
    if replicas.is_training_kind(run_spec):
        return {
            r.name: Need.of(r.container(primary_container_name))
            for r in replicas.replicas(run_spec)
        }
    pod = ((run_spec.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    container = next(
        (c for c in containers if primary_container_name in (None, c.get("name"))), None
    )
    return {JOB_REPLICA: Need.of(container)}


def thread_caps(container: Mapping[str, Any]) -> dict[str, str]:
    """The thread-pool variables a container's CPU limit sets (none it sets itself)."""
    limits = ((container.get("resources") or {}).get("limits")) or {}
    if limits.get("cpu") is None:
        return {}
    threads = str(max(1, math.ceil(quantity(limits["cpu"]))))
    given = {str(e.get("name")) for e in container.get("env") or []}
    return {name: threads for name in THREAD_VARIABLES if name not in given}


@dataclass(frozen=True)
class Capacity:
    cpus: float
    memory: float  # bytes
    gpus: tuple[str, ...]  # device ids, as CUDA_VISIBLE_DEVICES names them

    @classmethod
    def detect(
        cls, cpus: float | None = None, memory: float | None = None, gpus: int | None = None
    ) -> Capacity:
        """This machine's, each part overridden where given."""
        if cpus is None:
            cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
        if memory is None:
            memory = _total_memory()
        devices = _gpu_devices()
        if gpus is not None:
            # Declared: the devices found first, then more ids (0, 1, ...) not found.
            extra = [str(i) for i in range(gpus + len(devices)) if str(i) not in devices]
            devices = (devices + extra)[:gpus]
        return cls(cpus, memory, tuple(devices))

    def describe(self) -> str:
        return f"{self.cpus:g} CPUs, {_bytes(self.memory)} memory, {len(self.gpus)} GPUs"


def _total_memory() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _gpu_devices() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run([smi, "-L"], check=False, capture_output=True, text=True, timeout=10)
        out = done.stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def _bytes(n: float) -> str:
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


@dataclass(frozen=True)
class Grant:
    """What a trial holds: its needs, and the GPUs given to each replica."""

    needs: Mapping[str, Need]
    devices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Machine:
    """The capacity, what each running trial holds of it, and who waits for some to free."""

    def __init__(self, capacity: Capacity | None = None) -> None:
        self._capacity = capacity
        self._declared: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._held: dict[TrialKey, Grant] = {}
        self._waiters: list[Callable[[], None]] = []

    @property
    def capacity(self) -> Capacity:
        if self._capacity is None:
            self._capacity = Capacity.detect()
        return self._capacity

    def declare(self, **parts: Any) -> None:
        """Set parts of the capacity (``cpus``, ``memory`` in bytes, ``gpus``), the rest detected."""
        with self._lock:
            self._declared.update({k: v for k, v in parts.items() if v is not None})
            self._capacity = Capacity.detect(**self._declared)

    def subscribe(self, wake: Callable[[], None]) -> None:
        """``wake`` is called whenever a trial releases what it held."""
        with self._lock:
            self._waiters.append(wake)

    def unsubscribe(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._waiters = [w for w in self._waiters if w is not wake]

    def never_fits(self, needs: Mapping[str, Need]) -> list[str]:
        """What a trial asks for beyond the whole machine (empty: it fits when it is free)."""
        cap = self.capacity
        total = _total(needs.values())
        problems = []
        if total.cpu > cap.cpus:
            problems.append(f"cpu {total.cpu:g} (this machine has {cap.cpus:g})")
        if total.memory > cap.memory:
            problems.append(
                f"memory {_bytes(total.memory)} (this machine has {_bytes(cap.memory)})"
            )
        if total.gpus > len(cap.gpus):
            problems.append(f"{GPU} {total.gpus} (this machine has {len(cap.gpus)})")
        return problems

    def grant(
        self,
        key: TrialKey,
        needs: Mapping[str, Need],
        devices: Mapping[str, list[str]] | None = None,
    ) -> Grant | str:
        """Reserve ``needs`` for trial ``key``: the grant, or why it must wait. With
        ``devices`` (an adopted trial, already running with them), it is taken as it is."""
        with self._lock:
            if key in self._held:
                return self._held[key]
            cap = self.capacity
            used = _total(n for g in self._held.values() for n in g.needs.values())
            total = _total(needs.values())
            busy = {d for g in self._held.values() for ds in g.devices.values() for d in ds}
            free = [d for d in cap.gpus if d not in busy]
            if devices is None:
                # As the scheduler says it, and the same while the trial waits.
                short = []
                if used.cpu + total.cpu > cap.cpus + 1e-9:
                    short.append(f"cpu (needs {total.cpu:g} of {cap.cpus:g})")
                if used.memory + total.memory > cap.memory:
                    short.append(f"memory (needs {_bytes(total.memory)} of {_bytes(cap.memory)})")
                if total.gpus > len(free):
                    short.append(f"{GPU} (needs {total.gpus} of {len(cap.gpus)})")
                if short:
                    return "Insufficient " + ", ".join(short) + ": running trials hold the rest"
                given: dict[str, tuple[str, ...]] = {}
                for name, need in needs.items():
                    if need.gpus:
                        given[name], free = tuple(free[: need.gpus]), free[need.gpus :]
                grant = Grant(dict(needs), given)
            else:
                grant = Grant(dict(needs), {k: tuple(v) for k, v in devices.items()})
            self._held[key] = grant
            return grant

    def release(self, key: TrialKey) -> None:
        with self._lock:
            if self._held.pop(key, None) is None:
                return
            waiters = list(self._waiters)
        for wake in waiters:
            wake()

    def held(self) -> dict[TrialKey, Grant]:
        with self._lock:
            return dict(self._held)


def _total(needs: Iterable[Need]) -> Need:
    values = list(needs)
    return Need(
        sum(n.cpu for n in values), sum(n.memory for n in values), sum(n.gpus for n in values)
    )


# The machine this process runs trials on: every runner in the process shares it.
MACHINE = Machine()
