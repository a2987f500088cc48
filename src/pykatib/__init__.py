"""pykatib: Kubeflow Katib's hyperparameter tuning, in Python, with no infrastructure required."""

from pykatib.metrics.push import report_metrics

__all__ = ["report_metrics"]
