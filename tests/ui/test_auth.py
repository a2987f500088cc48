"""With a token-protected server the UI asks for the token once, keeps it for the session
(sessionStorage), and shows nothing without it; its data API needs the token, and a token
scoped to namespaces stays in them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pykatib_server import Server, start_server
from ui_browser import expect

TOKEN = "s3cret-token"
SCOPED = "team-a-token"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("ui-auth")
    tokens = tmp / "tokens"
    tokens.write_text(f"{TOKEN}\n{SCOPED} team-a\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYKATIB_HOME", str(tmp / "home"))
        server = start_server(tmp, f"sqlite:///{tmp / 'ui.db'}", token=TOKEN, token_file=tokens)
    yield server
    server.stop()


def test_sign_in_once_per_session(guarded: Server, page: Any) -> None:
    page.expected_errors.append("status of 401")  # the probe before signing in
    page.goto(guarded.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("table")).to_have_count(0)
    page.get_by_label("Token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That token was refused.")).to_be_visible()
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Experiments")).to_be_visible()
    page.reload()  # kept for the session
    expect(page.get_by_role("heading", name="Experiments")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_an_experiment_page_asks_for_the_token_first(guarded: Server, page: Any) -> None:
    """The experiment page checks the token with its own first read (no /apis probe first):
    the sign-in form, with nothing of the page, and a refused token said as such."""
    page.expected_errors += ["status of 401", "status of 404"]  # signed out; no such experiment
    page.goto(guarded.url + "/#/experiments/default/nowhere/history")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator(".tabs, .chart, .error")).to_have_count(0)
    page.get_by_label("Token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That token was refused.")).to_be_visible()
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error")).to_contain_text("nowhere")  # past the sign-in: not found


def test_assets_are_public_and_data_is_not(guarded: Server, tmp_path: Path) -> None:
    with httpx.Client(base_url=guarded.url) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and "/ui/static/assets/" in page.text
        asset = page.text.split('src="')[1].split('"')[0]
        assert anonymous.get(asset).status_code == 200
        for path in ("/ui/api/experiments", "/ui/api/namespaces/default/experiments"):
            assert anonymous.get(path).status_code == 401, path
    with guarded.client(SCOPED) as scoped:
        assert scoped.get("/ui/api/namespaces/team-a/experiments").status_code == 200
        assert scoped.get("/ui/api/namespaces/default/experiments").status_code == 403
        assert scoped.get("/ui/api/experiments").status_code == 403
        assert scoped.get("/ui/api/changes").status_code == 403
