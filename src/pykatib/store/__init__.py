"""Persistence: experiments, trials, suggestions, observation logs and events."""

from pykatib.store.migrate import upgrade
from pykatib.store.sql import Changes, Store, default_home, default_url

__all__ = ["Changes", "Store", "default_home", "default_url", "upgrade"]
