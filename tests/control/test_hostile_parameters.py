"""Parameter values that try to escape: from the search space to the trial, intact or refused.

A value is substituted into the trial's run spec string by string (``control/template.py``) and
runs with no shell (the local runner), so shell syntax, quotes, newlines and placeholders in it
reach the trial's argv and env as written. NUL, which neither can hold, is refused when the
experiment is applied, and a trial handed one anyway fails with a clear message. Collector
paths are remapped into each trial's folder (``runtime/paths.py``): a value must not climb out of
it through that mapping.
"""

from __future__ import annotations

import copy
import json
import posixpath
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import controller, experiment, run
from hypothesis import given, settings
from hypothesis import strategies as st

from pykatib.api.yaml import load_experiments
from pykatib.control import status as st_
from pykatib.control.template import TemplateError, render_run_spec
from pykatib.runtime.paths import PathMap

# Values a search space may hold that a shell, a path or a template would read as syntax.
HOSTILE = [
    "../../etc/passwd",
    "line1\nline2\r\n",
    "$(touch pwned)",
    "`touch pwned`",
    "a; touch pwned",
    "a && touch pwned | cat > pwned",
    "'\"",
    "*",
    "~",
    "-rf",
    "--flag=x",
    "",
    " leading and trailing ",
    "é🙂\u2028\x1b[2J",
    "${trialParameters.v}",  # not expanded again
    "${HOME} $HOME %PATH% %s%n",
    "\\",
    "x" * 100_000,  # below Linux's 128 KiB for one argument
]


def _categorical(values: list[str]) -> list[dict[str, Any]]:
    return [{"name": "v", "parameterType": "categorical", "feasibleSpace": {"list": values}}]


def _container(exp: Any) -> dict[str, Any]:
    return exp.spec.trial_template.trial_spec["spec"]["template"]["spec"]["containers"][0]


# --- rendering: any value, intact ----------------------------------------------------------


def _render(values: dict[str, str]) -> dict[str, Any]:
    exp = experiment(
        "pass",
        parameters=_categorical(["a"])
        + [{"name": "w", "parameterType": "categorical", "feasibleSpace": {"list": ["b"]}}],
        args=["${trialParameters.v}", "--flag=${trialParameters.v}", "${trialParameters.w}"],
        env=[{"name": "V", "value": "${trialParameters.v}${trialParameters.w}"}],
    )
    _container(exp)["workingDir"] = "/work/${trialParameters.v}"
    return render_run_spec(exp, "exp-abcdefgh", "default", values)


