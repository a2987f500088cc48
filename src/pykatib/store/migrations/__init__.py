"""Alembic migrations of the store's schema, shipped with the package (see ``pykatib.store.migrate``)."""
