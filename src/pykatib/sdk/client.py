"""``KatibClient``: the Katib Python SDK's client, on pykatib.

Method names, arguments and defaults are ``kubeflow.katib.KatibClient``'s, so code written for it
runs here; objects come back as pykatib's models (:class:`~pykatib.api.models.Experiment`,
``Trial``, ``Suggestion``, ``OptimalTrial``...) with the Katib SDK's attribute names
(``exp.status.current_optimal_trial.best_trial_name``) and Katib's JSON from ``to_dict()``.
Errors are both pykatib's and the Katib SDK's (:mod:`pykatib.sdk.errors`). Arguments that only a
Kubernetes API server gives a meaning to (``timeout``, ``apiserver_timeout``,
``db_manager_address``, ``delete_options``) are accepted and ignored.

Embedded (the default) the client works on the local store (``db``, default SQLite in ``home``,
default ``$PYKATIB_HOME``) and runs the control plane on background threads of this process: every
unfinished experiment it creates, edits or waits for is driven until it completes, and
:meth:`KatibClient.close` (or the end of the interpreter) stops its trials and leaves it
resumable (the next client, or ``pykatib run``, goes on with it). With ``server=URL`` it talks
to ``pykatib server`` instead (:mod:`pykatib.sdk.remote`), whose control plane drives everything.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pykatib.api.models import Condition, Experiment, OptimalTrial, Suggestion, Trial
from pykatib.control import status as st
from pykatib.sdk import tune as tuning
from pykatib.sdk.documents import ExperimentDocument, experiment_document
from pykatib.sdk.errors import katib_errors
from pykatib.sdk.metric_log import MetricLog
from pykatib.sdk.progress import WaitDisplay
from pykatib.sdk.transport import Transport

DEFAULT_NAMESPACE = "default"
DEFAULT_TIMEOUT = 120  # the Katib SDK's API server timeout (ignored here)
# The Katib SDK polls every 15 s; the local store is cheap to read.
DEFAULT_POLLING_INTERVAL = 1.0
# How long edit_experiment_budget waits for a restart to be picked up by the control plane.
RESTART_WAIT_SECONDS = 60.0
CONDITIONS = ("Created", "Running", "Restarting", "Succeeded", "Failed")


class KatibClient:
    """Create, watch and tune Katib experiments from Python.

    ``namespace`` is the default of every method's ``namespace``. With ``server`` (default
    ``$PYKATIB_SERVER``), a ``pykatib server``'s URL, and its ``token`` (default
    ``$PYKATIB_TOKEN``), the client talks to that server; else it runs embedded: ``db`` is a
    database URL (default ``$PYKATIB_DB``, else SQLite in ``home``, default ``$PYKATIB_HOME`` or
    ``~/.pykatib``). ``transport`` replaces either. The Katib SDK's ``config_file``, ``context``
    and ``client_configuration`` (a kubeconfig) are refused.
    """

    def __init__(
        self,
        config_file: str | None = None,
        context: str | None = None,
        client_configuration: Any = None,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        db: str | None = None,
        home: str | Path | None = None,
        server: str | None = None,
        token: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        if config_file is not None or context is not None or client_configuration is not None:
            raise ValueError(
                "config_file, context and client_configuration point the Katib SDK at a "
                "Kubernetes cluster; pykatib's KatibClient runs embedded (leave them out, and "
                "use db= or home= to choose the local store)"
            )
        self.namespace = namespace
        server = server or os.environ.get("PYKATIB_SERVER")
        if transport is None and server:
            from pykatib.sdk.remote import Remote

            transport = Remote(server, token or os.environ.get("PYKATIB_TOKEN"))
        elif transport is None:
            from pykatib.sdk.embedded import Embedded

            transport = Embedded(db=db, home=home)
        self.transport: Transport = transport
        self._closed = False
        atexit.register(self.close)

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the control plane this client runs (its running trials are stopped and will
        start again when the experiment is driven again); idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.transport.close()

    def __enter__(self) -> KatibClient:  # noqa: PYI034
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- experiments -----------------------------------------------------------------------

    def create_experiment(
        self,
        experiment: Experiment | Mapping[str, Any] | str | os.PathLike[str],
        namespace: str | None = None,
    ) -> Experiment:
        """Create an experiment: a pykatib :class:`Experiment`, a dict of Katib's JSON (or a
        Katib SDK ``V1beta1Experiment``), YAML text, or the path of a YAML file (whose ConfigMap
        documents serve its ``trialTemplate.configMap``; trials run in its folder, else in the
        current one). Defaulted, validated and admitted as ``pykatib apply`` does; returns the
        stored experiment. ``metadata.generateName`` is honoured when there is no name.

        Raises :class:`~pykatib.sdk.errors.InvalidError` (every problem in ``errors``),
        :class:`~pykatib.sdk.errors.AlreadyExistsError`, ValueError (not one experiment).
        """
        with katib_errors():
            found = experiment_document(experiment)
        return self._create(found, namespace)

    def _create(self, found: ExperimentDocument, namespace: str | None) -> Experiment:
        with katib_errors():
            found.place(namespace, self.namespace)
            created, notes = self.transport.create_experiment(
                found.document, found.source, found.source_dir, found.configmaps
            )
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=3)
        return created

    def get_experiment(
        self, name: str, namespace: str | None = None, timeout: int = DEFAULT_TIMEOUT
    ) -> Experiment:
        with katib_errors():
            return self.transport.get_experiment(namespace or self.namespace, name)

    def list_experiments(
        self, namespace: str | None = None, timeout: int = DEFAULT_TIMEOUT
    ) -> list[Experiment]:
        with katib_errors():
            return self.transport.list_experiments(namespace or self.namespace)

    def get_experiment_conditions(
        self,
        name: str,
        namespace: str | None = None,
        experiment: Experiment | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> list[Condition]:
        """The experiment's conditions (empty before it has any)."""
        if experiment is None:
            experiment = self.get_experiment(name, namespace)
        return list(experiment.status.conditions or [])

    def _has(
        self, type_: str, name: str, namespace: str | None, experiment: Experiment | None
    ) -> bool:
        return any(
            c.type == type_ and c.status == "True"
            for c in self.get_experiment_conditions(name, namespace, experiment)
        )

    def is_experiment_created(
        self,
        name: str,
        namespace: str | None = None,
        experiment: Experiment | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> bool:
        return self._has("Created", name, namespace, experiment)

    def is_experiment_running(
        self,
        name: str,
        namespace: str | None = None,
        experiment: Experiment | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> bool:
        return self._has("Running", name, namespace, experiment)

    def is_experiment_restarting(
        self,
        name: str,
        namespace: str | None = None,
        experiment: Experiment | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> bool:
        return self._has("Restarting", name, namespace, experiment)

    def is_experiment_succeeded(
        self,
        name: str,
        namespace: str | None = None,
        experiment: Experiment | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> bool:
        return self._has("Succeeded", name, namespace, experiment)

    def is_experiment_failed(
        self,
        name: str,
        namespace: str | None = None,
        experiment: Experiment | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> bool:
        return self._has("Failed", name, namespace, experiment)

    def wait_for_experiment_condition(
        self,
        name: str,
        namespace: str | None = None,
        expected_condition: str = "Succeeded",
        timeout: float = 600,
        polling_interval: float = DEFAULT_POLLING_INTERVAL,
        apiserver_timeout: int = DEFAULT_TIMEOUT,
        *,
        progress: bool | None = None,
    ) -> Experiment:
        """Wait until the experiment has ``expected_condition`` and return it.

        A live progress bar shows its trials in a terminal or notebook (``progress=False`` turns
        it off, ``True`` forces it). Embedded, an unfinished experiment that no control plane
        drives is driven by this client while it waits. An experiment that has completed
        counts as past Created and Running.

        Raises RuntimeError when it Failed (unless that is what is awaited) or can no longer
        reach the condition, TimeoutError after ``timeout`` seconds.
        """
        if expected_condition not in CONDITIONS:
            raise ValueError(
                f"expected_condition must be one of {', '.join(CONDITIONS)}, "
                f"got {expected_condition!r}"
            )
        namespace = namespace or self.namespace
        deadline = time.monotonic() + timeout
        with WaitDisplay(progress) as display:
            while True:
                with katib_errors():
                    self.transport.watch(namespace, name)
                experiment = self.get_experiment(name, namespace)
                display.update(experiment)
                if _reached(experiment, expected_condition):
                    return experiment
                if time.monotonic() + polling_interval > deadline:
                    raise TimeoutError(
                        f"Timeout waiting for Experiment: {namespace}/{name} "
                        f"to reach {expected_condition} state"
                    )
                self.transport.pause(namespace, name, polling_interval)

    def edit_experiment_budget(
        self,
        name: str,
        namespace: str | None = None,
        max_trial_count: int | None = None,
        parallel_trial_count: int | None = None,
        max_failed_trial_count: int | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> Experiment:
        """Change the trial budget. Raising ``max_trial_count`` of an experiment that succeeded
        by reaching it restarts it when its resumePolicy is LongRunning or FromVolume (Katib's
        rule; refused with :class:`~pykatib.sdk.errors.InvalidError` for Never). Returns the
        experiment; after a restart, once it is no longer Succeeded, so that waiting for
        Succeeded waits for the new trials."""
        budget = {
            k: v
            for k, v in (
                ("max_trial_count", max_trial_count),
                ("parallel_trial_count", parallel_trial_count),
                ("max_failed_trial_count", max_failed_trial_count),
            )
            if v is not None
        }
        if not budget:
            raise ValueError(
                "Invalid input arguments. You have to set max_trial_count, "
                "parallel_trial_count, or max_failed_trial_count to modify Experiment Trial "
                "budget."
            )
        namespace = namespace or self.namespace
        with katib_errors():
            before = self.transport.get_experiment(namespace, name)
            experiment = self.transport.edit_experiment_budget(namespace, name, budget)
            restarts = (
                st.is_restartable(before)
                and max_trial_count is not None
                and max_trial_count > (before.spec.max_trial_count or 0)
            )
            deadline = time.monotonic() + RESTART_WAIT_SECONDS
            while restarts and st.is_completed(experiment) and time.monotonic() < deadline:
                # Sees that a control plane drives it, and raises if the one that did stopped.
                self.transport.watch(namespace, name)
                self.transport.pause(namespace, name, 0.05)
                experiment = self.transport.get_experiment(namespace, name)
        return experiment

    def delete_experiment(
        self, name: str, namespace: str | None = None, delete_options: Any = None
    ) -> None:
        """Delete the experiment with its trials (stopped first), suggestion and metrics."""
        with katib_errors():
            self.transport.delete_experiment(namespace or self.namespace, name)

    # --- suggestions and trials ------------------------------------------------------------

    def get_suggestion(
        self, name: str, namespace: str | None = None, timeout: int = DEFAULT_TIMEOUT
    ) -> Suggestion:
        """The suggestion of experiment ``name`` (named as it, as in Katib)."""
        with katib_errors():
            return self.transport.get_suggestion(namespace or self.namespace, name)

    def list_suggestions(
        self, namespace: str | None = None, timeout: int = DEFAULT_TIMEOUT
    ) -> list[Suggestion]:
        with katib_errors():
            return self.transport.list_suggestions(namespace or self.namespace)

    def get_trial(
        self, name: str, namespace: str | None = None, timeout: int = DEFAULT_TIMEOUT
    ) -> Trial:
        with katib_errors():
            return self.transport.get_trial(namespace or self.namespace, name)

    def list_trials(
        self,
        experiment_name: str | None = None,
        namespace: str | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        *,
        trial_condition: str | None = None,
    ) -> list[Trial]:
        """The trials of ``namespace`` (of experiment ``experiment_name`` only, if given), in
        creation order; with ``trial_condition`` (e.g. ``"Succeeded"``) only those in it."""
        with katib_errors():
            trials = self.transport.list_trials(namespace or self.namespace, experiment_name)
        if trial_condition is not None:
            trials = [t for t in trials if t.status.has(trial_condition)]
        return trials

    def get_success_trial_details(
        self,
        experiment_name: str | None = None,
        namespace: str | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> list[dict[str, Any]]:
        """``{"name", "parameter_assignments", "metrics"}`` of each Succeeded trial."""
        return [
            {
                "name": trial.name,
                "parameter_assignments": trial.spec.parameter_assignments,
                "metrics": trial.status.observation.metrics if trial.status.observation else None,
            }
            for trial in self.list_trials(experiment_name, namespace, trial_condition="Succeeded")
        ]

    def get_optimal_hyperparameters(
        self, name: str, namespace: str | None = None, timeout: int = DEFAULT_TIMEOUT
    ) -> OptimalTrial | None:
        """The experiment's ``status.currentOptimalTrial``; None until a trial has metrics."""
        best = self.get_experiment(name, namespace).status.current_optimal_trial
        if best is None or best.observation is None or not best.observation.metrics:
            return None
        return best

    def get_trial_metrics(
        self,
        name: str,
        namespace: str | None = None,
        db_manager_address: str | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        *,
        metric_names: Sequence[str] | None = None,
    ) -> list[MetricLog]:
        """The trial's observation log (every report, in order), as Katib's DB manager gives it:
        ``log.time_stamp``, ``log.metric.name``, ``log.metric.value``; only ``metric_names``'
        reports if given."""
        with katib_errors():
            points = self.transport.list_observations(namespace or self.namespace, name)
        wanted = set(metric_names) if metric_names is not None else None
        return [MetricLog.of(p) for p in points if wanted is None or p.metric_name in wanted]

    def get_job_logs(
        self,
        name: str,
        trial_name: str,
        follow: bool = False,
        namespace: str | None = None,
    ) -> Iterator[str]:
        """The lines a trial of experiment ``name`` wrote (stdout and stderr, its latest
        attempt); with ``follow``, as it writes them, until it completes."""
        if not name:
            raise ValueError("Experiment name is required")
        if not trial_name:
            raise ValueError("Trial name is required")
        namespace = namespace or self.namespace
        with katib_errors():
            trial = self.transport.get_trial(namespace, trial_name)
        owner = (trial.metadata.labels or {}).get("katib.kubeflow.org/experiment")
        if owner != name:
            raise ValueError(f'trial "{trial_name}" is not a trial of experiment "{name}"')
        with katib_errors():
            yield from self.transport.read_logs(namespace, trial_name, follow)

    # --- tune ------------------------------------------------------------------------------

    def tune(
        self,
        name: str,
        objective: Callable[[dict[str, Any]], Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        base_image: str | None = None,
        namespace: str | None = None,
        env_per_trial: Any = None,
        algorithm_name: str = "random",
        algorithm_settings: Mapping[str, Any] | Sequence[Any] | None = None,
        objective_metric_name: str | None = None,
        additional_metric_names: Sequence[str] = (),
        objective_type: str = "maximize",
        objective_goal: float | None = None,
        max_trial_count: int | None = None,
        parallel_trial_count: int | None = None,
        max_failed_trial_count: int | None = None,
        resources_per_trial: Any = None,
        retain_trials: bool = False,
        packages_to_install: Sequence[str] | None = None,
        pip_index_url: str | None = None,
        metrics_collector_config: Mapping[str, Any] | None = None,
        trial_active_deadline_seconds: int | None = None,
        *,
        pip_index_urls: Sequence[str] | None = None,
        model_provider_parameters: Any = None,
        dataset_provider_parameters: Any = None,
        trainer_parameters: Any = None,
        storage_config: Any = None,
        wait: bool = False,
    ) -> Experiment | OptimalTrial | None:
        """Tune ``objective``, a function of one dict, over ``parameters`` (values from
        :mod:`pykatib.search` are tuned, others passed as they are).

        Each trial runs the function's source (not a pickle; it must import what it uses
        inside) in a new process of this interpreter, with the tuned values typed: float for
        ``double``, int for ``int``, the original value for ``categorical`` and ``discrete``.
        It reports metrics by printing ``name=value`` lines (the default StdOut collector) or,
        with ``metrics_collector_config={"kind": "Push"}``, by calling
        ``pykatib.report_metrics({...})``.

        Returns the created experiment once created, as the Katib SDK does (it returns
        nothing); with ``wait=True``, waits until it succeeds and returns the optimal trial
        (:meth:`get_optimal_hyperparameters`). ``base_image``, ``packages_to_install`` and
        ``resources_per_trial`` have no meaning for a local process: they are accepted with
        a warning. LLM tuning (``model_provider_parameters``...) is not supported.
        """
        if any(
            p is not None
            for p in (model_provider_parameters, dataset_provider_parameters, trainer_parameters)
        ):
            raise ValueError(
                "tune() with model_provider_parameters / dataset_provider_parameters / "
                "trainer_parameters (LLM fine-tuning through Katib's storage initializer) is not "
                "supported by pykatib; give an objective function and parameters"
            )
        if not name:
            raise ValueError("Please specify name for the Experiment.")
        if objective is None or not parameters:
            raise ValueError("tune() needs an objective function and its parameters")
        for what, given in (
            ("base_image", base_image),
            ("packages_to_install", packages_to_install),
            ("resources_per_trial", resources_per_trial),
        ):
            if given:
                warnings.warn(
                    f"tune(): {what} has no meaning here: each trial is a process of this "
                    f"Python ({sys.executable}) with the packages of this environment",
                    UserWarning,
                    stacklevel=2,
                )
        document = tuning.experiment_document(
            name,
            objective,
            parameters,
            image=base_image or f"python:{sys.version_info[0]}.{sys.version_info[1]}",
            env_per_trial=env_per_trial,
            algorithm_name=algorithm_name,
            algorithm_settings=algorithm_settings,
            objective_metric_name=objective_metric_name,
            additional_metric_names=additional_metric_names,
            objective_type=objective_type,
            objective_goal=objective_goal,
            max_trial_count=max_trial_count,
            parallel_trial_count=parallel_trial_count,
            max_failed_trial_count=max_failed_trial_count,
            resources_per_trial=resources_per_trial,
            retain_trials=retain_trials,
            metrics_collector_config=metrics_collector_config,
            trial_active_deadline_seconds=trial_active_deadline_seconds,
        )
        created = self._create(
            ExperimentDocument(document, f"tune({name!r})", Path.cwd()), namespace
        )
        if not wait:
            return created
        self.wait_for_experiment_condition(name, created.namespace)
        return self.get_optimal_hyperparameters(name, created.namespace)


def _reached(experiment: Experiment, expected: str) -> bool:
    """Whether ``experiment`` is in (or, for Created and Running, past) ``expected``; raises
    RuntimeError when it never will be."""
    status = experiment.status
    where = f"{experiment.namespace}/{experiment.name}"
    if status.has(expected):
        return True
    if status.has("Failed"):
        raise RuntimeError(
            f"Experiment: {where} is Failed. Experiment conditions: "
            f"{[c.to_dict() for c in status.conditions or []]}"
        )
    if status.has("Succeeded"):
        if expected in ("Created", "Running"):
            return True
        raise RuntimeError(f"Experiment: {where} has Succeeded: it will not be {expected}")
    return False
