"""Server reflection v1 and v1alpha, as grpcurl uses them: list the services, describe
a method by its full name, and get its file with every file it depends on."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2

from tests.conftest import Tactful

# The v1 messages are v1alpha's under another package name: the same bytes on the wire
# (grpc/reflection/v1/reflection.proto), so one pair of classes speaks to both.
VERSIONS = ("grpc.reflection.v1", "grpc.reflection.v1alpha")
Request = reflection_pb2.ServerReflectionRequest
Response = reflection_pb2.ServerReflectionResponse


def ask(tactful: Tactful, version: str, *requests: Request) -> list[Response]:
    call = tactful.channel.stream_stream(
        f"/{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=Request.SerializeToString,
        response_deserializer=Response.FromString,
    )
    return list(call(iter(requests), timeout=5))


def files_of(reply: Response) -> list[descriptor_pb2.FileDescriptorProto]:
    assert reply.WhichOneof("message_response") == "file_descriptor_response", reply
    return [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in reply.file_descriptor_response.file_descriptor_proto
    ]


def pool_of(files: list[descriptor_pb2.FileDescriptorProto]) -> descriptor_pool.DescriptorPool:
    """A fresh pool holding exactly `files`: it refuses a file whose dependency is missing."""
    pool = descriptor_pool.DescriptorPool()
    pending = {f.name: f for f in files}
    while pending:
        ready = [f for f in pending.values() if not set(f.dependency) & pending.keys()]
        assert ready, f"dependencies missing from the reply: {sorted(pending)}"
        for file in ready:
            pool.Add(file)
            del pending[file.name]
    return pool


@pytest.mark.parametrize("version", VERSIONS)
def test_lists_the_services_and_both_reflections(tactful: Tactful, version: str) -> None:
    (reply,) = ask(tactful, version, Request(list_services=""))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "tactful.v1.Personalization",
        "tactful.v1.Journeys",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


@pytest.mark.parametrize("version", VERSIONS)
def test_describes_a_method_with_its_dependencies(tactful: Tactful, version: str) -> None:
    """What `grpcurl describe tactful.v1.Personalization.GetSegments` asks."""
    (reply,) = ask(
        tactful, version, Request(file_containing_symbol="tactful.v1.Personalization.GetSegments")
    )
    files = files_of(reply)
    assert files[0].name == "tactful/v1/personalization.proto"
    method = pool_of(files).FindMethodByName("tactful.v1.Personalization.GetSegments")
    assert method.input_type.full_name == "tactful.v1.GetSegmentsRequest"
    assert method.input_type.fields_by_name["subject"].message_type.full_name == (
        "tactful.v1.SubjectRef"  # from common.proto: a dependency came along
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_the_proto_comments_reach_the_client(tactful: Tactful, version: str) -> None:
    (reply,) = ask(tactful, version, Request(file_by_filename="tactful/v1/personalization.proto"))
    comments = [
        location.leading_comments for location in files_of(reply)[0].source_code_info.location
    ]
    assert any("coarse segments the purpose releases" in c for c in comments)


def test_v1_describes_itself(tactful: Tactful) -> None:
    (reply,) = ask(
        tactful,
        "grpc.reflection.v1",
        Request(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
    )
    service = pool_of(files_of(reply)).FindServiceByName("grpc.reflection.v1.ServerReflection")
    assert service.methods_by_name["ServerReflectionInfo"].input_type.full_name == (
        "grpc.reflection.v1.ServerReflectionRequest"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_symbol_is_not_found(tactful: Tactful, version: str) -> None:
    (reply,) = ask(
        tactful, version, Request(file_containing_symbol="tactful.v1.Personalization.Nothing")
    )
    assert reply.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
