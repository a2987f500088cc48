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
