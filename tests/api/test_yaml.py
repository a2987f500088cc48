"""Experiment files: loading, model errors with wire-name paths, ConfigMaps, and YAML output."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pykatib.api.errors import InvalidExperimentError, PykatibError
from pykatib.api.trial_template import CONFIGMAP_ANNOTATION
from pykatib.api.yaml import dump_yaml, load_documents, parse_configmaps, parse_experiments

from ._helpers import valid_doc


def text_of(*docs: dict[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def line_of_document(text: str, n: int) -> int:
    """The line where document ``n`` (from 1) of a ``text_of`` text starts."""
    separators = [i for i, line in enumerate(text.splitlines()) if line == "---"]
    return 1 if n == 1 else separators[n - 2] + 2


def errors_of(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(InvalidExperimentError) as info:
        parse_experiments(text, "exp.yaml", **kwargs)
    return info.value.errors


def test_a_valid_file() -> None:
    [(exp, warnings)] = parse_experiments(text_of(valid_doc()), "exp.yaml")
    assert exp.name == "fake" and warnings == []
    assert exp.spec.parallel_trial_count == 3  # defaulted


# --- YAML ---------------------------------------------------------------------------------


def test_syntax_error_names_the_line() -> None:
    text = "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: {name: x\nspec: {}\n"
    errors = errors_of(text)
    assert len(errors) == 1
    assert errors[0].startswith("exp.yaml: line ") and "invalid YAML" in errors[0]

    text = "kind: Experiment\nspec:\n  objective: a\n   type: b\n"
    [error] = errors_of(text)
    assert error.startswith("exp.yaml: line 4, column 8: invalid YAML: ")


def test_duplicate_keys_are_errors() -> None:
    text = "kind: Experiment\nspec:\n  maxTrialCount: 3\n  maxTrialCount: 4\n"
    [error] = errors_of(text)
    assert error.startswith("exp.yaml: line 4, column 3: ") and '"maxTrialCount"' in error


def test_yaml_merge_keys_still_work() -> None:
    docs = load_documents("a: &base {x: 1, y: 2}\nb:\n  <<: *base\n  y: 3\n")
    assert docs == [{"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 3}}]


def test_load_documents_skips_empty_documents() -> None:
    text = "---\n# only a comment\n---\na: 1\n---\n---\nb: 2\n"
    assert load_documents(text) == [{"a": 1}, {"b": 2}]


def test_load_documents_wants_mappings() -> None:
    with pytest.raises(InvalidExperimentError) as info:
        load_documents("a: 1\n---\n- 1\n- 2\n")
    assert info.value.errors == [
        "document 2 (line 3): expected a Kubernetes object (a mapping), got list"
    ]


def test_error_hierarchy() -> None:
    err = InvalidExperimentError(["a: one", "b: two"], "f.yaml")
    assert isinstance(err, PykatibError)
    assert str(err) == "a: one\nb: two" and err.source == "f.yaml"


# --- documents ----------------------------------------------------------------------------


def test_other_kinds_and_api_versions_are_errors() -> None:
    trial = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Trial", "metadata": {"name": "t"}}
    old = valid_doc()
    old["apiVersion"] = "kubeflow.org/v1alpha3"
    text = text_of(trial, old)
    errors = errors_of(text)
    assert len(errors) == 2
    assert errors[0].startswith('document 1 (line 1, trial "t"): kind: "Trial" cannot be applied')
    line = line_of_document(text, 2)
    assert errors[1].startswith(f'document 2 (line {line}, experiment "fake"): apiVersion: ')


def test_problems_of_every_document_are_collected() -> None:
    first, second = valid_doc(), valid_doc()
    first["metadata"]["name"] = "first"
    first["spec"]["maxTrialCount"] = 0
    second["metadata"]["name"] = "second"
    second["spec"]["algorithm"]["algorithmName"] = "nope"
    text = text_of(first, second)
    second_line = line_of_document(text, 2)
    errors = errors_of(text)
    assert errors[0].startswith('document 1 (line 1, experiment "first"): spec.maxTrialCount: ')
    assert errors[1].startswith(
        f'document 2 (line {second_line}, experiment "second"): spec.algorithm.algorithmName: '
    )


def test_an_experiment_twice_in_a_file() -> None:
    text = text_of(valid_doc(), valid_doc())
    assert errors_of(text) == [
        (
            f'document 2 (line {line_of_document(text, 2)}, experiment "fake"): metadata.name: '
            'experiment fakens/fake is also in document 1 (line 1, experiment "fake")'
        )
    ]


def test_warnings_come_with_their_experiment() -> None:
    doc = valid_doc()
    doc["spec"].update(maxTrialCount=2, maxFailedTrialCount=5, parallelTrialCount=1)
    [(_, warnings)] = parse_experiments(text_of(doc))
    assert len(warnings) == 1 and warnings[0].startswith("spec.maxFailedTrialCount: ")


def test_empty_values_are_absent() -> None:
    text = text_of(valid_doc()).replace("goal: 0.11", "goal:")
    [(exp, _)] = parse_experiments(text)
    assert exp.spec.objective is not None and exp.spec.objective.goal is None


# --- model errors -------------------------------------------------------------------------


def test_unknown_field_lists_the_allowed_ones() -> None:
    doc = valid_doc()
    doc["spec"]["foo"] = 1
    [error] = errors_of(text_of(doc))
    assert error.startswith('spec.foo: unknown field "foo"; allowed: parameters, objective, ')


@pytest.mark.parametrize(
    ("where", "key", "path", "suggestion"),
    [
        (("spec",), "parallelTrialCont", "spec.parallelTrialCont", "parallelTrialCount"),
        (("spec",), "parallel_trial_count", "spec.parallel_trial_count", "parallelTrialCount"),
        (
            ("spec", "parameters", 0, "feasibleSpace"),
            "mn",
            "spec.parameters[0].feasibleSpace.mn",
            "min",
        ),
        (
            ("spec", "trialTemplate"),
            "primaryContainer",
            "spec.trialTemplate.primaryContainer",
            "primaryContainerName",
        ),
    ],
)
def test_unknown_field_suggests_the_right_name(
    where: tuple[Any, ...], key: str, path: str, suggestion: str
) -> None:
    doc = valid_doc()
    target: Any = doc
    for part in where:
        target = target[part]
    target[key] = "3"
    errors = errors_of(text_of(doc))
    assert f'{path}: unknown field "{key}"; did you mean "{suggestion}"?' in errors


def test_number_where_katib_wants_a_string() -> None:
    text = text_of(valid_doc()).replace("min: '1'", "min: 1")
    assert errors_of(text) == [
        'spec.parameters[0].feasibleSpace.min: must be a string; write it in quotes: "1"'
    ]


def test_model_errors_do_not_hide_the_other_problems() -> None:
    doc = valid_doc()
    doc["spec"]["objectiv"] = {}
    doc["spec"]["parallelTrialCount"] = -1
    doc["spec"]["parameters"][0]["feasibleSpace"]["min"] = "abc"
    doc["spec"]["parameters"][1]["feasibleSpace"]["list"] = [0.9, 0.8]
    errors = errors_of(text_of(doc))
    assert [e.split(": ")[0] for e in errors] == [
        "spec.parameters[1].feasibleSpace.list[0]",
        "spec.parameters[1].feasibleSpace.list[1]",
        "spec.objectiv",
        "spec.parallelTrialCount",
        "spec.parameters[0].feasibleSpace.min",
    ]


def test_wrong_types_name_the_path() -> None:
    doc = valid_doc()
    doc["spec"]["maxTrialCount"] = "many"
    doc["spec"]["objective"]["type"] = "maximise"
    errors = errors_of(text_of(doc))
    assert [e.split(": ")[0] for e in errors] == ["spec.objective.type", "spec.maxTrialCount"]


# --- ConfigMap sources --------------------------------------------------------------------

TEMPLATE = """\
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
        - name: training-container
          image: ghcr.io/kubeflow/katib/pytorch-mnist-cpu:latest
          command:
            - python3
            - --lr=${trialParameters.learningRate}
            - --momentum=${trialParameters.momentum}
      restartPolicy: Never
