"""Server reflection v1 and v1alpha, as grpcurl uses them: list the services, describe
a method by its full name, and get its file with every file it depends on."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc_reflection.v1alpha import reflection_pb2
from grpc_tools import protoc

from tests.conftest import Tactful

VERSIONS = ("grpc.reflection.v1", "grpc.reflection.v1alpha")
# grpc/reflection/v1/reflection.proto as grpc publishes it (comments left out): the
# client of v1 is built from it here, not from anything the server holds.
V1_PROTO = """
syntax = "proto3";
package grpc.reflection.v1;
service ServerReflection {
  rpc ServerReflectionInfo(stream ServerReflectionRequest)
      returns (stream ServerReflectionResponse);
}
message ServerReflectionRequest {
  string host = 1;
  oneof message_request {
    string file_by_filename = 3;
    string file_containing_symbol = 4;
    ExtensionRequest file_containing_extension = 5;
    string all_extension_numbers_of_type = 6;
    string list_services = 7;
  }
}
message ExtensionRequest { string containing_type = 1; int32 extension_number = 2; }
message ServerReflectionResponse {
  string valid_host = 1;
  ServerReflectionRequest original_request = 2;
  oneof message_response {
    FileDescriptorResponse file_descriptor_response = 4;
    ExtensionNumberResponse all_extension_numbers_response = 5;
    ListServiceResponse list_services_response = 6;
    ErrorResponse error_response = 7;
  }
}
message FileDescriptorResponse { repeated bytes file_descriptor_proto = 1; }
message ExtensionNumberResponse { string base_type_name = 1; repeated int32 extension_number = 2; }
message ListServiceResponse { repeated ServiceResponse service = 1; }
message ServiceResponse { string name = 1; }
message ErrorResponse { int32 error_code = 1; string error_message = 2; }
"""
Messages = tuple[type[Message], type[Message]]  # (request, response)


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Messages]:
    """Each version's request and response classes: v1's compiled from V1_PROTO by
    protoc into a pool of its own, v1alpha's those grpcio-reflection ships."""
    folder = tmp_path_factory.mktemp("v1")
    (folder / "grpc" / "reflection" / "v1").mkdir(parents=True)
    (folder / "grpc" / "reflection" / "v1" / "reflection.proto").write_text(V1_PROTO)
    compiled = folder / "v1.binpb"
    assert protoc.main(
        ["protoc", f"-I{folder}", f"--descriptor_set_out={compiled}",
         "grpc/reflection/v1/reflection.proto"]
    ) == 0  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    (file,) = descriptor_pb2.FileDescriptorSet.FromString(compiled.read_bytes()).file
    pool.Add(file)

    def v1(name: str) -> type[Message]:
        return message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"grpc.reflection.v1.{name}")
        )

    return {
        "grpc.reflection.v1": (v1("ServerReflectionRequest"), v1("ServerReflectionResponse")),
        "grpc.reflection.v1alpha": (
            reflection_pb2.ServerReflectionRequest,
            reflection_pb2.ServerReflectionResponse,
        ),
    }


class Reflection:
    """A reflection client of one version over the test's channel."""

    def __init__(self, tactful: Tactful, version: str, messages: Messages) -> None:
        self.request, response = messages
        self._call = tactful.channel.stream_stream(
            f"/{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )

    def ask(self, **fields: str) -> Any:
        (reply,) = list(self._call(iter([self.request(**fields)]), timeout=5))
        return reply


@pytest.fixture(params=VERSIONS)
def reflection(
    request: pytest.FixtureRequest, tactful: Tactful, messages: dict[str, Messages]
) -> Reflection:
    return Reflection(tactful, request.param, messages[request.param])


def files_of(reply: Any) -> list[descriptor_pb2.FileDescriptorProto]:
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


def test_lists_the_services_and_both_reflections(reflection: Reflection) -> None:
    reply = reflection.ask(list_services="")
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "tactful.v1.Personalization",
        "tactful.v1.Journeys",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


def test_describes_a_method_with_its_dependencies(reflection: Reflection) -> None:
    """What `grpcurl describe tactful.v1.Personalization.GetSegments` asks."""
    reply = reflection.ask(file_containing_symbol="tactful.v1.Personalization.GetSegments")
    files = files_of(reply)
    assert files[0].name == "tactful/v1/personalization.proto"
    method = pool_of(files).FindMethodByName("tactful.v1.Personalization.GetSegments")
    assert method.input_type.full_name == "tactful.v1.GetSegmentsRequest"
    assert method.input_type.fields_by_name["subject"].message_type.full_name == (
        "tactful.v1.SubjectRef"  # from common.proto: a dependency came along
    )


def test_the_proto_comments_reach_the_client(reflection: Reflection) -> None:
    reply = reflection.ask(file_by_filename="tactful/v1/personalization.proto")
    comments = [
        location.leading_comments for location in files_of(reply)[0].source_code_info.location
    ]
    assert any("coarse segments the purpose releases" in c for c in comments)


def test_each_reflection_describes_itself(reflection: Reflection) -> None:
    version = reflection.request.DESCRIPTOR.full_name.removesuffix(".ServerReflectionRequest")
    reply = reflection.ask(file_containing_symbol=f"{version}.ServerReflection")
    service = pool_of(files_of(reply)).FindServiceByName(f"{version}.ServerReflection")
    assert service.methods_by_name["ServerReflectionInfo"].input_type.full_name == (
        f"{version}.ServerReflectionRequest"
    )


def test_an_unknown_symbol_is_not_found(reflection: Reflection) -> None:
    reply = reflection.ask(file_containing_symbol="tactful.v1.Personalization.Nothing")
    assert reply.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
