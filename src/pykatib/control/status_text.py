"""The experiment's status as the store keeps it (compact JSON), which the controller compares
with the last one written to see whether a pass changed it.

It holds no trial-name list (``succeededTrialList`` and the others): the store makes them from
the trials' phases when the status is read, so its size does not grow with the trials, and a
trial that changes phase changes the stored status by its counters alone.
"""

from __future__ import annotations

from pykatib.api.models import ExperimentStatus
from pykatib.store.unit import status_json


class StatusText:
    """Makes the JSON of one experiment's status, call after call."""

    def of(self, status: ExperimentStatus) -> str:
        """``status`` as :func:`pykatib.store.unit.status_json` stores it."""
        return status_json(status)
