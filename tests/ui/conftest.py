"""Browser tests of the web UI: Playwright for Python driving Debian's chromium, headless
(``/usr/bin/chromium``; ``.ci/run`` installs it), against a real ``pykatib server``.

One server for the session holds an experiment that has completed (``done``); each test gets a
fresh browser page that fails the test on any console error or uncaught exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pykatib_server import Server, start_server
from ui_browser import CHROMIUM, create, sync_api, tiny_experiment, wait_succeeded


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server (no token) with the completed experiment ``done`` (4 trials)."""
    tmp = tmp_path_factory.mktemp("ui-server")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYKATIB_HOME", str(tmp / "home"))
        server = start_server(tmp, f"sqlite:///{tmp / 'ui.db'}")
    create(server, tiny_experiment("done"))
    wait_succeeded(server, "done")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; the test fails on any console error or uncaught exception in it but those
    it expects (``page.expected_errors``: substrings, e.g. the 422 of a refused create)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.expected_errors = []
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    yield page
    context.close()
    unexpected = [e for e in errors if not any(x in e for x in page.expected_errors)]
    assert not unexpected, "\n".join(unexpected)
