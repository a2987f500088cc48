"""Rendering a trial's run spec from the experiment's trial template.

Substitution happens in the parsed structure, string by string, never in YAML text: a value
with quotes, spaces, ``$``, newlines or shell syntax ends up in the run spec exactly as the
algorithm produced it, and can't change the structure of the document around it.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from pykatib.api.models import Experiment
from pykatib.api.trial_template import METADATA_REFERENCE, TRIAL_PARAMETER_PLACEHOLDER

_META_INDEXED = re.compile(r"^(.+)\[(.+)\]$")
_NAME_ALPHABET = string.ascii_lowercase + string.digits
_NAME_CHOICES = len(_NAME_ALPHABET) ** 8


class TemplateError(ValueError):
    """The trial template can't be rendered for these assignments."""


def new_trial_name(experiment_name: str) -> str:
    """``<experiment>-<8 random chars>``, as Katib names trials: one draw from the system's
    random source for all 8 (a draw each costs a system call; every trial is named)."""
    number = secrets.randbelow(_NAME_CHOICES)
    chars = []
    for _ in range(8):
        number, index = divmod(number, len(_NAME_ALPHABET))
        chars.append(_NAME_ALPHABET[index])
    return f"{experiment_name}-{''.join(chars)}"


def placeholder_values(
    exp: Experiment, trial_name: str, trial_namespace: str, assignments: Mapping[str, str]
) -> dict[str, str]:
    """The value of each ``${trialParameters.<name>}`` for one trial."""
    template = exp.spec.trial_template
    assert template is not None and template.trial_spec is not None
    spec = template.trial_spec
    meta = spec.get("metadata") or {}
    values: dict[str, str] = {}
    for param in template.trial_parameters or []:
        name, reference = param.name or "", param.reference or ""
        match = METADATA_REFERENCE.fullmatch(reference)
        if match is None:
            if reference not in assignments:
                raise TemplateError(
                    f'trial parameter "{name}" references "{reference}", '
                    f"which has no assignment (assignments: {sorted(assignments)})"
                )
            values[name] = assignments[reference]
            continue
        key, index = match.group(1), None
        indexed = _META_INDEXED.match(key)
        if indexed:
            key, index = indexed.group(1), indexed.group(2)
        if key == "Name":
            values[name] = trial_name
        elif key == "Namespace":
            values[name] = trial_namespace
        elif key == "Kind":
            values[name] = str(spec.get("kind", ""))
        elif key == "APIVersion":
            values[name] = str(spec.get("apiVersion", ""))
        elif key in ("Labels", "Annotations") and index is not None:
            found = (meta.get(key.lower()) or {}).get(index)
            if found is None:
                raise TemplateError(
                    f"illegal reference of trial metadata: {reference}; "
                    f"the trial spec has no {key.lower()[:-1]} {index!r}"
                )
            values[name] = str(found)
        else:
            raise TemplateError(f"illegal reference of trial metadata: {reference}")
    return values


def render_run_spec(
    exp: Experiment, trial_name: str, trial_namespace: str, assignments: Mapping[str, str]
) -> dict[str, Any]:
    """The trial's run spec: the template with placeholders substituted, named for the trial."""
    template = exp.spec.trial_template
    if template is None or template.trial_spec is None:
        raise TemplateError("spec.trialTemplate.trialSpec is empty")
    values = placeholder_values(exp, trial_name, trial_namespace, assignments)
    for name, value in values.items():
        if "\x00" in value:  # validation refuses such a parameter value; this is the last guard
            raise TemplateError(
                f'trial parameter "{name}" has a NUL character in its value, which a '
                "process's arguments and environment can't hold"
            )

    def substitute(text: str) -> str:
        def replace(m: re.Match[str]) -> str:
            # Unknown placeholders stay as written (validation reports them before this).
            return values.get(m.group(1), m.group(0))

        return TRIAL_PARAMETER_PLACEHOLDER.sub(replace, text) if "${" in text else text

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return substitute(node)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {substitute(k) if isinstance(k, str) else k: walk(v) for k, v in node.items()}
        return node

    run_spec = walk(template.trial_spec)  # a new container at every level: no copy needed
    metadata = run_spec.setdefault("metadata", {}) or {}
    run_spec["metadata"] = metadata
    metadata["name"] = trial_name
    metadata["namespace"] = trial_namespace
    return run_spec
