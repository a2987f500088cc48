"""The SDK's tests run embedded unless a test says otherwise."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYKATIB_SERVER", raising=False)
    monkeypatch.delenv("PYKATIB_TOKEN", raising=False)
