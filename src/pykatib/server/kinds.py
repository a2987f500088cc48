"""The three resources the API serves, read from the store as plain dicts (Katib's JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from pykatib.api.errors import NotFoundError
from pykatib.store import Store
from pykatib.store.schema import experiments, suggestions, trials

GROUP = "kubeflow.org"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Kind:
    plural: str
    kind: str
    singular: str

    def list_in(self, store: Store, namespace: str | None) -> list[dict[str, Any]]:
        if self.plural == "experiments":
            found: list[Any] = store.list_experiments(namespace)
        elif self.plural == "trials":
            found = store.list_trials(namespace)
        else:
            found = store.list_suggestions(namespace)
        return [o.to_dict() for o in found]

    def get(self, store: Store, namespace: str, name: str) -> dict[str, Any]:
        """The object; NotFoundError when there is none."""
        if self.plural == "experiments":
            return store.get_experiment(namespace, name).to_dict()
        if self.plural == "trials":
            return store.get_trial(namespace, name).to_dict()
        try:
            suggestion, _ = store.get_suggestion(namespace, name)
        except NotFoundError:
            suggestion = None
        if suggestion is None:
            raise NotFoundError(f'suggestion "{name}" not found in namespace "{namespace}"')
        return suggestion.to_dict()

    def versions(self, store: Store, namespace: str | None) -> list[tuple[str, str, str, int]]:
        """``(uid, namespace, name, resourceVersion)`` of every object: what a watch polls."""
        if self.plural == "suggestions":
            query = select(
                suggestions.c.uid,
                experiments.c.namespace,
                experiments.c.name,
                suggestions.c.resource_version,
            ).join(experiments, experiments.c.id == suggestions.c.experiment_id)
            ns_column = experiments.c.namespace
        else:
            table = experiments if self.plural == "experiments" else trials
            query = select(table.c.uid, table.c.namespace, table.c.name, table.c.resource_version)
            ns_column = table.c.namespace
        if namespace is not None:
            query = query.where(ns_column == namespace)
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [(r[0] or "", r[1], r[2], int(r[3])) for r in rows]


KINDS = {
    k.plural: k
    for k in (
        Kind("experiments", "Experiment", "experiment"),
        Kind("trials", "Trial", "trial"),
        Kind("suggestions", "Suggestion", "suggestion"),
    )
}
CATEGORIES = ["all", "kubeflow", "katib"]

__all__ = ["API_VERSION", "CATEGORIES", "GROUP", "KINDS", "VERSION", "Kind"]