@settings(max_examples=300, deadline=None)
@given(st.text().filter(lambda v: "\x00" not in v), st.text().filter(lambda v: "\x00" not in v))
def test_rendering_substitutes_any_value_as_written(v: str, w: str) -> None:
    container = _render({"v": v, "w": w})["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [v, f"--flag={v}", w]
    assert container["env"] == [{"name": "V", "value": v + w}]
    assert container["workingDir"] == f"/work/{v}"


@settings(max_examples=50, deadline=None)
@given(st.text(), st.text())
def test_rendering_refuses_nul_naming_the_trial_parameter(before: str, after: str) -> None:
    with pytest.raises(TemplateError, match='trial parameter "v" has a NUL character'):
        _render({"v": before + "\x00" + after, "w": "b"})


# --- validation: NUL refused when the experiment is applied -----------------------------------


def _load(exp: Any, mutate: Any = None) -> list[str]:
    data = exp.to_dict()
    if mutate is not None:
        mutate(data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"])
    [doc] = load_experiments(yaml.safe_dump(data, allow_unicode=True), "exp.yaml")
    return doc.errors


def test_hostile_values_but_nul_are_valid() -> None:
    exp = experiment("pass", parameters=_categorical(HOSTILE), args=["${trialParameters.v}"])
    assert _load(exp) == []


def test_nul_in_a_parameter_value_is_refused_at_apply() -> None:
    values = _categorical(["ok", "a\x00b"])
    errors = _load(experiment("pass", parameters=values, args=["${trialParameters.v}"]))
    assert errors == [
        (
            "spec.parameters[0].feasibleSpace.list[1]: must not contain a NUL character: a "
            "trial's command, args and env can't hold one"
        )
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("args", ["ok", "a\x00b"], "containers[0].args[1]: must not contain a NUL character"),
        ("command", ["py\x00thon"], "containers[0].command[0]: must not contain a NUL character"),
        ("workingDir", "/tmp/\x00", "containers[0].workingDir: must not contain a NUL character"),
        ("workingDir", 7, "containers[0].workingDir: must be a string"),
        ("env", [{"name": "A", "value": "\x00"}], "env[0].value: must not contain a NUL"),
        ("env", [{"name": "A\x00", "value": "1"}], "env[0].name: must not contain a NUL"),
        ("env", [{"name": "A=B", "value": "1"}], "env[0].name: must not contain '='"),
    ],
)
def test_what_a_process_cannot_hold_is_refused_in_the_template(
    field: str, value: Any, message: str
) -> None:
    exp = experiment("pass", args=[] if field == "args" else None)

    def mutate(pod: dict[str, Any]) -> None:
        pod["containers"][0][field] = copy.deepcopy(value)

    errors = _load(exp, mutate)
    assert any(message in e for e in errors), errors


# --- remapped paths: a value can't climb out of the trial's folder ------------------------------

BASE = Path("/home/user/.pykatib/trials/default/exp/exp-abcdefgh")
# From <trial folder>/var/log/katib, four ".." leave the trial's folder.
CLIMBING = ["../../../..", "../" * 12 + "etc", "a/../../../../../../..", "./../../../../../x/"]


def _inside(path: str, base: Path) -> bool:
    resolved = posixpath.normpath(path)
    return resolved == str(base) or resolved.startswith(f"{base}/")


def _rewritten(value: str, base: Path) -> list[str]:
    """What the trial gets for ``value`` placed after a collector folder, in each position."""
    paths = PathMap(base, ["/var/log/katib/metrics.log"])
    container = paths.rewrite_container(
        {
            "command": [f"/var/log/katib/{value}"],
            "args": [f"--out=/var/log/katib/{value}"],
            "env": [{"name": "OUT", "value": f"/var/log/katib/{value}"}],
            "workingDir": f"/var/log/katib/{value}",
        }
    )
    out = [container["command"][0], container["args"][0].partition("=")[2]]
    return out + [container["env"][0]["value"], container["workingDir"]]


@pytest.mark.parametrize("value", ["metrics.log", "a/b", "./x", "", "é🙂 $(x)", "x/../y"])
def test_a_remapped_path_stays_in_the_trial_folder(value: str) -> None:
    for path in _rewritten(value, BASE):
        assert _inside(path, BASE), path


@pytest.mark.parametrize("value", CLIMBING)
def test_a_climbing_value_is_not_mapped_out_of_the_trial_folder(value: str) -> None:
    for path, original in zip(_rewritten(value, BASE), [f"/var/log/katib/{value}"] * 4):
        # Either left as the trial wrote it (a path of its own, outside every mapped folder),
        # or mapped into the trial's folder: never mapped to somewhere else.
        assert path == original or _inside(path, BASE), path


@pytest.mark.parametrize("path", ["../../../../outside", "checkpoints/../../.."])
def test_a_relative_mapped_path_stays_in_the_trial_folder(path: str) -> None:
    assert _inside(str(PathMap(BASE, [path]).local(path)), BASE)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/var/log/../../etc/passwd", "must not contain '..'"),
        ("/var/log/katib/..", "must not contain '..'"),
        ("/var/log/katib/metrics\x00.log", "must not contain a NUL character"),
        ("/var/log/katib/", "must be the path of a file, not of a folder"),
        ("var/log/katib/metrics.log", "must be the absolute path of the metrics file"),
        ("../metrics.log", "must be the absolute path of the metrics file"),
        ("", "must be the absolute path of the metrics file"),  # then defaulted: no error
    ],
)
@pytest.mark.reliability(
    kind='bad input',
    what='collector paths with .., NUL, relative or folder paths',
    load='7 paths',
    lost='nothing; refused at apply naming the field',
)
def test_file_collector_paths_that_leave_the_trial_folder_are_refused(
    path: str, message: str
) -> None:
    exp = experiment("pass")
    data = exp.to_dict()
    data["spec"]["metricsCollectorSpec"] = {
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"path": path, "kind": "File", "format": "TEXT"}},
    }
    [doc] = load_experiments(yaml.safe_dump(data), "exp.yaml")
    if not path:  # Katib's default path fills it in
        assert doc.errors == []
        return
    assert any(
        e.startswith("spec.metricsCollectorSpec.source.fileSystemPath.path: ") and message in e
        for e in doc.errors
    ), doc.errors


@pytest.mark.parametrize(
    ("kind", "path"),
    [("TensorFlowEvent", "/logs/../../x"), ("Custom", "/a/../b")],
)
def test_other_collector_paths_with_dots_are_refused(kind: str, path: str) -> None:
    exp = experiment("pass")
    data = exp.to_dict()
    fs_kind = "Directory" if kind == "TensorFlowEvent" else "File"
    collector: dict[str, Any] = {"kind": kind}
    if kind == "Custom":
        collector["customCollector"] = {"name": "c", "image": "x", "command": ["true"]}
    data["spec"]["metricsCollectorSpec"] = {
        "collector": collector,
        "source": {"fileSystemPath": {"path": path, "kind": fs_kind}},
    }
    [doc] = load_experiments(yaml.safe_dump(data), "exp.yaml")
    assert any("fileSystemPath.path: must not contain '..'" in e for e in doc.errors), doc.errors


