"""Requests whose bytes do not decode still get an answer and an access record.

gRPC decodes a request before any servicer code runs; a decoding error there
becomes `UNKNOWN "Unexpected <class DecodeError>"` and no record. Tactful's
methods are registered with a deserializer that hands such bytes on as an
`Undecodable` value, so the edge can authenticate the caller, record the call,
and answer INVALID_ARGUMENT like any other bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError


@dataclass(frozen=True)
class Undecodable:
    """The bytes of a request that are not a valid `message` message."""

    message: str  # the full name of the expected message type
    size: int

    def ByteSize(self) -> int:  # noqa: N802 (the name protobuf messages use)
        return self.size


def _tolerant(deserialize: Callable[[bytes], Any], message: str) -> Callable[[bytes], Any]:
    def deserializer(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return Undecodable(message, len(data))

    return deserializer


class TolerantRegistrar:
    """Stands in for the server when the generated `add_*Servicer_to_server` registers a
    service: every unary method's deserializer is made tolerant, then registered."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        # The generated code registers the same handlers twice, generic then by name;
        # the tolerant ones are registered both ways in add_registered_method_handlers.
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        declared = descriptor_pool.Default().FindServiceByName(service)
        tolerant = {
            name: handler._replace(  # type: ignore[attr-defined]
                request_deserializer=_tolerant(
                    handler.request_deserializer,
                    declared.FindMethodByName(name).input_type.full_name,
                )
            )
            for name, handler in handlers.items()
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, tolerant),)
        )
        self._server.add_registered_method_handlers(service, tolerant)
