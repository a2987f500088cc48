"""The experiment :meth:`KatibClient.tune` makes: a Job trial running a Python function.

As the Katib SDK does, the function's source text (not a pickle) is shipped in the trial's
command, followed by a call with one dict. Unlike the Katib SDK, whose function receives every
tuned value as a string, the values arrive typed: a float for ``double``, an int for ``int``, the
original value (as given to ``search.categorical`` / ``search.discrete``) for ``categorical`` and
``discrete``. The values travel as ``name=value`` arguments of the trial's process (no shell and
no Python source in between, so no value can be mistaken for code); the script reads them back
with the types it was written with. The process is this interpreter (``sys.executable``), so the
function sees the packages of this environment.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pykatib.api.models import ParameterSpec
from pykatib.sdk.documents import plain
from pykatib.sdk.search import SearchSpace

PRIMARY_CONTAINER_NAME = "training-container"  # the Katib SDK's
# Katib's ``metrics_collector_config`` for tune(): ``{"kind": ...}``; also taken as a
# metricsCollectorSpec (``{"collector": {"kind": ...}, "source": ...}``).
DEFAULT_METRICS_COLLECTOR = {"kind": "StdOut"}

# Reads the trial's name=value arguments back into the function's dict; {types}, {choices} and
# {fixed} are written by tune() (JSON, and a checked Python literal).
_CALL = """
def _pykatib_parameters(argv):
    import json
    types = json.loads({types!r})
    choices = json.loads({choices!r})
    values = dict({fixed})
    for arg in argv:
        name, _, text = arg.partition("=")
        kind = types[name]
        if kind == "double":
            values[name] = float(text)
        elif kind == "int":
            values[name] = int(text)
        elif text in choices.get(name, {{}}):
            values[name] = choices[name][text]
        elif kind == "discrete":
            values[name] = float(text) if "." in text or "e" in text.lower() else int(text)
        else:
            values[name] = text
    return values


if __name__ == "__main__":
    import sys

    {function}(_pykatib_parameters(sys.argv[1:]))
"""


def objective_script(
    objective: Callable[..., Any], parameters: Mapping[str, Any]
) -> tuple[str, list[ParameterSpec], list[str]]:
    """The trial's Python program, the experiment's parameters (named) and the program's
    arguments (with ``${trialParameters.NAME}`` placeholders)."""
    source = _source(objective)
    types: dict[str, str] = {}
    choices: dict[str, dict[str, Any]] = {}
    fixed: dict[str, Any] = {}
    specs: list[ParameterSpec] = []
    for name, value in parameters.items():
        if isinstance(value, ParameterSpec):
            spec = value.model_copy(deep=True)
            spec.name = name
            specs.append(spec)
            types[name] = spec.parameter_type or ""
            if spec.parameter_type in ("categorical", "discrete"):
                choices[name] = _originals(value)
        else:
            fixed[name] = value
    if not specs:
        raise ValueError(
            "parameters: no search space: give at least one value from pykatib.search "
            '(e.g. {"lr": search.double(min=0.01, max=0.1)})'
        )
    call = _CALL.format(
        types=json.dumps(types),
        choices=json.dumps(choices),
        fixed=_literal(fixed),
        function=objective.__name__,
    )
    args = [f"{s.name}=${{trialParameters.{s.name}}}" for s in specs]
    return f"{source}\n{call}", specs, args


def _source(objective: Callable[..., Any]) -> str:
    if not callable(objective) or not inspect.isfunction(objective):
        raise ValueError(f"objective must be a function, got {type(objective).__name__}")
    if objective.__name__ == "<lambda>":
        raise ValueError("objective must be a function defined with def, not a lambda")
    try:
        inspect.signature(objective).bind({})
    except TypeError:
        raise ValueError(
            "objective must take one argument, the dict of parameters; its signature is "
            f"{inspect.signature(objective)}"
        ) from None
    try:
        source = inspect.getsource(objective)
    except (OSError, TypeError) as exc:
        raise ValueError(
            f"the source of objective {objective.__name__!r} can't be read ({exc}): define it "
            "in a file or a notebook cell"
        ) from None
    return textwrap.dedent(source)


def _originals(spec: ParameterSpec) -> dict[str, Any]:
    """``str(value) -> value`` of a list's values that JSON keeps as they are."""
    originals = spec.values if isinstance(spec, SearchSpace) else []
    found: dict[str, Any] = {}
    for value in originals:
        if isinstance(value, (str, int, float, bool)) or value is None:
            found[str(value)] = value
    return found


def _literal(values: dict[str, Any]) -> str:
    """``values`` as Python source, refused unless it is a plain literal (the Katib SDK writes
    the dict's repr into the program too)."""
    text = repr(values)
    try:
        same = ast.literal_eval(text) == values
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise ValueError(
            "parameters: values other than pykatib.search spaces are passed to the function as "
            f"written in its program, so they must be Python literals; got {text}"
        )
    return text


