"""The lean reader (the CLI's `get`, `describe` and `logs`) answers what the full store answers,
on every database, and leaves to the full store what it does not read as the store would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from databases import KINDS, own_database
from helpers import experiment
from sqlalchemy import text

from pykatib.api.models import Event, ObjectMeta, ObjectReference, Trial, TrialSpec
from pykatib.store import Changes, Store
from pykatib.store.reader import Reader, open_reader
from pykatib.store.reader.connect import server_params

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
TRIALS = ["exp-a", "exp-b", "exp-c", "exp-d", "exp-e"]


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own on each kind of server."""
    yield from own_database(request.param, tmp_path / "store.db", "pykatib_reader")


def _event(kind: str, name: str, reason: str, at: datetime, namespace: str) -> Event:
    return Event(
        metadata=ObjectMeta(name=f"{name}.{reason.lower()}", namespace=namespace),
        involved_object=ObjectReference(kind=kind, name=name, namespace=namespace),
        reason=reason,
        message=f"{kind} {name}: {reason} ✓",
        first_timestamp=at,
        last_timestamp=at,
        source={"component": "pykatib-controller"},
    )


def _trial(name: str, namespace: str, **labels: str) -> Trial:
    return Trial(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels or None),
        spec=TrialSpec(),
    )


def fill(store: Store) -> None:
    """Two experiments called ``exp`` (default and team), trials, repeated events, statuses."""
    for namespace, names in (("default", TRIALS), ("team", ["exp-x"])):
        store.create_experiment(experiment("print('loss=1')", namespace=namespace))
        exp = store.get_experiment(namespace, "exp")
        exp.status.trials = len(names)
        trials = [_trial(n, namespace, step=str(i)) for i, n in enumerate(names)]
        events = [_event("Experiment", "exp", "ExperimentCreated", T0, namespace)]
        for i, name in enumerate(names):
            at = T0 + timedelta(seconds=i)
            events += [_event("Trial", name, "JobCreated", at, namespace)] * (1 + i % 2)
        store.commit(namespace, "exp", Changes(experiment=exp, trials=trials, events=events))
    # A second write of one trial: resourceVersion 2, a repeat of an event later on.
    trial = store.get_trial("default", "exp-b")
    trial.metadata.labels = {"again": "yes"}
    later = _event("Trial", "exp-b", "JobCreated", T0 + timedelta(minutes=5), "default")
    store.commit("default", "exp", Changes(trials=[trial], events=[later]))


@pytest.fixture
def reader(store: Store) -> Any:
    fill(store)
    found = open_reader(store.url)
    assert found is not None, store.url
    yield found
    found.close()


def dicts(objects: list[Any]) -> list[dict[str, Any]]:
    return [o.to_dict() for o in objects]


def test_experiments_and_trials_are_the_stores(reader: Reader, store: Store) -> None:
    for namespace in (None, "default", "team", "nowhere"):
        assert reader.experiments(namespace) == dicts(store.list_experiments(namespace))
    for namespace in ("default", "team"):
        assert (
            reader.experiment(namespace, "exp") == store.get_experiment(namespace, "exp").to_dict()
        )
    for namespace, name in [("default", n) for n in TRIALS] + [("team", "exp-x")]:
        assert reader.trial(namespace, name) == store.get_trial(namespace, name).to_dict()
    assert reader.experiment("default", "nope") is None
    assert reader.trial("team", "exp-a") is None
    stamp = reader.trial("default", "exp-b")["metadata"]  # type: ignore[index]
    assert stamp["resourceVersion"] == "2" and stamp["creationTimestamp"].endswith("Z")


def test_trials_page_as_the_store_pages(reader: Reader, store: Store) -> None:
    keys: list[tuple[str, str] | None] = [None, ("default", "exp-b"), ("default", "exp-e")]
    keys.append(("team", "exp-x"))
    for namespace in (None, "default", "team"):
        for name in (None, "exp"):
            for after in keys:
                for limit in (None, 1, 2, 10):
                    args = (namespace, name, after, limit)
                    assert reader.list_trials(*args) == dicts(store.list_trials(*args)), args
    first_two = reader.list_trials("default", "exp", None, 2)
    assert [t["metadata"]["name"] for t in first_two] == TRIALS[:2]  # type: ignore[union-attr]


