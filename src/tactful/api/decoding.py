"""Requests refused for their bytes still get an answer and an access record.

gRPC decodes a request before any servicer code runs; a decoding error there
becomes `UNKNOWN "Unexpected <class DecodeError>"` and no record. Tactful's
methods are registered with a deserializer that hands such bytes on as a `Refused`
value, so the edge can authenticate the caller, record the call, and answer
INVALID_ARGUMENT like any other bad input:

- `Undecodable`: the bytes are not a message of the method's request type;
- `HoldsNul`: a string field, anywhere in the request, holds U+0000, which
  PostgreSQL cannot store in text, and SQLite would store for a C reader to cut short.
  Only bytes that hold a zero byte at all are walked (a UTF-8 string holds U+0000
  exactly where its encoding holds 0x00), so most requests cost one `memchr`.

A call to a method Tactful does not have is answered by `Unimplemented` (api/rpc.py)
through the same edge: UNIMPLEMENTED, and a record.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from tactful.privacy.errors import Violation

NUL = "\x00"
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a map key the violation may name


class NoSuchMethod(Exception):
    """A call to a method Tactful does not have (the edge answers UNIMPLEMENTED)."""

    def __init__(self) -> None:
        super().__init__("no such method")


class Refused:
    """A request refused before its method runs; the edge answers INVALID_ARGUMENT."""

    def violations(self) -> list[Violation]:
        raise NotImplementedError


@dataclass(frozen=True)
class Undecodable(Refused):
    """The bytes of a request that are not a valid `message` message."""

    message: str  # the full name of the expected message type
    size: int

    def ByteSize(self) -> int:  # noqa: N802 (the name protobuf messages use)
        return self.size

    def violations(self) -> list[Violation]:
        return [Violation("request", f"the bytes are not a {self.message} message")]


class HoldsNul(Refused):
    """A decoded request with U+0000 in the string fields `fields`. It reads as the
    request itself, so the record names its purpose and subjects as for any refusal."""

    def __init__(self, request: Message, fields: list[str]) -> None:
        self._request = request
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)

    def violations(self) -> list[Violation]:
        return [
            Violation(
                f, "contains U+0000 (NUL), a control or format character; no text field may hold it"
            )
            for f in self._fields
        ]


@dataclass(frozen=True)
class _Strings:
    """Where a message type keeps text, at any depth: what `holds_nul` reads, and nothing
    else (a Timestamp, a number, holds none)."""

    strings: tuple[str, ...]
    repeated_strings: tuple[str, ...]
    messages: tuple[tuple[str, _Strings], ...]
    repeated_messages: tuple[tuple[str, _Strings], ...]
    # name, whether the key is text, whether the value is, the value message's plan
    maps: tuple[tuple[str, bool, bool, _Strings | None], ...]


@functools.cache
def _strings_of(descriptor: Descriptor) -> _Strings | None:
    strings: list[str] = []
    repeated_strings: list[str] = []
    messages: list[tuple[str, _Strings]] = []
    repeated_messages: list[tuple[str, _Strings]] = []
    maps: list[tuple[str, bool, bool, _Strings | None]] = []
    for field in descriptor.fields:
        entry = field.message_type
        if field.type == FieldDescriptor.TYPE_STRING:
            (repeated_strings if field.is_repeated else strings).append(field.name)
        elif entry is not None and entry.GetOptions().map_entry:
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            inner = _strings_of(value.message_type) if value.message_type is not None else None
            text = (
                key.type == FieldDescriptor.TYPE_STRING,
                value.type == FieldDescriptor.TYPE_STRING,
            )
            if any(text) or inner:
                maps.append((field.name, *text, inner))
        elif entry is not None and (inner := _strings_of(entry)) is not None:
            (repeated_messages if field.is_repeated else messages).append((field.name, inner))
    if not (strings or repeated_strings or messages or repeated_messages or maps):
        return None
    found = tuple(strings), tuple(repeated_strings), tuple(messages), tuple(repeated_messages)
    return _Strings(*found, tuple(maps))


def holds_nul(message: Message) -> bool:
    """Whether any string field of `message`, at any depth, holds U+0000 (about 3 µs for an
    event with two attributes; the naming walk, `nul_fields`, is five times slower)."""
    plan = _strings_of(message.DESCRIPTOR)
    return plan is not None and _holds(message, plan)


def _holds(message: Any, plan: _Strings) -> bool:
    for name in plan.strings:
        if NUL in getattr(message, name):
            return True
    for name in plan.repeated_strings:
        for text in getattr(message, name):
            if NUL in text:
                return True
    for name, inner in plan.messages:
        if _holds(getattr(message, name), inner):
            return True
    for name, inner in plan.repeated_messages:
        for item in getattr(message, name):
            if _holds(item, inner):
                return True
    for name, text_key, text_value, value_plan in plan.maps:
        for key, value in getattr(message, name).items():
            if (text_key and NUL in key) or (text_value and NUL in value):
                return True
            if value_plan is not None and _holds(value, value_plan):
                return True
    return False


def nul_fields(message: Message, prefix: str = "") -> list[str]:
    """The paths of the string fields of `message`, at any depth, that hold U+0000.

    >>> from tactful.v1 import common_pb2
    >>> nul_fields(common_pb2.Event(type="a\\x00b", subject={"id": "x"}))
    ['type']
    """
    found: list[str] = []
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.type == FieldDescriptor.TYPE_STRING:
            values = value if field.is_repeated else (value,)
            found += [_item(path, field, i) for i, s in enumerate(values) if NUL in s]
        elif field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type is None:
            continue
        elif field.message_type.GetOptions().map_entry:
            found += _nul_in_map(path, field, value)
        elif field.is_repeated:
            for i, item in enumerate(value):
                found += nul_fields(item, f"{path}[{i}].")
        else:
            found += nul_fields(value, path + ".")
    return found


def _item(path: str, field: FieldDescriptor, index: int) -> str:
    return f"{path}[{index}]" if field.is_repeated else path


def _nul_in_map(path: str, field: FieldDescriptor, entries: Mapping[Any, Any]) -> list[str]:
    found: list[str] = []
    for key, value in entries.items():
        named = f"{path}.{key}" if isinstance(key, str) and _KEY.fullmatch(key) else path
        if isinstance(key, str) and NUL in key:
            found.append(path)
        if isinstance(value, Message):
            found += nul_fields(value, named + ".")
        elif isinstance(value, str) and NUL in value:
            found.append(named)
    return found


@dataclass(frozen=True)
class NoRequest:
    """What a call to an unknown method holds for the edge: nothing it reads."""

    def ByteSize(self) -> int:  # noqa: N802 (the name protobuf messages use)
        return 0


UNIMPLEMENTED_METHOD = "tactful.edge/Unimplemented"  # the record's method: never the path sent
_Context = grpc.aio.ServicerContext[Any, Any]


class Unimplemented(grpc.GenericRpcHandler):
    """Registered last, it answers every method no other handler has, through `run` (the
    edge's): UNIMPLEMENTED and a record, where gRPC alone would answer without one. A
    known method never reaches it (gRPC looks registered methods up first). Its handler
    reads no request, so a call of any arity gets the same answer."""

    def __init__(self, run: Callable[[Any, _Context], Awaitable[Any]]) -> None:
        self._handler: grpc.RpcMethodHandler[Any, Any] = grpc.stream_stream_rpc_method_handler(
            self._answer
        )
        self._run = run

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        return self._handler

    async def _answer(self, requests: Any, context: _Context) -> None:
        await self._run(NoRequest(), context)


def _tolerant(deserialize: Callable[[bytes], Any], message: str) -> Callable[[bytes], Any]:
    def deserializer(data: bytes) -> Any:
        try:
            request = deserialize(data)
        except DecodeError:
            return Undecodable(message, len(data))
        if b"\x00" in data and holds_nul(request):
            return HoldsNul(request, nul_fields(request))
        return request

    return deserializer


class TolerantRegistrar(grpc.aio.Server):
    """Stands in for the server when the generated `add_*Servicer_to_server` registers a
    service: every method's deserializer is made tolerant, then registered on `server`.
    Starting, stopping and ports are the server's own."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: Iterable[grpc.GenericRpcHandler]
    ) -> None:
        # The generated code registers the same handlers twice, generic then by name;
        # the tolerant ones are registered both ways in add_registered_method_handlers.
        pass

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        declared = descriptor_pool.Default().FindServiceByName(service_name)
        tolerant = {
            name: _tolerant_handler(
                handler, declared.FindMethodByName(name).input_type.full_name, name
            )
            for name, handler in method_handlers.items()
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, tolerant),)
        )
        self._server.add_registered_method_handlers(service_name, tolerant)

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float | None) -> None:
        await self._server.stop(grace)

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        return await self._server.wait_for_termination(timeout)


def _tolerant_handler(
    handler: grpc.RpcMethodHandler[Any, Any], message: str, name: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler`, its request decoded by `_tolerant`. Every Tactful method is unary and
    generated with a deserializer; anything else is refused when it is registered."""
    if handler.unary_unary is None or handler.request_deserializer is None:
        raise TypeError(f"{name}: only a unary method with a deserializer decodes tolerantly")
    return grpc.unary_unary_rpc_method_handler(
        handler.unary_unary,
        request_deserializer=_tolerant(handler.request_deserializer, message),
        response_serializer=handler.response_serializer,
    )
