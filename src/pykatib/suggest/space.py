"""The search space of an experiment (placeholder: being written)."""

from __future__ import annotations


class SearchSpace:  # replaced by the full implementation
    pass
