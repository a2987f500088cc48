"""The screenshots of docs/ui.md and the README (docs/ui-*.png), of a server holding a few
example experiments: ``python tests/ui/screenshots.py`` (needs /usr/bin/chromium)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from pykatib_server import BASE, Server, start_server
from ui_browser import CHROMIUM, create, expect, sync_api, wait_succeeded

DOCS = HERE.parent.parent / "docs"
TRIAL = """
import math, sys
x, y, lr, opt = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
print(f"training with lr={lr} optimizer={opt}", flush=True)
target = (x - 1) ** 2 + 0.5 * (y + 1) ** 2 + (0.3 if opt == "sgd" else 0) + abs(math.log10(lr) + 2) / 4
for step in range(1, 11):
    loss = target + 2.0 / step
    print(f"epoch {step}: loss={loss:.4f} accuracy={1 / (1 + loss):.4f}", flush=True)
print(f"latency={abs(x + 2) + 0.01 / lr:.4f}", flush=True)
"""


def experiment(name: str, trials: int, algorithm: str, objectives: Any = None) -> dict[str, Any]:
    params = [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-2", "max": "3"}},
        {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "-3", "max": "2"}},
        {
            "name": "lr",
            "parameterType": "double",
            "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"},
        },
        {
            "name": "optimizer",
            "parameterType": "categorical",
            "feasibleSpace": {"list": ["sgd", "adam"]},
        },
    ]
    objective: dict[str, Any] = {
        "type": "minimize",
        "objectiveMetricName": "loss",
        "additionalMetricNames": ["accuracy"],
    }
    if objectives:
        objective = {"objectives": objectives}
    command = [sys.executable, "-c", TRIAL]
    command += [f"${{trialParameters.{p['name']}}}" for p in params]
    container = {"name": "main", "image": "python:3", "command": command}
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "objective": objective,
            "algorithm": {"algorithmName": algorithm},
            "parallelTrialCount": 4,
            "maxTrialCount": trials,
            "maxFailedTrialCount": 3,
            "parameters": params,
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": p["name"], "reference": p["name"]} for p in params],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {"spec": {"containers": [container], "restartPolicy": "Never"}}
                    },
                },
            },
        },
    }


def shoot(page: Any, url: str, name: str, ready: str) -> None:
    page.goto(url)
    expect(page.locator(ready).first).to_be_visible()
    page.screenshot(path=str(DOCS / f"ui-{name}.png"))
    print("wrote", DOCS / f"ui-{name}.png")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pykatib-shots-"))
    os.environ["PYKATIB_HOME"] = str(tmp / "home")
    server: Server = start_server(tmp, f"sqlite:///{tmp / 'ui.db'}")
    try:
        create(server, experiment("quadratic-tpe", 40, "tpe"))
        create(server, experiment("quadratic-random", 12, "random"))
        multi = [{"name": "loss", "type": "minimize"}, {"name": "latency", "type": "minimize"}]
        create(server, experiment("two-objectives", 24, "nsga2", multi))
        for name in ("quadratic-tpe", "quadratic-random", "two-objectives"):
            wait_succeeded(server, name)
        with server.client() as client:
            trials = client.get(f"{BASE}/namespaces/default/trials").json()["items"]
        trial = next(t for t in trials if t["metadata"]["name"].startswith("quadratic-tpe"))
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1360, "height": 860})
            base = server.url + "/#/experiments/default/quadratic-tpe"
            shoot(page, server.url + "/", "experiments", "tr[data-experiment]")
            shoot(page, base, "overview", ".overview")
            shoot(page, base + "/trials", "trials", "table.trials")
            for view in ("history", "parallel", "importance", "intermediate", "slice", "contour"):
                shoot(page, f"{base}/{view}", view, ".tab-content canvas")
            pareto = server.url + "/#/experiments/default/two-objectives/pareto"
            shoot(page, pareto, "pareto", ".tab-content canvas")
            shoot(
                page,
                f"{server.url}/#/trials/default/{trial['metadata']['name']}",
                "trial",
                ".metric-charts canvas",
            )
            shoot(page, server.url + "/#/create", "create", ".cm-content")
            example = (HERE.parent.parent / "ui/src/examples/quadratic.yaml").read_text()
            invalid = example.replace(
                'min: "-5"\n        max: "5"', 'min: "-5"\n        max: "-9"', 1
            )
            page.locator(".cm-content").click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(invalid)
            page.locator("[data-action=create]").click()
            expect(page.locator(".field-errors li").first).to_be_visible()
            page.screenshot(path=str(DOCS / "ui-create-error.png"))
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
