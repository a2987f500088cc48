"""Leases: one control plane drives an experiment at a time (all databases)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import experiment

from pykatib.api.errors import NotFoundError
from pykatib.api.models import ObjectMeta, Trial, TrialSpec
from pykatib.store import Changes, Store
from pykatib.store.leases import Holder, LeaseLostError


def _created(store: Store) -> None:
    store.create_experiment(experiment("print('loss=1')"))


def _trial(name: str) -> Trial:
    return Trial(metadata=ObjectMeta(name=name, namespace="default"), spec=TrialSpec())


def test_one_holder_at_a_time_and_renewal(store: Store) -> None:
    _created(store)
    a, b = Holder(), Holder()
    assert store.acquire_lease("default", "exp", a, ttl=60).holder == a
    assert store.acquire_lease("default", "exp", b, ttl=60).holder == a  # b sees who holds it
    renewed = store.acquire_lease("default", "exp", a, ttl=120)
    assert renewed.holder == a and renewed.expires_at > renewed.acquired_at
    store.release_lease("default", "exp", a)
    assert store.get_lease("default", "exp") is None
    assert store.acquire_lease("default", "exp", b, ttl=60).holder == b


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    _created(store)
    a, b = Holder(), Holder()
    store.acquire_lease("default", "exp", a, ttl=-1)  # already expired
    assert store.acquire_lease("default", "exp", b, ttl=60).holder == b
    assert store.acquire_lease("default", "exp", a, ttl=60).holder == b


def test_the_lease_of_a_dead_process_on_this_host_is_orphaned(store: Store) -> None:
    _created(store)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = Holder(pid=int(gone.stdout))
    lease = store.acquire_lease("default", "exp", dead, ttl=60)
    assert lease.is_orphaned()
    b = Holder()
    taken = store.acquire_lease("default", "exp", b, ttl=60, take_from=dead.id)
    assert taken.holder == b and not taken.is_orphaned()


@pytest.mark.reliability(
    kind="fault",
    what="a control plane stalled past its lease writes after another took over (SQLite, PostgreSQL, MariaDB)",
    load="one experiment",
    lost="nothing; the stale write is refused",
)
def test_writes_need_the_lease_when_a_holder_is_given(store: Store) -> None:
    """A control plane that stalled past its lease can't write over the one that took over."""
    _created(store)
    a, b = Holder(), Holder()
    store.acquire_lease("default", "exp", a, ttl=-1)
    store.commit("default", "exp", Changes(trials=[_trial("t1")]), holder=a)
    store.acquire_lease("default", "exp", b, ttl=60)  # a's lease had expired
    with pytest.raises(LeaseLostError):
        store.commit("default", "exp", Changes(trials=[_trial("t2")]), holder=a)
    assert [t.name for t in store.list_trials()] == ["t1"]
    store.commit("default", "exp", Changes(trials=[_trial("t2")]), holder=b)
    assert [t.name for t in store.list_trials()] == ["t1", "t2"]


def test_a_deleted_experiment_is_not_found_by_its_holder(store: Store, url: str) -> None:
    _created(store)
    a = Holder()
    store.acquire_lease("default", "exp", a, ttl=60)
    store.commit("default", "exp", Changes(trials=[_trial("t1")]), holder=a)
    other = Store(url)  # `pykatib delete` from another process
    other.delete_experiment("default", "exp")
    other.close()
    with pytest.raises(NotFoundError, match="was deleted"):
        store.commit("default", "exp", Changes(trials=[_trial("t2")]), holder=a)
    with pytest.raises(NotFoundError):
        store.acquire_lease("default", "exp", a, ttl=60)
