"""Read-only queries of a SQLite store through the stdlib driver, for the CLI's ``get``,
``describe`` and ``logs``, which must answer in a tenth of a second: importing SQLAlchemy and
building the pydantic models would take longer than the whole command should.

The rows come back as Katib's JSON (dicts), with the metadata the store owns laid over them as
:mod:`pykatib.store.sql` lays it (``uid``, ``resourceVersion``, ``creationTimestamp``,
``generation``, a trial's ``ownerReferences``). :func:`open_reader` answers ``None`` for
anything it does not read as the store would: another database, an in-memory one, a file that
does not exist yet or is not at the newest schema. The caller then opens the full
:class:`~pykatib.store.sql.Store`, which creates or migrates it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

API_VERSION = "kubeflow.org/v1beta1"  # pykatib.api.models.API_VERSION, without pydantic
_VERSIONS = Path(__file__).with_name("migrations") / "versions"

_EXPERIMENT = (
    "SELECT e.resource, e.status, e.uid, e.resource_version, e.created_at, e.generation "
    "FROM experiments e"
)
_TRIAL = (
    "SELECT t.resource, t.uid, t.resource_version, t.created_at, "
    "e.namespace, e.name, e.uid FROM trials t JOIN experiments e ON e.id = t.experiment_id"
)


def newest_revision() -> str:
    """The newest migration's revision, from the scripts' names (``0004_....py``)."""
    return max(p.name[:4] for p in _VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (options after ``?`` aside); None for any other."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def open_reader(url: str) -> SqliteReader | None:
    """A reader of the store at ``url``, or None when only the full store can read it."""
    path = sqlite_path(url)
    # A file name that a URI would have to escape is left to the full store.
    if path is None or not path.is_file() or any(c in str(path) for c in "?#%"):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    if row is None or row[0] != newest_revision():
        conn.close()
        return None
    return SqliteReader(conn)


def rfc3339(column: str | None) -> str | None:
    """A timestamp column (SQLAlchemy writes ``2024-01-02 03:04:05.000000``, UTC) as the
    models write it: ``2024-01-02T03:04:05Z``."""
    if column is None:
        return None
    when = datetime.fromisoformat(column)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(data: dict[str, Any], uid: str | None, version: int, created: str | None) -> None:
    meta = data.setdefault("metadata", {})
    meta.update(uid=uid, resourceVersion=str(version))
    if created is not None:
        meta["creationTimestamp"] = rfc3339(created)
    else:
        meta.pop("creationTimestamp", None)
    if meta.get("uid") is None:
        del meta["uid"]


def _experiment(row: Any) -> dict[str, Any]:
    data = json.loads(row[0])
    _meta(data, row[2], row[3], row[4])
    data["metadata"]["generation"] = row[5]
    data["status"] = json.loads(row[1])
    return data


def _trial(row: Any) -> dict[str, Any]:
    data = json.loads(row[0])
    _meta(data, row[1], row[2], row[3])
    owner = {
        "apiVersion": API_VERSION,
        "blockOwnerDeletion": True,
        "controller": True,
        "kind": "Experiment",
        "name": row[5],
        "uid": row[6],
    }
    data["metadata"]["ownerReferences"] = [{k: v for k, v in owner.items() if v is not None}]
    return data


class SqliteReader:
    """The store's read queries, as :class:`~pykatib.store.sql.Store` answers them, in JSON."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    def experiment(self, namespace: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"{_EXPERIMENT} WHERE e.namespace = ? AND e.name = ?", (namespace, name)
        ).fetchone()
        return _experiment(row) if row else None

    def experiments(self, namespace: str | None) -> list[dict[str, Any]]:
        where, args = ("WHERE e.namespace = ?", (namespace,)) if namespace is not None else ("", ())
        rows = self.conn.execute(f"{_EXPERIMENT} {where} ORDER BY e.id", args)
        return [_experiment(r) for r in rows]

    def trial(self, namespace: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"{_TRIAL} WHERE t.namespace = ? AND t.name = ?", (namespace, name)
        ).fetchone()
        return _trial(row) if row else None

    def list_trials(
        self,
        namespace: str | None,
        experiment: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """As :meth:`pykatib.store.sql.Store.list_trials`: in creation order, from the one
        after trial ``after`` (namespace, name), at most ``limit``."""
        clauses, args = ["1 = 1"], []
        if after is not None:
            clauses.append("t.id > (SELECT id FROM trials WHERE namespace = ? AND name = ?)")
            args += after
        if namespace is not None:
            clauses.append("t.namespace = ?")
            args.append(namespace)
        if experiment is not None:
            clauses.append("e.name = ?")
            args.append(experiment)
        query = f"{_TRIAL} WHERE {' AND '.join(clauses)} ORDER BY t.id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [_trial(row) for row in self.conn.execute(query, args)]

    def events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """Events about one object, oldest first, with their count and timestamps."""
        rows = self.conn.execute(
            "SELECT resource, count, first_timestamp, last_timestamp FROM events "
            "WHERE namespace = ? AND involved_kind = ? AND involved_name = ? "
            "ORDER BY first_timestamp, id",
            (namespace, kind, name),
        )
        found = []
        for resource, count, first, last in rows:
            event = json.loads(resource)
            event.update(count=count, firstTimestamp=rfc3339(first), lastTimestamp=rfc3339(last))
            found.append(event)
        return found
