"""A trial over its container's memory limit fails saying so (RLIMIT_AS set by its shim)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import controller, experiment, run

from pykatib.control import status as st
from pykatib.runtime.shim import memory_bytes

GREEDY = """
import sys
size = int(sys.argv[1].split("=")[1])
data = bytearray(size * 1024 * 1024)  # a Python MemoryError beyond the limit
print("loss=0.5")
"""


@pytest.mark.reliability(
    kind="fault",
    what="a trial allocating more than its container's resources.limits.memory (256Mi)",
    load="2 trials: 16 MiB and 2 GiB",
    lost="nothing; the greedy trial fails saying it ran out of memory, the other succeeds",
)
def test_a_trial_over_its_memory_limit_fails_saying_so(tmp_path: Path) -> None:
    exp = experiment(
        GREEDY,
        algorithm="grid",
        parameters=[
            {"name": "lr", "parameterType": "discrete", "feasibleSpace": {"list": ["16", "2048"]}}
        ],
        job_spec={"backoffLimit": 0},
        maxTrialCount=2,
        parallelTrialCount=2,
    )
    container = exp.spec.trial_template.trial_spec["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {"memory": "256Mi"}}
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    trials = {t.spec.parameter_assignments[0].value: t for t in ctl.store.list_trials()}
    assert st.trial_phase(trials["16"]) == st.SUCCEEDED
    greedy = trials["2048"]
    assert st.trial_phase(greedy) == st.FAILED
    message = greedy.status.condition("Failed").message
    assert "ran out of memory" in message and "256Mi" in message
    assert done.status.trials == 2


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("512Mi", 512 * 2**20), ("1G", 10**9), ("1.5Gi", int(1.5 * 2**30)), ("128974848", 128974848),
     ("129e6", 129 * 10**6), ("lots", None), ("0", None)],
)
def test_kubernetes_memory_quantities(quantity: str, expected: int | None) -> None:
    assert memory_bytes(quantity) == expected
