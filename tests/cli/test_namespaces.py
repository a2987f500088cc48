"""kubectl's namespace rules: without -n only `default` is looked at; -A lists every namespace."""

from __future__ import annotations

from pathlib import Path

from pykatib_cli import experiment, get_json, pykatib, table, write

HINT = 'experiment "tune" not found in namespace "default"; it exists in namespace kubeflow: add -n kubeflow'


def test_a_name_is_looked_up_in_default_only_and_the_error_says_where_it_is(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "e.yaml", experiment("tune", "kubeflow"))
    assert pykatib("apply", "-f", str(path), check=True).stdout.strip() == (
        "experiment.kubeflow.org/tune created"
    )
    for args in (
        ("get", "experiment", "tune"),
        ("describe", "experiment", "tune"),
        ("delete", "experiment", "tune"),
        ("get", "suggestion", "tune"),
    ):
        result = pykatib(*args)
        assert result.returncode == 1, args
        kind = args[1]
        assert HINT.replace("experiment", kind, 1) in result.stderr, (args, result.stderr)
    # The failed delete deleted nothing; with -n (before or after the subcommand) it is found.
    assert get_json("experiment", "tune", "-n", "kubeflow")["metadata"]["name"] == "tune"
    assert (
        "Name:         tune" in pykatib("-n", "kubeflow", "describe", "experiment", "tune").stdout
    )
    # Lists without -n cover the default namespace only.
    result = pykatib("get", "experiments")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.strip() == "No resources found in default namespace."
    assert get_json("experiments")["items"] == []
    assert [row[0] for row in table(pykatib("get", "experiments", "-n", "kubeflow").stdout)] == [
        "NAME",
        "tune",
    ]
    # Applying the file with -n puts it in that namespace; the error then names both.
    pykatib("apply", "-f", str(path), "-n", "team", check=True)
    result = pykatib("get", "trials", "-e", "tune")
    assert result.returncode == 1
    assert (
        'experiment "tune" not found in namespace "default"; it exists in namespaces kubeflow, '
        "team: add -n kubeflow"
    ) in result.stderr
    assert pykatib("delete", "experiment", "tune", "-n", "team", check=True).stdout.strip() == (
        'experiment.kubeflow.org "tune" deleted'
    )
    assert get_json("experiment", "tune", "-n", "kubeflow")["metadata"]["namespace"] == "kubeflow"
    assert pykatib("get", "experiment", "tune", "-n", "team").returncode == 1


def test_all_namespaces_lists_every_namespace_with_a_namespace_column(tmp_path: Path) -> None:
    write(
        tmp_path / "e.yaml",
        experiment("one", "kubeflow"),
        experiment("two"),
        experiment("one", "team"),
    )
    pykatib("apply", "-f", str(tmp_path / "e.yaml"), check=True)
    rows = table(pykatib("get", "experiments", "-A", check=True).stdout)
    assert rows[0][:3] == ["NAMESPACE", "NAME", "STATUS"]
    assert [row[:2] for row in rows[1:]] == [
        ["kubeflow", "one"],
        ["default", "two"],
        ["team", "one"],
    ]
    wide = table(pykatib("get", "experiments", "--all-namespaces", "-o", "wide", check=True).stdout)
    assert wide[0][:2] == ["NAMESPACE", "NAME"] and wide[0].count("NAMESPACE") == 1
    assert "ALGORITHM" in wide[0] and wide[1][wide[0].index("ALGORITHM")] == "random"
    # Without -A a table has no NAMESPACE column, even wide: every row is in one namespace.
    narrow = table(pykatib("get", "experiments", "-o", "wide", check=True).stdout)
    assert "NAMESPACE" not in narrow[0] and [row[0] for row in narrow[1:]] == ["two"]
    items = get_json("experiments", "-A")["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == [
        ("kubeflow", "one"),
        ("default", "two"),
        ("team", "one"),
    ]
    suggestions = table(pykatib("get", "suggestions", "-A", check=True).stdout)
    assert suggestions[0][:2] == ["NAMESPACE", "NAME"]
    assert [row[:2] for row in suggestions[1:]] == [
        ["kubeflow", "one"],
        ["default", "two"],
        ["team", "one"],
    ]
    # kubectl: "a resource cannot be retrieved by name across all namespaces".
    result = pykatib("get", "experiment", "one", "-A")
    assert result.returncode == 2 and "across all namespaces" in result.stderr


def test_trial_commands_follow_the_same_rules(tmp_path: Path) -> None:
    path = write(tmp_path / "e.yaml", experiment("tune", "kubeflow", maxTrialCount=1))
    assert pykatib("run", "-f", str(path), "-q").returncode == 0
    [trial] = get_json("trials", "-n", "kubeflow")["items"]
    name = trial["metadata"]["name"]
    hint = f'trial "{name}" not found in namespace "default"; it exists in namespace kubeflow: add -n kubeflow'
    for args in (("logs", name), ("get", "trial", name), ("get", "metrics", name)):
        result = pykatib(*args)
        assert result.returncode == 1 and hint in result.stderr, (args, result.stderr)
    assert get_json("trials")["items"] == []
    rows = table(pykatib("get", "trials", "-A", check=True).stdout)
    assert rows[0][:3] == ["NAMESPACE", "NAME", "STATUS"] and rows[1][:3] == [
        "kubeflow",
        name,
        "Succeeded",
    ]
    assert pykatib("logs", name, "-n", "kubeflow", check=True).stdout.startswith("loss=")
