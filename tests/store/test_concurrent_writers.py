"""Many threads writing one SQLite file at once (the embedded SDK: 20 client threads creating
experiments beside a driver thread per experiment, each with its own Store): every write
succeeds. They take turns in this process, so none waits in SQLite's busy handler, which let
some wait past its timeout ('database is locked'); the test opens the database with a busy
timeout of 0, so that a single write that reached SQLite while another held the lock fails."""

from __future__ import annotations

import threading
from pathlib import Path

from helpers import experiment

from pykatib.store import Changes, Store

THREADS = 20
EACH = 5


def test_twenty_threads_create_and_update_experiments_and_every_write_succeeds(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}?timeout=0"
    shared = Store(url)
    own = [Store(url) for _ in range(THREADS // 2)]  # as the embedded SDK's drivers have
    stores = [shared] * (THREADS - len(own)) + own
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def write(k: int) -> None:
        store = stores[k]
        start.wait()
        try:
            for i in range(EACH):
                exp = experiment("print('loss=1')", name=f"t{k:02d}-{i}", maxTrialCount=3)
                store.create_experiment(exp)
                exp.status.trials = 1
                store.commit(exp.namespace, exp.name, Changes(experiment=exp))
                stored = store.get_experiment(exp.namespace, exp.name)
                stored.spec.max_trial_count = 10 + i
                store.update_experiment_spec(stored)
        except BaseException as exc:  # noqa: BLE001 (reported below, with the others)
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        stored = {e.name: e for e in shared.list_experiments()}
        assert len(stored) == THREADS * EACH
        for name, exp in stored.items():
            assert exp.spec.max_trial_count == 10 + int(name.rsplit("-", 1)[1])
            assert exp.status.trials == 1
    finally:
        for store in [shared, *own]:
            store.close()
