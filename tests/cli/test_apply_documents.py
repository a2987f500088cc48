"""A file of several documents: `apply` applies the valid ones and reports the others, as kubectl
does; `run` is all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pykatib_cli import experiment, get_json, pykatib, write
from standins import katib_example


def line_of_document(path: Path, n: int) -> int:
    separators = [i for i, line in enumerate(path.read_text().splitlines()) if line == "---"]
    return 1 if n == 1 else separators[n - 2] + 2


def documents() -> list[dict[str, Any]]:
    invalid = experiment("second", parallelTrialCount=-1)
    trial = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Trial", "metadata": {"name": "t"}}
    nas = katib_example("nas/enas-cpu.yaml")  # valid for Katib, refused by pykatib's admission
    nas["metadata"]["name"] = "nas"
    return [experiment("first"), invalid, trial, experiment("fourth"), nas]


def test_apply_applies_the_valid_documents_and_reports_each_invalid_one(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", *documents())
    result = pykatib("apply", "-f", str(path))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "experiment.kubeflow.org/first created",
        "experiment.kubeflow.org/fourth created",
    ]
    err = result.stderr
    line = {n: line_of_document(path, n) for n in (2, 3, 5)}
    assert f'document 2 (line {line[2]}, experiment "second"): spec.parallelTrialCount' in err
    assert f'document 3 (line {line[3]}, trial "t"): kind: "Trial" cannot be applied' in err
    assert (
        f'document 5 (line {line[5]}, experiment "nas"): spec.nasConfig: neural architecture' in err
    )
    assert f'{path}: experiment "second" is invalid, not applied' in err
    assert f"{path}: a document is invalid, not applied" in err
    assert "first" not in err and "fourth" not in err
    names = [i["metadata"]["name"] for i in get_json("experiments")["items"]]
    assert names == ["first", "fourth"]


def test_an_update_refused_by_katibs_rules_does_not_stop_the_others(tmp_path: Path) -> None:
    first, second = experiment("first"), experiment("second")
    path = write(tmp_path / "e.yaml", first, second)
    assert pykatib("apply", "-f", str(path)).returncode == 0
    first["spec"]["objective"]["type"] = "maximize"  # immutable
    second["spec"]["maxTrialCount"] = 5
    write(path, first, second)
    result = pykatib("apply", "-f", str(path))
    assert result.returncode == 2
    assert result.stdout.strip() == "experiment.kubeflow.org/second configured"
    assert 'experiment "first" is invalid, not applied' in result.stderr
    assert (
        'document 1 (line 1, experiment "first"): spec.objective: cannot be changed'
        in result.stderr
    )
    assert get_json("experiment", "first")["spec"]["objective"]["type"] == "minimize"
    assert get_json("experiment", "second")["spec"]["maxTrialCount"] == 5


def test_run_runs_nothing_when_any_document_is_invalid(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", *documents())
    result = pykatib("run", "-f", str(path), "-q")
    assert result.returncode == 2 and result.stdout == ""
    assert f"error: {path} is not a valid Katib experiment:" in result.stderr
    assert 'experiment "second"): spec.parallelTrialCount' in result.stderr
    assert 'experiment "nas"): spec.nasConfig' in result.stderr
    assert pykatib("get", "experiments", "-A").stderr.strip() == "No resources found."


def test_a_yaml_syntax_error_applies_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", experiment("first"))
    path.write_text(path.read_text() + "---\nkind: [unclosed\n")
    result = pykatib("apply", "-f", str(path))
    assert result.returncode == 2 and "invalid YAML" in result.stderr
    assert pykatib("get", "experiments", "-A").stderr.strip() == "No resources found."


def test_a_file_that_is_not_utf8_exits_2_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: Experiment\nmetadata: {name: caf\xe9}\n")
    result = pykatib("apply", "-f", str(path))
    assert result.returncode == 2
    assert "not UTF-8 text" in result.stderr and "Traceback" not in result.stderr
