"""Events: written with their step, aggregated like Kubernetes' recorder (all databases)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from helpers import experiment

from pykatib.api.errors import ConflictError
from pykatib.api.models import Event, ObjectMeta, ObjectReference, Trial, TrialSpec
from pykatib.store import Changes, Store

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def _event(kind: str, name: str, reason: str, message: str, at: datetime, **kw: str) -> Event:
    return Event(
        metadata=ObjectMeta(name=f"{name}.{reason.lower()}", namespace="default"),
        involved_object=ObjectReference(kind=kind, name=name, namespace="default"),
        reason=reason,
        message=message,
        first_timestamp=at,
        last_timestamp=at,
        source={"component": "pykatib-controller"},
        **kw,
    )


def _trial(name: str) -> Trial:
    return Trial(metadata=ObjectMeta(name=name, namespace="default"), spec=TrialSpec())


def test_events_aggregate_and_list_in_order(store: Store) -> None:
    store.create_experiment(experiment("print('loss=1')"))
    trial = _trial("exp-a")
    store.commit(
        "default",
        "exp",
        Changes(
            trials=[trial],
            events=[
                _event("Experiment", "exp", "ExperimentCreated", "created", T0),
                # About a trial created in the same step: its uid is filled in.
                _event("Trial", "exp-a", "JobCreated", "Job exp-a has been created", T0),
            ],
        ),
    )
    for minutes in (1, 2):
        later = T0 + timedelta(minutes=minutes)
        store.commit(
            "default",
            "exp",
            Changes(
                events=[
                    _event("Trial", "exp-a", "JobCreated", "Job exp-a has been created", later),
                    _event("Trial", "exp-a", "JobFailed", f"try {minutes}", later, type="Warning"),
                ]
            ),
        )
    listed = store.list_events("default")
    assert [(e.reason, e.message, e.count) for e in listed] == [
        ("ExperimentCreated", "created", 1),
        ("JobCreated", "Job exp-a has been created", 3),
        ("JobFailed", "try 1", 1),  # another message: another event
        ("JobFailed", "try 2", 1),
    ]
    created = listed[1]
    assert (created.first_timestamp, created.last_timestamp) == (T0, T0 + timedelta(minutes=2))
    assert created.involved_object.uid == trial.metadata.uid is not None
    assert created.involved_object.api_version == "kubeflow.org/v1beta1"
    assert created.metadata.name == "exp-a.jobcreated"  # the first occurrence's
    assert created.source == {"component": "pykatib-controller"}
    exp_uid = store.get_experiment("default", "exp").metadata.uid
    assert listed[0].involved_object.uid == exp_uid
    assert [e.reason for e in store.list_events("default", kind="Experiment")] == [
        "ExperimentCreated"
    ]
    assert len(store.list_events("default", kind="Trial", name="exp-a")) == 3
    assert store.list_events("default", name="nope") == []
    assert store.list_events("elsewhere") == []


def test_events_of_a_type_reason_and_message_differ_by_type(store: Store) -> None:
    store.create_experiment(experiment("print('loss=1')"))
    normal = _event("Experiment", "exp", "Checked", "same words", T0)
    warning = _event("Experiment", "exp", "Checked", "same words", T0, type="Warning")
    store.commit("default", "exp", Changes(events=[normal, warning, normal]))
    assert [(e.type, e.count) for e in store.list_events("default")] == [
        ("Normal", 2),
        ("Warning", 1),
    ]


def test_events_roll_back_with_their_step_and_go_with_the_experiment(store: Store) -> None:
    store.create_experiment(experiment("print('loss=1')"))
    exp = store.get_experiment("default", "exp")
    stale = exp.model_copy(deep=True)
    store.commit("default", "exp", Changes(experiment=exp))
    with pytest.raises(ConflictError):
        store.commit(
            "default",
            "exp",
            Changes(experiment=stale, events=[_event("Experiment", "exp", "Lost", "no", T0)]),
        )
    assert store.list_events("default") == []
    store.commit("default", "exp", Changes(events=[_event("Experiment", "exp", "Kept", "", T0)]))
    store.commit(
        "default",
        "exp",
        Changes(trials=[_trial("exp-a")], events=[_event("Trial", "exp-a", "JobCreated", "", T0)]),
    )
    assert len(store.list_events("default")) == 2
    store.delete_experiment("default", "exp")
    assert store.list_events("default") == []
