"""pykatib: Kubeflow Katib's hyperparameter tuning, in Python, with no infrastructure required."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pykatib.metrics.push import report_metrics
    from pykatib.sdk import KatibClient, search

__all__ = ["KatibClient", "report_metrics", "search"]


def __getattr__(name: str) -> Any:
    # Imported on first use: a trial that only calls report_metrics starts fast, and the CLI's
    # read commands (which import no metrics code) faster still.
    if name == "report_metrics":
        from pykatib.metrics.push import report_metrics

        return report_metrics
    if name == "KatibClient":
        from pykatib.sdk import KatibClient

        return KatibClient
    if name == "search":
        from pykatib.sdk import search

        return search
    raise AttributeError(f"module 'pykatib' has no attribute {name!r}")
