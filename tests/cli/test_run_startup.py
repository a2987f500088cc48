"""`pykatib run` starts lean (issue 13): a quiet run of a random experiment imports none of the
libraries it does not use (counted from the modules loaded, not timed), and its piped result,
written without rich, is what rich prints."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pykatib_cli import experiment, get_json, write
from rich.console import Console

from pykatib.api.models import Experiment
from pykatib.cli import views
from pykatib.earlystop import EARLY_STOPPING_ALGORITHM_NAMES, get_rule

# Not needed by a quiet local run of `random`: NumPy (random draws without it), the other
# algorithms' libraries, the server's, rich (nothing is drawn), Alembic (a new store is made
# from the schema), urllib's HTTP client, the early stopping rules and the other runtimes.
UNUSED = (
    "numpy",
    "scipy",
    "optuna",
    "sklearn",
    "httpx",
    "fastapi",
    "uvicorn",
    "rich",
    "alembic",
    "kubernetes",
    "dask",
    "distributed",
    "urllib.request",
    "pykatib.earlystop.medianstop",
    "pykatib.runtime.dask",
    "pykatib.runtime.kubernetes",
    "pykatib.suggest.pbt",
)
# Runs the CLI as its console script does; at exit, says which of UNUSED it imported.
PROBE = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print('IMPORTED', json.dumps([m for m in {unused!r} "
    "if m in sys.modules]), file=sys.stderr))\n"
    "sys.argv = ['pykatib', *{args!r}]\n"
    "from pykatib.cli.main import main\n"
    "main()\n"
)


def test_a_quiet_run_imports_no_library_it_does_not_use(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.yaml", experiment("lean", maxTrialCount=2))
    args = ["run", "-q", "-f", str(path)]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(unused=UNUSED, args=args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("IMPORTED "))
    assert json.loads(line.removeprefix("IMPORTED ")) == []
    assert "lean: Succeeded" in proc.stdout and "Best trial: lean-" in proc.stdout
    trials = get_json("trials", "-e", "lean")["items"]  # persisted, as ever
    assert [t["status"]["conditions"][-1]["type"] for t in trials] == ["Succeeded"] * 2


def test_a_failed_run_still_exits_1(tmp_path: Path) -> None:
    """The run ends without the interpreter's teardown: its exit code is kept."""
    doc = experiment("broken", maxTrialCount=1, maxFailedTrialCount=0)
    doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0][
        "command"
    ] = [sys.executable, "-c", "raise SystemExit(3)"]
    path = write(tmp_path / "exp.yaml", doc)
    proc = subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", "run", "-q", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "broken: Failed" in proc.stdout


def _experiment(best_name: str | None, message: str, value: str = "0.25") -> Experiment:
    status: dict[str, Any] = {
        "conditions": [
            {"type": "Created", "status": "True", "reason": "ExperimentCreated", "message": "."},
            {"type": "Succeeded", "status": "True", "reason": "Done", "message": message},
        ],
        "trials": 3,
        "trialsSucceeded": 3,
    }
    if best_name is not None:
        status["currentOptimalTrial"] = {
            "bestTrialName": best_name,
            "parameterAssignments": [{"name": "lr", "value": value}, {"name": "n", "value": "7"}],
            "observation": {
                "metrics": [{"name": "loss", "min": "0.1", "max": "0.9", "latest": "0.5"}]
            },
        }
    return Experiment.model_validate(
        {"metadata": {"name": "exp", "namespace": "default"}, "spec": {}, "status": status}
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("exp", "plain"),
    [
        (
            _experiment("exp-abc1", "Experiment has succeeded because max trial count has reached"),
            True,
        ),
        (_experiment(None, "no best trial yet"), True),
        (_experiment("exp-" + "x" * 120, "a title wider than the table"), False),
        (_experiment("exp-abc1", "markup [bold]in[/bold] the message"), False),
        (_experiment("exp-abc1", "an emoji code :smile: in the message"), False),
        (_experiment("exp-abc1", "a categorical value with a colon", value="a:b"), False),
        (_experiment("exp-abc1", "a long message " + "m" * 300), False),
    ],
)
def test_the_piped_result_is_what_rich_prints(
    exp: Experiment, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = io.StringIO()
    rich_console = Console(file=drawn, width=views.PIPED_WIDTH, force_terminal=False)
    monkeypatch.setattr(sys, "stdout", _Terminal())  # print_result draws with rich
    views.print_result(lambda: rich_console, exp)
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)
    used_rich: list[bool] = []

    def piped_console() -> Console:
        used_rich.append(True)
        return Console(file=piped, width=views.PIPED_WIDTH)

    views.print_result(piped_console, exp)
    assert piped.getvalue() == drawn.getvalue()
    assert used_rich == ([] if plain else [True])  # written plain where that is the same


def test_each_early_stopping_name_finds_its_rule() -> None:
    """The rules are imported on first use, by name."""
    assert [get_rule(name).name for name in EARLY_STOPPING_ALGORITHM_NAMES] == list(
        EARLY_STOPPING_ALGORITHM_NAMES
    )
