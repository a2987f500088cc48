"""The control plane: level-triggered reconcile loops for experiments, suggestions and trials.

A reconcile step reads the desired state (the experiment's spec) and the observed state (its
trials, their processes, their observations), acts on the difference and writes the result in one
transaction. It remembers no event: after a crash the next step finds trials marked Running that
no runner knows and has the runner adopt them from the record stored with each (still running:
watched again, collecting from where the store left off; ended meanwhile: judged), or, when one
is lost, starts it again; after Ctrl-C the trials are Pending and start again. Nothing is lost or
run twice.

Every face (CLI, REST server, SDK) drives experiments through :class:`Controller`; the
foreground ``pykatib run`` is :meth:`Controller.run` for the experiments of one file, and a server
calls the same :meth:`Controller.reconcile` for many.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from pykatib.api.errors import ConflictError, InvalidExperimentError, NotFoundError
from pykatib.api.models import EarlyStoppingRule as TrialEarlyStoppingRule
from pykatib.api.models import (
    Experiment,
    ObjectMeta,
    Observation,
    Trial,
    TrialAssignment,
    TrialSpec,
    now,
)
from pykatib.api.validation import EDITABLE_FIELDS, update_errors
from pykatib.control import status as st
from pykatib.control import suggestion as sg
from pykatib.control.conditions import ConditionError, job_verdict
from pykatib.control.events import NORMAL, WARNING, condition_events, event
from pykatib.control.state import ExperimentState
from pykatib.control.template import TemplateError, render_run_spec
from pykatib.earlystop.registry import create_rule
from pykatib.metrics.observation import parse_value
from pykatib.metrics.summary import MetricSummary
from pykatib.runtime import selection
from pykatib.runtime.base import RunRequest, RunStatus, TrialRunner
from pykatib.runtime.paths import trial_dir, trial_log_path
from pykatib.store import Changes, Store, default_home
from pykatib.store.leases import DEFAULT_TTL_SECONDS, Holder, Lease, LeaseLostError
from pykatib.store.unit import status_json
from pykatib.suggest.registry import algorithm_settings

log = logging.getLogger("pykatib.control")

Key = tuple[str, str]
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
# A safety net only: every change that matters wakes the loop at once.
RESYNC_SECONDS = 1.0
SPEC_CHECK_SECONDS = 1.0
# Leases: how long one lasts unless renewed, and how often the holder renews it.
LEASE_TTL_SECONDS = DEFAULT_TTL_SECONDS
LEASE_RENEW_SECONDS = LEASE_TTL_SECONDS / 3
# How often a followed experiment (driven by another control plane) is read.
FOLLOW_SECONDS = 1.0
# A status write that conflicts with a spec update is retried on the new version.
WRITE_ATTEMPTS = 5
# Back-off while the database is unreachable or busy (seconds between tries, ~2 minutes in all).
DB_RETRY_DELAYS = (0.1, 0.3, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
# Trial condition reasons of pykatib's own (see docs/katib-differences.md).
INVALID_CONDITION = "InvalidCondition"
CONDITIONS_UNMET = "ConditionsUnmet"
TRIAL_DIR_SETTING = "suggestion_trial_dir"
# The runner's record of a trial's run (JSON), stored with the observations it read.
ATTEMPT_ANNOTATION = "pykatib.kubeflow.org/attempt"


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, SIGHUP), not interrupted by its user (Ctrl-C):
    trials that outlive it (a cluster's jobs) are left running for the next control plane."""


