"""SQLite's writes go through one connection a Store keeps open between them: a write that
fails leaves it usable, a forked child writes through a connection of its own, and ``close``
closes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import experiment

from pykatib.api.errors import NotFoundError
from pykatib.api.models import ObjectMeta, Trial, TrialSpec
from pykatib.store import Changes, Store


def _trial(name: str) -> Trial:
    return Trial(metadata=ObjectMeta(name=name, namespace="default"), spec=TrialSpec())


def test_a_failed_write_rolls_back_and_the_next_one_commits(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        exp = experiment("print('loss=1')")
        store.create_experiment(exp)
        exp.status.trials = 1
        store.commit("default", "exp", Changes(experiment=exp))
        conflicting = _trial("exp-b")
        conflicting.metadata.resource_version = "7"  # never written: NotFoundError
        with pytest.raises(NotFoundError):  # after the first trial was written
            store.commit("default", "exp", Changes(trials=[_trial("exp-a"), conflicting]))
        assert store.list_trials("default", "exp") == []
        store.commit("default", "exp", Changes(trials=[_trial("exp-b")]))
        other = Store(store.url)  # another connection sees what was committed
        try:
            assert [t.name for t in other.list_trials("default", "exp")] == ["exp-b"]
            assert other.get_experiment("default", "exp").status.trials == 1
        finally:
            other.close()
    finally:
        store.close()


def test_a_forked_child_writes_through_its_own_connection(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        store.create_experiment(experiment("print('loss=1')"))
        store.commit("default", "exp", Changes(trials=[_trial("exp-parent-1")]))
        parents = store._writer()
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 only if its write committed, on its own connection
            code = 1
            try:
                store.commit("default", "exp", Changes(trials=[_trial("exp-child")]))
                code = 0 if store._writer() is not parents else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        store.commit("default", "exp", Changes(trials=[_trial("exp-parent-2")]))
        names = [t.name for t in store.list_trials("default", "exp")]
        assert names == ["exp-parent-1", "exp-child", "exp-parent-2"]
    finally:
        store.close()