# --- real trials ----------------------------------------------------------------------------

REPORT = (
    "import json, os, sys\n"
    "out = {out!r} + '-' + os.environ['KATIB_TRIAL_NAME']\n"
    "seen = dict(argv=sys.argv[1:], env=os.environ['V'], cwd=os.getcwd())\n"
    "open(out, 'w').write(json.dumps(seen))\n"
    "print('loss=1')\n"
)


@pytest.mark.reliability(
    kind='bad input',
    what='parameter values with $(...), backticks, ;, quotes, newlines, ../, 100,000 characters',
    load='18 values, one trial each',
    lost='nothing; argv, env and cwd get them intact, no shell, no file created',
)
def test_hostile_values_reach_argv_and_env_intact(tmp_path: Path) -> None:
    exp = experiment(
        REPORT.format(out=str(tmp_path / "seen")),
        algorithm="grid",
        parameters=_categorical(HOSTILE),
        args=["${trialParameters.v}", "--flag=${trialParameters.v}"],
        env=[{"name": "V", "value": "${trialParameters.v}"}],
        parallelTrialCount=6,
        maxTrialCount=len(HOSTILE),
    )
    _container(exp)["workingDir"] = str(tmp_path)
    done = run(controller(tmp_path), exp, tmp_path)
    assert done.status.trials_succeeded == len(HOSTILE)
    seen = [json.loads(p.read_text()) for p in tmp_path.glob("seen-*")]
    assert sorted(s["argv"][0] for s in seen) == sorted(HOSTILE)
    for s in seen:
        assert s["argv"] == [s["argv"][0], f"--flag={s['argv'][0]}"]
        assert s["env"] == s["argv"][0]  # newlines and all
        assert s["cwd"] == str(tmp_path)
    assert not list(tmp_path.rglob("pwned*")) and not list(Path.cwd().glob("pwned*"))


@pytest.mark.reliability(
    kind='bad input',
    what='a NUL in a parameter value',
    load='2 trials',
    lost='the one trial only: Failed with InvalidTemplate naming the parameter',
)
def test_a_trial_given_a_nul_value_fails_with_a_clear_message(tmp_path: Path) -> None:
    # Built without validation, as if a value reached the controller anyway.
    exp = experiment(
        "print('loss=1')",
        algorithm="grid",
        parameters=_categorical(["ok", "a\x00b"]),
        args=["${trialParameters.v}"],
        maxTrialCount=2,
        maxFailedTrialCount=2,
    )
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 1 and done.status.trials_failed == 1
    trials = ctl.store.list_trials("default", "exp")
    [failed] = [t for t in trials if st_.trial_phase(t) == st_.FAILED]
    condition = failed.status.condition("Failed")
    assert condition.reason == "TrialFailed. Job reason: InvalidTemplate"
    assert 'trial parameter "v" has a NUL character' in condition.message


@pytest.mark.reliability(
    kind='bad input',
    what='a parameter value climbing out of a collector folder (../../..)',
    load='2 trials',
    lost="nothing; the file lands inside the trial's attempt folder",
)
def test_a_value_in_a_collector_path_writes_inside_the_trial_folder(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "path = sys.argv[1].split('=', 1)[1]\n"
        "os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "open(path, 'w').write('x')\n"
        "open(os.environ['PYKATIB_METRICS_PATH'], 'w').write('loss=1\\n')\n"
    )
    # Climbs 8 folders from /var/log/katib: in a container that resolves to /escaped; here it
    # must land inside the trial's folder, never at the host's /escaped nor anywhere else.
    climbing = "../" * 8 + "escaped"
    exp = experiment(
        code,
        algorithm="grid",
        parameters=_categorical(["inside", climbing]),
        args=["--out=/var/log/katib/${trialParameters.v}/marker"],
        maxTrialCount=2,
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File"}},
        },
    )
    ctl = controller(tmp_path)
    run(ctl, exp, tmp_path)
    assert not Path("/escaped/marker").exists()
    markers = list(tmp_path.rglob("marker"))
    assert len(markers) == 2
    trials = ctl.home / "trials" / "default" / "exp"
    for marker in markers:
        assert marker.resolve().is_relative_to(trials.resolve()), marker
        assert marker.relative_to(trials).parts[0].startswith("exp-"), marker
