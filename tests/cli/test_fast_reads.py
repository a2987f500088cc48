"""`get`, `describe` and `logs` start fast (issue 13): on a SQLite, PostgreSQL or MariaDB store
and against a server they import none of SQLAlchemy, pydantic, httpx, rich or the algorithms'
libraries (a piped table is written as rich would write it, without rich); and `get trials`
pages with --limit and --continue, on SQLite, on PostgreSQL and through a server.

Real processes, a real store filled by a real `pykatib run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import own_database
from pykatib_cli import experiment, pykatib, table, write
from rich.console import Console

from pykatib.cli.tables import Grid, plain, to_rich

HEAVY = ("sqlalchemy", "pydantic", "httpx", "optuna", "numpy", "scipy", "rich")
# Runs the CLI as its console script does, then says which heavy modules it imported.
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('IMPORTED', [m for m in {heavy!r} if m in sys.modules], "
    "file=sys.stderr))\n"
    "sys.argv = ['pykatib', *{args!r}]\n"
    "from pykatib.cli.main import main\n"
    "main()\n"
)


def imported(*args: str) -> tuple[list[str], str]:
    """The heavy modules ``pykatib ARGS`` imported, and its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, args=list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("IMPORTED "))
    return json.loads(line.removeprefix("IMPORTED ").replace("'", '"')), proc.stdout


def run_experiment(tmp_path: Path, *db: str, trials: int = 5) -> list[str]:
    """Run an experiment of ``trials`` trials to completion; its trials' names, oldest first."""
    path = write(tmp_path / "exp.yaml", experiment("pages", maxTrialCount=trials))
    pykatib(*db, "run", "-q", "-f", str(path), check=True)
    listed = json.loads(
        pykatib(*db, "get", "trials", "-e", "pages", "-o", "json", check=True).stdout
    )
    return [t["metadata"]["name"] for t in listed["items"]]


def pages(*args: str, limit: int) -> list[list[str]]:
    """The trial names of each page of ``get trials ARGS --limit``, following the tokens."""
    found: list[list[str]] = []
    token: list[str] = []
    while True:
        proc = pykatib(*args, "get", "trials", "-e", "pages", "--limit", str(limit), *token)
        assert proc.returncode == 0, proc.stderr
        found.append([row[0] for row in table(proc.stdout)[1:]])
        said = [x for x in proc.stderr.splitlines() if x.startswith("more trials: add --continue")]
        if not said:
            return found
        token = ["--continue", said[0].split()[-1]]
        assert len(found) < 10, "the pages never end"


