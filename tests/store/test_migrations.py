"""Schema migrations: a database of the first release opens, upgraded in place (all databases)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import first_release_schema as release
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from helpers import experiment
from sqlalchemy import Engine, create_engine, insert, text

from pykatib.api.errors import PykatibError
from pykatib.api.models import (
    ObjectMeta,
    Suggestion,
    SuggestionStatus,
    Trial,
    TrialSpec,
    TrialStatus,
)
from pykatib.metrics.observation import ObservationPoint
from pykatib.store import Changes, Store
from pykatib.store.migrate import HEAD, MIGRATIONS, alembic_config, upgrade
from pykatib.store.schema import metadata

CREATED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
STARTED = datetime(2024, 5, 1, 12, 5, 0, tzinfo=timezone.utc)
POINT = ObservationPoint("loss", "0.25", datetime(2024, 5, 1, 12, 6, 0, 123456, timezone.utc), 3)


def _differences(engine: Engine, target: object) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), target))  # type: ignore[arg-type]


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _first_release_database(url: str) -> None:
    """A database as the first release left it: its tables, and rows as its Store wrote them."""
    engine = create_engine(url)
    release.metadata.create_all(engine)
    exp = experiment("print('loss=1')")
    exp.metadata.generation = 1
    status = exp.status.to_dict()
    exp_data = exp.to_dict()
    exp_data.pop("status", None)
    started = Trial(
        metadata=ObjectMeta(name="exp-a", namespace="default", labels={"l": "a"}),
        spec=TrialSpec(),
        status=TrialStatus(start_time=STARTED),
    )
    pending = Trial(metadata=ObjectMeta(name="exp-b", namespace="default"), spec=TrialSpec())
    suggestion = Suggestion(
        metadata=ObjectMeta(name="exp", namespace="default"),
        status=SuggestionStatus(start_time=STARTED),
    )
    with engine.begin() as conn:
        conn.execute(
            insert(release.experiments).values(
                id=1,
                namespace="default",
                name="exp",
                resource=json.dumps(exp_data),
                status=json.dumps(status),
                generation=1,
                source_dir="/somewhere",
                created_at=CREATED,
            )
        )
        for id_, trial in ((1, started), (2, pending)):
            conn.execute(
                insert(release.trials).values(
                    id=id_,
                    experiment_id=1,
                    namespace="default",
                    name=trial.name,
                    resource=json.dumps(trial.to_dict()),
                )
            )
        conn.execute(
            insert(release.suggestions).values(
                experiment_id=1,
                resource=json.dumps(suggestion.to_dict()),
                algorithm_state=json.dumps({"seen": 2}),
            )
        )
        conn.execute(
            insert(release.observations).values(
                trial_id=1,
                metric_name=POINT.metric_name,
                value=POINT.value,
                numeric_value=0.25,
                timestamp=POINT.timestamp,
                step=POINT.step,
            )
        )
    engine.dispose()


def test_a_first_release_database_is_upgraded_in_place(url: str) -> None:
    _first_release_database(url)
    store = Store(url)
    assert _revision(store.engine) == HEAD
    assert _differences(store.engine, metadata) == []  # the same schema as a new store's

    exp = store.get_experiment("default", "exp")
    assert exp.spec == experiment("print('loss=1')").spec
    assert uuid.UUID(exp.metadata.uid or "").version == 4
    assert (exp.metadata.resource_version, exp.metadata.generation) == ("1", 1)
    assert exp.metadata.creation_timestamp == CREATED
    assert store.experiment_source_dir("default", "exp") == "/somewhere"

    a, b = store.list_trials("default", "exp")
    assert (a.name, b.name) == ("exp-a", "exp-b") and a.metadata.labels == {"l": "a"}
    assert a.metadata.creation_timestamp == STARTED  # from the trial's own startTime
    assert b.metadata.creation_timestamp == CREATED  # none: its experiment's
    assert len({exp.metadata.uid, a.metadata.uid, b.metadata.uid}) == 3
    for trial in (a, b):
        assert trial.metadata.resource_version == "1"
        [owner] = trial.metadata.owner_references or []
        assert (owner["name"], owner["uid"]) == ("exp", exp.metadata.uid)
    suggestion, state = store.get_suggestion("default", "exp")
    assert suggestion is not None and state == {"seen": 2}
    assert suggestion.metadata.uid and suggestion.metadata.resource_version == "1"
    assert suggestion.status.suggestion_count == 2
    assert store.list_observations("default", "exp-a") == [POINT]

    # And it is a store like any other: conditional writes, events.
    a.status.start_time = CREATED
    store.commit("default", "exp", Changes(trials=[a], observations={"exp-a": [POINT]}))
    assert store.get_trial("default", "exp-a").metadata.resource_version == "2"
    assert len(store.list_observations("default", "exp-a")) == 2
    store.close()
    assert upgrade(url) == HEAD  # `pykatib db upgrade` on a current database: nothing to do


def test_a_new_database_is_created_at_head(url: str) -> None:
    assert upgrade(url) == HEAD
    engine = create_engine(url)
    assert _revision(engine) == HEAD
    assert _differences(engine, metadata) == []
    engine.dispose()
    Store(url).close()  # opens without migrating again


def test_revision_1_is_the_first_release_and_downgrades_round_trip(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    assert _differences(engine, release.metadata) == []
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        command.downgrade(alembic_config(conn), "0001")
    assert _differences(engine, release.metadata) == []
    engine.dispose()
    assert upgrade(url) == HEAD


def test_head_names_the_newest_script() -> None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_a_database_from_a_newer_pykatib_is_refused(url: str) -> None:
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(PykatibError, match="revision 9999.*upgrade pykatib"):
        Store(url)
