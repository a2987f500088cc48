"""How :class:`~pykatib.sdk.KatibClient` reaches experiments: the transport interface.

The client turns what the user gives it (a model, a dict, YAML) into Katib's JSON and the
answers into pykatib's models; a transport moves them. :class:`~pykatib.sdk.embedded.Embedded`
reads and writes the local store and runs the control plane in this process; a server transport
(HTTP, to ``pykatib server``) would send the same calls to a server, whose control plane runs
the experiments.

Lifecycle: the client makes one transport when it is made and calls :meth:`Transport.close` once,
from :meth:`KatibClient.close` or at interpreter exit. Every other method may be called from any
thread, any number of times. Missing objects raise
:class:`~pykatib.api.errors.NotFoundError`, a name taken :class:`~pykatib.api.errors.ConflictError`
and an invalid experiment or change :class:`~pykatib.api.errors.InvalidExperimentError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pykatib.api.models import Experiment, Suggestion, Trial
from pykatib.metrics.observation import ObservationPoint


class Transport(Protocol):
    def create_experiment(
        self,
        document: Mapping[str, Any],
        source: str,
        source_dir: Path,
        configmaps: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[Experiment, list[str]]:
        """Default, validate, admit and store the experiment ``document`` (Katib's JSON, its
        namespace set); returns it as stored, with the warnings about running it. Trials run in
        ``source_dir``; ``source`` names the document in error messages."""
        ...

    def get_experiment(self, namespace: str, name: str) -> Experiment: ...

    def list_experiments(self, namespace: str | None) -> list[Experiment]:
        """The experiments of ``namespace`` (of every namespace for None)."""
        ...

    def edit_experiment_budget(
        self, namespace: str, name: str, budget: Mapping[str, int]
    ) -> Experiment:
        """Set the given trial counts (``max_trial_count``, ``parallel_trial_count``,
        ``max_failed_trial_count``) under Katib's update rules: raising ``max_trial_count`` of an
        experiment that succeeded by reaching it restarts one whose resumePolicy allows it and
        is refused otherwise."""
        ...

    def delete_experiment(self, namespace: str, name: str) -> None:
        """Delete the experiment with its trials (stopped), suggestion and observations."""
        ...

    def get_suggestion(self, namespace: str, name: str) -> Suggestion: ...

    def list_suggestions(self, namespace: str | None) -> list[Suggestion]: ...

    def get_trial(self, namespace: str, name: str) -> Trial: ...

    def list_trials(self, namespace: str | None, experiment: str | None) -> list[Trial]: ...

    def list_observations(self, namespace: str, trial: str) -> list[ObservationPoint]:
        """The trial's observation log, in report order."""
        ...

    def read_logs(self, namespace: str, trial: str, follow: bool) -> Iterator[str]:
        """The lines of the trial's output (stdout and stderr) of its latest attempt; with
        ``follow``, going on as it writes them until the trial completes."""
        ...

    def watch(self, namespace: str, name: str) -> None:
        """Someone waits on this experiment: see that a control plane drives it (a no-op where
        one always does, as on a server)."""
        ...

    def pause(self, namespace: str, name: str, seconds: float) -> None:
        """Sleep up to ``seconds``, or less when the experiment may have changed meanwhile."""
        ...

    def close(self) -> None:
        """Let go of everything; experiments left running are resumable."""
        ...