"""


def configmap(namespace: str | None = "fakens", key: str = "job.yaml") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "trial-templates"}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {key: TEMPLATE}}


def from_configmap() -> dict[str, Any]:
    doc = valid_doc()
    tt = doc["spec"]["trialTemplate"]
    tt.pop("trialSpec")
    tt["configMap"] = {
        "configMapName": "trial-templates",
        "configMapNamespace": "fakens",
        "templatePath": "job.yaml",
    }
    return doc


def test_configmap_in_the_same_file_is_resolved() -> None:
    [(exp, _)] = parse_experiments(text_of(configmap(), from_configmap()))
    tt = exp.spec.trial_template
    assert tt is not None and tt.config_map is None
    assert tt.trial_spec == yaml.safe_load(TEMPLATE)
    assert tt.success_condition  # defaulted as a Job once resolved
    annotations = exp.metadata.annotations or {}
    assert annotations[CONFIGMAP_ANNOTATION] == "fakens/trial-templates:job.yaml"


def test_configmap_given_apart_is_resolved() -> None:
    for cm in (configmap(), configmap(namespace=None)):
        [(exp, _)] = parse_experiments(text_of(from_configmap()), configmaps=[cm])
        assert exp.spec.trial_template and exp.spec.trial_template.trial_spec


def test_missing_configmap_says_how_to_pass_it() -> None:
    errors = errors_of(text_of(from_configmap()), configmaps=[configmap(namespace="other")])
    assert errors == [
        (
            "spec.trialTemplate.configMap: ConfigMap fakens/trial-templates not found; "
            "pass it with --configmap FILE"
        )
    ]


def test_missing_configmap_may_be_allowed() -> None:
    doc = from_configmap()
    doc["spec"]["trialTemplate"].update(successCondition="a", failureCondition="b")
    [(exp, _)] = parse_experiments(text_of(doc), require_trial_spec=False)
    assert exp.spec.trial_template and exp.spec.trial_template.config_map


def test_configmap_without_the_template_path() -> None:
    text = text_of(configmap(key="other.yaml"), from_configmap())
    assert errors_of(text) == [
        (
            f'document 2 (line {line_of_document(text, 2)}, experiment "fake"): '
            "spec.trialTemplate.configMap.templatePath: "
            'ConfigMap fakens/trial-templates has no key "job.yaml" (keys: other.yaml)'
        )
    ]


def test_resolved_template_is_validated() -> None:
    cm = configmap()
    cm["data"]["job.yaml"] = TEMPLATE.replace("learningRate", "rate")
    errors = errors_of(text_of(from_configmap()), configmaps=[cm])
    assert [e.split(": ")[0] for e in errors] == [
        "spec.trialTemplate.trialParameters[0].name",
        "spec.trialTemplate.trialSpec",
    ]


def test_parse_configmaps_returns_only_configmaps() -> None:
    assert parse_configmaps(text_of(valid_doc(), configmap())) == [configmap()]
    with pytest.raises(InvalidExperimentError):
        parse_configmaps(text_of({"kind": "ConfigMap", "metadata": {}, "data": {"a": 1}}))


# --- output -------------------------------------------------------------------------------


def test_dump_yaml_is_block_style_in_katib_order() -> None:
    [(exp, _)] = parse_experiments(text_of(valid_doc()))
    out = dump_yaml(exp)
    assert out.startswith("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata:\n")
    assert "{" not in out.replace("${", "").replace("{}", "")  # only empty mappings in flow style
    assert out.index("parameters:") < out.index("objective:") < out.index("trialTemplate:")
    [(again, _)] = parse_experiments(out)
    assert again == exp


def test_dump_yaml_writes_multiline_strings_as_literals() -> None:
    assert dump_yaml({"script": "a\nb\n", "n": 1}) == "script: |\n  a\n  b\nn: 1\n"
    assert dump_yaml([{"b": 1, "a": 2}]) == "- b: 1\n  a: 2\n"


def test_configmap_template_must_be_yaml_of_an_object() -> None:
    for template in ("a: [1\n", "- just\n- a list\n"):
        cm = configmap()
        cm["data"]["job.yaml"] = template
        [error] = errors_of(text_of(from_configmap()), configmaps=[cm])
        assert error.startswith('spec.trialTemplate.configMap: key "job.yaml" of ConfigMap ')


# --- one document at a time (apply) ---------------------------------------------------------


def test_load_experiments_keeps_each_documents_problems_apart() -> None:
    from pykatib.api.yaml import load_experiments

    first, second, third = valid_doc(), valid_doc(), valid_doc()
    first["metadata"]["name"] = "first"
    second["metadata"]["name"] = "second"
    second["spec"]["maxTrialCount"] = 0
    third["metadata"]["name"] = "third"
    trial = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Trial", "metadata": {"name": "t"}}
    cm = configmap()
    text = text_of(first, second, cm, trial, third)
    docs = load_experiments(text, "exp.yaml")
    # The ConfigMap is not among them; every other document is, in file order.
    assert [d.where for d in docs] == [
        'document 1 (line 1, experiment "first"): ',
        f'document 2 (line {line_of_document(text, 2)}, experiment "second"): ',
        f'document 4 (line {line_of_document(text, 4)}, trial "t"): ',
        f'document 5 (line {line_of_document(text, 5)}, experiment "third"): ',
    ]
    valid = [d.experiment.name for d in docs if d.experiment is not None and not d.errors]
    assert valid == ["first", "third"]
    assert [len(d.errors) for d in docs] == [0, 1, 1, 0]
    assert docs[1].errors[0].startswith(docs[1].where + "spec.maxTrialCount: ")
    assert docs[2].experiment is None and 'kind: "Trial" cannot be applied' in docs[2].errors[0]
    # parse_experiments is the same, all or nothing.
    assert errors_of(text) == docs[1].errors + docs[2].errors


def test_load_experiments_of_one_document_has_no_prefix() -> None:
    from pykatib.api.yaml import load_experiments

    doc = valid_doc()
    doc["spec"]["maxTrialCount"] = 0
    [loaded] = load_experiments(text_of(doc))
    assert loaded.where == "" and loaded.errors[0].startswith("spec.maxTrialCount: ")
    assert loaded.experiment is not None and loaded.experiment.name == "fake"


def test_load_experiments_raises_only_when_the_file_is_not_yaml() -> None:
    from pykatib.api.yaml import load_experiments

    with pytest.raises(InvalidExperimentError) as info:
        load_experiments(text_of(valid_doc()) + "---\nkind: [unclosed\n", "exp.yaml")
    assert "invalid YAML" in info.value.errors[0]
