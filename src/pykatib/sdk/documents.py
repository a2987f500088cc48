"""What ``create_experiment`` accepts, as one Kubernetes document: a pykatib model, a dict of
Katib's JSON, a Katib SDK (or kubernetes client) model, YAML text or a YAML file."""

from __future__ import annotations

import copy
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykatib.api.errors import InvalidExperimentError
from pykatib.api.models import Experiment
from pykatib.api.yaml import load_documents

_GENERATED = string.ascii_lowercase + string.digits


@dataclass
class ExperimentDocument:
    """The experiment as Katib's JSON, the ConfigMaps beside it, its source's name (for error
    messages) and the folder its trials run in."""

    document: dict[str, Any]
    source: str
    source_dir: Path
    configmaps: list[dict[str, Any]] = field(default_factory=list)

    def place(self, namespace: str | None, default_namespace: str) -> None:
        """Set the namespace (``namespace``, else its own, else ``default_namespace``) and a
        name from ``generateName`` when it has none, as the API server does."""
        metadata = self.document.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise InvalidExperimentError([f"metadata: expected a mapping, got {metadata!r}"])
        if namespace or not metadata.get("namespace"):
            metadata["namespace"] = namespace or default_namespace
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise ValueError("Experiment must have a name or generateName")
            metadata["name"] = prefix + "".join(secrets.choice(_GENERATED) for _ in range(5))


def experiment_document(experiment: Any) -> ExperimentDocument:
    """``experiment`` as one document; ValueError when YAML holds more or fewer than one
    Experiment, TypeError for anything else."""
    cwd = Path.cwd()
    if isinstance(experiment, Experiment):
        return ExperimentDocument(experiment.to_dict(), "<experiment>", cwd)
    if isinstance(experiment, Mapping):
        return ExperimentDocument(copy.deepcopy(dict(experiment)), "<experiment>", cwd)
    if isinstance(experiment, (str, os.PathLike)):
        return _yaml_document(experiment, cwd)
    if _is_client_model(experiment):  # a Katib SDK V1beta1Experiment
        return ExperimentDocument(plain(experiment), "<experiment>", cwd)
    raise TypeError(
        "experiment must be a pykatib Experiment, a dict, YAML text or a YAML file's path, "
        f"got {type(experiment).__name__}"
    )


def _yaml_document(experiment: str | os.PathLike[str], cwd: Path) -> ExperimentDocument:
    text = os.fspath(experiment)
    path = Path(text)
    is_file = "\n" not in text and len(text) < 4096 and path.is_file()
    if not is_file and isinstance(experiment, os.PathLike):
        raise FileNotFoundError(f"no such file: {text}")
    source, folder = (text, path.resolve().parent) if is_file else ("<yaml>", cwd)
    if is_file:
        text = path.read_text(encoding="utf-8")
    documents = load_documents(text, source)
    configmaps = [d for d in documents if d.get("kind") == "ConfigMap"]
    others = [d for d in documents if d.get("kind") != "ConfigMap"]
    if len(others) != 1:
        raise ValueError(
            f"{source}: expected one Experiment (besides ConfigMaps), found {len(others)} "
            "documents; create each experiment on its own"
        )
    return ExperimentDocument(others[0], source, folder, configmaps)


def _is_client_model(value: Any) -> bool:
    return hasattr(value, "attribute_map") and hasattr(value, "openapi_types")


def plain(value: Any) -> Any:
    """A Katib SDK or kubernetes client model (``attribute_map`` / ``openapi_types``) as its
    JSON, with Katib's camelCase names; anything else as it is."""
    if _is_client_model(value):
        return {
            value.attribute_map[attr]: plain(getattr(value, attr))
            for attr in value.openapi_types
            if getattr(value, attr) is not None
        }
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
