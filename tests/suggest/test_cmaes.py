"""cmaes: Katib's validation, convergence, restarts of the process and of the strategy, and a
stored state that is data: rebuilt by replaying tells, an older pickled one never unpickled."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from pykatib.suggest.base import TrialResult
from pykatib.suggest.cmaes import STATE_SCHEMA_VERSION, CmaEs
from pykatib.suggest.registry import create_algorithm, validate_algorithm

from ._helpers import experiment, finished, param

TWO = [param("param-1", "int", min="1", max="5"), param("param-2", "int", min="9", max="10")]
SPHERE = [
    param("x", "double", min="-5", max="5"),
    param("y", "double", min="0.01", max="100", distribution="logUniform"),
    param("opt", "categorical", list_=["a", "b"]),
]
S = "spec.algorithm.algorithmSettings"


def sphere(a: dict[str, str]) -> float:
    return (float(a["x"]) - 1) ** 2 + (float(a["y"]) - 1) ** 2


def run(
    settings: dict[str, str], trials: int, batch: int = 1, reload: bool = False
) -> list[TrialResult]:
    exp = experiment("cmaes", SPHERE, settings, objective_type="minimize")
    algorithm = create_algorithm(exp)
    history: list[TrialResult] = []
    while len(history) < trials:
        new = algorithm.suggest(history, batch)
        if reload:  # a control-plane restart after every call
            state = json.loads(json.dumps(algorithm.state()))
            algorithm = create_algorithm(exp)
            algorithm.restore(state)
        history += finished(new, [sphere(p.assignments) for p in new], start=len(history))
    return history


def test_converges_on_a_sphere() -> None:
    history = run({"random_state": "1"}, 120)
    assert min(t.value for t in history if t.value is not None) < 1e-3


def test_restart_of_the_process_changes_nothing() -> None:
    plain = run({"random_state": "4", "sigma": "0.3"}, 40, batch=3)
    reloaded = run({"random_state": "4", "sigma": "0.3"}, 40, batch=3, reload=True)
    assert [t.assignments for t in plain] == [t.assignments for t in reloaded]


def drive(
    settings: dict[str, str], calls: int, reload: bool, flat: bool = False
) -> tuple[list[list[dict[str, str]]], CmaEs]:
    """``calls`` requests of 3, about half the running trials finishing after each, in no
    particular order (so a generation's first trials by creation are not the first to finish);
    ``reload``: a control-plane restart before every call. ``flat``: every value is 1, so the
    strategy converges (and restarts) soon."""
    exp = experiment("cmaes", SPHERE, settings, objective_type="minimize")
    algorithm = create_algorithm(exp)
    rng = np.random.default_rng(0)
    history: list[TrialResult] = []
    out = []
    for _ in range(calls):
        if reload:
            state = json.loads(json.dumps(algorithm.state()))
            algorithm = create_algorithm(exp)
            algorithm.restore(state)
        new = algorithm.suggest(history, 3)
        out.append([p.assignments for p in new])
        history += [
            TrialResult(f"t{len(history) + i}", p.assignments, "running") for i, p in enumerate(new)
        ]
        for i, t in enumerate(history):
            if not t.completed and rng.random() < 0.5:
                value = 1.0 if flat else sphere(t.assignments)
                history[i] = TrialResult(t.name, t.assignments, "succeeded", value=value)
    assert isinstance(algorithm, CmaEs)
    return out, algorithm


@pytest.mark.reliability(
    kind="fault",
    what="cmaes rebuilt from its stored state before every call, as after a control-plane restart (trials finishing out of order; IPOP/BIPOP restarts)",
    load="90 calls of 3 trials",
    lost="nothing; the same proposals as one uninterrupted process",
)
@pytest.mark.parametrize(
    ("settings", "flat"),
    [
        ({"random_state": "5", "sigma": "0.3"}, False),
        ({"random_state": "2", "restart_strategy": "ipop", "sigma": "0.01"}, True),
        ({"random_state": "2", "restart_strategy": "bipop", "sigma": "0.01"}, True),
    ],
)
def test_a_restart_replays_exactly_what_was_told(settings: dict[str, str], flat: bool) -> None:
    """The rebuilt optimizer is told the trials the running one was told, even when others of
    the generation finished first, and restarts the strategy where it restarted."""
    plain, kept = drive(settings, 90, reload=False, flat=flat)
    reloaded, _ = drive(settings, 90, reload=True, flat=flat)
    assert plain == reloaded
    if flat:
        assert kept._restarts >= 1


def test_the_state_is_json_data_with_a_schema_version() -> None:
    _, algorithm = drive({"random_state": "5"}, 12, reload=False)
    state = algorithm.state()
    assert state is not None
    assert json.loads(json.dumps(state)) == state  # no bytes, no blobs: plain JSON
    assert state["schemaVersion"] == STATE_SCHEMA_VERSION
    assert set(state) == {"schemaVersion", "seed", "generations"}
    told = [g for g in state["generations"] if g["told"] is not None]
    assert told and all(len(g["told"]) == algorithm.optimizer.population_size for g in told)


def legacy(algorithm: CmaEs, blob: bytes) -> dict:
    """The state as pykatib wrote it before ``schemaVersion``: the optimizer pickled, and each
    proposal's generation within its run, in the order proposed."""
    state = algorithm.state()
    assert state is not None
    return {
        "seed": state["seed"],
        "restarts": algorithm._restarts,
        "optimizer": blob.hex(),
        "generation_of": {k: g["generation"] for g in state["generations"] for k in g["proposed"]},
    }


@pytest.mark.reliability(
    kind="bad input",
    what="a cmaes state written by an older pykatib (a pickled optimizer), with unpickling made to fail",
    load="200 trials, with and without an IPOP restart",
    lost="nothing; never unpickled, rebuilt from the history, the same proposals",
)
@pytest.mark.parametrize(
    ("settings", "flat"),
    [
        ({"sigma": "0.3"}, False),
        ({"restart_strategy": "ipop", "sigma": "0.01"}, True),
    ],
)
def test_an_older_pickled_state_is_rebuilt_from_the_history_never_unpickled(
    settings: dict[str, str], flat: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trials finishing in order (what the old format's rebuild assumes), a random seed kept in
    the state: the rebuilt strategy then proposes what the one that kept running does."""
    exp = experiment("cmaes", SPHERE, settings, objective_type="minimize")
    kept = create_algorithm(exp)
    assert isinstance(kept, CmaEs)
    history: list[TrialResult] = []

    def finish(new: list) -> None:
        values = [1.0 if flat else sphere(p.assignments) for p in new]
        history.extend(finished(new, values, start=len(history)))

    for _ in range(50):
        finish(kept.suggest(history, 4))
    assert kept._restarts >= 1 if flat else kept._restarts == 0
    old = json.loads(json.dumps(legacy(kept, pickle.dumps(kept.optimizer))))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stored state was unpickled")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    restored = create_algorithm(exp)
    restored.restore(old)
    for _ in range(10):
        new = kept.suggest(history, 4)
        assert restored.suggest(history, 4) == new
        finish(new)
    assert restored.state() == kept.state()


UNPICKLED: list[str] = []


def _record_unpickling() -> None:
    UNPICKLED.append("code ran")


class _Payload:
    """What anyone who can write to the database could store: unpickling it runs code."""

    def __reduce__(self) -> tuple:
        return (_record_unpickling, ())


@pytest.mark.reliability(
    kind="bad input",
    what="a stored cmaes state holding a pickle that runs code when loaded; malformed states; a newer schemaVersion",
    load="6 states, 5 calls each",
    lost="nothing; no code runs, the experiment goes on",
)
@pytest.mark.parametrize(
    "state",
    [
        {"seed": 9, "restarts": 0, "optimizer": pickle.dumps(_Payload()).hex()},
        {"optimizer": pickle.dumps(_Payload()).hex(), "generation_of": {"x": "nope"}},
        {"schemaVersion": STATE_SCHEMA_VERSION, "seed": 9, "generations": "nope"},
        {"schemaVersion": STATE_SCHEMA_VERSION, "generations": [{"run": -1, "generation": 0}]},
        {"schemaVersion": 99, "seed": 9, "optimizer": pickle.dumps(_Payload()).hex()},
        {"seed": "9; rm -rf /"},
    ],
)
def test_a_hostile_or_malformed_state_runs_nothing_and_breaks_nothing(state: dict) -> None:
    exp = experiment("cmaes", SPHERE, {"sigma": "0.3"}, objective_type="minimize")
    algorithm = create_algorithm(exp)
    assert isinstance(algorithm, CmaEs)
    seed = algorithm.seed
    algorithm.restore(state)
    assert algorithm.seed == (9 if state.get("seed") == 9 else seed)
    history: list[TrialResult] = []
    for _ in range(5):
        new = algorithm.suggest(history, 3)
        history += finished(new, [sphere(p.assignments) for p in new], start=len(history))
    assert len(history) == 15 and not UNPICKLED
    assert algorithm.optimizer is not None and algorithm.optimizer.generation >= 1


@pytest.mark.parametrize("strategy", ["ipop", "bipop"])
def test_restart_strategy_grows_the_population(strategy: str) -> None:
    exp = experiment(
        "cmaes", SPHERE, {"random_state": "2", "restart_strategy": strategy, "sigma": "0.01"}
    )
    algorithm = create_algorithm(exp)
    assert isinstance(algorithm, CmaEs)
    history: list[TrialResult] = []
    while algorithm._restarts == 0 and len(history) < 2000:
        new = algorithm.suggest(history, 6)
        history += finished(new, [1.0] * len(new), start=len(history))  # flat: converges at once
    assert algorithm._restarts >= 1
    assert algorithm.optimizer is not None and algorithm.optimizer.population_size == 12


@pytest.mark.parametrize(
    ("settings", "parameters", "problems"),
    [
        ({"restart_strategy": "ipop", "sigma": "0.1", "random_state": "10"}, TWO, []),
        ({"invalid": "invalid", "sigma": "0.1"}, TWO, [f"{S}.invalid: unknown setting invalid for algorithm cmaes"]),
        (
            {"restart_strategy": "invalid", "sigma": "0.1"},
            TWO,
            [f"{S}.restart_strategy: restart_strategy invalid is not supported in CMAES optimization"],
        ),
        ({"restart_strategy": "None", "sigma": "-10"}, TWO, [f"{S}.sigma: sigma should be greate or equal than zero"]),
        (
            {"sigma": "0.2", "random_state": "-20"},
            TWO,
            [f"{S}.random_state: random_state should be greate or equal than zero"],
        ),
        (
            {"sigma": "0.2"},
            TWO[:1],
            ["spec.parameters: CMA-ES only supports two or more dimensional continuous search space."],
        ),
    ],
)  # fmt: skip
def test_katib_validation_cases(
    settings: dict[str, str], parameters: list, problems: list[str]
) -> None:
    assert validate_algorithm("cmaes", experiment("cmaes", parameters, settings)) == problems
