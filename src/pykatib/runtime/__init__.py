"""Trial runners: how a rendered trial becomes something that runs."""

from __future__ import annotations

from pykatib.runtime.replicas import SUPPORTED_KINDS as _TRAINING_KINDS

# Trial kinds (the ``kind`` of ``trialTemplate.trialSpec``) that a runner can execute.
# Validation rejects any other kind when an experiment is applied.
SUPPORTED_TRIAL_KINDS: dict[str, str] = {"Job": "batch/v1", **_TRAINING_KINDS}