def test_events_are_the_stores(reader: Reader, store: Store) -> None:
    objects = [("Experiment", "exp"), *(("Trial", n) for n in TRIALS), ("Trial", "nope")]
    for kind, name in objects:
        want = dicts(store.list_events("default", kind, name))
        assert reader.events("default", kind, name) == want, (kind, name)
    counted = reader.events("default", "Trial", "exp-b")
    assert [(e["count"], e["lastTimestamp"]) for e in counted] == [(3, "2024-05-01T12:05:00Z")]  # type: ignore[union-attr]
    assert reader.events("team", "Trial", "exp-x")[0]["message"] == "Trial exp-x: JobCreated ✓"  # type: ignore[index]


def test_a_reader_sees_what_was_written_since(reader: Reader, store: Store) -> None:
    """`logs -f` reads its trial again and again with one reader: no snapshot of the first."""
    assert reader.trial("default", "exp-a")["metadata"]["resourceVersion"] == "1"  # type: ignore[index]
    trial = store.get_trial("default", "exp-a")
    store.commit("default", "exp", Changes(trials=[trial]))
    assert reader.trial("default", "exp-a") == store.get_trial("default", "exp-a").to_dict()
    assert reader.trial("default", "exp-a")["metadata"]["resourceVersion"] == "2"  # type: ignore[index]


def test_a_query_that_fails_is_left_to_the_store(reader: Reader, store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE events"))
    assert reader.events("default", "Experiment", "exp") is None
    assert reader.experiments(None) == dicts(store.list_experiments())  # still reads the rest


def test_no_reader_for_a_schema_it_does_not_know(store: Store) -> None:
    fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    assert open_reader(store.url) is None  # the store migrates it first
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    assert open_reader(store.url) is None


def test_no_reader_for_a_new_database(url: str) -> None:
    assert open_reader(url) is None  # the full store creates its tables


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://postgres@127.0.0.1:5432/test",  # another driver: the store's
        "mysql://root@127.0.0.1:3306/test",  # mysqlclient
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        "postgresql://postgres@127.0.0.1:1/test",  # nothing listens: the store words it
        "mysql+pymysql://root@127.0.0.1:1/test",
        "postgresql://postgres@127.0.0.1:5432/test?host=a&host=b",  # several hosts
        "mysql+pymysql://root@127.0.0.1:3306/test?read_timeout=5",  # options SQLAlchemy types
        "postgresql://postgres@127.0.0.1:5432/test?no_such_option=1",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
def test_no_reader_where_the_store_opens_otherwise(url: str) -> None:
    assert open_reader(url) is None


def test_server_urls_read_as_sqlalchemy_reads_them() -> None:
    from sqlalchemy.engine import make_url

    for url in (
        "postgresql://us%40er:p%3Ass%2Fw@db.example:5433/my%2Fdb?sslmode=require",
        "mysql+pymysql://root@[::1]:3306/test?charset=utf8mb4",
        "postgresql:///test",
        "postgresql://h",
    ):
        parsed = make_url(url)
        want = {
            "user": parsed.username,
            "password": parsed.password,
            "host": parsed.host.strip("[]") if parsed.host else None,
            "port": parsed.port,
            "database": parsed.database or None,
        }
        found = server_params(url)
        assert found == {**{k: v for k, v in want.items() if v is not None}, **parsed.query}


@pytest.mark.parametrize("url", ["postgresql"], indirect=True)
def test_postgresql_is_read_only_as_libpq_answers_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pykatib.store.reader import libpq

    fill(store)
    assert open_reader(store.url) is not None
    # Timestamps in another style than ISO: the store's psycopg reads them, not the reader.
    assert open_reader(f"{store.url}?options=-c%20DateStyle%3DSQL") is None
    monkeypatch.setattr(libpq, "_candidates", lambda: iter(["/no/such/libpq.so.5"]))
    assert open_reader(store.url) is None
