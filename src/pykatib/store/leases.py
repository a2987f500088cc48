"""Leases: which control plane drives an experiment.

A control plane drives only the experiments it holds a lease on: a row with its holder id, host
and pid, and an expiry it renews while it lives. Another control plane takes the lease over once
it has expired, or at once when the holder is a process on the same host that is gone (a crash
leaves its lease behind). Every write the holder makes checks, in the same transaction, that the
lease is still its own (:meth:`pykatib.store.Store.commit` with ``holder``), so a control plane
that stalled past its expiry can't write over the one that took over.

Times are the writers' clocks (UTC); control planes on several hosts need clocks within a
fraction of the lease's time-to-live of each other.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pykatib.api.errors import ConflictError
from pykatib.store import driver
from pykatib.store.schema import as_utc, leases

# A holder renews at a third of this; a crashed holder's lease is free after it (at once when
# the holder ran on this host and its process is gone).
DEFAULT_TTL_SECONDS = 15.0


class LeaseLostError(ConflictError):
    """The experiment's lease is held by another control plane: this one must stop driving it."""


@dataclass(frozen=True)
class Holder:
    """A control plane, as a lease names it."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class Lease:
    holder: Holder
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        return f"pid {self.holder.pid} on {self.holder.host} (since {self.acquired_at:%H:%M:%S})"

    def is_orphaned(self) -> bool:
        """Held by a process of this host that is gone (it crashed without releasing)."""
        if self.holder.host != socket.gethostname():
            return False
        try:
            os.kill(self.holder.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Built once: every reconcile step's write checks the lease.
_HOLDER = select(leases.c.holder).where(leases.c.experiment_id == bindparam("experiment"))
_READ = select(
    leases.c.holder, leases.c.host, leases.c.pid, leases.c.acquired_at, leases.c.expires_at
).where(leases.c.experiment_id == bindparam("experiment"))


def read(conn: Any, experiment_id: int) -> Lease | None:
    row = conn.execute(_READ, {"experiment": experiment_id}).first()
    if row is None:
        return None
    return Lease(Holder(row[0], row[1], row[2]), as_utc(row[3]), as_utc(row[4]))


def acquire(
    conn: Any, experiment_id: int, holder: Holder, ttl: float, take_from: str | None = None
) -> Lease:
    """Take or renew the lease; returns the lease as it now stands (``holder``'s when it got it).

    The lease is taken when it is free, expired, already ``holder``'s, or held by ``take_from``
    (a holder found orphaned).
    """
    now = _now()
    expires = now + timedelta(seconds=ttl)
    takeable = [leases.c.holder == holder.id, leases.c.expires_at < now]
    if take_from is not None:
        takeable.append(leases.c.holder == take_from)
    renewed = conn.execute(
        update(leases)
        .where(leases.c.experiment_id == experiment_id, or_(*takeable))
        .values(expires_at=expires)
    )
    if renewed.rowcount == 1:
        conn.execute(
            update(leases)
            .where(leases.c.experiment_id == experiment_id, leases.c.holder != holder.id)
            .values(holder=holder.id, host=holder.host, pid=holder.pid, acquired_at=now)
        )
    else:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(leases).values(
                        experiment_id=experiment_id,
                        holder=holder.id,
                        host=holder.host,
                        pid=holder.pid,
                        acquired_at=now,
                        expires_at=expires,
                    )
                )
        except IntegrityError:
            pass  # another control plane holds it (or took it just now)
    lease = read(conn, experiment_id)
    assert lease is not None
    return lease


def release(conn: Any, experiment_id: int, holder: Holder) -> None:
    conn.execute(
        delete(leases).where(leases.c.experiment_id == experiment_id, leases.c.holder == holder.id)
    )


def check(conn: Any, experiment_id: int, holder: Holder) -> None:
    """Raise :class:`LeaseLostError` unless ``holder`` holds the lease (inside a write)."""
    row = driver.execute(conn, _HOLDER, {"experiment": experiment_id}).fetchone()
    if row is not None and row[0] == holder.id:  # every step: the holder alone, through the driver
        return
    lease = read(conn, experiment_id)
    if lease is None or lease.holder.id != holder.id:
        by = f"by {lease.describe()}" if lease else "by nobody (it was released)"
        raise LeaseLostError(f"the experiment is now driven {by}")


__all__ = [
    "DEFAULT_TTL_SECONDS",
    "Holder",
    "Lease",
    "LeaseLostError",
    "acquire",
    "check",
    "release",
]
