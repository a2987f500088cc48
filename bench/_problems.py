"""Shared helpers of the algorithm benchmarks (``bench/quality.py``, ``bench/suggest_latency.py``).

* The test functions, with their standard domains and known optima.
* How to build a pykatib :class:`~pykatib.suggest.base.Algorithm` for a box of ``double``
  parameters through the registry, exactly as the control plane does (an ``Experiment`` model ->
  ``create_algorithm``), and which of pykatib's algorithms a black-box benchmark can drive.
* The reference library of each algorithm (the sampler a Katib user would otherwise have run).
* Environment details for the reports.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import math
import os
import platform
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The order algorithms are run and reported in.
ALGORITHM_ORDER = (
    "random",
    "grid",
    "sobol",
    "tpe",
    "multivariate-tpe",
    "cmaes",
    "bayesianoptimization",
    "nsga2",
    "hyperband",
    "pbt",
)
# Measure this checkout's pykatib, whatever an editable install elsewhere points at.
sys.path.insert(0, str(REPO / "src"))

from pykatib.api.models import Experiment, ObjectiveItem

# --- test functions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A minimisation problem: ``f`` over the box ``bounds``, whose minimum is ``optimum``."""

    name: str
    bounds: tuple[tuple[float, float], ...]
    optimum: float
    f: Callable[[np.ndarray], float]

    @property
    def dim(self) -> int:
        return len(self.bounds)

    @property
    def names(self) -> list[str]:
        return [f"x{i}" for i in range(self.dim)]

    def __call__(self, x: Sequence[float]) -> float:
        return float(self.f(np.asarray(x, dtype=float)))


def branin(x: np.ndarray) -> float:
    x1, x2 = x
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def ackley(x: np.ndarray) -> float:
    d = len(x)
    a, b, c = 20.0, 0.2, 2 * math.pi
    return float(
        -a * math.exp(-b * math.sqrt(np.sum(x**2) / d))
        - math.exp(np.sum(np.cos(c * x)) / d)
        + a
        + math.e
    )


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (x[:-1] - 1) ** 2))


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    middle = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + middle + tail)


# Domains and optima as in Surjanovic & Bingham's Virtual Library of Simulation Experiments.
PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem("branin", ((-5.0, 10.0), (0.0, 15.0)), 0.397887357729738, branin),
        Problem("hartmann6", ((0.0, 1.0),) * 6, -3.32236801141551, hartmann6),
        Problem("ackley5", ((-32.768, 32.768),) * 5, 0.0, ackley),
        Problem("rosenbrock5", ((-5.0, 10.0),) * 5, 0.0, rosenbrock),
        Problem("levy5", ((-10.0, 10.0),) * 5, 0.0, levy),
    )
}


