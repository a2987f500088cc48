"""Shared fixtures: every test gets its own PYKATIB_HOME, so nothing touches ~/.pykatib."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def pykatib_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path_factory.mktemp("pykatib-home")
    monkeypatch.setenv("PYKATIB_HOME", str(home))
    monkeypatch.delenv("PYKATIB_DB", raising=False)
    return home
