"""Creating an experiment in the YAML editor: it appears in the list and completes; the
server's validation errors, and YAML syntax errors, are shown on their lines."""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pykatib_server import Server
from ui_browser import expect, tiny_experiment


def type_yaml(page: Any, text: str) -> None:
    """Replaces the editor's text, as a paste would."""
    page.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def line_of(text: str, needle: str, after: str = "") -> int:
    """The 1-based line of the first ``needle`` after the first ``after``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def test_created_experiment_appears_and_completes(ui_server: Server, page: Any) -> None:
    page.goto(f"{ui_server.url}/#/create")
    type_yaml(page, yaml.safe_dump(tiny_experiment("from-editor", trials=2), sort_keys=False))
    page.locator("[data-action=create]").click()
    expect(page).to_have_url(f"{ui_server.url}/#/experiments/default/from-editor")
    page.goto(ui_server.url + "/")
    row = page.locator("tr[data-experiment=from-editor]")
    expect(row).to_be_visible()
    # Live: the list turns Succeeded with both trials, without a reload.
    expect(row).to_contain_text("Succeeded", timeout=60_000)
    expect(row).to_contain_text("✔ 2")


def test_validation_error_is_shown_on_its_line(ui_server: Server, page: Any) -> None:
    body = tiny_experiment("invalid")
    body["spec"]["parameters"][0]["feasibleSpace"] = {"min": "5", "max": "1"}
    text = yaml.safe_dump(body, sort_keys=False)
    page.expected_errors.append("status of 422")  # the browser logs the refused POST
    page.goto(f"{ui_server.url}/#/create")
    type_yaml(page, text)
    page.locator("[data-action=create]").click()
    error = page.locator(".field-errors li").first
    expect(error).to_contain_text("spec.parameters[0].feasibleSpace")
    line = int(error.get_attribute("data-line"))
    assert line in (line_of(text, "min:", "feasibleSpace"), line_of(text, "max:", "feasibleSpace"))
    marked = page.locator(".cm-line").nth(line - 1).locator(".cm-lintRange-error")
    expect(marked).to_have_count(1)
    expect(page.locator(".cm-lint-marker-error").first).to_be_visible()


def test_yaml_syntax_error_is_shown_on_its_line(ui_server: Server, page: Any) -> None:
    page.goto(f"{ui_server.url}/#/create")
    type_yaml(
        page,
        "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata:\n  name: a: b\nspec: {}\n",
    )
    page.locator("[data-action=create]").click()
    expect(page.locator(".error").first).to_contain_text("not valid YAML")
    expect(page.locator(".field-errors li").first).to_have_attribute("data-line", "4")


def test_form_writes_the_yaml_that_creates_the_experiment(ui_server: Server, page: Any) -> None:
    page.goto(f"{ui_server.url}/#/create")
    page.get_by_text("Fill in a form").click()
    page.get_by_label("Name", exact=True).fill("from-form")
    page.get_by_label("Max trials").fill("2")
    command = f"{sys.executable} -c print('loss=0.25') " + "${trialParameters.lr}"
    page.get_by_label("Command").fill(command)
    page.locator("[data-action=write-yaml]").click()
    expect(page.locator(".cm-content")).to_contain_text("name: from-form")
    page.locator("[data-action=create]").click()
    expect(page).to_have_url(f"{ui_server.url}/#/experiments/default/from-form")
    expect(page.locator(".exp-header .counts")).to_have_attribute("data-succeeded", "2")
