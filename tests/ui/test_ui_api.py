"""The JSON the UI's views read (/ui/api), from the completed experiment ``done`` of 4 trials
that print ``loss`` three times: the answers agree with the Kubernetes-style API, carry their
server time, and a metric that is not the experiment's is refused by name."""

from __future__ import annotations

from pykatib_server import BASE, Server

DONE = "/ui/api/namespaces/default/experiments/done"


def test_intermediate_values_are_each_trials_reports_by_step(ui_server: Server) -> None:
    with ui_server.client() as client:
        answer = client.get(f"{DONE}/intermediate")
        logs = {}
        for trial in client.get(f"{BASE}/namespaces/default/trials").json()["items"]:
            if trial["metadata"]["ownerReferences"][0]["name"] != "done":
                continue  # another test's experiment
            name = trial["metadata"]["name"]
            path = f"{BASE}/namespaces/default/trials/{name}/observationlog"
            found = client.get(path, params={"metricName": "loss"}).json()
            logs[name] = [float(m["metric"]["value"]) for m in found["metricLogs"]]
    assert answer.status_code == 200
    assert answer.headers["server-timing"].startswith("app;dur=")
    body = answer.json()
    assert body["metric"] == "loss" and body["total"] == 4
    assert {s["name"] for s in body["series"]} == set(logs)
    for series in body["series"]:
        assert series["status"] == "succeeded"
        assert len(series["steps"]) == 3 and series["steps"] == sorted(set(series["steps"]))
        assert series["values"] == logs[series["name"]]


def test_columns_list_every_trial(ui_server: Server) -> None:
    with ui_server.client() as client:
        body = client.get(f"{DONE}/columns").json()
    assert body["number"] == [0, 1, 2, 3]
    assert body["status"] == ["succeeded"] * 4
    assert all(isinstance(v, float) for v in body["metrics"]["loss"])
    assert body["best"] in body["name"]


def test_a_metric_that_is_not_the_experiments_is_refused(ui_server: Server) -> None:
    with ui_server.client() as client:
        for view in ("importance", "intermediate"):
            answer = client.get(f"{DONE}/{view}", params={"metric": "accuracy"})
            assert answer.status_code == 400
            assert "metric: 'accuracy'" in answer.json()["message"]
            assert "(loss)" in answer.json()["message"]
