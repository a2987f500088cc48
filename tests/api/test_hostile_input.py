"""Hostile experiment files: whatever the text, loading it gives experiments or problems.

The contract checked here, for any input (arbitrary text, arbitrary YAML, a valid experiment
mutated): :func:`load_experiments` returns documents or raises :class:`InvalidExperimentError`,
never another exception (TypeError, KeyError, RecursionError, pydantic's ValidationError, ...);
every problem is one line that starts with a path (``spec.parameters[0].name: ...``), after the
document it is about when the file holds several; and an experiment found valid can be stored
(JSON), shown (YAML, which loads back to the same experiment) and rendered into a trial.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykatib.api.errors import InvalidExperimentError
from pykatib.api.strict_yaml import MAX_DEPTH, MAX_VALUES
from pykatib.api.yaml import dump_yaml, load_experiments
from pykatib.control.template import render_run_spec

from ._helpers import problems, valid_doc

SOURCE = "exp.yaml"
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# One problem: the document (when the file holds several), then a path and ": ".
_DOCUMENT = r"(document \d+ \(line \d+[^\n]*?\): )?"
_LINE = re.compile(_DOCUMENT + r"(exp\.yaml: line \d+, column \d+: invalid YAML: |\S[^\n]*?: )")
# For documents whose keys the test chose: the path starts at a known field.
_KNOWN_PATH = re.compile(
    _DOCUMENT + r"(exp\.yaml: line \d+, column \d+: |<document>: |(apiVersion|kind|metadata|spec"
    r"|status|extra[\w-]*)(\.|\[|: ))"
)


def _check_line(line: str, strict: bool) -> None:
    assert line and line.splitlines() == [line], f"not one line: {line!r}"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line), f"control character: {line!r}"
    pattern = _KNOWN_PATH if strict else _LINE
    assert pattern.match(line), f"does not start with a path: {line!r}"


def outcome(text: str, strict: bool = False) -> list[Any]:
    """Load ``text`` and check the contract; the valid experiments."""
    try:
        docs = load_experiments(text, SOURCE)
    except InvalidExperimentError as err:
        assert err.errors
        assert str(err).splitlines() == err.errors
        for line in err.errors:
            _check_line(line, strict)
        return []
    valid = []
    for doc in docs:
        for line in doc.errors + doc.warnings:
            _check_line(line, strict)
        if doc.experiment is not None and not doc.errors:
            valid.append(doc.experiment)
    for exp in valid:
        _check_usable(exp)
    return valid


def _check_usable(exp: Any) -> None:
    """What the control plane does with a valid experiment: store, show, render."""
    json.dumps(exp.to_dict())
    [again] = load_experiments(dump_yaml(exp), SOURCE)
    assert again.errors == [] and again.experiment == exp
    values = {p.name: "1" for p in exp.spec.parameters or []}
    render_run_spec(exp, f"{exp.name}-abcdefgh", exp.namespace, values)


# --- arbitrary text -----------------------------------------------------------------------

# The characters and tokens YAML gives a meaning to, and values that are hard to hold.
# fmt: off
_YAML_TOKENS = [
    ":", ": ", "-", "- ", " ", "  ", "\n", "\t", "\r", "&a ", "*a", "&b ", "*b", "[", "]", "{", "}",
    ",", "!!str ", "!!binary ", "!!set ", "!!python/object:os.system ", "!foo ", "'", '"', "#",
    "---\n", "...\n", "<<: ", "? ", "|", ">", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\\",
    "a", "kind", "Experiment", "apiVersion", "kubeflow.org/v1beta1", "metadata", "spec", "name",
    "1", "-1", "0x1F", "1e999", ".nan", "-.inf", "null", "~", "true", "2001-12-14", "\x00",
    "\ufeff", "\x85", "\u2028", "\udc80", "é", "🙂",
]
# fmt: on


@FEW
@given(st.text())
@pytest.mark.reliability(
    kind='bad input',
    what='arbitrary Unicode text as an experiment file',
    load='hypothesis examples',
    lost='nothing; documents or a one-line error with its line',
)
def test_arbitrary_text(text: str) -> None:
    outcome(text)


@MANY
@given(st.lists(st.sampled_from(_YAML_TOKENS), max_size=40).map("".join))
def test_yaml_token_soup(text: str) -> None:
    outcome(text)


# --- arbitrary YAML documents -------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),  # NaN and infinities included
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "1e999", "nan", "-inf", "1" * 400, "a" * 1000, "${x}"]),
)
_KEYS = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans(), st.floats())
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@MANY
@given(_VALUES)
def test_arbitrary_documents(data: Any) -> None:
    outcome(_dump(data))


@MANY
@given(
    st.fixed_dictionaries(
        {"apiVersion": st.just("kubeflow.org/v1beta1"), "kind": st.just("Experiment")},
        optional={"metadata": _VALUES, "spec": _VALUES, "status": _VALUES},
    )
)
def test_arbitrary_experiments(data: dict[str, Any]) -> None:
    outcome(_dump(data))


# --- a valid experiment, mutated --------------------------------------------------------------

# fmt: off
_HOSTILE = [
    None, "", 0, -1, -(2**63), 2**31, 2**64, 10**30, math.nan, math.inf, -math.inf, 1e308, True,
    "1e999", "nan", "-inf", "0x10", "١٢٣", "a" * 10_000, "line\nbreak", "\x1b[31mred", "\u2028",
    "../../etc/passwd", "$(reboot)", "${trialParameters.nope}", "${trialSpec.Labels[x]}",
    "é🙂", "Experiment", "Job", "batch/v1", [], {}, [None], [1, "a", None], {"a": None},
    {"extra": [{"extra": {}}]}, [[[[[]]]]],
]
# fmt: on


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``node``: its keys and list indexes, depth first."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


_VALID_PATHS = [p for p in _paths(valid_doc()) if p]


def _mutate(doc: dict[str, Any], path: tuple[Any, ...], op: str, value: Any) -> None:
    parent: Any = doc
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return  # an earlier mutation took the place away
    last = path[-1]
    if isinstance(parent, list):
        if not isinstance(last, int) or last >= len(parent):
            return
    elif not isinstance(parent, dict) or last not in parent:
        return
    if op == "delete":
        del parent[last]
    elif op == "set":
        parent[last] = copy.deepcopy(value)
    elif op == "wrap":  # the value one level deeper, as a list or a mapping
        parent[last] = [parent[last]] if isinstance(value, list) else {"extra": parent[last]}
    elif op == "rename" and isinstance(parent, dict):
        parent[f"extra{len(str(value))}"] = parent.pop(last)
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    elif op == "add" and isinstance(parent[last], dict):
        parent[last]["extraField"] = copy.deepcopy(value)


_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(_VALID_PATHS),
        st.sampled_from(["delete", "set", "set", "set", "wrap", "rename", "duplicate", "add"]),
        st.sampled_from(_HOSTILE),
    ),
    min_size=1,
    max_size=4,
)


@MANY
@given(_MUTATIONS)
@pytest.mark.reliability(
    kind='bad input',
    what='a valid experiment with 1-4 fields deleted, retyped, nulled, huge, negative, NaN or unicode',
    load='hypothesis examples',
    lost='nothing; a valid experiment or path: message errors, never another exception',
)
def test_mutated_valid_experiment(mutations: list[tuple[Any, ...]]) -> None:
    doc = valid_doc()
    for path, op, value in mutations:
        _mutate(doc, path, op, value)
    outcome(_dump(doc), strict=True)


@FEW
@given(_MUTATIONS, st.integers(min_value=0, max_value=2))
def test_mutated_documents_among_others(mutations: list[tuple[Any, ...]], position: int) -> None:
    doc = valid_doc()
    for path, op, value in mutations:
        _mutate(doc, path, op, value)
    docs = [valid_doc(), valid_doc()]
    for i, other in enumerate(docs):
        other["metadata"]["name"] = f"other-{i}"
    docs.insert(position, doc)
    outcome("---\n".join(_dump(d) for d in docs), strict=True)


# --- structures that blow up: nesting, aliases, sizes -----------------------------------------


def _errors(text: str) -> list[str]:
    with pytest.raises(InvalidExperimentError) as info:
        load_experiments(text, SOURCE)
    return info.value.errors


def _experiment_with(field: str) -> str:
    """A valid experiment's YAML with ``field`` (YAML text) in its trial's pod spec."""
    doc = valid_doc()
    doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["affinity"] = "MARK"
    text = _dump(doc)
    indent = re.search(r"\n( *)affinity: MARK", text).group(1)  # type: ignore[union-attr]
    return text.replace("affinity: MARK", field.replace("\n", "\n" + indent))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 50_000 + "]" * 50_000,
        "a: " + "{a: " * 5_000 + "1" + "}" * 5_000,
        "".join(f"{'  ' * i}- \n" for i in range(2_000)),
        "".join(f"{'  ' * i}k:\n" for i in range(2_000)),
    ],
    ids=["flow-sequences", "flow-mappings", "block-sequences", "block-mappings"],
)
@pytest.mark.reliability(
    kind='bad input',
    what='YAML nested 2,000-50,000 levels deep',
    load='one file',
    lost='nothing; refused naming line and column',
)
def test_deep_nesting_is_refused_without_recursion_error(text: str) -> None:
    [error] = _errors(text)
    assert error.startswith(f"{SOURCE}: line ") and f"nested more than {MAX_DEPTH}" in error


def test_nesting_up_to_the_limit_is_fine() -> None:
    deep = "[" * (MAX_DEPTH - 9) + "]" * (MAX_DEPTH - 9)  # 9 levels down in the pod spec
    assert outcome(_experiment_with(f"affinity: {deep}"))


def test_aliases_nest_too() -> None:
    # Each level within the limit; together, through the alias, beyond it.
    half = MAX_DEPTH // 2 + 5
    text = f"a: &a {'[' * half}{']' * half}\nb: {'[' * half}*a{']' * half}\n"
    [error] = _errors(text)
    assert f"nested more than {MAX_DEPTH}" in error


@pytest.mark.reliability(
    kind='bad input',
    what='billion laughs (10^9 values through aliases)',
    load='one file',
    lost='nothing; refused at once',
)
def test_billion_laughs_is_refused_at_once() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    text = "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nspec:\n  " + "\n  ".join(lines)
    [error] = _errors(text)
    assert "excessive aliasing" in error and str(MAX_VALUES) in error


def test_a_few_aliases_are_fine() -> None:
    text = _experiment_with("affinity: &a {x: [1, 2]}\ntolerations: [*a, *a]")
    assert outcome(text)


@pytest.mark.parametrize(
    "text",
    [
        "spec: &a {trialTemplate: {trialSpec: {x: *a}}}",
        "a: &a [*a]",
        "a: &a {b: *a}",
        "a: &a [[[{b: [*a]}]]]",
    ],
)
@pytest.mark.reliability(
    kind='bad input',
    what='recursive YAML aliases',
    load='one file',
    lost='nothing; refused',
)
def test_recursive_aliases_are_refused(text: str) -> None:
    [error] = _errors(f"apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n{text}\n")
    assert "alias to a node that contains it" in error


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("affinity: !!binary gICA", "binary data (!!binary)"),
        ("affinity: !!set {a, b}", "a set (!!set)"),
        ("affinity: .nan", "the number .nan (infinite or NaN)"),
        ("affinity: [-.Inf]", "the number -.Inf (infinite or NaN)"),
    ],
)
@pytest.mark.reliability(
    kind='bad input',
    what='!!binary, !!set, .nan, -.inf in an experiment',
    load='one file each',
    lost='nothing; refused naming the field',
)
def test_values_json_cannot_hold_are_refused(field: str, message: str) -> None:
    [error] = _errors(_experiment_with(field))
    assert error.startswith(f"{SOURCE}: line ") and message in error


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\ufffe"])
def test_characters_yaml_refuses(char: str) -> None:
    [error] = _errors(f"apiVersion: kubeflow.org/v1beta1\nkind: Experiment{char}\n")
    assert error.startswith(f"{SOURCE}: line 2, column 17: invalid YAML: character #x")


def test_one_line_per_problem_whatever_the_values() -> None:
    doc = valid_doc()
    doc["metadata"]["name"] = "evil\nspec.fake: looks like another problem\x1b[2J"
    doc["spec"]["algorithm"]["algorithmName"] = "a\u2028b\rc"
    other = valid_doc()
    [first, _] = load_experiments(_dump(doc) + "---\n" + _dump(other), SOURCE)
    assert len(first.errors) == 2
    for line in first.errors:
        _check_line(line, strict=True)
    assert '"evil\\nspec.fake: looks like another problem\\x1b[2J"' in first.errors[0]
    assert '"a\\u2028b\\rc"' in first.errors[1]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(maxTrialCount=2**31), "spec.maxTrialCount: must be at most 2147483647"),
        (lambda s: s.update(parallelTrialCount=10**30), "spec.parallelTrialCount: must be at most"),
        (
            lambda s: s.update(maxFailedTrialCount=2**40),
            "spec.maxFailedTrialCount: must be at most",
        ),
        (
            lambda s: s["parameters"][0]["feasibleSpace"].update(max="9" * 5000),
            "spec.parameters[0].feasibleSpace.max: must be an integer for parameterType int",
        ),
        (
            lambda s: s["parameters"][0]["feasibleSpace"].update(max="9223372036854775808"),
            "spec.parameters[0].feasibleSpace.max: must be an integer for parameterType int",
        ),
        (
            lambda s: s["trialTemplate"]["trialSpec"].update(kind=["Job"]),
            "spec.trialTemplate.trialSpec.kind: must be a string",
        ),
        (
            lambda s: (
                s["trialTemplate"]["trialParameters"].append(
                    {"name": "x", "reference": "${trialSpec.Labels[a]}"}
                ),
                s["trialTemplate"]["trialSpec"].update(metadata={"labels": 5}),
            ),
            (
                'spec.trialTemplate.trialParameters[2].reference: "${trialSpec.Labels[a]}": '
                'spec.trialTemplate.trialSpec.metadata.labels has no key "a"'
            ),
        ),
    ],
)
def test_values_that_used_to_crash_or_pass(
    mutate: Callable[[dict[str, Any]], Any], message: str
) -> None:
    doc = valid_doc()
    mutate(doc["spec"])
    [loaded] = load_experiments(_dump(doc), SOURCE)
    assert any(e.startswith(message) for e in loaded.errors), loaded.errors


@pytest.mark.parametrize("goal", [math.nan, math.inf, -math.inf])
def test_goal_is_finite(goal: float) -> None:
    # Not from YAML (the loader refuses these numbers), but from Python or JSON read by Python.
    doc = valid_doc()
    doc["spec"]["objective"]["goal"] = goal
    errors, _ = problems(doc)
    assert errors == [f"spec.objective.goal: must be a finite number, got {goal}"]


def test_int_parameter_bounds_at_int64() -> None:
    doc = valid_doc()
    doc["spec"]["parameters"][0]["feasibleSpace"].update(
        min=str(-(2**63)), max="9223372036854775807"
    )
    [loaded] = load_experiments(_dump(doc), SOURCE)
    assert loaded.errors == []


_CONFIGMAP_EXPERIMENT = {"configMapName": "cm", "configMapNamespace": "fakens", "templatePath": "t"}


def _with_configmap(configmap: dict[str, Any]) -> str:
    doc = valid_doc()
    template = doc["spec"]["trialTemplate"]
    template["configMap"] = dict(_CONFIGMAP_EXPERIMENT)
    del template["trialSpec"]
    return _dump({"apiVersion": "v1", "kind": "ConfigMap", **configmap}) + "---\n" + _dump(doc)


@pytest.mark.parametrize(
    ("configmap", "message"),
    [
        ({"metadata": "cm", "data": 1}, "ConfigMap fakens/cm not found"),
        ({"metadata": {"name": "cm"}, "data": [1]}, 'has no key "t"'),
        ({"metadata": {"name": "cm"}, "data": {"t": "[" * 1000 + "]" * 1000}}, "nested more"),
        ({"metadata": {"name": "cm"}, "data": {"t": "a: &a [*a]"}}, "alias to a node"),
        ({"metadata": {"name": "cm"}, "data": {"t": "a: 1\na: 2"}}, "duplicate key"),
        ({"metadata": {"name": "cm"}, "data": {"t": "a: [\x00"}}, "character #x0000"),
        ({"metadata": {"name": "cm"}, "data": {"t": "- 1"}}, "must hold a Kubernetes object"),
    ],
)
@pytest.mark.reliability(
    kind='bad input',
    what='hostile ConfigMap trial templates (deep, recursive, NUL, wrong types)',
    load='one ConfigMap each',
    lost='nothing; one-line errors',
)
def test_hostile_configmaps(configmap: dict[str, Any], message: str) -> None:
    [loaded] = load_experiments(_with_configmap(configmap), SOURCE)
    assert any(message in e for e in loaded.errors), loaded.errors
    for line in loaded.errors:
        _check_line(line, strict=True)
