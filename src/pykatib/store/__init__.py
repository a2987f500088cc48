"""Persistence: experiments, trials, suggestions, observation logs and events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pykatib.store.location import default_home, default_url

if TYPE_CHECKING:
    from pykatib.store.migrate import upgrade
    from pykatib.store.sql import Changes, Store

__all__ = ["Changes", "Store", "default_home", "default_url", "upgrade"]


def __getattr__(name: str) -> Any:
    # SQLAlchemy is imported on first use: `pykatib get` reads SQLite without it.
    if name == "upgrade":
        from pykatib.store.migrate import upgrade

        return upgrade
    if name in ("Changes", "Store"):
        from pykatib.store import sql

        return getattr(sql, name)
    raise AttributeError(f"module 'pykatib.store' has no attribute {name!r}")
