"""Katib's DB manager gRPC service (``api.v1.beta1.DBManager``), for the Katib SDK's
``get_trial_metrics`` and ``report_metrics``, which call it and nothing else.

``pykatib server --db-manager-port 6789`` serves it beside the HTTP API, over the same store:

* ``GetObservationLog``: the trial's observation log, filtered by ``metric_name``,
  ``start_time`` and ``end_time`` as the HTTP ``GET .../observationlog`` is;
* ``ReportObservationLog``: a report, taken as ``POST .../observationlog`` takes it
  (:mod:`pykatib.server.reports`): answered once stored;
* ``DeleteObservationLog``: UNIMPLEMENTED (the control plane owns the observations; they go
  with their experiment).

Katib's requests name a trial without its namespace (its DB keys logs by trial name): the trial
is looked up in every namespace, and a name held in more than one is refused
(FAILED_PRECONDITION). With ``--token-file`` a call needs ``authorization: Bearer TOKEN``
metadata, and a scoped token reaches only its namespaces' trials (the Katib SDK sends no
metadata: use it without tokens). Errors map to gRPC codes: NOT_FOUND, INVALID_ARGUMENT,
FAILED_PRECONDITION, DEADLINE_EXCEEDED, UNAUTHENTICATED, PERMISSION_DENIED.

Its few messages are encoded by hand in protobuf's wire format (no generated code, no
``protobuf`` package); only ``grpcio`` is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc

from pykatib.server.auth import Token, find_token
from pykatib.server.errors import ApiError
from pykatib.server.observations import read_log
from pykatib.server.reports import deliver, parse_report

SERVICE = "api.v1.beta1.DBManager"
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

# --- protobuf's wire format, for strings and nested messages --------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): a string or a nested message."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The length-delimited fields of a message, as (number, bytes); others are skipped."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _read_varint(data, at)
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            size, at = _read_varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated field")
            yield number, data[at : at + size]
            at += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if at > len(data):
        raise ValueError("truncated field")


def _strings(data: bytes) -> dict[int, str]:
    return {n: v.decode("utf-8") for n, v in _fields(data)}


def decode_get_request(data: bytes) -> dict[str, str]:
    """GetObservationLogRequest: trial_name 1, metric_name 2, start_time 3, end_time 4."""
    s = _strings(data)
    return {
        "trial_name": s.get(1, ""),
        "metric_name": s.get(2, ""),
        "start_time": s.get(3, ""),
        "end_time": s.get(4, ""),
    }


def decode_report_request(data: bytes) -> tuple[str, list[dict[str, Any]]]:
    """ReportObservationLogRequest (trial_name 1, observation_log 2) as the trial's name and
    the metric logs in the JSON shape of ``POST .../observationlog``."""
    name, logs = "", []
    for number, value in _fields(data):
        if number == 1:
            name = value.decode("utf-8")
        elif number == 2:  # ObservationLog: repeated MetricLog metric_logs = 1
            for n, metric_log in _fields(value):
                if n == 1:
                    logs.append(_metric_log(metric_log))
    return name, logs


def _metric_log(data: bytes) -> dict[str, Any]:
    """MetricLog: time_stamp 1, metric 2 (Metric: name 1, value 2)."""
    stamp, metric = "", {}
    for number, value in _fields(data):
        if number == 1:
            stamp = value.decode("utf-8")
        elif number == 2:
            s = _strings(value)
            metric = {"name": s.get(1, ""), "value": s.get(2, "")}
    entry: dict[str, Any] = {"metric": metric}
    if stamp:
        entry["timeStamp"] = stamp
    return entry


def encode_get_reply(logs: list[dict[str, Any]]) -> bytes:
    """GetObservationLogReply: observation_log 1 (ObservationLog: metric_logs 1)."""
    metric_logs = b"".join(
        _field(
            1,
            _field(1, log["timeStamp"].encode())
            + _field(
                2,
                _field(1, log["metric"]["name"].encode())
                + _field(2, log["metric"]["value"].encode()),
            ),
        )
        for log in logs
    )
    return _field(1, metric_logs)


# --- the service -------------------------------------------------------------------------------


class DBManager:
    """The service's handlers, over ``store``."""

    def __init__(
        self, store: Any, tokens: list[Token] | None, stopping: threading.Event | None = None
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.stopping = stopping

    def get_observation_log(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        def handle() -> bytes:
            request = decode_get_request(data)
            namespace = self._namespace_of(request["trial_name"], context)
            logs = read_log(
                self.store,
                namespace,
                request["trial_name"],
                request["metric_name"],
                request["start_time"],
                request["end_time"],
            )
            return encode_get_reply(logs)

        return self._answer(handle, context)

    def report_observation_log(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        def handle() -> bytes:
            name, logs = decode_report_request(data)
            report = parse_report({"metricLogs": logs}, name)
            namespace = self._namespace_of(name, context)
            deliver(self.store, namespace, name, report, self.stopping)
            return b""

        return self._answer(handle, context)

    def delete_observation_log(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "pykatib's control plane owns observation logs: they are deleted with their experiment",
        )
        return b""  # not reached: abort raises

    def _answer(self, handle: Callable[[], bytes], context: grpc.ServicerContext) -> bytes:
        try:
            return handle()
        except ApiError as exc:
            context.abort(_CODES.get(exc.code, grpc.StatusCode.INTERNAL), exc.message)
        except ValueError as exc:  # a message that is not protobuf
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {exc}")
        return b""  # not reached: abort raises

    def _namespace_of(self, name: str, context: grpc.ServicerContext) -> str:
        """The namespace of the trial called ``name``, as the caller's token allows."""
        token = self._token(context)
        if not name:
            raise ApiError(422, "Invalid", "trial_name: required")
        found = self.store.trial_namespaces(name)
        if token is not None and token.namespaces is not None:
            allowed = [ns for ns in found if ns in token.namespaces]
            if found and not allowed:
                raise ApiError(403, "Forbidden", f'this token may not use namespace "{found[0]}"')
            found = allowed
        if not found:
            raise ApiError(404, "NotFound", f'trials.kubeflow.org "{name}" not found')
        if len(found) > 1:
            raise ApiError(
                409,
                "Conflict",
                f'trial "{name}" is in namespaces {", ".join(found)}: Katib\'s DB manager API '
                "names a trial without its namespace; use the HTTP API "
                "(/apis/kubeflow.org/v1beta1/namespaces/NS/trials/NAME/observationlog)",
            )
        return found[0]

    def _token(self, context: grpc.ServicerContext) -> Token | None:
        if self.tokens is None:
            return None
        metadata = dict(context.invocation_metadata())
        scheme, _, presented = str(metadata.get("authorization", "")).partition(" ")
        token = find_token(self.tokens, presented.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise ApiError(401, "Unauthorized", "Unauthorized: send authorization: Bearer TOKEN")
        return token

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn: Callable[[bytes, grpc.ServicerContext], bytes]) -> Any:
            # Identity (de)serializers: the handlers read and write the wire format themselves.
            return grpc.unary_unary_rpc_method_handler(fn)

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "GetObservationLog": unary(self.get_observation_log),
                "ReportObservationLog": unary(self.report_observation_log),
                "DeleteObservationLog": unary(self.delete_observation_log),
            },
        )


def start(
    store: Any,
    address: str,
    tokens: list[Token] | None,
    stopping: threading.Event | None = None,
    tls: tuple[str, str] | None = None,
) -> grpc.Server:
    """Serve the DB manager on ``address`` (``host:port``) until the returned server's
    ``stop``; with ``tls`` (certificate, key files) over TLS."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="dbmanager"))
    server.add_generic_rpc_handlers((DBManager(store, tokens, stopping).handler(),))
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        with open(tls[0], "rb") as cert, open(tls[1], "rb") as key:
            credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
        bound = server.add_secure_port(address, credentials)
    if not bound:
        raise OSError(f"cannot listen on {address} for the DB manager")
    server.start()
    return server


__all__ = ["SERVICE", "DBManager", "decode_get_request", "encode_get_reply", "start"]
