"""Faults the control plane rides out: a database connection dropped mid-experiment, several
writers on one SQLite file. Real servers, real processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from databases import SERVERS, empty
from helpers import experiment, reason

from pykatib.control import status as st
from pykatib.control.controller import Controller
from pykatib.store import Store

PG = SERVERS["postgresql"]

# Each trial records that it started, then waits for the file `gate`.
GATED = """
import os, sys, time
here = sys.argv[1]
open(os.path.join(here, "started-" + os.environ["KATIB_TRIAL_NAME"]), "w").close()
while not os.path.exists(os.path.join(here, "gate")):
    time.sleep(0.02)
print("loss=" + sys.argv[2].split("=")[1])
"""


def _pg_or_skip() -> None:
    import psycopg

    try:
        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test").close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")


def _empty_pg() -> None:
    empty(PG)


@pytest.mark.reliability(
    kind='fault',
    what='PostgreSQL: every pykatib connection killed (pg_terminate_backend) while trials run',
    load='4 trials, 2 at a time',
    lost='nothing',
)
def test_postgres_connections_killed_mid_experiment(tmp_path: Path) -> None:
    """pg_terminate_backend on every connection of pykatib's while trials run: the control plane
    reconnects and the experiment ends as it would have."""
    _pg_or_skip()
    _empty_pg()
    import psycopg

    exp = experiment(
        GATED, args=[str(tmp_path), "--lr=${trialParameters.lr}"], maxTrialCount=4, parallelTrialCount=2
    )
    ctl = Controller(Store(PG), home=tmp_path / "home")
    ctl.apply(exp, tmp_path)
    killed: list[int] = []

    def inject() -> None:
        while len(list(tmp_path.glob("started-*"))) < 2:  # both trials are running
            threading.Event().wait(0.02)
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test") as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'test' AND pid <> pg_backend_pid()"
            ).fetchall()
        killed.append(sum(1 for (ok,) in rows if ok))
        (tmp_path / "gate").touch()

    thread = threading.Thread(target=inject)
    thread.start()
    try:
        [done] = ctl.run([("default", "exp")])
    finally:
        thread.join()
        ctl.store.close()
    assert killed and killed[0] >= 1  # pykatib's connections were there, and were killed
    assert reason(done, "Succeeded") == st.EXPERIMENT_MAX_TRIALS_REACHED
    assert done.status.trials_succeeded == 4
    _empty_pg()


@pytest.mark.reliability(
    kind='load',
    what='four `pykatib run` at once on one new SQLite file (busy database, concurrent schema creation)',
    load='4 experiments x 6 trials, 3 at a time each',
    lost='nothing',
)
def test_several_writers_on_one_sqlite_file(tmp_path: Path) -> None:
    """Four `pykatib run` at once, each its own experiment, all on one SQLite database."""
    code = "import sys; print('loss=' + sys.argv[1].split('=')[1])"
    procs = []
    for i in range(4):
        exp = experiment(code, name=f"writer-{i}", maxTrialCount=6, parallelTrialCount=3)
        path = tmp_path / f"e{i}.yaml"
        path.write_text(yaml.safe_dump(exp.to_dict()))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "pykatib.cli.main", "run", "-f", str(path), "-q"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert "database is locked" not in err
    store = Store()
    for i in range(4):
        exp = store.get_experiment("default", f"writer-{i}")
        assert exp.status.trials_succeeded == 6
        assert len(store.list_trials("default", f"writer-{i}")) == 6


@pytest.mark.parametrize("failures", [2, 99])
def test_a_busy_database_when_the_lease_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    """The experiment completed; giving up its lease meets a locked database (the embedded SDK
    under 20 writer threads, bench/load.py). Tried again, it is released; still locked, it is left
    to expire. Either way the run ends normally instead of failing after the work is done."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from pykatib.control import controller as ctl
    from pykatib.store.leases import Holder

    monkeypatch.setattr(ctl, "DB_RETRY_DELAYS", (0.0,) * len(ctl.DB_RETRY_DELAYS))
    store = Store()
    exp = experiment("print('loss=0.5')", name="busy-release", maxTrialCount=1)
    control = Controller(store, home=tmp_path)
    control.apply(exp)
    real_release = store.release_lease
    calls: list[int] = []

    def locked(*args: object) -> None:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("release", {}, sqlite3.OperationalError("database is locked"))
        real_release(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "release_lease", locked)
    [done] = control.run([("default", "busy-release")])
    assert st.is_completed(done) and done.status.trials_succeeded == 1
    other = Holder()
    lease = store.acquire_lease("default", "busy-release", other, 15.0)
    assert (lease.holder.id == other.id) == (failures < 5)  # released, or still held (to expire)
