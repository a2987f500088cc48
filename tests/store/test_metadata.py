"""Object metadata the store owns, and writes conditional on resourceVersion (all databases)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import pytest
from helpers import experiment

from pykatib.api.errors import ConflictError, NotFoundError
from pykatib.api.models import API_VERSION, ObjectMeta, Suggestion, Trial, TrialSpec
from pykatib.metrics.observation import ObservationPoint
from pykatib.store import Changes, Store


def _trial(name: str, **meta: object) -> Trial:
    return Trial(metadata=ObjectMeta(name=name, namespace="default", **meta), spec=TrialSpec())


def _suggestion() -> Suggestion:
    return Suggestion(metadata=ObjectMeta(name="exp", namespace="default"))


def _created(store: Store) -> None:
    store.create_experiment(experiment("print('loss=1')"))


def _owner(store: Store) -> list[dict[str, object]]:
    uid = store.get_experiment("default", "exp").metadata.uid
    return [
        {
            "apiVersion": API_VERSION,
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": "Experiment",
            "name": "exp",
            "uid": uid,
        }
    ]


def test_create_sets_the_metadata_the_store_owns(store: Store) -> None:
    exp = experiment("print('loss=1')")
    exp.metadata.uid = "chosen-by-the-user"
    exp.metadata.resource_version = "77"
    exp.metadata.generation = 5
    exp.metadata.creation_timestamp = datetime(2001, 1, 1, tzinfo=timezone.utc)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    store.create_experiment(exp)
    got = store.get_experiment("default", "exp")
    meta = got.metadata
    assert uuid.UUID(meta.uid or "").version == 4
    assert meta.resource_version == "1" and meta.generation == 1
    assert meta.creation_timestamp is not None and meta.creation_timestamp >= before
    # The caller's object now says what the store says.
    assert exp.metadata == meta
    # ...and so does what `-o yaml` prints.
    printed = store.list_experiments()[0].to_dict()["metadata"]
    assert printed["uid"] == meta.uid and printed["resourceVersion"] == "1"
    assert printed["creationTimestamp"].endswith("Z")


def test_every_write_bumps_the_version_and_keeps_uid_and_creation(store: Store) -> None:
    _created(store)
    exp = store.get_experiment("default", "exp")
    first = exp.metadata.model_copy()
    versions = [int(first.resource_version or 0)]
    for i in range(3):
        exp.status.trials = i
        store.commit("default", "exp", Changes(experiment=exp))  # a status write
        versions.append(int(exp.metadata.resource_version or 0))
    exp.spec.max_trial_count = 9
    assert store.update_experiment_spec(exp) == 2  # a spec write
    versions.append(int(exp.metadata.resource_version or 0))
    got = store.get_experiment("default", "exp")
    assert versions == sorted(set(versions))  # strictly increasing
    assert got.metadata.resource_version == str(versions[-1])
    assert (got.metadata.uid, got.metadata.creation_timestamp) == (
        first.uid,
        first.creation_timestamp,
    )
    assert got.metadata.generation == 2  # status writes leave the generation alone
    assert got.spec.max_trial_count == 9 and got.status.trials == 2


def test_trials_and_suggestion_are_owned_by_the_experiment(store: Store) -> None:
    _created(store)
    trial = _trial("exp-a", uid="mine", owner_references=[{"kind": "Other", "name": "x"}])
    suggestion = _suggestion()
    store.commit("default", "exp", Changes(trials=[trial], suggestion=suggestion))
    owner = _owner(store)
    stored = store.get_trial("default", "exp-a")
    assert stored.metadata.owner_references == owner
    assert uuid.UUID(stored.metadata.uid or "").version == 4
    assert stored.metadata.resource_version == "1" and stored.metadata.creation_timestamp
    assert trial.metadata == stored.metadata  # set on the caller's object too
    assert store.list_trials("default", "exp")[0].metadata == stored.metadata
    got, _ = store.get_suggestion("default", "exp")
    assert got is not None and got.metadata.owner_references == owner
    assert got.metadata.resource_version == "1" and got.metadata.uid
    assert suggestion.metadata.uid == got.metadata.uid
    assert store.list_suggestions("default")[0].metadata == got.metadata
    # Updates bump each object's own version, keep its uid.
    for _ in range(2):
        store.commit("default", "exp", Changes(trials=[trial], suggestion=suggestion))
    again = store.get_trial("default", "exp-a")
    assert (again.metadata.uid, again.metadata.resource_version) == (stored.metadata.uid, "3")
    assert store.get_suggestion("default", "exp")[0].metadata.resource_version == "3"  # type: ignore[union-attr]
    assert store.get_experiment("default", "exp").metadata.resource_version == "1"


def test_second_writer_of_the_same_version_conflicts(store: Store) -> None:
    _created(store)
    other = Store(store.url)  # another process
    first, second = store.get_experiment("default", "exp"), other.get_experiment("default", "exp")
    first.status.trials = 1
    store.commit("default", "exp", Changes(experiment=first))
    second.status.trials = 2
    with pytest.raises(ConflictError, match="has been modified.*read it again"):
        other.commit("default", "exp", Changes(experiment=second))
    assert other.get_experiment("default", "exp").status.trials == 1  # the first writer's
    assert second.metadata.resource_version == "1"  # untouched by the failed write
    second.spec.max_trial_count = 9
    with pytest.raises(ConflictError):
        other.update_experiment_spec(second)
    assert store.get_experiment("default", "exp").spec.max_trial_count != 9
    # Re-read, change, retry: the way out.
    fresh = other.get_experiment("default", "exp")
    fresh.spec.max_trial_count = 9
    assert other.update_experiment_spec(fresh) == 2
    other.close()


def test_racing_read_modify_write_loses_no_update(store: Store) -> None:
    """Writers that retry on ConflictError, as a controller must, never overwrite each other."""
    _created(store)
    conflicts = []

    def increment(times: int) -> None:
        own = Store(store.url)
        for _ in range(times):
            while True:
                exp = own.get_experiment("default", "exp")
                exp.status.trials = (exp.status.trials or 0) + 1
                try:
                    own.commit("default", "exp", Changes(experiment=exp))
                    break
                except ConflictError:
                    conflicts.append(1)
        own.close()

    writers = [threading.Thread(target=increment, args=(15,)) for _ in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    got = store.get_experiment("default", "exp")
    assert got.status.trials == 45
    assert got.metadata.resource_version == "46"


def test_conflicting_trial_or_suggestion_writes_nothing_of_the_step(store: Store) -> None:
    _created(store)
    store.commit("default", "exp", Changes(trials=[_trial("exp-a")], suggestion=_suggestion()))
    mine, theirs = (store.get_trial("default", "exp-a") for _ in range(2))
    theirs.spec.labels = {"by": "them"}
    store.commit("default", "exp", Changes(trials=[theirs]))
    exp = store.get_experiment("default", "exp")
    exp.status.trials = 5
    new = _trial("exp-b")
    mine.spec.labels = {"by": "me"}
    stamp = datetime(2024, 5, 1, tzinfo=timezone.utc)
    step = Changes(
        experiment=exp,
        trials=[new, mine],
        observations={"exp-a": [ObservationPoint("loss", "0.5", stamp, 1)]},
    )
    with pytest.raises(ConflictError, match='trial "default/exp-a"'):
        store.commit("default", "exp", step)
    assert store.get_trial("default", "exp-a").spec.labels == {"by": "them"}
    assert [t.name for t in store.list_trials()] == ["exp-a"]  # exp-b rolled back
    assert store.list_observations("default", "exp-a") == []
    assert store.get_experiment("default", "exp").status.trials is None
    # Objects of the failed step keep what they had: none was stamped.
    assert new.metadata.uid is None and exp.metadata.resource_version == "1"
    # A new trial that failed with its step can be created by the retry.
    store.commit("default", "exp", Changes(trials=[new]))
    assert new.metadata.resource_version == "1"
    # The suggestion: same rule.
    a, b = (store.get_suggestion("default", "exp")[0] for _ in range(2))
    assert a is not None and b is not None
    store.commit("default", "exp", Changes(suggestion=a))
    with pytest.raises(ConflictError, match='suggestion "default/exp"'):
        store.commit("default", "exp", Changes(suggestion=b))


def test_unconditional_and_unusual_writes(store: Store) -> None:
    _created(store)
    store.commit("default", "exp", Changes(trials=[_trial("exp-a")], suggestion=_suggestion()))
    stored = store.get_trial("default", "exp-a")
    blind = _trial("exp-a")  # no resourceVersion: written whatever the stored version
    blind.spec.labels = {"blind": "yes"}
    store.commit("default", "exp", Changes(trials=[blind], suggestion=_suggestion()))
    assert blind.metadata.resource_version == "2"
    assert blind.metadata.uid == stored.metadata.uid  # the store's, not a new one
    assert blind.metadata.owner_references == stored.metadata.owner_references
    assert store.get_suggestion("default", "exp")[0].metadata.resource_version == "2"  # type: ignore[union-attr]
    # The same object twice in one step is written once.
    store.commit("default", "exp", Changes(trials=[blind, blind]))
    assert store.get_trial("default", "exp-a").metadata.resource_version == "3"
    # Another process's store, which has no row of it cached, writes over it too.
    fresh = Store(store.url)
    again = _trial("exp-a")
    fresh.commit("default", "exp", Changes(trials=[again]))
    fresh.close()
    assert again.metadata.resource_version == "4"
    assert again.metadata.uid == stored.metadata.uid
    assert [t.name for t in store.list_trials("default", "exp")] == ["exp-a"]
    # A version this store never wrote, and an object deleted since it was read.
    blind.metadata.resource_version = "not-a-number"
    with pytest.raises(ConflictError, match="not-a-number"):
        store.commit("default", "exp", Changes(trials=[blind]))
    ghost = _trial("exp-ghost", resource_version="4")
    with pytest.raises(NotFoundError, match="deleted since it was read"):
        store.commit("default", "exp", Changes(trials=[ghost]))


def test_an_object_from_before_a_delete_conflicts_with_the_new_one(store: Store) -> None:
    _created(store)
    old = store.get_experiment("default", "exp")
    store.delete_experiment("default", "exp")
    _created(store)  # same name, version 1 again: the uid tells them apart
    fresh = Store(store.url)  # another process: no cached rows of the old one
    with pytest.raises(ConflictError, match="deleted and created again"):
        fresh.update_experiment_spec(old)
    fresh.close()
