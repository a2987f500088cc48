"""A running experiment's page updates without a reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pykatib_server import Server
from ui_browser import create, expect, tiny_experiment


def test_running_experiment_page_updates_without_reload(
    ui_server: Server, page: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"  # the trials wait for it
    create(ui_server, tiny_experiment("live", trials=2, parallel=2, gate=str(gate)))
    page.goto(f"{ui_server.url}/#/experiments/default/live/history")
    counts = page.locator(".exp-header .counts")
    expect(counts).to_contain_text("⟳ 2 running")
    expect(counts).to_have_attribute("data-succeeded", "0")
    page.evaluate("window.notReloaded = true")
    gate.touch()
    expect(counts).to_have_attribute("data-succeeded", "2")
    expect(page.locator("[data-chart=history]")).to_have_attribute("data-points", "2")
    assert page.evaluate("window.notReloaded") is True


def test_trial_log_is_followed_while_it_runs_and_kept(
    ui_server: Server, page: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    create(ui_server, tiny_experiment("tail", trials=1, parallel=1, gate=str(gate)))
    page.goto(f"{ui_server.url}/#/experiments/default/tail/trials")
    link = page.locator("table.trials tbody a").first  # there once the trial is created
    name = link.inner_text()
    link.click()
    log = page.locator(f"pre[data-log='{name}']")
    expect(log).to_contain_text("hello from the trial")  # printed before it waits
    expect(page.locator("h1")).to_contain_text("running")
    gate.touch()
    expect(log).to_contain_text("loss=")
    expect(page.locator("h1")).to_contain_text("succeeded")
    expect(log).to_contain_text("hello from the trial")