def experiment_document(
    name: str,
    objective: Callable[..., Any],
    parameters: Mapping[str, Any],
    *,
    image: str,
    env_per_trial: Any,
    algorithm_name: str,
    algorithm_settings: Mapping[str, Any] | Sequence[Any] | None,
    objective_metric_name: str | None,
    additional_metric_names: Sequence[str],
    objective_type: str,
    objective_goal: float | None,
    max_trial_count: int | None,
    parallel_trial_count: int | None,
    max_failed_trial_count: int | None,
    resources_per_trial: Any,
    retain_trials: bool,
    metrics_collector_config: Mapping[str, Any] | None,
    trial_active_deadline_seconds: int | None,
) -> dict[str, Any]:
    """The experiment ``tune`` creates, as Katib's JSON (the Katib SDK's arguments)."""
    script, specs, args = objective_script(objective, parameters)
    if isinstance(algorithm_settings, Mapping):
        settings = [{"name": str(k), "value": str(v)} for k, v in algorithm_settings.items()]
    else:
        settings = [plain(s) for s in algorithm_settings or []]
    spec = {
        "objective": {
            "type": objective_type,
            "objectiveMetricName": objective_metric_name,
            "additionalMetricNames": list(additional_metric_names) or None,
            "goal": objective_goal,
        },
        "algorithm": {"algorithmName": algorithm_name, "algorithmSettings": settings or None},
        "maxTrialCount": max_trial_count,
        "parallelTrialCount": parallel_trial_count,
        "maxFailedTrialCount": max_failed_trial_count,
        "metricsCollectorSpec": metrics_collector(metrics_collector_config),
        "parameters": [s.to_dict() for s in specs],
        "trialTemplate": trial_template(
            script,
            args,
            specs,
            image=image,
            env=env_list(env_per_trial),
            resources=resources(resources_per_trial),
            retain=retain_trials,
            active_deadline_seconds=trial_active_deadline_seconds,
        ),
    }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": _without_nones(spec),
    }


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nones(v) for k, v in value.items() if v is not None}
    return value


def trial_template(
    script: str,
    args: Sequence[str],
    specs: Sequence[ParameterSpec],
    *,
    image: str,
    env: list[dict[str, Any]] | None,
    resources: dict[str, Any] | None,
    retain: bool,
    active_deadline_seconds: int | None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": PRIMARY_CONTAINER_NAME,
        "image": image,
        "command": [sys.executable, "-u", "-c", script],
        "args": list(args),
    }
    if env:
        container["env"] = env
    if resources:
        container["resources"] = resources
    job_spec: dict[str, Any] = {
        "template": {"spec": {"containers": [container], "restartPolicy": "Never"}}
    }
    if active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = active_deadline_seconds
    template: dict[str, Any] = {
        "primaryContainerName": PRIMARY_CONTAINER_NAME,
        "trialParameters": [{"name": s.name, "reference": s.name} for s in specs],
        "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": job_spec},
    }
    if retain:
        template["retain"] = True
    return template


def env_list(env_per_trial: Any) -> list[dict[str, Any]] | None:
    """Katib's ``env_per_trial``: a dict, or a list of env vars (dicts or objects with
    ``name``/``value``, as kubernetes' V1EnvVar)."""
    if not env_per_trial:
        return None
    if isinstance(env_per_trial, Mapping):
        return [{"name": str(k), "value": str(v)} for k, v in env_per_trial.items()]
    env = []
    for item in env_per_trial:
        if isinstance(item, Mapping) and "name" in item:
            env.append({"name": str(item["name"]), "value": str(item.get("value", ""))})
        elif hasattr(item, "name") and hasattr(item, "value"):
            env.append({"name": str(item.name), "value": str(item.value)})
        else:
            raise ValueError(f"Incorrect value for env_per_trial: {env_per_trial}")
    return env


def resources(resources_per_trial: Any) -> dict[str, Any] | None:
    """Katib's ``resources_per_trial`` as a container's resources: a dict of ``cpu``, ``memory``
    and ``gpu`` (``nvidia.com/gpu``; other keys ignored, as the Katib SDK does) is both the
    requests and the limits, as the Katib SDK sets them."""
    if not resources_per_trial:
        return None
    if isinstance(resources_per_trial, Mapping):
        if set(resources_per_trial) <= {"requests", "limits"}:
            return dict(resources_per_trial)
        names = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia.com/gpu"}
        amounts = {names[k]: v for k, v in resources_per_trial.items() if k in names}
        return {"requests": dict(amounts), "limits": dict(amounts)}
    to_dict = getattr(resources_per_trial, "to_dict", None)
    if callable(to_dict):
        return {k: v for k, v in to_dict().items() if v}
    raise ValueError(f"Incorrect value for resources_per_trial: {resources_per_trial!r}")


def metrics_collector(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Katib's ``metrics_collector_config`` as a metricsCollectorSpec."""
    config = config or DEFAULT_METRICS_COLLECTOR
    if "collector" in config or "source" in config:
        return dict(config)
    return {"collector": dict(config)}
