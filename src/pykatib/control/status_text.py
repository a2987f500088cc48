"""The experiment's status as the store keeps it (compact JSON), made incrementally.

Katib's trial-name lists (``succeededTrialList`` and the others) name every trial, so at ten
thousand trials most of a reconcile pass went on dumping the status and turning it into JSON to
see whether it changed. :class:`StatusText` dumps the rest of the status afresh (conditions, the
counters, the optimal trial: small) and keeps each list's JSON, extending it when the list only
grew at its end, as it does when a trial becomes the newest of its phase (the usual case). The
controller compares the text with the last one written, and the store writes it as it is.
"""

from __future__ import annotations

import json

from pykatib.api.models import ExperimentStatus

# (field, its JSON name) of each trial-name list, in the status's field order.
_LISTS = tuple(
    (name, field.alias or name)
    for name, field in ExperimentStatus.model_fields.items()
    if name.endswith("_trial_list")
)
_LIST_NAMES = {name for name, _ in _LISTS}


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


class _ListText:
    """One list's JSON, extended when the list grew at its end since the last call."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.text = "[]"

    def of(self, names: list[str]) -> str:
        n = len(self.items)
        if n and len(names) >= n and names[:n] == self.items:
            if len(names) > n:
                self.text = self.text[:-1] + "," + _dumps(names[n:])[1:]
        else:
            self.text = _dumps(names)
        self.items = list(names)  # a copy: the caller may change its list in place
        return self.text


class StatusText:
    """Makes the JSON of one experiment's status, call after call."""

    def __init__(self) -> None:
        self._lists = {name: _ListText() for name, _ in _LISTS}

    def of(self, status: ExperimentStatus) -> str:
        """``status`` as :meth:`ExperimentStatus.to_dict` would give it, in compact JSON (the
        lists last)."""
        rest = _dumps(
            status.model_dump(by_alias=True, exclude_none=True, mode="json", exclude=_LIST_NAMES)
        )
        lists = [
            f'"{alias}":{self._lists[name].of(names)}'
            for name, alias in _LISTS
            if (names := getattr(status, name)) is not None
        ]
        if not lists:
            return rest
        return rest[:-1] + ("," if rest != "{}" else "") + ",".join(lists) + "}"
