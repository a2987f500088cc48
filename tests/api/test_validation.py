"""One failing example per rule of Katib's validating webhook (and pykatib's additions)."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from pykatib.api.models import Condition
from pykatib.api.validation import validate_experiment

from ._helpers import experiment, problems, valid_doc

Doc = dict[str, Any]


def _spec(d: Doc) -> Doc:
    return d["spec"]


def _tt(d: Doc) -> Doc:
    return d["spec"]["trialTemplate"]


def _pod(d: Doc) -> Doc:
    return d["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]


def _container(d: Doc) -> Doc:
    return _pod(d)["containers"][0]


def _fs(d: Doc, i: int = 0) -> Doc:
    return d["spec"]["parameters"][i]["feasibleSpace"]


def _collector(kind: str, **source: Any) -> Callable[[Doc], None]:
    def mutate(d: Doc) -> None:
        d["spec"]["metricsCollectorSpec"] = {"collector": {"kind": kind}, "source": source}

    return mutate


def _enas(d: Doc) -> None:
    s = d["spec"]
    s["algorithm"] = {"algorithmName": "enas"}
    s.pop("parameters")
    s["nasConfig"] = {
        "graphConfig": {"numLayers": 1, "inputSizes": [32, 32, 3], "outputSizes": [10]},
        "operations": [
            {
                "operationType": "convolution",
                "parameters": [
                    {
                        "name": "filter_size",
                        "parameterType": "categorical",
                        "feasibleSpace": {"list": ["3", "5"]},
                    }
                ],
            }
        ],
    }


def _then(*mutations: Callable[[Doc], Any]) -> Callable[[Doc], None]:
    def mutate(d: Doc) -> None:
        for m in mutations:
            m(d)

    return mutate


T = "spec.trialTemplate"
S = f"{T}.trialSpec"
POD = f"{S}.spec.template.spec"
MC = "spec.metricsCollectorSpec"

# (what is broken, how, the path the error must name)
CASES: list[tuple[str, Callable[[Doc], Any], str]] = [
    # metadata
    ("name starts with a digit", lambda d: d["metadata"].update(name="1234-test"), "metadata.name"),
    ("name too long", lambda d: d["metadata"].update(name="test-" + "x" * 40), "metadata.name"),
    ("name with a dot", lambda d: d["metadata"].update(name="my.exp"), "metadata.name"),
    ("name missing", lambda d: d["metadata"].pop("name"), "metadata.name"),
    ("namespace invalid", lambda d: d["metadata"].update(namespace="Bad_NS"), "metadata.namespace"),
    # trial counts
    (
        "negative maxFailedTrialCount",
        lambda d: _spec(d).update(maxFailedTrialCount=-1),
        "spec.maxFailedTrialCount",
    ),
    ("zero maxTrialCount", lambda d: _spec(d).update(maxTrialCount=0), "spec.maxTrialCount"),
    (
        "zero parallelTrialCount",
        lambda d: _spec(d).update(parallelTrialCount=0),
        "spec.parallelTrialCount",
    ),
    (
        "parallelTrialCount over maxTrialCount",
        lambda d: _spec(d).update(parallelTrialCount=7),
        "spec.parallelTrialCount",
    ),
    # objective
    ("objective missing", lambda d: _spec(d).pop("objective"), "spec.objective"),
    ("objective type missing", lambda d: _spec(d)["objective"].pop("type"), "spec.objective.type"),
    (
        "objective metric missing",
        lambda d: _spec(d)["objective"].pop("objectiveMetricName"),
        "spec.objective.objectiveMetricName",
    ),
    (
        "objective metric among additional ones",
        lambda d: _spec(d)["objective"].update(additionalMetricNames=["testme", "loss"]),
        "spec.objective.additionalMetricNames",
    ),
    (
        "additional metric twice",
        lambda d: _spec(d)["objective"].update(additionalMetricNames=["loss", "loss"]),
        "spec.objective.additionalMetricNames[1]",
    ),
    (
        "metric strategy twice",
        lambda d: _spec(d)["objective"].update(
            metricStrategies=[{"name": "a", "value": "min"}, {"name": "a", "value": "max"}]
        ),
        "spec.objective.metricStrategies[1].name",
    ),
    # algorithm
    ("algorithm missing", lambda d: _spec(d).pop("algorithm"), "spec.algorithm"),
    (
        "algorithm name empty",
        lambda d: _spec(d)["algorithm"].update(algorithmName=""),
        "spec.algorithm.algorithmName",
    ),
    (
        "algorithm unknown",
        lambda d: _spec(d)["algorithm"].update(algorithmName="annealing"),
        "spec.algorithm.algorithmName",
    ),
    (
        "algorithm setting twice",
        lambda d: _spec(d)["algorithm"].update(
            algorithmSettings=[
                {"name": "random_state", "value": "1"},
                {"name": "random_state", "value": "2"},
            ]
        ),
        "spec.algorithm.algorithmSettings[1].name",
    ),
    # early stopping
    (
        "early stopping name empty",
        lambda d: _spec(d)["earlyStopping"].update(algorithmName=""),
        "spec.earlyStopping.algorithmName",
    ),
    (
        "early stopping unknown",
        lambda d: _spec(d)["earlyStopping"].update(algorithmName="hyperband"),
        "spec.earlyStopping.algorithmName",
    ),
    (
        "medianstop min_trials_required 0",
        lambda d: _spec(d)["earlyStopping"]["algorithmSettings"][0].update(value="0"),
        "spec.earlyStopping.algorithmSettings.min_trials_required",
    ),
    (
        "medianstop start_step 0",
        lambda d: _spec(d)["earlyStopping"]["algorithmSettings"].append(
            {"name": "start_step", "value": "0"}
        ),
        "spec.earlyStopping.algorithmSettings.start_step",
    ),
    (
        "medianstop setting not an integer",
        lambda d: _spec(d)["earlyStopping"]["algorithmSettings"][0].update(value="two"),
        "spec.earlyStopping.algorithmSettings.min_trials_required",
    ),
    (
        "medianstop unknown setting",
        lambda d: _spec(d)["earlyStopping"]["algorithmSettings"][0].update(name="patience"),
        "spec.earlyStopping.algorithmSettings.patience",
    ),
    # resume policy
    (
        "resume policy unknown",
        lambda d: _spec(d).update(resumePolicy="Always"),
        "spec.resumePolicy",
    ),
    # search space
    ("no parameters nor nasConfig", lambda d: _spec(d).pop("parameters"), "spec.parameters"),
    (
        "parameters and nasConfig",
        lambda d: _spec(d).update(nasConfig={"operations": [{"operationType": "op1"}]}),
        "spec.nasConfig",
    ),
    (
        "parameter name missing",
        lambda d: _spec(d)["parameters"][0].pop("name"),
        "spec.parameters[0].name",
    ),
    (
        "parameter name twice",
        lambda d: _spec(d)["parameters"][1].update(name="lr"),
        "spec.parameters[1].name",
    ),
    (
        "parameter type unknown",
        lambda d: _spec(d)["parameters"][0].update(parameterType="float"),
        "spec.parameters[0].parameterType",
    ),
    (
        "parameter type missing",
        lambda d: _spec(d)["parameters"][0].pop("parameterType"),
        "spec.parameters[0].parameterType",
    ),
    (
        "distribution unknown",
        lambda d: _fs(d).update(distribution="gaussian"),
        "spec.parameters[0].feasibleSpace.distribution",
    ),
    (
        "feasible space empty",
        lambda d: _spec(d)["parameters"][0].update(feasibleSpace={}),
        "spec.parameters[0].feasibleSpace",
    ),
    (
        "list for an int",
        lambda d: _fs(d).update(list=["1"]),
        "spec.parameters[0].feasibleSpace.list",
    ),
    ("max missing", lambda d: _fs(d).pop("max"), "spec.parameters[0].feasibleSpace.max"),
    ("min missing", lambda d: _fs(d).pop("min"), "spec.parameters[0].feasibleSpace.min"),
    (
        "int min not an integer",
        lambda d: _fs(d).update(min="1.5"),
        "spec.parameters[0].feasibleSpace.min",
    ),
    (
        "double max not a number",
        lambda d: _spec(d)["parameters"][0].update(
            parameterType="double", feasibleSpace={"min": "0.1", "max": "big"}
        ),
        "spec.parameters[0].feasibleSpace.max",
    ),
    (
        "double min infinite",
        lambda d: _spec(d)["parameters"][0].update(
            parameterType="double", feasibleSpace={"min": "-inf", "max": "1"}
        ),
        "spec.parameters[0].feasibleSpace.min",
    ),
    ("min over max", lambda d: _fs(d).update(min="6"), "spec.parameters[0].feasibleSpace.min"),
    ("step zero", lambda d: _fs(d).update(step="0"), "spec.parameters[0].feasibleSpace.step"),
    (
        "int step not an integer",
        lambda d: _fs(d).update(step="0.5"),
        "spec.parameters[0].feasibleSpace.step",
    ),
    (
        "logUniform from 0",
        lambda d: _fs(d).update(min="0", distribution="logUniform"),
        "spec.parameters[0].feasibleSpace.min",
    ),
    (
        "logNormal below 0",
        lambda d: _fs(d).update(min="-1", distribution="logNormal"),
        "spec.parameters[0].feasibleSpace.min",
    ),
    (
        "max for a categorical",
        lambda d: _fs(d, 1).update(max="5"),
        "spec.parameters[1].feasibleSpace",
    ),
    (
        "empty list for a categorical",
        lambda d: _fs(d, 1).update(list=[]),
        "spec.parameters[1].feasibleSpace",
    ),
    (
        "value twice in a list",
        lambda d: _fs(d, 1).update(list=["0.9", "0.9"]),
        "spec.parameters[1].feasibleSpace.list[1]",
    ),
    (
        "discrete value not a number",
        lambda d: _spec(d)["parameters"][1].update(
            parameterType="discrete", feasibleSpace={"list": ["1", "two"]}
        ),
        "spec.parameters[1].feasibleSpace.list[1]",
    ),
    # NAS
    (
        "NAS algorithm without nasConfig",
        lambda d: _spec(d)["algorithm"].update(algorithmName="darts"),
        "spec.nasConfig",
    ),
    (
        "enas without input sizes",
        _then(_enas, lambda d: _spec(d)["nasConfig"]["graphConfig"].pop("inputSizes")),
        "spec.nasConfig.graphConfig.inputSizes",
    ),
    (
        "NAS without operations",
        _then(_enas, lambda d: _spec(d)["nasConfig"].pop("operations")),
        "spec.nasConfig.operations",
    ),
    (
        "NAS operation without type",
        _then(_enas, lambda d: _spec(d)["nasConfig"]["operations"][0].pop("operationType")),
        "spec.nasConfig.operations[0].operationType",
    ),
    (
        "NAS operation parameter without list",
        _then(
            _enas,
            lambda d: _spec(d)["nasConfig"]["operations"][0]["parameters"][0].update(
                feasibleSpace={}
            ),
        ),
        "spec.nasConfig.operations[0].parameters[0].feasibleSpace",
    ),
    (
        "nasConfig with a hyperparameter algorithm",
        _then(_enas, lambda d: _spec(d)["algorithm"].update(algorithmName="random")),
        "spec.nasConfig",
    ),
    # trial template
    ("trial template missing", lambda d: _spec(d).pop("trialTemplate"), T),
    (
        "primary container missing",
        lambda d: _tt(d).pop("primaryContainerName"),
        f"{T}.primaryContainerName",
    ),
    (
        "primary container not in the Job",
        lambda d: _tt(d).update(primaryContainerName="main"),
        f"{T}.primaryContainerName",
    ),
    ("trial parameters missing", lambda d: _tt(d).pop("trialParameters"), f"{T}.trialParameters"),
    ("neither trialSpec nor configMap", lambda d: _tt(d).pop("trialSpec"), f"{T}.trialSpec"),
    (
        "both trialSpec and configMap",
        lambda d: _tt(d).update(
            configMap={"configMapName": "c", "configMapNamespace": "n", "templatePath": "p"}
        ),
        T,
    ),
    (
        "configMap without templatePath",
        lambda d: (
            _tt(d).pop("trialSpec"),
            _tt(d).update(configMap={"configMapName": "c", "configMapNamespace": "n"}),
        ),
        f"{T}.configMap.templatePath",
    ),
    (
        "configMap not resolved",
        lambda d: (
            _tt(d).pop("trialSpec"),
            _tt(d).update(
                configMap={"configMapName": "c", "configMapNamespace": "n", "templatePath": "p"}
            ),
        ),
        f"{T}.configMap",
    ),
    (
        "trial parameter name empty",
        lambda d: _tt(d)["trialParameters"][0].update(name=""),
        f"{T}.trialParameters[0].name",
    ),
    (
        "trial parameter name with braces",
        lambda d: _tt(d)["trialParameters"][0].update(name="{invalid-name}"),
        f"{T}.trialParameters[0].name",
    ),
    (
        "trial parameter reference empty",
        lambda d: _tt(d)["trialParameters"][0].update(reference=""),
        f"{T}.trialParameters[0].reference",
    ),
    (
        "trial parameter name twice",
        lambda d: _tt(d)["trialParameters"][1].update(name="learningRate"),
        f"{T}.trialParameters[1].name",
    ),
    (
        "trial parameter reference twice",
        lambda d: _tt(d)["trialParameters"][1].update(reference="lr"),
        f"{T}.trialParameters[1].reference",
    ),
    (
        "trial parameter reference not a parameter",
        lambda d: _tt(d)["trialParameters"][1].update(reference="wrong-ref"),
        f"{T}.trialParameters[1].reference",
    ),
    (
        "trial parameter bad metadata reference",
        lambda d: _tt(d)["trialParameters"][1].update(reference="${trialSpec.Uid}"),
        f"{T}.trialParameters[1].reference",
    ),
    (
        "trial parameter label reference to a missing label",
        lambda d: _tt(d)["trialParameters"][1].update(reference="${trialSpec.Labels[team]}"),
        f"{T}.trialParameters[1].reference",
    ),
    (
        "trial parameter not used in the trialSpec",
        lambda d: _container(d)["command"].pop(),
        f"{T}.trialParameters[1].name",
    ),
    (
        "placeholder not declared",
        lambda d: _container(d)["command"].append("--extra=${trialParameters.extraParameter}"),
        S,
    ),
    (
        "trialSpec with a name",
        lambda d: _tt(d)["trialSpec"].update(metadata={"name": "x"}),
        f"{S}.metadata.name",
    ),
    (
        "trialSpec with a namespace",
        lambda d: _tt(d)["trialSpec"].update(metadata={"namespace": "x"}),
        f"{S}.metadata.namespace",
    ),
    (
        "trialSpec without apiVersion",
        lambda d: _tt(d)["trialSpec"].pop("apiVersion"),
        f"{S}.apiVersion",
    ),
    ("trialSpec without kind", lambda d: _tt(d)["trialSpec"].pop("kind"), f"{S}.kind"),
    (
        "trial kind not supported",
        lambda d: _tt(d)["trialSpec"].update(kind="Workflow"),
        f"{S}.kind",
    ),
    (
        "Job with the wrong apiVersion",
        lambda d: _tt(d)["trialSpec"].update(apiVersion="apps/v1"),
        f"{S}.apiVersion",
    ),
    (
        "Job without a template",
        lambda d: _tt(d)["trialSpec"]["spec"].pop("template"),
        f"{S}.spec.template",
    ),
    (
        "Job with an unknown field",
        lambda d: _tt(d)["trialSpec"]["spec"].update(retries=3),
        f"{S}.spec.retries",
    ),
    ("Job without containers", lambda d: _pod(d).update(containers=[]), f"{POD}.containers"),
    (
        "Job restarting always",
        lambda d: _pod(d).update(restartPolicy="Always"),
        f"{POD}.restartPolicy",
    ),
    (
        "container field misspelt",
        lambda d: _container(d).update(comand=["x"]),
        f"{POD}.containers[0].comand",
    ),
    ("container without a name", lambda d: _container(d).pop("name"), f"{POD}.containers[0].name"),
    (
        "command with a number",
        lambda d: _container(d)["command"].append(3),
        f"{POD}.containers[0].command",
    ),
    (
        "env value a number",
        lambda d: _container(d).update(env=[{"name": "N", "value": 3}]),
        f"{POD}.containers[0].env[0].value",
    ),
    # metrics collector
    ("collector kind unknown", _collector("Stdout"), f"{MC}.collector.kind"),
    (
        "collector kind empty",
        lambda d: _spec(d).update(metricsCollectorSpec={"collector": {}}),
        f"{MC}.collector.kind",
    ),
    (
        "File collector relative path",
        _collector("File", fileSystemPath={"path": "not/absolute", "kind": "File"}),
        f"{MC}.source.fileSystemPath.path",
    ),
    (
        "File collector of a directory",
        _collector("File", fileSystemPath={"path": "/var/log", "kind": "Directory"}),
        f"{MC}.source.fileSystemPath.kind",
    ),
    (
        "File collector format unknown",
        _collector("File", fileSystemPath={"path": "/a.log", "format": "CSV"}),
        f"{MC}.source.fileSystemPath.format",
    ),
    (
        "File collector JSON with a filter",
        _collector(
            "File",
            fileSystemPath={"path": "/a.json", "format": "JSON"},
            filter={"metricsFormat": ["(a)=(b)"]},
        ),
        f"{MC}.source.filter",
    ),
    (
        "TensorFlowEvent relative path",
        _collector("TensorFlowEvent", fileSystemPath={"path": "logs", "kind": "Directory"}),
        f"{MC}.source.fileSystemPath.path",
    ),
    (
        "TensorFlowEvent of a file",
        _collector("TensorFlowEvent", fileSystemPath={"path": "/logs", "kind": "File"}),
        f"{MC}.source.fileSystemPath.kind",
    ),
    (
        "TensorFlowEvent with a format",
        _collector("TensorFlowEvent", fileSystemPath={"path": "/logs", "format": "JSON"}),
        f"{MC}.source.fileSystemPath.format",
    ),
    (
        "Prometheus named port",
        _collector("PrometheusMetric", httpGet={"port": "http"}),
        f"{MC}.source.httpGet.port",
    ),
    (
        "Prometheus relative path",
        _collector("PrometheusMetric", httpGet={"port": 9090, "path": "metrics"}),
        f"{MC}.source.httpGet.path",
    ),
    ("Custom collector without container", _collector("Custom"), f"{MC}.collector.customCollector"),
    (
        "Custom collector relative path",
        lambda d: _spec(d).update(
            metricsCollectorSpec={
                "collector": {"kind": "Custom", "customCollector": {"name": "c"}},
                "source": {"fileSystemPath": {"path": "x.log", "kind": "File"}},
            }
        ),
        f"{MC}.source.fileSystemPath",
    ),
    (
        "filter not a regular expression",
        _collector("StdOut", filter={"metricsFormat": ["["]}),
        f"{MC}.source.filter.metricsFormat[0]",
    ),
    (
        "filter with one group",
        _collector("StdOut", filter={"metricsFormat": ["{metricName: ([\\w|-]+)}"]}),
        f"{MC}.source.filter.metricsFormat[0]",
    ),
    (
        "filter with non-capturing groups",
        _collector("StdOut", filter={"metricsFormat": ["(?:\\w+)=(\\d+)"]}),
        f"{MC}.source.filter.metricsFormat[0]",
    ),
]


def test_the_valid_experiment_is_valid() -> None:
    assert problems(valid_doc()) == ([], [])


@pytest.mark.parametrize(("mutate", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(mutate: Callable[[Doc], Any], path: str) -> None:
    doc = valid_doc()
    mutate(doc)
    errors, _ = problems(doc)
    assert any(e.startswith(f"{path}: ") for e in errors), errors


def test_every_error_says_path_then_message() -> None:
    for _, mutate, _ in CASES:
        doc = valid_doc()
        mutate(doc)
        for error in problems(doc)[0]:
            path, sep, message = error.partition(": ")
            assert sep and message and " " not in path, error


def test_all_problems_are_reported_at_once() -> None:
    doc = valid_doc()
    doc["metadata"]["name"] = "Bad"
    doc["spec"]["objective"]["type"] = None
    doc["spec"]["parameters"][0]["feasibleSpace"]["min"] = "9"
    doc["spec"]["trialTemplate"]["primaryContainerName"] = "main"
    errors, _ = problems(doc)
    paths = {e.split(": ")[0] for e in errors}
    assert {
        "metadata.name",
        "spec.objective.type",
        "spec.parameters[0].feasibleSpace.min",
        "spec.trialTemplate.primaryContainerName",
    } <= paths


def test_unsupported_kind_names_the_supported_ones() -> None:
    doc = valid_doc()
    doc["spec"]["trialTemplate"]["trialSpec"]["kind"] = "TrainJob"
    doc["spec"]["trialTemplate"]["trialSpec"]["apiVersion"] = "trainer.kubeflow.org/v1alpha1"
    errors, _ = problems(doc)
    assert errors == [
        (
            'spec.trialTemplate.trialSpec.kind: trial kind "TrainJob" is not supported by pykatib; '
            "supported kinds: Job (batch/v1), PyTorchJob (kubeflow.org/v1), TFJob "
            "(kubeflow.org/v1), XGBoostJob (kubeflow.org/v1), PaddleJob (kubeflow.org/v1), "
            "JAXJob (kubeflow.org/v1), MPIJob (kubeflow.org/v1)"
        )
    ]


def test_custom_trial_kinds_need_success_and_failure_conditions() -> None:
    doc = valid_doc()
    doc["spec"]["trialTemplate"]["trialSpec"].update(apiVersion="example.com/v1", kind="Runner")
    errors, _ = problems(doc, trial_kinds={"Runner": "example.com/v1"})
    assert [e.split(": ")[0] for e in errors] == [
        "spec.trialTemplate.successCondition",
        "spec.trialTemplate.failureCondition",
    ]
    doc["spec"]["trialTemplate"].update(successCondition="status.done", failureCondition="status.x")
    assert problems(doc, trial_kinds={"Runner": "example.com/v1"}) == ([], [])


def test_max_failed_over_max_trials_is_a_warning() -> None:
    doc = valid_doc()
    doc["spec"].update(maxTrialCount=2, maxFailedTrialCount=3, parallelTrialCount=2)
    errors, warnings = problems(doc)
    assert errors == []
    assert len(warnings) == 1 and warnings[0].startswith("spec.maxFailedTrialCount: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [("maxFailedTrialCount", 0), ("parallelTrialCount", 6)],
    ids=["no failure allowed", "parallel equal to max"],
)
def test_boundaries_that_katib_accepts(field: str, value: int) -> None:
    doc = valid_doc()
    doc["spec"][field] = value
    assert problems(doc) == ([], [])


def test_equal_min_and_max_is_a_fixed_value() -> None:
    doc = valid_doc()
    doc["spec"]["parameters"][0]["feasibleSpace"].update(min="3", max="3")
    assert problems(doc) == ([], [])


def test_metadata_references_are_accepted() -> None:
    doc = valid_doc()
    tt = doc["spec"]["trialTemplate"]
    tt["trialSpec"]["metadata"] = {"labels": {"team": "ml"}, "annotations": {"a": "b"}}
    refs = ["Name", "Namespace", "Kind", "APIVersion", "Labels[team]", "Annotations[a]"]
    for i, ref in enumerate(refs):
        tt["trialParameters"].append({"name": f"meta{i}", "reference": f"${{trialSpec.{ref}}}"})
        _container(doc)["command"].append(f"--{ref}=${{trialParameters.meta{i}}}")
    assert problems(doc) == ([], [])


def test_nas_examples_reference_what_the_algorithm_provides() -> None:
    # Like Katib, references are not checked against spec.parameters when there are none (NAS).
    doc = valid_doc()
    _enas(doc)
    assert problems(doc) == ([], [])


def test_unresolved_configmap_passes_when_not_required() -> None:
    doc = valid_doc()
    tt = doc["spec"]["trialTemplate"]
    tt.pop("trialSpec")
    tt.update(
        configMap={"configMapName": "c", "configMapNamespace": "n", "templatePath": "p"},
        successCondition="x",
        failureCondition="y",
    )
    assert problems(doc, require_trial_spec=False) == ([], [])


# --- updates ------------------------------------------------------------------------------


def _stored(**status: Any) -> Any:
    old = experiment(valid_doc())
    for name, value in status.items():
        setattr(old.status, name, value)
    return old


def _succeeded(reason: str) -> list[Condition]:
    return [Condition(type="Succeeded", status="True", reason=reason)]


def test_update_of_the_trial_counts_is_allowed() -> None:
    new = experiment(valid_doc())
    new.spec.parallel_trial_count = 1
    new.spec.max_trial_count = 10
    new.spec.max_failed_trial_count = 2
    assert validate_experiment(new, _stored(trials=3)) == ([], [])


def test_update_of_another_field_names_it() -> None:
    doc = valid_doc()
    doc["spec"]["algorithm"]["algorithmName"] = "grid"
    doc["spec"]["parameters"][1]["feasibleSpace"]["list"] = ["0.9"]
    errors, _ = validate_experiment(experiment(doc), _stored())
    assert sorted(e.split(": ")[0] for e in errors) == ["spec.algorithm", "spec.parameters"]


def test_update_cannot_lower_max_trials_to_the_trials_made() -> None:
    new = experiment(valid_doc())
    new.spec.max_trial_count = 4
    errors, _ = validate_experiment(new, _stored(trials=4))
    assert [e.split(": ")[0] for e in errors] == ["spec.maxTrialCount"]


def test_completed_experiment_restarts_only_when_resumable() -> None:
    new = experiment(valid_doc())
    new.spec.max_trial_count = 10
    old = _stored(trials=6, conditions=_succeeded("ExperimentGoalReached"))
    errors, _ = validate_experiment(new, old)
    assert [e.split(": ")[0] for e in errors] == ["spec.resumePolicy"]

    for policy in ("LongRunning", "FromVolume"):
        old = _stored(trials=6, conditions=_succeeded("ExperimentMaxTrialsReached"))
        old.spec.resume_policy = new.spec.resume_policy = policy
        assert validate_experiment(new, old) == ([], [])


def test_unchanged_completed_experiment_is_fine() -> None:
    old = _stored(trials=6, conditions=_succeeded("ExperimentGoalReached"))
    assert validate_experiment(experiment(valid_doc()), old) == ([], [])


# --- the algorithm's own checks -----------------------------------------------------------


def test_algorithm_settings_are_checked_by_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def validate_algorithm(name: str, exp: Any) -> list[str]:
        calls.append(name)
        return ["spec.algorithm.algorithmSettings[0].value: random_state must be an integer"]

    registry = types.ModuleType("pykatib.suggest.registry")
    registry.validate_algorithm = validate_algorithm  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "pykatib.suggest.registry", registry)

    assert problems(valid_doc())[0] == [
        "spec.algorithm.algorithmSettings[0].value: random_state must be an integer"
    ]
    # It runs last, only on an otherwise valid experiment (it builds the search space).
    doc = valid_doc()
    doc["spec"]["parameters"][0]["feasibleSpace"]["min"] = "x"
    assert [e.split(": ")[0] for e in problems(doc)[0]] == ["spec.parameters[0].feasibleSpace.min"]
    assert calls == ["random"]


# --- metrics filters are RE2, Go's regexp syntax (validator.go:557-571) -------------------

FILTER_PATH = "spec.metricsCollectorSpec.source.filter.metricsFormat"


@pytest.mark.parametrize(
    ("pattern", "unsupported"),
    [
        (r"(?<=loss)(=)(\d+)", "invalid perl operator: (?<="),
        (r"(?!x)(\w+)=(\d+)", "invalid perl operator: (?!"),
        (r"(\w+)=(\d+)\1", "invalid escape sequence: \\1"),
    ],
    ids=["look-behind", "negative look-ahead", "backreference"],
)
def test_python_only_filter_syntax_is_an_error(pattern: str, unsupported: str) -> None:
    doc = valid_doc()
    _collector("StdOut", filter={"metricsFormat": [r"([\w|-]+)=(\S+)", pattern]})(doc)
    errors, _ = problems(doc)
    [error] = errors
    assert error.startswith(f"{FILTER_PATH}[1]: invalid regular expression ({unsupported})")
    assert "RE2 syntax" in error and "look-behind" in error and "backreferences" in error


@pytest.mark.parametrize(
    "pattern",
    [
        r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)",  # Katib's default
        r"(\p{L}+)\s*=\s*(\d+)",
        r"\Q{\E([[:alpha:]]+)=(\d+)\}\z",
        r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}",
    ],
    ids=["default", "unicode class", "go only syntax", "katib example"],
)
def test_re2_filters_are_accepted(pattern: str) -> None:
    doc = valid_doc()
    _collector("StdOut", filter={"metricsFormat": [pattern]})(doc)
    assert problems(doc) == ([], [])
