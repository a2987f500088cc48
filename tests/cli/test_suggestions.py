"""`get suggestions` with Katib's printer columns, and `describe suggestion` as kubectl lays it out."""

from __future__ import annotations

from pathlib import Path

from pykatib_cli import experiment, get_json, pykatib, table, write

from pykatib.api.models import Suggestion
from pykatib.cli.describe import describe

# manifests/v1beta1/components/crd/suggestion.yaml: additionalPrinterColumns
COLUMNS = ["NAME", "TYPE", "STATUS", "REQUESTED", "ASSIGNED", "AGE"]


def test_get_and_describe_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", experiment("tune", "kubeflow", maxTrialCount=3))
    assert pykatib("run", "-f", str(path), "-q").returncode == 0
    trials = [t["metadata"]["name"] for t in get_json("trials", "-n", "kubeflow")["items"]]
    assert len(trials) == 3
    suggestion = get_json("suggestion", "tune", "-n", "kubeflow")
    assert suggestion["kind"] == "Suggestion" and suggestion["status"]["suggestionCount"] == 3
    last = suggestion["status"]["conditions"][-1]
    requested = str(suggestion["spec"]["requests"])

    rows = table(pykatib("get", "suggestions", "-n", "kubeflow", check=True).stdout)
    assert rows[0] == COLUMNS
    assert rows[1][:5] == ["tune", last["type"], last["status"], requested, "3"]
    # One by name is a table row too, as kubectl prints it (AGE may have ticked since).
    one = table(pykatib("get", "suggestion", "tune", "-n", "kubeflow", check=True).stdout)
    assert [row[:5] for row in one] == [COLUMNS[:5], rows[1][:5]]
    wide = table(pykatib("get", "suggestions", "-n", "kubeflow", "-o", "wide", check=True).stdout)
    assert wide[0] == [*COLUMNS, "ALGORITHM"] and wide[1][-1] == "random"
    listed = get_json("suggestions", "-n", "kubeflow")
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["tune"]
    assert get_json("suggestions")["items"] == []

    text = pykatib("describe", "suggestion", "tune", "-n", "kubeflow", check=True).stdout
    lines = text.splitlines()
    assert lines[:6] == [
        "Name:         tune",
        "Namespace:    kubeflow",
        "Labels:       <none>",
        "Annotations:  <none>",
        "API Version:  kubeflow.org/v1beta1",
        "Kind:         Suggestion",
    ]
    assert "Spec:" in lines and "    Algorithm Name:  random" in lines
    status = lines[lines.index("Status:") :]
    assert "  Conditions:" in status
    assert f"    Type:                  {last['type']}" in status
    assert "  Suggestion Count:  3" in status
    suggestions = status[status.index("  Suggestions:") :]
    assert [line for line in suggestions if line.startswith("    Name:")] == [
        f"    Name:  {t}" for t in trials
    ]
    assert suggestions.count("    Parameter Assignments:") == 3
    events = text.split("\nEvents:\n", 1)[1]
    assert "SuggestionRunning" in events and "Suggestion is succeeded, can't be restarted" in events


def test_describe_lists_each_trials_early_stopping_rules() -> None:
    suggestion = Suggestion.model_validate(
        {
            "metadata": {"name": "median", "namespace": "kubeflow"},
            "spec": {"algorithm": {"algorithmName": "random"}, "requests": 1},
            "status": {
                "suggestionCount": 1,
                "suggestions": [
                    {
                        "name": "median-abc",
                        "parameterAssignments": [{"name": "lr", "value": "0.1"}],
                        "earlyStoppingRules": [
                            {"name": "loss", "value": "0.5", "comparison": "less", "startStep": 2}
                        ],
                    }
                ],
            },
        }
    )
    text = describe(suggestion.to_dict())
    assert (
        "  Suggestions:\n"
        "    Early Stopping Rules:\n"
        "      Comparison:  less\n"
        "      Name:        loss\n"
        "      Start Step:  2\n"
        "      Value:       0.5\n"
        "    Name:  median-abc\n"
        "    Parameter Assignments:\n"
        "      Name:   lr\n"
        "      Value:  0.1\n"
    ) in text
