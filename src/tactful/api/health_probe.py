"""Asking a running server's gRPC health service (grpc.health.v1) how it is: the
probe behind `tactful health`, for container health checks and load balancers.

The health service needs no token; over mutual TLS the probe still presents a
client certificate, since the handshake requires one before any call exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

CHECK = "/grpc.health.v1.Health/Check"


class HealthUnknown(Exception):
    """The server could not be asked: unreachable, a failed TLS handshake, a timeout,
    or a service it does not know. The message says which, in one line."""


@dataclass(frozen=True)
class ProbeTls:
    """How the probe checks the server and shows itself over TLS."""

    root_ca: Path | None = None  # PEM: the CAs to trust (None: the system's roots)
    client_cert: Path | None = None  # PEM: for a server that requires client certificates
    client_key: Path | None = None
    server_name: str = ""  # the name the certificate must carry, if not the target's host


def check_health(
    target: str, *, service: str = "", tls: ProbeTls | None = None, timeout_s: float = 5.0
) -> str:
    """The status the server at `target` (HOST:PORT) reports for `service` ("": the
    server as a whole), e.g. "SERVING" or "NOT_SERVING"; HealthUnknown if it cannot
    be asked."""
    with _channel(target, tls) as channel:
        # The method by name: the typeshed stubs of health_pb2_grpc.HealthStub lack it.
        ask = channel.unary_unary(
            CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = ask(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise HealthUnknown(_why(exc, service)) from None
    status: int = reply.status
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


def _channel(target: str, tls: ProbeTls | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(tls.root_ca),
        private_key=_read(tls.client_key),
        certificate_chain=_read(tls.client_cert),
    )
    options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    return grpc.secure_channel(target, credentials, options=options)


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


def _why(error: grpc.RpcError, service: str) -> str:
    code = error.code() if isinstance(error, grpc.Call) else None
    details = (error.details() if isinstance(error, grpc.Call) else "") or ""
    if code == grpc.StatusCode.NOT_FOUND:
        return f"the server knows no service {service!r}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "no answer in time"
    name = code.name if code is not None else "error"
    first_line = details.splitlines()[0] if details else ""
    return f"{name}: {first_line}" if first_line else name
