"""Where the store lives: ``$PYKATIB_HOME`` (default ``~/.pykatib``) and its database URL.

Apart from :mod:`pykatib.store.sql` so that finding the database costs no SQLAlchemy import
(the CLI's read commands open it with a lean reader: :mod:`pykatib.store.reader`).
"""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("PYKATIB_HOME") or Path.home() / ".pykatib")


def default_url() -> str:
    url = os.environ.get("PYKATIB_DB")
    if url:
        return url
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'pykatib.db'}"
