"""Every page of the UI renders (with no console error) from a completed experiment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pykatib_server import BASE, Server, start_server
from ui_browser import create, expect, tiny_experiment, wait_succeeded

TABS = ["overview", "trials", "history", "parallel", "importance", "intermediate", "slice"]
TABS += ["contour", "yaml"]


def test_experiments_list(ui_server: Server, page: Any) -> None:
    page.goto(ui_server.url + "/")
    row = page.locator("tr[data-experiment=done]")
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("random")
    expect(row).to_contain_text("✔ 4")
    expect(row.locator("td").nth(6)).to_contain_text("loss (min)")
    page.get_by_label("Search").fill("nothing-like-it")
    expect(row).to_have_count(0)
    page.get_by_label("Search").fill("don")
    expect(row).to_have_count(1)
    page.get_by_label("Namespace").select_option("default")
    expect(page).to_have_url(re.compile(r"ns=default"))
    expect(row).to_contain_text("Succeeded")


@pytest.mark.parametrize("tab", TABS)
def test_experiment_tabs_render(ui_server: Server, page: Any, tab: str) -> None:
    page.goto(f"{ui_server.url}/#/experiments/default/done/{tab}")
    expect(page.locator("h1")).to_contain_text("done")
    content = page.locator(".tab-content")
    expect(content).to_be_visible()
    if tab in ("history", "parallel", "importance", "intermediate"):
        expect(content.locator("canvas").first).to_be_visible()
    if tab == "overview":
        expect(content).to_contain_text("Best trial")
        expect(content).to_contain_text("★ done-")
    if tab == "yaml":
        expect(content).to_contain_text("kind: Experiment")


def test_history_has_one_point_per_completed_trial(ui_server: Server, page: Any) -> None:
    page.goto(f"{ui_server.url}/#/experiments/default/done/history")
    expect(page.locator("[data-chart=history]")).to_have_attribute("data-points", "4")


def test_trials_table_sorts_on_the_server_and_marks_the_best(ui_server: Server, page: Any) -> None:
    page.goto(f"{ui_server.url}/#/experiments/default/done/trials")
    rows = page.locator("table.trials tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("tr.best")).to_have_count(1)
    page.locator("th[data-sort=loss]").click()
    expect(page.locator("th.sorted")).to_contain_text("loss")
    # Sorted by loss (minimized): the best trial comes first.
    expect(rows.first).to_have_class(re.compile("best"))
    page.get_by_label("Status").select_option("failed")
    expect(page.locator(".table-body")).to_contain_text("No trial matches.")


def test_trial_page_shows_its_log_and_metrics(ui_server: Server, page: Any) -> None:
    with ui_server.client() as client:
        trial = client.get(f"{BASE}/namespaces/default/trials").json()["items"][0]
    name = trial["metadata"]["name"]
    page.goto(f"{ui_server.url}/#/trials/default/{name}")
    expect(page.locator("h1")).to_contain_text(name)
    log = page.locator(f"pre[data-log='{name}']")
    expect(log).to_contain_text("hello from the trial")
    expect(log).to_contain_text("loss=")
    expect(page.locator("[data-metric=loss]")).to_have_attribute("data-points", "3")
    expect(page.locator("dl.kv").first).to_contain_text("opt")


def test_create_page_renders(ui_server: Server, page: Any) -> None:
    page.goto(f"{ui_server.url}/#/create")
    expect(page.locator(".cm-content")).to_contain_text("kind: Experiment")


def test_delete_asks_first(ui_server: Server, page: Any) -> None:
    create(ui_server, tiny_experiment("doomed", trials=1, parallel=1))
    wait_succeeded(ui_server, "doomed")
    page.goto(ui_server.url + "/")
    row = page.locator("tr[data-experiment=doomed]")
    row.get_by_role("button", name="Delete").click()
    page.locator("dialog").get_by_role("button", name="Cancel").click()
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Delete").click()
    page.locator("dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    with ui_server.client() as client:
        assert client.get(f"{BASE}/namespaces/default/experiments/doomed").status_code == 404


def test_budget_edit_restarts_a_resumable_experiment(ui_server: Server, page: Any) -> None:
    body = tiny_experiment("budget", trials=1, parallel=1)
    body["spec"]["resumePolicy"] = "LongRunning"
    create(ui_server, body)
    wait_succeeded(ui_server, "budget")
    page.goto(f"{ui_server.url}/#/experiments/default/budget")
    page.locator("[data-action=edit-budget]").click()
    page.locator("dialog").get_by_label("maxTrialCount").fill("2")
    page.locator("dialog").get_by_role("button", name="Save").click()
    expect(page.locator("[data-field=maxTrialCount]")).to_have_text("2")
    # The experiment runs its second trial; the page follows it live.
    expect(page.locator(".exp-header .counts")).to_have_attribute("data-succeeded", "2")


def test_pareto_front_of_a_multi_objective_experiment(ui_server: Server, page: Any) -> None:
    body = tiny_experiment("two-goals")
    body["spec"]["objective"] = {
        "objectives": [{"name": "loss", "type": "minimize"}, {"name": "cost", "type": "minimize"}]
    }
    body["spec"]["algorithm"] = {"algorithmName": "nsga2"}
    create(ui_server, body)
    wait_succeeded(ui_server, "two-goals")
    page.goto(f"{ui_server.url}/#/experiments/default/two-goals/pareto")
    front = page.locator("[data-chart=pareto]")
    expect(front).to_have_attribute("data-front", re.compile(r"^[1-4]$"))
    expect(page.locator(".tabs a.active")).to_have_text("Pareto front")


def test_a_server_that_stopped_is_said_so(
    tmp_path: Path, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list read from a server that has gone away says so and what to check, not the
    browser's "Failed to fetch"."""
    monkeypatch.setenv("PYKATIB_HOME", str(tmp_path / "home"))
    server = start_server(tmp_path, f"sqlite:///{tmp_path / 'gone.db'}")
    try:
        page.goto(server.url + "/")
        expect(page.locator(".list-body")).to_contain_text("No experiments")
    finally:
        server.stop()
    page.expected_errors = ["ERR_CONNECTION_REFUSED", "Failed to load resource"]
    page.get_by_label("Namespace").select_option("default")
    message = page.get_by_role("alert")
    expect(message).to_contain_text("The server does not answer")
    expect(message).to_contain_text("is `pykatib server` still running?")
