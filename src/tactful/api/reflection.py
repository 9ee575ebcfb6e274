"""Server reflection, as grpcurl, Postman and grpc-js ask for it: `grpc.reflection.v1`
beside the older `v1alpha`, one servicer answering both.

grpcio-reflection serves only v1alpha, and asks the descriptor pool for the file
holding a symbol; the pool (upb) knows messages, services and fields by name but not
methods, so `grpcurl describe tactful.v1.Personalization.GetSegments` got NOT_FOUND
("Symbol not found"). Here a method resolves to its service's file.

The two versions are the same messages under another package (grpc's
reflection/v1/reflection.proto is v1alpha's, renamed), so v1 is the v1alpha servicer
registered under the v1 name, and its file descriptor is v1alpha's, renamed, so that a
client can describe the reflection service itself.

Tactful's own files are served from `v1/descriptors.binpb` (written by `make proto`
with protoc's `--include_source_info`), so a client sees the comments of the .proto
files; the generated *_pb2.py modules carry descriptors without them.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
V1 = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
SOURCES = "descriptors.binpb"  # in tactful.v1


def _commented_files() -> dict[str, bytes]:
    """Tactful's .proto files as protoc described them, comments included, by name."""
    found = descriptor_pb2.FileDescriptorSet.FromString(
        files("tactful.v1").joinpath(SOURCES).read_bytes()
    )
    return {proto.name: proto.SerializeToString() for proto in found.file}


def _add_v1_descriptor(pool: Any) -> None:
    """grpc/reflection/v1/reflection.proto in `pool`: v1alpha's file, renamed."""
    try:
        pool.FindFileByName(V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{proto.package}.", ".grpc.reflection.v1."
    proto.name, proto.package = V1_FILE, "grpc.reflection.v1"
    for message in proto.message_type:
        for field in message.field:
            if field.type_name:
                field.type_name = field.type_name.replace(old, new)
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(old, new)
        method.output_type = method.output_type.replace(old, new)
    pool.Add(proto)


def _not_found(request: Any) -> Any:
    """NOT_FOUND, as v1alpha's servicer answers it."""
    return reflection_pb2.ServerReflectionResponse(
        error_response=reflection_pb2.ErrorResponse(
            error_code=grpc.StatusCode.NOT_FOUND.value[0], error_message="not found"
        ),
        original_request=request,
    )


class Reflection(ReflectionServicer):
    """v1alpha's servicer, resolving methods too, and serving commented files."""

    def __init__(self, service_names: Iterable[str]) -> None:
        pool = descriptor_pool.Default()
        _add_v1_descriptor(pool)
        super().__init__((*service_names, V1ALPHA, V1), pool)
        self._descriptors = pool
        self._commented = _commented_files()

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        file = self._file_of(fully_qualified_name)
        if file is None:
            return _not_found(request)
        return self._files_of(file, request)

    def _file_of(self, symbol: str) -> FileDescriptor | None:
        try:
            return self._descriptors.FindFileContainingSymbol(symbol)
        except KeyError:
            pass
        service, _, method = symbol.rpartition(".")
        try:
            found = self._descriptors.FindServiceByName(service)
        except KeyError:
            return None
        return found.file if method in found.methods_by_name else None

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        try:
            return self._files_of(self._descriptors.FindFileByName(filename), request)
        except KeyError:
            return _not_found(request)

    def _files_of(self, file: FileDescriptor, request: Any) -> Any:
        """The file and every file it depends on, each once, the file first."""
        seen: dict[str, FileDescriptor] = {}
        pending = [file]
        while pending:
            current = pending.pop(0)
            if current.name not in seen:
                seen[current.name] = current
                pending.extend(current.dependencies)
        return reflection_pb2.ServerReflectionResponse(
            file_descriptor_response=reflection_pb2.FileDescriptorResponse(
                file_descriptor_proto=[self._serialized(f) for f in seen.values()]
            ),
            original_request=request,
        )

    def _serialized(self, file: FileDescriptor) -> bytes:
        if file.name in self._commented:
            return self._commented[file.name]
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        return proto.SerializeToString()


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection v1 and v1alpha for `service_names` (and for themselves)."""
    servicer = Reflection(service_names)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler})
            for name in (V1, V1ALPHA)
        ]
    )
