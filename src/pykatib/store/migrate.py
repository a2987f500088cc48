"""Schema migrations with Alembic, configured in code: no ``alembic.ini`` is needed at run time.

The revisions live in ``migrations/versions`` inside the package, so a pip-installed pykatib
migrates its own database. :class:`~pykatib.store.Store` brings a database to :data:`HEAD` when
it opens it: a new (empty) one is made from :mod:`pykatib.store.schema` and stamped at
:data:`HEAD`, with no Alembic import (a fresh ``pykatib run`` starts a third faster); one made
by the first release, which has no ``alembic_version`` table, is stamped at revision ``0001``
and upgraded in place; any other older one is upgraded. ``pykatib db upgrade`` calls
:func:`upgrade`, which always runs the migrations.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.exc import DBAPIError

from pykatib.api.errors import PykatibError

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision; a test checks it against the scripts so that opening an up-to-date
# database costs one query and no Alembic import.
HEAD = "0005"
FIRST_RELEASE = "0001"
MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant: serialises migrations of one PostgreSQL database across processes.
_PG_LOCK = 0x70796B61
# Alembic's own table, as Alembic makes it, for stamping a database made from the schema.
_ALEMBIC_VERSION = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def revision(conn: Connection) -> str | None:
    """The database's Alembic revision, or ``None`` when it has none (new, or first release)."""
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        conn.rollback()  # PostgreSQL refuses anything more in a failed transaction
        return None


def ensure_current(engine: Engine) -> None:
    """Bring ``engine``'s database to :data:`HEAD` unless it is there already: create a new one
    from the schema, migrate an older one."""
    with engine.connect() as conn:
        if revision(conn) == HEAD:
            return
    try:
        upgrade_engine(engine, create_new=True)
    except DBAPIError:
        # Another process may have created or upgraded it at the same time (SQLite has no
        # lock to wait on); that one's work is as good as ours.
        with engine.connect() as conn:
            if revision(conn) != HEAD:
                raise


def upgrade(url: str) -> str:
    """Bring the database at ``url`` to the newest schema; returns the revision it is at.

    Safe to run on a database that is already current, and from several processes at once on
    PostgreSQL and MySQL/MariaDB (they wait for each other).
    """
    engine = create_engine(url)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine, create_new: bool = False) -> str:
    """:func:`upgrade`, on an engine the caller owns. With ``create_new``, a database with no
    tables is made from the schema at once (the migrations would end with the same tables:
    ``tests/store/test_migrations.py`` compares them), all in one transaction."""
    with _sqlite_file_lock(engine), _transactional_ddl(engine) as own, own.begin() as conn:
        locked = _lock(conn)
        try:
            if create_new and not inspect(conn).get_table_names():
                _create_at_head(conn)
                return HEAD
            return _migrate(conn)
        finally:
            if locked:
                conn.execute(text("SELECT RELEASE_LOCK('pykatib.migrate')"))


def _create_at_head(conn: Connection) -> None:
    """Make the tables of :data:`HEAD` in an empty database and stamp it there."""
    from pykatib.store.schema import metadata

    metadata.create_all(conn)
    _ALEMBIC_VERSION.create(conn)
    conn.execute(_ALEMBIC_VERSION.insert().values(version_num=HEAD))


def _migrate(conn: Connection) -> str:
    """Run the migrations from the database's revision to :data:`HEAD`, on a locked connection."""
    # Alembic is imported here only: most runs open a database that is current, or new.
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config(conn)
    found = MigrationContext.configure(conn).get_current_revision()
    known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
    if found is not None and found not in known:
        raise PykatibError(
            f"the database is at schema revision {found}, which this pykatib (at "
            f"{HEAD}) does not know: a newer pykatib wrote it; upgrade pykatib"
        )
    if found is None and inspect(conn).has_table("experiments"):
        command.stamp(config, FIRST_RELEASE)  # made by the first release
    command.upgrade(config, "head")
    current = MigrationContext.configure(conn).get_current_revision()
    assert current is not None
    return current


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for migrating ``connection``, with no ``alembic.ini``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _transactional_ddl(engine: Engine) -> Iterator[Engine]:
    """``engine``, or for a SQLite file an engine on it whose transactions hold DDL too: Python's
    driver begins no transaction before CREATE or ALTER, so a process killed mid-migration would
    leave a schema half made under a revision that says otherwise. SQLite itself rolls DDL back:
    begin explicitly and the whole upgrade commits or vanishes."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield engine
        return
    own = create_engine(engine.url, connect_args={"timeout": 30})
    event.listen(own, "connect", _driver_autocommit)
    event.listen(own, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    try:
        yield own
    finally:
        own.dispose()


def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun explicitly


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no lock that DDL waits for (Python's driver begins no transaction before it):
    processes opening a new database file at once take turns through a lock file beside it."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _lock(conn: Connection) -> bool:
    """Take a lock that other migrating processes wait for; True when it must be released."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    elif dialect in ("mysql", "mariadb"):
        conn.execute(text("SELECT GET_LOCK('pykatib.migrate', 300)"))
        return True
    return False


__all__ = ["HEAD", "alembic_config", "ensure_current", "revision", "upgrade"]
