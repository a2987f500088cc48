"""Persistence: experiments, trials, suggestions and observation logs."""

from pykatib.store.sql import Changes, Store, default_home, default_url

__all__ = ["Changes", "Store", "default_home", "default_url"]