class Controller:
    """Drives experiments stored in ``store``, running their trials with ``runner``."""

    def __init__(
        self,
        store: Store,
        home: Path | None = None,
        # None: the runtime this process chose (pykatib.runtime.selection; local by default).
        runner_factory: Callable[[Callable[[], None]], TrialRunner] | None = None,
    ) -> None:
        self.store = store
        self.home = Path(home) if home is not None else default_home()
        self._wakeup = threading.Event()
        self.runner = (runner_factory or selection.current().factory())(self._wakeup.set)
        # This control plane, as leases name it, and the experiments it holds leases on.
        self.holder = Holder()
        self._held: set[Key] = set()
        self._states: dict[Key, ExperimentState] = {}
        self._generations: dict[Key, int] = {}
        self._next_spec_check: dict[Key, float] = {}
        # Trials whose job ended meeting neither condition, waiting for their deadline.
        self._waiting_for_deadline: set[Key] = set()

    # --- applying specs ------------------------------------------------------------------------

    def apply(self, exp: Experiment, source_dir: Path | None = None) -> str:
        """Create ``exp``, or update the mutable fields of the stored one.

        Returns "created", "configured" or "unchanged". The experiment must already have been
        defaulted and validated (``pykatib.api.yaml.parse_experiments``).
        """
        key = (exp.namespace, exp.name)
        exp.metadata.namespace = exp.namespace
        for attempt in range(WRITE_ATTEMPTS):
            try:
                old = self.store.get_experiment(*key, trial_lists=False)
            except NotFoundError:
                exp.status = type(exp.status)()
                exp.metadata.generation = 1
                try:
                    self.store.create_experiment(exp, str(source_dir) if source_dir else None)
                except ConflictError:
                    continue  # created by another process just now: apply to that one
                self._init_suggestion(exp)
                return "created"
            # Katib's update rules, judged against what is stored now.
            errors = update_errors(exp, old)
            if errors:
                raise InvalidExperimentError(errors)
            changed = [f for f in EDITABLE_FIELDS if getattr(exp.spec, f) != getattr(old.spec, f)]
            if not changed:
                return "unchanged"
            for f in changed:
                setattr(old.spec, f, getattr(exp.spec, f))
            try:
                self.store.update_experiment_spec(old)
            except ConflictError:
                # Its control plane wrote the status since we read it: read again, as
                # `kubectl apply` does.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                continue
            self._next_spec_check.pop(key, None)
            return "configured"
        raise AssertionError("unreachable")

    def _init_suggestion(self, exp: Experiment) -> None:
        suggestion = sg.new_suggestion(exp)
        changes = Changes(suggestion=suggestion, events=condition_events(suggestion, []))
        self.store.commit(exp.namespace, exp.name, changes)

    def delete(self, namespace: str, name: str) -> None:
        state = self._states.pop((namespace, name), None)
        if state is not None:
            for trial in state.active():
                self.runner.stop((namespace, trial.name), "the experiment was deleted")
        self.store.delete_experiment(namespace, name)
        self.runner.experiment_deleted(namespace, name)

    # --- the cache -----------------------------------------------------------------------------

    def state(self, key: Key) -> ExperimentState:
        state = self._states.get(key)
        if state is None:
            exp = self.store.get_experiment(*key, trial_lists=False)
            suggestion, algorithm_state = self.store.get_suggestion(*key, assignments=False)
            source = self.store.experiment_source_dir(*key)
            state = ExperimentState(
                experiment=exp,
                suggestion=suggestion or sg.new_suggestion(exp),
                source_dir=Path(source) if source else Path.cwd(),
                algorithm_state=algorithm_state,
            )
            state.early_stopping = create_rule(exp)
            if state.early_stopping is not None:
                objective = state.metric_names[0]
                state.series = self.store.objective_series(key[0], key[1], objective)
            for trial in self.store.iter_trials(*key):
                state.add_trial(trial)  # a completed one is not kept
            state.last_written = status_json(exp.status)
            self._states[key] = state
            self._generations[key] = self.store.experiment_generation(*key)
        elif time.monotonic() >= self._next_spec_check.get(key, 0.0):
            # `apply` from another process bumps the generation; look at most once a second.
            self._next_spec_check[key] = time.monotonic() + SPEC_CHECK_SECONDS
            generation = self.store.experiment_generation(*key)
            if generation != self._generations[key]:
                self._take_spec(state)
        return state

    def _take_spec(self, state: ExperimentState) -> None:
        """`apply` changed the spec in the store: take the new mutable fields and version."""
        fresh = self.store.get_experiment(*state.key, trial_lists=False)
        exp = state.experiment
        for f in EDITABLE_FIELDS:
            setattr(exp.spec, f, getattr(fresh.spec, f))
        exp.metadata.resource_version = fresh.metadata.resource_version
        exp.metadata.generation = fresh.metadata.generation
        self._generations[state.key] = fresh.metadata.generation or 1

    # --- reconciling ---------------------------------------------------------------------------

    def reconcile(self, key: Key) -> ExperimentState:
        """One level-triggered step for one experiment; idempotent."""
        state = self.state(key)
        exp = state.experiment
        changes = Changes()
        before = list(exp.status.conditions or [])
        suggestion_before = list(state.suggestion.status.conditions or [])
        if not exp.status.has("Created"):
            st.mark_experiment_created(exp)
        if st.restart_pending(exp):
            st.mark_experiment_restarting(exp)
            if exp.spec.resume_policy == "FromVolume":
                st.mark_suggestion_restarting(state.suggestion)
                changes.suggestion = state.suggestion
        self._sync_trials(state, changes)
        goal_reached = self._summarize(state)
        if not st.is_completed(exp):
            st.update_experiment_condition(exp, goal_reached, sg.is_done(state))
        if not st.is_completed(exp):
            self._add_trials(state, changes)
        if st.is_completed(exp):
            self._kill_active(state, changes)
            if st.complete_suggestion(exp, state.suggestion):
                changes.suggestion = state.suggestion
        changes.events += condition_events(exp, before)
        changes.events += condition_events(state.suggestion, suggestion_before)
        self._write(state, changes)
        return state

    def _summarize(self, state: ExperimentState) -> bool:
        return state.summarize()

    def _sync_trials(self, state: ExperimentState, changes: Changes) -> None:
        """Start pending trials; take in the observations and ends of running ones."""
        exp = state.experiment
        for trial in state.active():
            key = (exp.namespace, trial.name)
            run = self.runner.status(key)
            if run is None and state.phases[trial.name] == st.RUNNING:
                # Started by a control plane that is gone: watch it again, if it can be.
                run = self._adopt(state, trial)
                if run is None:
                    # Lost with it (its shim was killed): run it again.
                    st.reset_trial(trial)
                    changes.reset_observations.append(trial.name)
                    changes.events.append(
                        event(
                            trial,
                            WARNING,
                            "TrialRestarted",
                            "The control plane that ran this trial is gone; running it again",
                        )
                    )
            if run is None:
                self._start(state, trial, changes)
                continue
            changed, reported = self._take_observations(state, trial, changes)
            if reported and not run.finished and state.early_stopping is not None:
                self._early_stop(state, trial, changes)
            self.runner.acknowledge(key)
            if state.phases[trial.name] not in st.ACTIVE_PHASES:
                continue  # early stopped just now
            if run.finished:
                if trial.status.observation is None:
                    names = state.metric_names
                    trial.status.observation = Observation(
                        metrics=MetricSummary().to_metrics(names)
                    )
                if not self._judge(trial, run, changes):
                    continue  # ended, but matching neither condition: still Running
                self.runner.forget(key)
                state.summaries.pop(trial.name, None)
                changed = True
            if changed:
                state.refresh(trial)
                changes.trials.append(trial)

    def _judge(self, trial: Trial, run: RunStatus, changes: Changes) -> bool:
        """Judge an ended run by the template's success and failure conditions, as Katib's trial
        controller judges its job (trial_controller_util.go:45-130); returns whether the trial
        is done."""
        job = trial.name
        if run.phase == "stopped":
            st.mark_trial_killed(trial, run.message)
            changes.events.append(event(trial, NORMAL, st.TRIAL_KILLED, run.message))
            return True
        if run.phase == "failed" and run.job is None:
            # The runner's own failure, no job to judge (a cluster refused to create it).
            st.mark_trial_failed(trial, run.reason, run.message)
            changes.events.append(event(trial, WARNING, run.reason, f"Job {job}: {run.message}"))
            return True
        try:
            verdict = job_verdict(
                run.job or {},
                trial.spec.success_condition or "",
                trial.spec.failure_condition or "",
            )
        except ConditionError as exc:
            # Katib logs this and leaves the trial Running for ever; failing it says why.
            st.mark_trial_failed(trial, INVALID_CONDITION, str(exc))
            changes.events.append(event(trial, WARNING, INVALID_CONDITION, f"Job {job}: {exc}"))
            return True
        if verdict is None:
            return self._unmatched(trial, run, changes)
        if verdict.phase == "failed":
            st.mark_trial_failed(trial, verdict.reason, verdict.message)
            message = f"Job {job} has failed"
            if verdict.message or verdict.reason:
                message = f"{message}. {verdict.message} {verdict.reason}"
            changes.events.append(event(trial, NORMAL, "JobFailed", message))
        elif st.has_objective(trial):
            st.mark_trial_succeeded(trial, verdict.reason, verdict.message)
            changes.events.append(event(trial, NORMAL, "JobSucceeded", f"Job {job} has succeeded"))
        else:
            st.mark_trial_metrics_unavailable(trial, verdict.reason, verdict.message)
            changes.events.append(
                event(
                    trial, WARNING, "MetricsUnavailable", f"Metrics are not available for Job {job}"
                )
            )
        return True

    def _unmatched(self, trial: Trial, run: RunStatus, changes: Changes) -> bool:
        """A job that meets neither condition stays Running (Katib) until its
        ``activeDeadlineSeconds``; with no deadline it fails at once, since nothing more will
        happen to a local job (Katib would wait for ever)."""
        key = (trial.namespace, trial.name)
        job = run.job or {}
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        started = trial.status.start_time
        if key not in self._waiting_for_deadline:
            self._waiting_for_deadline.add(key)
            changes.events.append(
                event(
                    trial,
                    WARNING,
                    CONDITIONS_UNMET,
                    f"Job {trial.name} has ended but meets neither successCondition "
                    f"({trial.spec.success_condition}) nor failureCondition "
                    f"({trial.spec.failure_condition})",
                )
            )
        if deadline is not None and started is not None:
            if (now() - started).total_seconds() < float(deadline):
                return False
            reason, message = "DeadlineExceeded", "Job was active longer than specified deadline"
        else:
            reason = CONDITIONS_UNMET
            message = (
                "the job ended meeting neither successCondition nor failureCondition, and has "
                "no activeDeadlineSeconds to wait for"
            )
        self._waiting_for_deadline.discard(key)
        st.mark_trial_failed(trial, reason, message)
        changes.events.append(
            event(trial, NORMAL, "JobFailed", f"Job {trial.name} has failed. {message} {reason}")
        )
        return True

    def _adopt(self, state: ExperimentState, trial: Trial) -> RunStatus | None:
        """Have the runner take over a Running trial from its stored record; None if it can't."""
        record = _attempt_record(trial)
        if record is None or not self.runner.adopt(self._run_request(state, trial), record):
            return None
        # Its metrics go on from the observations stored so far.
        summary = state.summaries[trial.name] = MetricSummary()
        for point in self.store.list_observations(trial.namespace, trial.name):
            summary.add(point)
        return self.runner.status((trial.namespace, trial.name))

    def _take_observations(
        self, state: ExperimentState, trial: Trial, changes: Changes
    ) -> tuple[bool, bool]:
        """Take what the runner read, with its record; returns (the trial changed, new
        observations arrived)."""
        drained = self.runner.drain((trial.namespace, trial.name))
        changed = drained.restarted or drained.record is not None
        if drained.restarted:
            # A new attempt began (a backoffLimit retry): only the final attempt's observations
            # count.
            changes.observations.pop(trial.name, None)
            changes.reset_observations.append(trial.name)
            state.summaries.pop(trial.name, None)
            state.series.pop(trial.name, None)
            trial.status.observation = None
        if drained.record is not None:
            # Stored with the observations read up to it, so that the two always agree.
            _set_attempt_record(trial, drained.record)
        points = drained.points
        if not points:
            return changed, False
        summary = state.summaries.get(trial.name)
        if summary is None:
            summary = state.summaries[trial.name] = MetricSummary()
        for point in points:
            summary.add(point)
        changes.observations.setdefault(trial.name, []).extend(points)
        objective = state.metric_names[0]
        series = state.series.setdefault(trial.name, [])
        for point in points:
            if point.metric_name == objective:
                value = parse_value(point.value)
                if value is not None:
                    series.append(value)
        trial.status.observation = Observation(metrics=summary.to_metrics(state.metric_names))
        return True, True

    def _early_stop(self, state: ExperimentState, trial: Trial, changes: Changes) -> None:
        """Ask the early stopping rule about a running trial that just reported."""
        rule = state.early_stopping
        assert rule is not None
        message = rule.should_stop(
            trial.name,
            state.series.get(trial.name, []),
            state.completed,
            running=state.running_series(),
        )
        if message is None:
            return
        self.runner.stop((trial.namespace, trial.name), f"early stopped: {message}")
        st.mark_trial_early_stopped(trial)
        changes.events.append(
            event(trial, NORMAL, st.TRIAL_EARLY_STOPPED, f"{rule.name}: {message}")
        )
        state.refresh(trial)
        state.summaries.pop(trial.name, None)
        changes.trials.append(trial)

    def _run_request(self, state: ExperimentState, trial: Trial) -> RunRequest:
        exp = state.experiment
        # pbt's checkpoint folder is per trial; a child starts from a copy of its parent's.
        settings = algorithm_settings(exp)
        mapped = (settings[TRIAL_DIR_SETTING],) if settings.get(TRIAL_DIR_SETTING) else ()
        parent = None
        if mapped:
            from pykatib.suggest.pbt import checkpoint_parent  # NumPy: only for pbt's folders

            parent = checkpoint_parent(trial.spec.labels or {})
        return RunRequest(
            key=(exp.namespace, trial.name),
            run_spec=trial.spec.run_spec or {},
            primary_container_name=trial.spec.primary_container_name,
            primary_pod_labels=trial.spec.primary_pod_labels,
            metrics_collector=trial.spec.metrics_collector or exp.spec.metrics_collector_spec,  # type: ignore[arg-type]
            metric_names=state.metric_names,
            working_dir=state.source_dir,
            trial_dir=trial_dir(self.home, exp.namespace, exp.name, trial.name),
            sync_reports=state.early_stopping is not None,
            mapped_paths=mapped,
            seed_from=trial_dir(self.home, exp.namespace, exp.name, parent) if parent else None,
            labels=dict(trial.metadata.labels or {}),
            success_condition=trial.spec.success_condition or "",
            failure_condition=trial.spec.failure_condition or "",
            retain=bool(trial.spec.retain_run),
        )

    def _start(self, state: ExperimentState, trial: Trial, changes: Changes) -> None:
        request = self._run_request(state, trial)
        waiting = self.runner.reserve(request)
        created = trial.status.condition("Created")
        if waiting is not None:
            if trial.name not in state.phases:
                state.add_trial(trial)  # new: Pending
            # Pending, as an unschedulable pod: said once, tried again when resources free.
            message = f"Trial is created; waiting for resources: {waiting}"
            if created is not None and created.message != message:
                created.message, created.last_update_time = message, st.now()
                changes.events.append(event(trial, WARNING, "FailedScheduling", waiting))
                changes.trials.append(trial)
            return
        if created is not None and created.message != st.TRIAL_CREATED_MESSAGE:
            created.message, created.last_update_time = st.TRIAL_CREATED_MESSAGE, st.now()
        state.series.pop(trial.name, None)
        record = self.runner.start(request)
        if record is not None:
            _set_attempt_record(trial, record)
        st.mark_trial_running(trial)
        changes.events.append(
            event(trial, NORMAL, "JobCreated", f"Job {trial.name} has been created")
        )
        changes.events.append(event(trial, NORMAL, "JobRunning", f"Job {trial.name} is running"))
        state.summaries.pop(trial.name, None)
        state.refresh(trial)
        changes.trials.append(trial)

    def _add_trials(self, state: ExperimentState, changes: Changes) -> None:
        exp = state.experiment
        completed, _, active = st.counts(exp)
        parallel = exp.spec.parallel_trial_count or 3
        wanted = parallel
        if exp.spec.max_trial_count is not None:
            wanted = min(parallel, exp.spec.max_trial_count - completed)
        try:
            assignments = sg.request(state, wanted - active, changes)
        except sg.SuggestionFailed as exc:
            st.mark_suggestion_failed(state.suggestion, str(exc))
            changes.suggestion = state.suggestion
            st.mark_experiment_failed(exp, st.EXPERIMENT_FAILED, f"Suggestion has failed: {exc}")
            return
        for assignment in assignments:
            trial = self._new_trial(state, assignment)
            if trial.status.has("Failed"):  # its template can't be rendered
                state.add_trial(trial)
                changes.trials.append(trial)
            else:
                self._start(state, trial, changes)  # which adds it to the state, once
        if assignments or sg.is_done(state):
            goal_reached = self._summarize(state) if assignments else False
            st.update_experiment_condition(exp, goal_reached, sg.is_done(state))

    def _new_trial(self, state: ExperimentState, assignment: TrialAssignment) -> Trial:
        exp = state.experiment
        template = exp.spec.trial_template
        assert template is not None
        labels = {EXPERIMENT_LABEL: exp.name, **(assignment.labels or {})}
        rules = assignment.early_stopping_rules
        if rules is None and state.early_stopping is not None:
            rules = [
                TrialEarlyStoppingRule.model_validate(r)
                for r in state.early_stopping.trial_rules(state.completed)
            ] or None
        trial = Trial(
            metadata=ObjectMeta(name=assignment.name, namespace=exp.namespace, labels=labels),
            spec=TrialSpec(
                objective=exp.spec.objective,
                parameter_assignments=assignment.parameter_assignments,
                early_stopping_rules=rules,
                metrics_collector=exp.spec.metrics_collector_spec,
                primary_pod_labels=template.primary_pod_labels,
                primary_container_name=template.primary_container_name,
                success_condition=template.success_condition,
                failure_condition=template.failure_condition,
                retain_run=template.retain,
                labels=assignment.labels,
            ),
        )
        st.mark_trial_created(trial)
        values = {a.name or "": a.value or "" for a in assignment.parameter_assignments or []}
        try:
            trial.spec.run_spec = render_run_spec(exp, trial.name, exp.namespace, values)
        except TemplateError as exc:
            st.mark_trial_failed(trial, "InvalidTemplate", str(exc))
        return trial

    def _kill_active(self, state: ExperimentState, changes: Changes) -> None:
        """Katib leaves trials running after the experiment ends; pykatib stops them."""
        exp = state.experiment
        killed = False
        for trial in state.active():
            self.runner.stop((exp.namespace, trial.name), "the experiment has completed")
            self._take_observations(state, trial, changes)
            message = "Trial is killed because the experiment has completed"
            st.mark_trial_killed(trial, message)
            changes.events.append(event(trial, NORMAL, st.TRIAL_KILLED, message))
            state.refresh(trial)
            changes.trials.append(trial)
            killed = True
        if killed:
            self._summarize(state)

    def _write(self, state: ExperimentState, changes: Changes) -> None:
        current = status_json(state.experiment.status)
        if current != state.last_written:
            changes.experiment, changes.experiment_status = state.experiment, current
        holder = self.holder if state.key in self._held else None
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self._commit_retrying(state.key, changes, holder)
                break
            except LeaseLostError:
                raise
            except ConflictError:
                # The spec was applied since it was read (the status is this process's alone):
                # take the new spec and version, and write the same status again.
                if attempt == WRITE_ATTEMPTS - 1 or changes.experiment is None:
                    raise
                self._take_spec(state)
        state.last_written = current

    def _commit_retrying(self, key: Key, changes: Changes, holder: Holder | None) -> None:
        """Commit, riding out a lost database connection or a busy database (the transaction
        wrote nothing, so the same changes are written again) for up to ~2 minutes."""
        for delay in (*DB_RETRY_DELAYS, None):
            try:
                self.store.commit(*key, changes, holder=holder)
                return
            except DBAPIError as exc:
                if delay is None or not _transient(exc):
                    raise
                log.warning("database unavailable (%s); retrying in %.1f s", _reason(exc), delay)
                time.sleep(delay)

    # --- the foreground loop -------------------------------------------------------------------

    def run(
        self,
        keys: Iterable[Key],
        on_step: Callable[[list[ExperimentState]], None] | None = None,
        on_follow: Callable[[Key, Lease], None] | None = None,
    ) -> list[Experiment]:
        """Drive ``keys`` until every one has completed and its trials have exited.

        Only experiments this control plane holds the lease on are driven; one that another live
        control plane holds is followed (read from the store, ``on_follow`` called once with its
        lease) and taken over when that one's lease expires or its process is gone. Ctrl-C
        (KeyboardInterrupt) stops the running trials, puts them back to Pending and re-raises:
        running the same experiments again resumes them. An experiment deleted meanwhile (by
        another process) has its trials stopped and raises NotFoundError.
        """
        keys = list(keys)
        followed: set[Key] = set()
        next_claim = 0.0
        try:
            while True:
                self._wakeup.clear()
                try:
                    if time.monotonic() >= next_claim:
                        next_claim = time.monotonic() + LEASE_RENEW_SECONDS
                        for key in keys:
                            lease = self._claim(key)
                            if lease is not None and key not in followed:
                                followed.add(key)
                                if on_follow is not None:
                                    on_follow(key, lease)
                    states = [self._step(key) for key in keys]
                except DBAPIError as exc:
                    # A read failed before anything changed (writes retry on their own):
                    # reconciling again is idempotent.
                    if not _transient(exc):
                        raise
                    log.warning("database unavailable (%s); trying again", _reason(exc))
                    next_claim = 0.0
                    self._wakeup.wait(RESYNC_SECONDS)
                    continue
                if on_step is not None:
                    on_step(states)
                if all(st.is_completed(s.experiment) for s in states):
                    break
                self._wakeup.wait(RESYNC_SECONDS if self._held else FOLLOW_SECONDS)
        except KeyboardInterrupt as exc:
            held = [k for k in keys if k in self._held]
            self.interrupt(held, leave_running=isinstance(exc, Terminated))
            raise
        except NotFoundError:
            self.runner.shutdown()  # wait for the deleted experiment's trials to exit
            raise
        finally:
            for key in keys:
                self._release(key)
        self.runner.shutdown()
        return [self._states[k].experiment for k in keys]

    def _claim(self, key: Key) -> Lease | None:
        """Take or renew ``key``'s lease; returns the other holder's lease when it is not ours."""
        lease = self.store.acquire_lease(*key, self.holder, LEASE_TTL_SECONDS)
        if lease.holder.id != self.holder.id and lease.is_orphaned():
            lease = self.store.acquire_lease(
                *key, self.holder, LEASE_TTL_SECONDS, take_from=lease.holder.id
            )
        if lease.holder.id == self.holder.id:
            if key not in self._held:
                self._held.add(key)
                self._states.pop(key, None)  # read afresh what the last holder left
            return None
        self._abandon(key, stop_trials=False)
        return lease

    def _step(self, key: Key) -> ExperimentState:
        """Reconcile a held experiment; read a followed one afresh."""
        if key not in self._held:
            self._states.pop(key, None)
            return self.state(key)
        try:
            return self.reconcile(key)
        except LeaseLostError:
            # Another control plane took over (this one stalled past its lease): leave the
            # trials to it and follow.
            self._abandon(key, stop_trials=False)
            self._states.pop(key, None)
            return self.state(key)
        except NotFoundError as exc:
            self._abandon(key, stop_trials=True)
            self.runner.experiment_deleted(*key)
            raise NotFoundError(
                f'experiment "{key[1]}" was deleted from namespace "{key[0]}" while it ran'
            ) from exc

    def _abandon(self, key: Key, stop_trials: bool) -> None:
        """Stop driving ``key``: stop its trials (it was deleted) or leave them to the new holder."""
        self._held.discard(key)
        state = self._states.pop(key, None)
        if state is None:
            return
        for trial in state.active():
            if stop_trials:
                self.runner.stop((key[0], trial.name), "the experiment was deleted")
            self.runner.forget((key[0], trial.name))

    def _release(self, key: Key) -> None:
        """Give up ``key``'s lease. A busy or unreachable database is tried again a few times;
        after that the lease is left to expire (another control plane takes over in
        LEASE_TTL_SECONDS): releasing early is a courtesy, not a need."""
        if key not in self._held:
            return
        self._held.discard(key)
        for delay in (*DB_RETRY_DELAYS[:4], None):
            try:
                self.store.release_lease(*key, self.holder)
                return
            except NotFoundError:
                return
            except DBAPIError as exc:
                if not _transient(exc):
                    raise
                if delay is None:
                    log.warning(
                        "could not release the lease of %s/%s (%s): it expires in %.0f s",
                        *key,
                        _reason(exc),
                        LEASE_TTL_SECONDS,
                    )
                    return
                time.sleep(delay)

    def interrupt(self, keys: Iterable[Key], leave_running: bool = False) -> None:
        """Stop every running trial and leave the experiments resumable; with
        ``leave_running``, a detached runner's trials (a cluster's jobs) are left running
        instead, for the next control plane to adopt."""
        if leave_running and self.runner.detach():
            return
        self.runner.shutdown()
        for key in keys:
            state = self._states.get(key)
            if state is None:
                continue
            changes = Changes()
            for trial in state.active():
                if state.phases[trial.name] == st.RUNNING:
                    st.reset_trial(trial)
                    changes.reset_observations.append(trial.name)
                    state.refresh(trial)
                    changes.trials.append(trial)
                self.runner.forget((key[0], trial.name))
            self._summarize(state)
            self._write(state, changes)

    # --- paths ---------------------------------------------------------------------------------

    def log_path(self, namespace: str, experiment: str, trial: str) -> Path:
        """The log of the trial's latest attempt."""
        return trial_log_path(self.home, namespace, experiment, trial)


def _transient(exc: DBAPIError) -> bool:
    """A dropped connection, a server restart or a busy (locked) SQLite database."""
    return bool(exc.connection_invalidated) or isinstance(exc, (OperationalError, InterfaceError))


def _reason(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__


def _attempt_record(trial: Trial) -> dict[str, Any] | None:
    text = (trial.metadata.annotations or {}).get(ATTEMPT_ANNOTATION)
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _set_attempt_record(trial: Trial, record: dict[str, Any]) -> None:
    annotations = dict(trial.metadata.annotations or {})
    annotations[ATTEMPT_ANNOTATION] = json.dumps(record, separators=(",", ":"))
    trial.metadata.annotations = annotations


__all__ = ["ConflictError", "Controller", "Terminated"]
