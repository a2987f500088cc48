"""The SDK's errors: pykatib's own, that are also what the Katib SDK raises.

Code written against ``kubeflow.katib`` catches ``RuntimeError`` (a failed call) and
``TimeoutError``; pykatib code catches :class:`~pykatib.api.errors.NotFoundError` and its
siblings. Each error here is both, so either works.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pykatib.api.errors import ConflictError, InvalidExperimentError, NotFoundError


class ResourceNotFoundError(NotFoundError, RuntimeError):
    """The experiment, trial or suggestion does not exist."""


class AlreadyExistsError(ConflictError, RuntimeError):
    """An experiment of that name exists already (in that namespace)."""


class InvalidError(InvalidExperimentError, RuntimeError):
    """The experiment, or the change to it, breaks Katib's rules; ``errors`` lists each problem."""


@contextmanager
def katib_errors() -> Iterator[None]:
    """Raise pykatib's errors as the SDK's."""
    try:
        yield
    except InvalidExperimentError as exc:
        if isinstance(exc, InvalidError):
            raise
        raise InvalidError(exc.errors, exc.source) from None
    except NotFoundError as exc:
        if isinstance(exc, ResourceNotFoundError):
            raise
        raise ResourceNotFoundError(str(exc)) from None
    except ConflictError as exc:
        if isinstance(exc, AlreadyExistsError):
            raise
        raise AlreadyExistsError(str(exc)) from None


__all__ = ["AlreadyExistsError", "InvalidError", "ResourceNotFoundError", "katib_errors"]
