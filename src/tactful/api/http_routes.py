"""The HTTP door's routes, read from the `google.api.http` options of the .proto files,
as grpc-gateway and Envoy read them: no route is written by hand.

    rpc NextAction(NextActionRequest) returns (NextActionResponse) {
      option (google.api.http) = {post: "/v1/journeys/{journey}:nextAction" body: "*"};
    }

A template is literal segments, `{field}` variables (one segment each, into a string
field of the request, `.` naming a nested field) and an optional `:verb` at the end.
`body: "*"` reads the whole request from the JSON body; `body: "field"` that field
only; no body (a GET) reads the fields from the query string. A rule the door cannot
serve stops the server at start, naming the method.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message

HTTP: Any = annotations_pb2.http  # the extension `option (google.api.http)` sets
VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:=\*)?\}")
_LITERAL = re.compile(r"[A-Za-z0-9._~-]+")


class UnservableRule(Exception):
    """A `google.api.http` rule the door cannot serve; the message names the method."""


@dataclass(frozen=True)
class HttpRoute:
    """One binding of one method: `POST /v1/segments:get`, Personalization/GetSegments."""

    verb: str  # upper case: GET, POST, …
    template: str  # as written in the .proto
    method: str  # the gRPC path, /tactful.v1.Personalization/GetSegments
    request: type[Message]
    response: type[Message]
    body: str  # "*", a field name, or "" (the query string)
    variables: tuple[str, ...]  # the fields the path names, in order
    pattern: re.Pattern[str]

    def match(self, path: str) -> dict[str, str] | None:
        """The path variables' values if `path` is this route's, else None."""
        found = self.pattern.fullmatch(path)
        return dict(zip(self.variables, found.groups(), strict=True)) if found else None


def routes_of(services: Iterable[ServiceDescriptor]) -> list[HttpRoute]:
    """Every binding (additional ones included) of every method of `services`."""
    routes: list[HttpRoute] = []
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(HTTP):
                continue
            rule: http_pb2.HttpRule = options.Extensions[HTTP]
            name = f"/{service.full_name}/{method.name}"
            for binding in (rule, *rule.additional_bindings):
                routes.append(_route(name, method.input_type, method.output_type, binding))
    _refuse_clashes(routes)
    return routes


def _route(
    method: str, request: Descriptor, response: Descriptor, rule: http_pb2.HttpRule
) -> HttpRoute:
    kind = rule.WhichOneof("pattern")
    if kind not in VERBS:
        raise UnservableRule(f"{method}: the door serves {', '.join(VERBS)}, not {kind}")
    template = getattr(rule, kind)
    pattern, variables = _compile(method, template)
    for variable in variables:
        field = field_at(request, variable)
        if field is None or field.type != FieldDescriptor.TYPE_STRING or _repeated(field):
            raise UnservableRule(f"{method}: {{{variable}}} is not a string field of the request")
    if rule.body not in ("", "*") and rule.body not in request.fields_by_name:
        raise UnservableRule(f"{method}: body {rule.body!r} is not a field of the request")
    if kind == "get" and rule.body:
        raise UnservableRule(f"{method}: a GET has no body")
    return HttpRoute(
        kind.upper(),
        template,
        method,
        message_factory.GetMessageClass(request),
        message_factory.GetMessageClass(response),
        rule.body,
        variables,
        pattern,
    )


def _compile(method: str, template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    path, verb = template, ""
    head, colon, tail = template.rpartition(":")
    if colon and not set(tail) & set("/{}"):  # a custom verb: /v1/segments:get
        path, verb = head, tail
    if not path.startswith("/") or (verb and not _LITERAL.fullmatch(verb)):
        raise UnservableRule(f"{method}: template {template!r} must be /segments[:verb]")
    parts, variables = [], []
    for segment in path[1:].split("/"):
        variable = _VARIABLE.fullmatch(segment)
        if variable:
            variables.append(variable.group(1))
            parts.append("([^/]+)")
        elif _LITERAL.fullmatch(segment):
            parts.append(re.escape(segment))
        else:
            raise UnservableRule(
                f"{method}: template {template!r}: the door serves literal segments and "
                f"{{field}} variables, not {segment!r}"
            )
    suffix = re.escape(f":{verb}") if verb else ""
    return re.compile("/" + "/".join(parts) + suffix), tuple(variables)


def field_at(message: Descriptor | None, path: str) -> FieldDescriptor | None:
    """The field `path` (`subject.id`) names in `message`, or None."""
    field = None
    for name in path.split("."):
        if message is None or name not in message.fields_by_name:
            return None
        field = message.fields_by_name[name]
        message = field.message_type
    return field


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _refuse_clashes(routes: list[HttpRoute]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for route in routes:
        key = (route.verb, route.pattern.pattern)
        if key in seen:
            raise UnservableRule(f"{route.method}: {route.verb} {route.template} is {seen[key]}'s")
        seen[key] = route.method


def nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """`{"subject.id": "x"}` → `{"subject": {"id": "x"}}`, for json_format.ParseDict.

    >>> nested({"subject.id": "x", "purpose": "p"})
    {'subject': {'id': 'x'}, 'purpose': 'p'}
    """
    tree: dict[str, Any] = {}
    for path, value in values.items():
        *parents, leaf = path.split(".")
        place = tree
        for parent in parents:
            place = place.setdefault(parent, {})
        place[leaf] = value
    return tree


def route_table(routes: Iterable[HttpRoute]) -> list[str]:
    """The routes as the docs list them: `| POST | /v1/segments:get | Personalization.GetSegments |`
    (a Markdown table's rows)."""
    return [f"| {r.verb} | `{r.template}` | {_short(r.method)} |" for r in routes]


def _short(method: str) -> str:
    """/tactful.v1.Personalization/GetSegments → Personalization.GetSegments"""
    return method[1:].removeprefix("tactful.v1.").replace("/", ".")