@pytest.mark.parametrize("where", ["sqlite", "postgresql", "mariadb"])
def test_reads_import_no_heavy_module(
    tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    db = ("--db", request.getfixturevalue(f"{where}_url")) if where != "sqlite" else ()
    names = run_experiment(tmp_path, *db, trials=2)
    for args in (
        ("get", "experiments"),
        ("get", "experiments", "-o", "wide"),
        ("get", "trials", "-e", "pages"),
        ("get", "trials", "-e", "pages", "--limit", "1"),
        ("describe", "experiment", "pages"),
        ("describe", "trial", names[0]),
        ("logs", names[0]),
    ):
        heavy, out = imported(*db, *args)
        assert heavy == [], (args, heavy)
        assert out.strip(), args
    # The same answers as through the full store (-o json builds the models).
    _, out = imported(*db, "get", "trials", "-e", "pages")
    assert [row[0] for row in table(out)[1:]] == names
    _, out = imported(*db, "describe", "experiment", "pages")
    assert "ExperimentCreated" in out and "Experiment is created" in out  # its events
    _, out = imported(*db, "logs", names[1])
    assert out.startswith("loss=0.") and out.count("loss=") == 1, out


def test_reads_from_a_server_import_no_heavy_module(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from pykatib_server import start_server

    server = start_server(tmp_path, f"sqlite:///{tmp_path / 'server.db'}")
    try:
        names = run_experiment(tmp_path, "--server", server.url, trials=2)
        for args in (
            ("get", "experiments"),
            ("get", "trials"),
            ("describe", "experiment", "pages"),
        ):
            heavy, out = imported(*args, "--server", server.url)
            assert heavy == [], (args, heavy)
            assert "pages" in out
        heavy, out = imported("logs", names[1], "--server", server.url)
        assert heavy == [] and out.startswith("loss=0.") and out.count("loss=") == 1, out
        # Every other way of reading a log goes through the SDK's transport.
        _, out_all = imported("logs", names[1], "--all-attempts", "--server", server.url)
        assert out_all == "==> attempt 1 <==\n" + out
        assert pages("--server", server.url, limit=1) == [names[:1], names[1:]]
    finally:
        server.stop()


@pytest.fixture
def postgresql_url(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database of its own (created and dropped), not the shared ``test`` one."""
    yield from own_database("postgresql", tmp_path / "unused.db", "pykatib_pages")


@pytest.fixture
def mariadb_url(tmp_path: Path) -> Iterator[str]:
    """A MariaDB database of its own (created and dropped), not the shared ``test`` one."""
    yield from own_database("mariadb", tmp_path / "unused.db", "pykatib_pages")


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_trials_page_with_limit_and_continue(
    tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    db = ("--db", request.getfixturevalue("postgresql_url")) if where == "postgresql" else ()
    names = run_experiment(tmp_path, *db)
    assert len(names) == 5
    assert pages(*db, limit=2) == [names[:2], names[2:4], names[4:]]
    assert pages(*db, limit=5) == [names]
    # -o json: the page, and the token in the list's metadata.continue, as the API lists.
    page = json.loads(
        pykatib(*db, "get", "trials", "-e", "pages", "--limit", "3", "-o", "json").stdout
    )
    assert [t["metadata"]["name"] for t in page["items"]] == names[:3]
    rest = pykatib(
        *db,
        "get",
        "trials",
        "-e",
        "pages",
        "--continue",
        page["metadata"]["continue"],
        "-o",
        "json",
    )
    assert [t["metadata"]["name"] for t in json.loads(rest.stdout)["items"]] == names[3:]
    assert "metadata" not in json.loads(rest.stdout)


def test_paging_refuses_what_it_cannot_page(tmp_path: Path) -> None:
    bad = pykatib("get", "trials", "--continue", "not-a-token")
    assert bad.returncode == 2 and "--continue" in bad.stderr and "list again" in bad.stderr
    wrong = pykatib("get", "experiments", "--limit", "2")
    assert wrong.returncode == 2 and "page a list of trials" in wrong.stderr
    zero = pykatib("get", "trials", "--limit", "0")
    assert zero.returncode == 2 and "--limit" in zero.stderr


def rich_text(grid: Grid, width: int) -> str:
    console = Console(width=width, file=open(os.devnull, "w"), record=True)  # noqa: SIM115
    console.print(to_rich(grid))
    return console.export_text()


def test_a_plain_table_is_what_rich_prints() -> None:
    grid = Grid()
    for header, justify in (
        ("NAME", "left"),
        ("STATUS", "left"),
        ("LOSS", "right"),
        ("AGE", "left"),
    ):
        grid.add_column(header, justify)
    grid.add_row("exp-abcdefgh", "Succeeded", "0.0575494", "12s")
    grid.add_row("exp-b", "Running", "-", "3m")
    grid.add_row("e", "", "123456789.5", "4d")
    assert plain(grid, 250) == rich_text(grid, 250)
    one = Grid()
    one.add_column("NAME")
    assert plain(one, 250) == rich_text(one, 250)  # a header alone
    # What rich could print otherwise is left to rich: markup, emoji codes, wide characters,
    # a table wider than the console.
    for cell in ("[bold]x", "a:smile:", "日本", "tab\there"):
        odd = Grid()
        odd.add_column("NAME")
        odd.add_row(cell)
        assert plain(odd, 250) is None, cell
    assert plain(grid, 42) is None
    assert plain(grid, 43) == rich_text(grid, 43)  # exactly as wide as the console
