"""No code in the data: what pykatib stores and reads back is data, and the library internals it
leans on are pinned.

An algorithm's state lives in a database others may write to; deserialising it with pickle (or
marshal, eval, an unsafe YAML loader) would run whatever they put there. These checks scan the
whole package, since a stored value can be read back anywhere.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
from pathlib import Path

import pytest

from pykatib.suggest.registry import create_algorithm

from ._helpers import experiment, finished, param

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "pykatib"
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"

CODE_LOADING_MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}
CODE_LOADING_MODULES |= {"joblib", "jsonpickle"}
CODE_RUNNING_BUILTINS = {"eval", "exec", "__import__"}
# PyYAML's loaders that build arbitrary Python objects (safe_load and SafeLoader are fine).
UNSAFE_YAML = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
UNSAFE_YAML |= {"Loader", "FullLoader", "UnsafeLoader"}

# The libraries whose internals could tempt: a module importing one of them may reach into its
# private parts only if listed in PRIVATE_USES, with the library bounded above in pyproject.toml
# to the releases tested. nsga2.py names NSGA-II's generation system attribute, which an
# attribute scan cannot see.
LIBRARIES = {"optuna", "cmaes", "scipy", "sklearn", "threadpoolctl"}
PRIVATE_USES = {
    "suggest/_optuna.py": "optuna",  # InMemoryStorage's fields, FrozenTrial._trial_id
    "suggest/tpe.py": "optuna",  # TPESampler._search_space
    "suggest/nsga2.py": "optuna",  # "NSGAIISampler:generation"
    "suggest/cmaes.py": "cmaes",  # CMA._sigma, CMA._eigen_decomposition: an older step's bound
}


def modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def data_turned_into_code(node: ast.AST) -> str | None:
    """What ``node`` does that could run stored data as code, if anything."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name in CODE_LOADING_MODULES]
        return f"import {names[0]}" if names else None
    if isinstance(node, ast.ImportFrom) and node.module in CODE_LOADING_MODULES:
        return f"from {node.module} import"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return f"{node.func.id}()" if node.func.id in CODE_RUNNING_BUILTINS else None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        unsafe = node.value.id == "yaml" and node.attr in UNSAFE_YAML
        return f"yaml.{node.attr}" if unsafe else None
    if isinstance(node, ast.keyword) and node.arg == "allow_pickle":  # numpy.load
        return "allow_pickle="
    return None


# Imports that never read stored data, each with why.
ALLOWED = {
    # Dask ships runtime/dask_worker.py's code to the workers by value: outgoing, the pickling
    # Dask does for every task; nothing pykatib stores is ever unpickled.
    ("runtime/dask.py", "import cloudpickle"),
}


def test_the_package_never_turns_data_into_code() -> None:
    found = [
        f"{name}:{getattr(node, 'lineno', '?')} {what}"
        for name, tree in modules()
        for node in ast.walk(tree)
        if (what := data_turned_into_code(node)) and (name, what) not in ALLOWED
    ]
    assert found == []


def private_attribute_uses(tree: ast.Module) -> list[str]:
    """``x._name`` where ``x`` is not ``self`` or ``cls``, and imports from private modules."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and re.fullmatch(r"_[^_].*", node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                uses.append(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            top, *rest = node.module.split(".")
            if top != "pykatib" and any(re.fullmatch(r"_[^_].*", part) for part in rest):
                uses.append(f"from {node.module}")
    return uses


def imported(tree: ast.Module) -> set[str]:
    """The top-level packages a module imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_known_modules_use_private_parts() -> None:
    """A new use of a library's private parts must be added to PRIVATE_USES (and the library
    bounded), or moved to the public API."""
    users = {
        name
        for name, tree in modules()
        if imported(tree) & LIBRARIES and private_attribute_uses(tree)
    }
    assert users <= set(PRIVATE_USES)


@pytest.mark.parametrize("library", sorted(set(PRIVATE_USES.values())))
def test_a_library_whose_private_parts_are_used_is_bounded_to_the_releases_tested(
    library: str,
) -> None:
    tomllib = pytest.importorskip("tomllib")
    requirements = pytest.importorskip("packaging.requirements")
    listed = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    spec = {r.name.lower(): r.specifier for r in map(requirements.Requirement, listed)}[library]
    assert any(s.operator in ("<", "<=", "==", "~=") for s in spec), f"{library}{spec}: no bound"
    assert importlib.metadata.version(library) in spec  # what runs these tests is inside


CASES = {
    "random": {},
    "grid": {},
    "sobol": {"random_state": "0"},
    "tpe": {"n_startup_trials": "2"},
    "cmaes": {},
    "bayesianoptimization": {"n_initial_points": "2", "acq_func": "gp_hedge"},
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_algorithm_state_is_plain_json(name: str) -> None:
    """What the control plane stores round-trips through JSON unchanged (no bytes, no objects,
    no encoded blobs)."""
    step = {"step": "0.25"} if name == "grid" else {}
    parameters = [
        param("x", "double", min="0", max="1", **step),
        param("k", "int", min="1", max="3"),
    ]
    algorithm = create_algorithm(experiment(name, parameters, CASES[name]))
    history = []
    for _ in range(3):
        new = algorithm.suggest(history, 2)
        history += finished(new, [float(len(history) + i) for i in range(len(new))], len(history))
        state = algorithm.state()
        assert state is None or json.loads(json.dumps(state)) == state
        hexes = re.findall(r'"[0-9a-f]{64,}"', json.dumps(state))
        assert hexes == [], "a long hex string: an encoded blob?"