def _self_check() -> None:
    """The optima are where the literature puts them (guards against a typo in a constant)."""
    at = {
        "branin": [math.pi, 2.275],
        "hartmann6": [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
        "ackley5": [0.0] * 5,
        "rosenbrock5": [1.0] * 5,
        "levy5": [1.0] * 5,
    }
    for name, x in at.items():
        p = PROBLEMS[name]
        assert abs(p(x) - p.optimum) < 1e-5, (name, p(x), p.optimum)


_self_check()


# --- multi-objective test functions ---------------------------------------------------------


@dataclass(frozen=True)
class MultiObjectiveProblem:
    """Two objectives, both minimised, over the box ``bounds``; ``reference`` is the fixed
    hypervolume reference point and ``max_hv`` the hypervolume of the true Pareto front."""

    name: str
    bounds: tuple[tuple[float, float], ...]
    reference: tuple[float, float]
    max_hv: float
    f: Callable[[np.ndarray], tuple[float, float]]

    @property
    def dim(self) -> int:
        return len(self.bounds)

    @property
    def names(self) -> list[str]:
        return [f"x{i}" for i in range(self.dim)]

    def __call__(self, x: Sequence[float]) -> tuple[float, float]:
        f1, f2 = self.f(np.asarray(x, dtype=float))
        return float(f1), float(f2)


def zdt1(x: np.ndarray) -> tuple[float, float]:
    """ZDT1 (Zitzler, Deb & Thiele 2000): front f2 = 1 - sqrt(f1) where x[1:] = 0."""
    f1 = x[0]
    g = 1 + 9 * np.sum(x[1:]) / (len(x) - 1)
    return f1, g * (1 - math.sqrt(f1 / g))


def branin_currin(x: np.ndarray) -> tuple[float, float]:
    """Branin-Currin on [0, 1]^2 (BoTorch's ``BraninCurrin``: Branin on the rescaled box
    [-5, 10] x [0, 15], and Currin's exponential function)."""
    x1, x2 = x
    currin_factor = 1.0 if x2 == 0 else 1 - math.exp(-1 / (2 * x2))
    currin = (
        currin_factor
        * (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60)
        / (100 * x1**3 + 500 * x1**2 + 4 * x1 + 20)
    )
    return branin(np.array([15 * x1 - 5, 15 * x2])), currin


# Reference points and front hypervolumes as BoTorch's test problems give them (ZDT1's front
# hypervolume is 11 * 11 - 1/3 exactly; Branin-Currin's is computed on a dense grid).
MO_PROBLEMS: dict[str, MultiObjectiveProblem] = {
    p.name: p
    for p in (
        MultiObjectiveProblem("zdt1", ((0.0, 1.0),) * 6, (11.0, 11.0), 120 + 2 / 3, zdt1),
        MultiObjectiveProblem(
            "branin-currin", ((0.0, 1.0),) * 2, (18.0, 6.0), 59.36011874867746, branin_currin
        ),
    )
}


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The exact area dominated by ``points`` (two objectives, minimised) and bounded by
    ``reference``: a sweep over the points sorted by the first objective. Written here rather than
    taken from ``optuna._hypervolume``, which is private."""
    r1, r2 = reference
    inside = sorted((float(a), float(b)) for a, b in points if a < r1 and b < r2)
    area, lowest = 0.0, r2
    for a, b in inside:
        if b < lowest:
            area += (r1 - a) * (lowest - b)
            lowest = b
    return area


def experiment_mo(
    algorithm: str,
    problem: MultiObjectiveProblem,
    settings: dict[str, str] | None = None,
    parallel: int = 1,
) -> Experiment:
    """An Experiment minimising both of ``problem``'s objectives (``objective.objectives``,
    metrics ``f1`` and ``f2``), run ``parallel`` trials at a time."""
    exp = experiment(algorithm, problem, settings, parallel=parallel)  # type: ignore[arg-type]
    exp.spec.objective.objective_metric_name = "f1"
    exp.spec.objective.objectives = [
        ObjectiveItem(name="f1", type="minimize"),
        ObjectiveItem(name="f2", type="minimize"),
    ]
    return exp


def create_mo(algorithm: str, problem: MultiObjectiveProblem, seed: int, parallel: int = 1):
    """A pykatib Algorithm for a multi-objective ``problem``, through the registry."""
    from pykatib.suggest.registry import create_algorithm, validate_algorithm

    exp = experiment_mo(algorithm, problem, seeded_settings(algorithm, seed), parallel)
    problems = validate_algorithm(algorithm, exp)
    if problems:
        raise ValueError(f"{algorithm} rejects the benchmark experiment: {problems}")
    return create_algorithm(exp)


# --- grid: the lattice both sides walk ------------------------------------------------------


def grid_points_per_dim(problem: Problem, budget: int) -> int:
    """Points per axis so that the lattice has at least ``budget`` points."""
    k = 2
    while k**problem.dim < budget:
        k += 1
    return k


def grid_axis(low: float, high: float, k: int) -> tuple[float, float, float]:
    """(min, max, step) of ``k`` cell midpoints of [low, high] (a cell-centred lattice)."""
    step = (high - low) / k
    return low + step / 2, low + step / 2 + (k - 1) * step, step


# --- pykatib algorithms ---------------------------------------------------------------------

# Algorithms a black-box benchmark cannot drive, and why.
NOT_BLACK_BOX = {
    "hyperband": "multi-fidelity: needs a resource parameter and intermediate results, "
    "not a black-box function",
    "pbt": "population-based training: trials resume from checkpoints, not a black-box function",
    "enas": "neural architecture search",
    "darts": "neural architecture search",
}


def implemented() -> list[str]:
    from pykatib.suggest.registry import implemented_algorithm_names

    return implemented_algorithm_names()


def experiment(
    algorithm: str,
    problem: Problem,
    settings: dict[str, str] | None = None,
    grid_k: int | None = None,
    parallel: int = 1,
) -> Experiment:
    """An Experiment minimising ``problem`` over its box of double parameters, run ``parallel``
    trials at a time (its ``parallelTrialCount``)."""
    parameters = []
    for name, (low, high) in zip(problem.names, problem.bounds):
        space: dict[str, str] = {"min": repr(low), "max": repr(high)}
        if grid_k is not None:
            lo, hi, step = grid_axis(low, high, grid_k)
            space = {"min": repr(lo), "max": repr(hi), "step": repr(step)}
        parameters.append({"name": name, "parameterType": "double", "feasibleSpace": space})
    return Experiment.model_validate(
        {
            "metadata": {"name": f"bench-{algorithm}-{problem.name}", "namespace": "default"},
            "spec": {
                "objective": {"type": "minimize", "objectiveMetricName": "f"},
                "algorithm": {
                    "algorithmName": algorithm,
                    "algorithmSettings": [
                        {"name": k, "value": v} for k, v in (settings or {}).items()
                    ],
                },
                "parameters": parameters,
                # Katib's grid rejects a maxTrialCount above the number of combinations.
                "maxTrialCount": grid_k**problem.dim if grid_k is not None else 100000,
                "parallelTrialCount": parallel,
            },
        }
    )


def seeded_settings(algorithm: str, seed: int) -> dict[str, str]:
    """The algorithm settings a benchmark run uses: ``random_state`` where the algorithm has it.

    ``sobol`` with ``random_state`` scrambles its sequence (unscrambled, every seed would walk the
    same points, and the seed IQR would be zero).
    """
    return {"random_state": str(seed)}


def rejection(algorithm: str) -> str | None:
    """Why ``algorithm`` cannot run a single-objective box benchmark, or ``None`` if it can."""
    from pykatib.suggest.registry import validate_algorithm

    grid_k = 4 if algorithm == "grid" else None  # grid needs a step on every double
    problems = validate_algorithm(
        algorithm, experiment(algorithm, PROBLEMS["branin"], grid_k=grid_k)
    )
    return "; ".join(problems) if problems else None


def create(
    algorithm: str, problem: Problem, seed: int, grid_k: int | None = None, parallel: int = 1
):
    """A pykatib Algorithm for ``problem``, built through the registry as the control plane does."""
    from pykatib.suggest.registry import create_algorithm, validate_algorithm

    exp = experiment(algorithm, problem, seeded_settings(algorithm, seed), grid_k, parallel)
    problems = validate_algorithm(algorithm, exp)
    if problems:
        raise ValueError(f"{algorithm} rejects the benchmark experiment: {problems}")
    return create_algorithm(exp)


# --- reference libraries --------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """The library an algorithm is compared with: a label, and whether it can be used here."""

    label: str
    package: str  # the distribution whose version the report gives
    available: bool
    why_not: str = ""


def _has(module: str) -> tuple[bool, str]:
    try:
        importlib.import_module(module)
        return True, ""
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        return False, f"{module} does not import: {type(e).__name__}: {e}"


# HEBO 0.3.6 (the latest release) pins numpy<1.25 and pymoo==0.6.0: installing it here would
# downgrade the numpy that pykatib and the other references run on, so it is used only where it
# already imports.
HEBO_WHY_NOT = "HEBO 0.3.6 pins numpy<1.25 and pymoo==0.6.0, so it is not installed next to numpy 2"


def references(algorithm: str, hebo: bool = False) -> list[Reference]:
    """Reference libraries for ``algorithm``, primary first; ``hebo``: HEBO too for
    ``bayesianoptimization`` (bench/quality.py's batch references)."""
    optuna_ok, optuna_why = _has("optuna")
    optuna_samplers = {
        "random": "Optuna RandomSampler",
        "grid": "Optuna GridSampler",
        "tpe": "Optuna TPESampler(multivariate=False)",
        "multivariate-tpe": "Optuna TPESampler(multivariate=True)",
        "cmaes": "Optuna CmaEsSampler",
        "sobol": "Optuna QMCSampler(sobol, scrambled)",
        "nsga2": "Optuna NSGAIISampler",
    }
    refs: list[Reference] = []
    if algorithm in optuna_samplers:
        refs.append(Reference(optuna_samplers[algorithm], "optuna", optuna_ok, optuna_why))
    if algorithm == "tpe":
        ok, why = _has("hyperopt")
        refs.append(Reference("hyperopt tpe.suggest", "hyperopt", ok, why))
    if algorithm == "bayesianoptimization":
        ok, why = _has("skopt")
        refs.append(
            Reference("scikit-optimize Optimizer (GP, gp_hedge)", "scikit-optimize", ok, why)
        )
        ok, why = _has("torch")
        refs.append(Reference("Optuna GPSampler", "optuna", ok and optuna_ok, why or optuna_why))
        if hebo:
            ok, why = _has("hebo")
            refs.append(Reference("HEBO", "hebo", ok, f"{why}; {HEBO_WHY_NOT}" if why else ""))
    return refs


def optuna_distributions(problem: Problem, grid_k: int | None = None) -> dict:
    from optuna.distributions import FloatDistribution

    out = {}
    for name, (low, high) in zip(problem.names, problem.bounds):
        if grid_k is not None:
            lo, hi, _ = grid_axis(low, high, grid_k)
            out[name] = FloatDistribution(lo, hi)  # GridSampler picks the lattice values
        else:
            out[name] = FloatDistribution(low, high)
    return out


def grid_values(problem: Problem, grid_k: int) -> dict[str, list[float]]:
    """The lattice per parameter, as pykatib's grid enumerates it (so both walk the same points)."""
    from pykatib.suggest.space import SearchSpace

    space = SearchSpace.from_experiment(experiment("grid", problem, grid_k=grid_k))
    return {p.name: [float(v) for v in p.values()] for p in space}


def optuna_sampler(
    algorithm: str, seed: int, problem: Problem, grid_k: int | None = None, parallel: int = 1
):
    """Optuna's sampler for ``algorithm``, with the library's defaults (and Katib's, which are
    the same: n_startup_trials 10, n_ei_candidates 24 for TPE; sigma range/6 for CMA-ES).
    ``multivariate`` is always given, since its default changed in Optuna 5. With trials run in
    parallel, TPE takes ``constant_liar=True``, as pykatib's ``tpe`` and ``multivariate-tpe`` do
    (and Katib's Optuna service); one at a time it is left at its default (no trial is ever
    running when it samples, so the liar would change nothing)."""
    import optuna

    s = optuna.samplers
    if algorithm == "random":
        return s.RandomSampler(seed=seed)
    if algorithm == "grid":
        assert grid_k is not None
        return s.GridSampler(grid_values(problem, grid_k), seed=seed)
    if algorithm == "tpe":
        # Optuna 5 made multivariate the default for one objective; Katib's tpe is independent.
        liar = {"constant_liar": True} if parallel > 1 else {}
        return s.TPESampler(seed=seed, multivariate=False, **liar)
    if algorithm == "multivariate-tpe":
        liar = {"constant_liar": True} if parallel > 1 else {}
        return s.TPESampler(seed=seed, multivariate=True, **liar)
    if algorithm == "cmaes":
        return s.CmaEsSampler(seed=seed)
    if algorithm == "sobol":
        return s.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    if algorithm == "nsga2":
        return s.NSGAIISampler(seed=seed)
    if algorithm == "bayesianoptimization":
        return s.GPSampler(seed=seed)
    raise KeyError(algorithm)


def skopt_optimizer(problem: Problem, seed: int):
    """scikit-optimize's Optimizer with Katib's bayesianoptimization defaults (which are skopt's):
    GP, 10 initial points, gp_hedge, acq_optimizer auto."""
    from skopt import Optimizer

    return Optimizer(
        dimensions=[tuple(b) for b in problem.bounds],
        base_estimator="GP",
        n_initial_points=10,
        acq_func="gp_hedge",
        acq_optimizer="auto",
        random_state=seed,
    )


def hebo_optimizer(problem: Problem, seed: int):
    """HEBO with its defaults on ``problem``'s box (seeded through numpy's and torch's global
    generators and its Sobol scrambling, HEBO's own seeding)."""
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO

    np.random.seed(seed)
    torch.manual_seed(seed)
    space = DesignSpace().parse(
        [
            {"name": name, "type": "num", "lb": lo, "ub": hi}
            for name, (lo, hi) in zip(problem.names, problem.bounds)
        ]
    )
    return HEBO(space, scramble_seed=seed)


# --- parallel trials ------------------------------------------------------------------------

# Trial durations: exponential with mean 1 (memoryless: the completion order is as shuffled as it
# gets), from a generator of their own, so that both sides of a comparison see the same durations
# and no algorithm's random stream is touched.
DURATIONS = "exponential, mean 1, numpy.random.default_rng([seed, 7901])"
_DURATION_STREAM = 7901


def durations(seed: int, n: int) -> np.ndarray:
    """How long each of the first ``n`` trials (in creation order) runs, for run ``seed``."""
    return np.random.default_rng([seed, _DURATION_STREAM]).exponential(1.0, size=n)


def point_key(values: Sequence[float | str]) -> tuple[str, ...]:
    """A point as Katib writes a double (``repr(float)``), to count repeated proposals."""
    return tuple(repr(float(v)) for v in values)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Optuna's per-trial log lines, hyperopt's logger and library warnings."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    hyperopt_logger = logging.getLogger("hyperopt")
    level = hyperopt_logger.level
    hyperopt_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)
        hyperopt_logger.setLevel(level)


# --- report helpers -------------------------------------------------------------------------


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def load() -> str:
    """The 1-minute load average, to judge timings on a shared machine."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def commit() -> str:
    """HEAD, and the files under src/ that differ from it (what was really measured)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    if changed:
        head += " with uncommitted changes to " + ", ".join(changed)
    return head


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def versions_line() -> str:
    pkgs = ["numpy", "scipy", "optuna", "cmaes", "hyperopt", "scikit-optimize", "scikit-learn"]
    pkgs += [p for p in ("torch", "hebo") if version(p) != "not installed"]
    return f"Python {platform.python_version()}, pykatib {version('pykatib')}, " + ", ".join(
        f"{p} {version(p)}" for p in pkgs
    )
