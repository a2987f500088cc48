"""kubeflow.org/v1beta1 resources: Experiment, Trial and Suggestion.

Plain data, no I/O. Field names are Katib's (camelCase on the wire, snake_case in Python);
unknown fields are rejected so that a typo in a YAML file is an error, not a silent no-op.
Kubernetes objects that Katib keeps unstructured (``trialSpec``, ``runSpec``, a custom collector
container, ``httpGet``) stay plain dicts.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_serializer
from pydantic.alias_generators import to_camel

API_VERSION = "kubeflow.org/v1beta1"
UNAVAILABLE_METRIC_VALUE = "unavailable"


def _whole(value: Any) -> Any:
    """5.0 as 5: JSON has one number type, and Kubernetes takes a whole one as an integer
    (an int64's: no larger)."""
    if type(value) is float and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


# JSON's types as Kubernetes' schema validation holds them for the fields a user writes:
# true is not 1, nor "5" 5 (pydantic's lax mode takes both, and bool is an int in Python).
Integer = Annotated[int, Strict(), BeforeValidator(_whole)]
Number = Annotated[float, Strict()]  # an integer is a number too
Boolean = Annotated[bool, Strict()]


def now() -> datetime:
    """Current time, truncated to seconds as Kubernetes' metav1.Time is."""
    return datetime.now(timezone.utc).replace(microsecond=0)


class KatibModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
        use_enum_values=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The resource as Katib's JSON shape (camelCase, empty fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class _Resource(KatibModel):
    """A namespaced Katib object: its name and namespace, read from its metadata (each
    subclass declares ``metadata`` after ``apiVersion`` and ``kind``, Kubernetes' field order)."""

    if TYPE_CHECKING:
        metadata: ObjectMeta

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"


@functools.lru_cache(maxsize=1024)
def _rfc3339(value: datetime | None) -> str | None:
    """Kubernetes' metav1.Time text. Cached: a resource's few timestamps are written again on
    every write of it (a trial's conditions, the experiment's), and formatting one costs ten
    times a look-up. Equal aware datetimes are the same instant, so share one text."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- common -------------------------------------------------------------------------------


class ObjectiveType(str, Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class MetricStrategyType(str, Enum):
    MIN = "min"
    MAX = "max"
    LATEST = "latest"


class ObjectMeta(KatibModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None
    managed_fields: list[dict[str, Any]] | None = None

    @field_serializer("creation_timestamp", "deletion_timestamp")
    def _ser_time(self, value: datetime | None) -> str | None:
        return _rfc3339(value)


class AlgorithmSetting(KatibModel):
    name: str | None = None
    value: str | None = None


class AlgorithmSpec(KatibModel):
    algorithm_name: str | None = None
    algorithm_settings: list[AlgorithmSetting] | None = None


class EarlyStoppingSetting(AlgorithmSetting):
    pass


class EarlyStoppingSpec(KatibModel):
    algorithm_name: str | None = None
    algorithm_settings: list[EarlyStoppingSetting] | None = None


class ComparisonType(str, Enum):
    EQUAL = "equal"
    LESS = "less"
    GREATER = "greater"


class EarlyStoppingRule(KatibModel):
    name: str | None = None
    value: str | None = None
    comparison: ComparisonType | None = None
    start_step: Integer | None = None


class MetricStrategy(KatibModel):
    name: str | None = None
    value: MetricStrategyType | None = None


class ObjectiveItem(KatibModel):
    """One objective of a multi-objective experiment (a pykatib extension)."""

    name: str | None = None
    type: ObjectiveType | None = None


class ObjectiveSpec(KatibModel):
    type: ObjectiveType | None = None
    goal: Number | None = None
    objective_metric_name: str | None = None
    additional_metric_names: list[str] | None = None
    metric_strategies: list[MetricStrategy] | None = None
    # pykatib extension: several objectives; the first one is also objectiveMetricName/type.
    objectives: list[ObjectiveItem] | None = None


class ParameterAssignment(KatibModel):
    name: str | None = None
    value: str | None = None


class Metric(KatibModel):
    name: str | None = None
    min: str | None = None
    max: str | None = None
    latest: str | None = None


class Observation(KatibModel):
    metrics: list[Metric] | None = None


class FileSystemPath(KatibModel):
    path: str | None = None
    kind: str | None = None  # File | Directory
    format: str | None = None  # TEXT | JSON


class FilterSpec(KatibModel):
    metrics_format: list[str] | None = None


class SourceSpec(KatibModel):
    http_get: dict[str, Any] | None = None
    file_system_path: FileSystemPath | None = None
    filter: FilterSpec | None = None


class CollectorSpec(KatibModel):
    kind: str | None = None
    custom_collector: dict[str, Any] | None = None


class MetricsCollectorSpec(KatibModel):
    source: SourceSpec | None = None
    collector: CollectorSpec | None = None


# --- conditions ---------------------------------------------------------------------------


class Condition(KatibModel):
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str | None = None
    message: str | None = None
    last_update_time: datetime | None = None
    last_transition_time: datetime | None = None

    @field_serializer("last_update_time", "last_transition_time")
    def _ser_time(self, value: datetime | None) -> str | None:
        return _rfc3339(value)


class _TimedStatus(KatibModel):
    start_time: datetime | None = None
    completion_time: datetime | None = None
    last_reconcile_time: datetime | None = None
    conditions: list[Condition] | None = None

    @field_serializer("start_time", "completion_time", "last_reconcile_time")
    def _ser_time(self, value: datetime | None) -> str | None:
        return _rfc3339(value)

    def condition(self, type_: str) -> Condition | None:
        for c in self.conditions or []:
            if c.type == type_:
                return c
        return None

    def has(self, type_: str) -> bool:
        c = self.condition(type_)
        return c is not None and c.status == "True"


# --- experiment ---------------------------------------------------------------------------


class FeasibleSpace(KatibModel):
    max: str | None = None
    min: str | None = None
    list_: list[str] | None = Field(default=None, alias="list")
    step: str | None = None
    distribution: str | None = None


class ParameterSpec(KatibModel):
    name: str | None = None
    parameter_type: str | None = None  # double | int | discrete | categorical
    feasible_space: FeasibleSpace = Field(default_factory=FeasibleSpace)


class ConfigMapSource(KatibModel):
    config_map_name: str | None = None
    config_map_namespace: str | None = None
    template_path: str | None = None


class TrialParameterSpec(KatibModel):
    name: str | None = None
    description: str | None = None
    reference: str | None = None


class TrialTemplate(KatibModel):
    retain: Boolean | None = None
    trial_spec: dict[str, Any] | None = None
    config_map: ConfigMapSource | None = None
    trial_parameters: list[TrialParameterSpec] | None = None
    primary_pod_labels: dict[str, str] | None = None
    primary_container_name: str | None = None
    success_condition: str | None = None
    failure_condition: str | None = None


class GraphConfig(KatibModel):
    num_layers: Integer | None = None
    input_sizes: list[Integer] | None = None
    output_sizes: list[Integer] | None = None


class Operation(KatibModel):
    operation_type: str | None = None
    parameters: list[ParameterSpec] | None = None


class NasConfig(KatibModel):
    graph_config: GraphConfig | None = None
    operations: list[Operation] | None = None


class ExperimentSpec(KatibModel):
    parameters: list[ParameterSpec] | None = None
    objective: ObjectiveSpec | None = None
    algorithm: AlgorithmSpec | None = None
    early_stopping: EarlyStoppingSpec | None = None
    trial_template: TrialTemplate | None = None
    parallel_trial_count: Integer | None = None
    max_trial_count: Integer | None = None
    max_failed_trial_count: Integer | None = None
    metrics_collector_spec: MetricsCollectorSpec | None = None
    nas_config: NasConfig | None = None
    resume_policy: str | None = None  # Never | LongRunning | FromVolume


class OptimalTrial(KatibModel):
    best_trial_name: str | None = None
    parameter_assignments: list[ParameterAssignment] | None = None
    observation: Observation | None = None


class ExperimentStatus(_TimedStatus):
    current_optimal_trial: OptimalTrial | None = None
    # pykatib extension: the Pareto set of a multi-objective experiment.
    pareto_optimal_trials: list[OptimalTrial] | None = None
    running_trial_list: list[str] | None = None
    pending_trial_list: list[str] | None = None
    failed_trial_list: list[str] | None = None
    succeeded_trial_list: list[str] | None = None
    killed_trial_list: list[str] | None = None
    early_stopped_trial_list: list[str] | None = None
    metrics_unavailable_trial_list: list[str] | None = None
    trials: int | None = None
    trials_succeeded: int | None = None
    trials_failed: int | None = None
    trials_killed: int | None = None
    trials_pending: int | None = None
    trials_running: int | None = None
    trials_early_stopped: int | None = None
    trial_metrics_unavailable: int | None = None


class Experiment(_Resource):
    api_version: str | None = API_VERSION
    kind: str | None = "Experiment"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ExperimentSpec = Field(default_factory=ExperimentSpec)
    status: ExperimentStatus = Field(default_factory=ExperimentStatus)


# --- trial --------------------------------------------------------------------------------


class TrialSpec(KatibModel):
    objective: ObjectiveSpec | None = None
    parameter_assignments: list[ParameterAssignment] | None = None
    early_stopping_rules: list[EarlyStoppingRule] | None = None
    run_spec: dict[str, Any] | None = None
    retain_run: Boolean | None = None
    metrics_collector: MetricsCollectorSpec | None = None
    primary_pod_labels: dict[str, str] | None = None
    primary_container_name: str | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    labels: dict[str, str] | None = None


class TrialStatus(_TimedStatus):
    observation: Observation | None = None


class Trial(_Resource):
    api_version: str | None = API_VERSION
    kind: str | None = "Trial"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TrialSpec = Field(default_factory=TrialSpec)
    status: TrialStatus = Field(default_factory=TrialStatus)


# --- suggestion ---------------------------------------------------------------------------


class TrialAssignment(KatibModel):
    parameter_assignments: list[ParameterAssignment] | None = None
    name: str | None = None
    early_stopping_rules: list[EarlyStoppingRule] | None = None
    labels: dict[str, str] | None = None


class SuggestionSpec(KatibModel):
    algorithm: AlgorithmSpec | None = None
    early_stopping: EarlyStoppingSpec | None = None
    requests: int | None = None
    resume_policy: str | None = None


class SuggestionStatus(_TimedStatus):
    algorithm_settings: list[AlgorithmSetting] | None = None
    suggestion_count: int | None = None
    suggestions: list[TrialAssignment] | None = None


class Suggestion(_Resource):
    api_version: str | None = API_VERSION
    kind: str | None = "Suggestion"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SuggestionSpec = Field(default_factory=SuggestionSpec)
    status: SuggestionStatus = Field(default_factory=SuggestionStatus)


# --- events -------------------------------------------------------------------------------


class ObjectReference(KatibModel):
    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None


class Event(KatibModel):
    """A core/v1 Event as the controllers record it (``kubectl describe`` lists them).

    A repeat of the same (object, type, reason, message) bumps ``count`` and ``lastTimestamp``
    instead of adding a row, as Kubernetes' event recorder aggregates.
    """

    api_version: str | None = "v1"
    kind: str | None = "Event"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    involved_object: ObjectReference = Field(default_factory=ObjectReference)
    type: str | None = "Normal"  # Normal | Warning
    reason: str | None = None
    message: str | None = None
    count: int | None = 1
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    source: dict[str, str] | None = None

    @field_serializer("first_timestamp", "last_timestamp")
    def _ser_time(self, value: datetime | None) -> str | None:
        return _rfc3339(value)
