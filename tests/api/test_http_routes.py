"""The door's routes are read from `google.api.http` rules; a rule it cannot serve
stops the start, naming the method."""

from __future__ import annotations

import itertools

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from tactful.api.http_routes import UnservableRule, routes_of

_NUMBERS = itertools.count()
_FIELD = descriptor_pb2.FieldDescriptorProto


def service(*rules: http_pb2.HttpRule) -> ServiceDescriptor:
    """A service of one method per rule over `Thing {name, count, tags, inner {id}}`."""
    number = next(_NUMBERS)
    package = f"door.test{number}"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"door/test{number}.proto",
        package=package,
        syntax="proto3",
        dependency=["google/api/annotations.proto"],
    )
    inner = file.message_type.add(name="Inner")
    inner.field.add(name="id", number=1, type=_FIELD.TYPE_STRING, json_name="id")
    thing = file.message_type.add(name="Thing")
    for name, kind, label, type_name in (
        ("name", _FIELD.TYPE_STRING, _FIELD.LABEL_OPTIONAL, ""),
        ("count", _FIELD.TYPE_INT32, _FIELD.LABEL_OPTIONAL, ""),
        ("tags", _FIELD.TYPE_STRING, _FIELD.LABEL_REPEATED, ""),
        ("inner", _FIELD.TYPE_MESSAGE, _FIELD.LABEL_OPTIONAL, f".{package}.Inner"),
    ):
        field = thing.field.add(name=name, number=len(thing.field) + 1, type=kind, label=label)
        if type_name:
            field.type_name = type_name
    methods = file.service.add(name="Things")
    for index, rule in enumerate(rules):
        method = methods.method.add(
            name=f"M{index}", input_type=f".{package}.Thing", output_type=f".{package}.Thing"
        )
        method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    pool = descriptor_pool.Default()
    pool.Add(file)
    return pool.FindServiceByName(f"{package}.Things")


def test_variables_and_verbs_match_one_segment_each() -> None:
    (by_name, by_inner) = routes_of(
        [
            service(
                http_pb2.HttpRule(get="/v1/things/{name}"),
                http_pb2.HttpRule(post="/v1/things/{inner.id}:go", body="*"),
            )
        ]
    )
    assert by_name.verb == "GET" and by_name.variables == ("name",)
    assert by_name.match("/v1/things/abc") == {"name": "abc"}
    assert by_name.match("/v1/things/a/b") is None
    assert by_name.match("/v1/things/") is None
    assert by_inner.match("/v1/things/x:go") == {"inner.id": "x"}
    assert by_inner.match("/v1/things/x") is None
    assert by_inner.method.endswith(".Things/M1")


def test_additional_bindings_are_routes_too() -> None:
    rule = http_pb2.HttpRule(
        post="/v1/things:make",
        body="*",
        additional_bindings=[http_pb2.HttpRule(put="/v1/things/{name}", body="*")],
    )
    assert [(r.verb, r.template) for r in routes_of([service(rule)])] == [
        ("POST", "/v1/things:make"),
        ("PUT", "/v1/things/{name}"),
    ]


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        (http_pb2.HttpRule(get="/v1/things/{count}"), "not a string field"),
        (http_pb2.HttpRule(get="/v1/things/{tags}"), "not a string field"),
        (http_pb2.HttpRule(get="/v1/things/{nothing}"), "not a string field"),
        (http_pb2.HttpRule(get="/v1/things/{name=things/*}"), "literal segments"),
        (http_pb2.HttpRule(get="/v1/**"), "literal segments"),
        (http_pb2.HttpRule(get="v1/things"), "must be /segments"),
        (http_pb2.HttpRule(post="/v1/things", body="nothing"), "not a field"),
        (http_pb2.HttpRule(get="/v1/things", body="*"), "a GET has no body"),
        (
            http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="HEAD", path="/v1/x")),
            "not custom",
        ),
    ],
)
def test_a_rule_the_door_cannot_serve_stops_the_start(
    rule: http_pb2.HttpRule, complaint: str
) -> None:
    with pytest.raises(UnservableRule, match=complaint):
        routes_of([service(rule)])


def test_two_methods_on_one_route_stop_the_start() -> None:
    same = http_pb2.HttpRule(post="/v1/things", body="*")
    with pytest.raises(UnservableRule, match="M0's"):
        routes_of([service(same, same)])
