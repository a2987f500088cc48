"""Fixtures of the API layer's tests.

The algorithm registry (``pykatib.suggest.registry``) is hidden here, so that these tests check the
API layer's own rules whatever state the algorithms are in; tests/suggest checks the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ._helpers import KATIB_EXAMPLES


@pytest.fixture(autouse=True)
def no_algorithm_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pykatib.suggest.registry", None)  # type: ignore[arg-type]


@pytest.fixture
def katib_examples() -> Path:
    if not KATIB_EXAMPLES.is_dir():
        pytest.skip(f"Katib's examples are not here: {KATIB_EXAMPLES} is absent (no ../shared)")
    return KATIB_EXAMPLES
