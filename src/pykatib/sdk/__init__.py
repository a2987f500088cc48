"""The Python SDK: :class:`KatibClient` (the Katib SDK's client, embedded or against a server)
and :mod:`~pykatib.sdk.search` (search spaces for :meth:`KatibClient.tune`)."""

from pykatib.sdk import search
from pykatib.sdk.client import KatibClient
from pykatib.sdk.errors import AlreadyExistsError, InvalidError, ResourceNotFoundError
from pykatib.sdk.metric_log import MetricLog

__all__ = [
    "AlreadyExistsError",
    "InvalidError",
    "KatibClient",
    "MetricLog",
    "ResourceNotFoundError",
    "search",
]
