"""The suggestion reconciler: turns "the experiment wants n more trials" into assignments.

Katib runs each algorithm as a service per experiment behind a 60 s gRPC time-out; here the
algorithm is an object inside the control plane, its state is stored with the suggestion, and
there is no time-out.
"""

from __future__ import annotations

from pykatib.api.models import (
    AlgorithmSetting,
    Experiment,
    ObjectMeta,
    ParameterAssignment,
    Suggestion,
    SuggestionSpec,
    TrialAssignment,
    now,
)
from pykatib.control import status as st
from pykatib.control.state import ExperimentState
from pykatib.control.template import new_trial_name
from pykatib.store import Changes
from pykatib.suggest.base import SuggestionEndReached
from pykatib.suggest.registry import create_algorithm


class SuggestionFailed(Exception):
    """The algorithm can't run (not implemented, or it raised); the experiment fails."""


def new_suggestion(exp: Experiment) -> Suggestion:
    """The suggestion of a new experiment: no requests yet."""
    suggestion = Suggestion(
        metadata=ObjectMeta(name=exp.name, namespace=exp.namespace),
        spec=SuggestionSpec(
            algorithm=exp.spec.algorithm,
            early_stopping=exp.spec.early_stopping,
            requests=0,
            resume_policy=exp.spec.resume_policy,
        ),
    )
    suggestion.status.start_time = now()
    st.set_condition(
        suggestion.status, "Created", "True", st.SUGGESTION_CREATED, "Suggestion is created"
    )
    return suggestion


def is_done(state: ExperimentState) -> bool:
    """The algorithm has said it has nothing more to suggest."""
    cond = state.suggestion.status.condition("Succeeded")
    return cond is not None and cond.status == "True" and cond.reason == st.SUGGESTION_END_REACHED


def request(state: ExperimentState, n: int, changes: Changes) -> list[TrialAssignment]:
    """Ask the algorithm for ``n`` more assignments; each comes with its new trial's name."""
    suggestion = state.suggestion
    if n <= 0 or is_done(state):
        return []
    algorithm = state.algorithm
    if algorithm is None:
        try:
            algorithm = create_algorithm(state.experiment)
        except NotImplementedError as exc:
            raise SuggestionFailed(str(exc)) from exc
        if state.algorithm_state is not None:
            algorithm.restore(state.algorithm_state)
        state.algorithm = algorithm
    try:
        proposals = algorithm.suggest(state.history(), n)
    except SuggestionEndReached:
        st.mark_suggestion_succeeded(
            suggestion,
            st.SUGGESTION_END_REACHED,
            "Suggestion service has reached the end: the algorithm has nothing more to suggest",
        )
        changes.suggestion = suggestion
        return []
    except Exception as exc:  # an algorithm bug must fail the experiment, not the control plane
        raise SuggestionFailed(f"{type(exc).__name__}: {exc}") from exc
    new = [
        TrialAssignment(
            name=new_trial_name(state.experiment.name),
            parameter_assignments=[
                ParameterAssignment(name=k, value=v) for k, v in p.assignments.items()
            ],
            labels=p.labels or None,
        )
        for p in proposals[:n]
    ]
    status = suggestion.status
    suggestion.spec.requests = (suggestion.spec.requests or 0) + n
    # Counted, not kept: the store makes status.suggestions from the trials when it is read.
    status.suggestion_count = (status.suggestion_count or 0) + len(new)
    status.algorithm_settings = [
        AlgorithmSetting(name=s.name, value=s.value)
        for s in (state.experiment.spec.algorithm.algorithm_settings or [])  # type: ignore[union-attr]
    ] or None
    st.mark_suggestion_running(suggestion)
    changes.suggestion = suggestion
    changes.save_algorithm_state = True
    state.algorithm_state = changes.algorithm_state = algorithm.state()
    return new
