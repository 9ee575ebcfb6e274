"""The HTTP/JSON door: Tactful's API for browsers, webhooks and scripts that cannot
speak gRPC, transcoded from the .proto files as grpc-gateway does it.

    browser ──POST /v1/segments:get {json}──▶ door ──gRPC over a private socket──▶ the server
            ◀──── 200 {json} / 4xx google.rpc.Status as JSON ◀────────────────┘

Each request becomes the gRPC call its `google.api.http` rule names (api/http_routes.py)
and goes to this server's own gRPC port, through a Unix socket in a private folder:
the edge authenticates it, decides the purpose, writes the access record before the
reply and fails closed exactly as for any gRPC caller, because it is a gRPC call. What
it costs per call: the JSON parsed and printed, the message encoded and decoded once
more, and a round trip over the socket.

- `Authorization: Bearer …` and `X-Request-Id` go on as gRPC metadata; the reply's
  request id comes back as `X-Request-Id`.
- Replies and errors are proto3 JSON (json_format: lowerCamelCase names); an error is a
  google.rpc.Status with its details, under the HTTP status of its gRPC code
  (google/rpc/code.proto's mapping, as grpc-gateway uses it).
- CORS for the declared origins only: the origin is echoed, never `*`, and no
  credentials (tokens travel in a header, not in cookies).
- A body larger than `[http] max_body_bytes` gets 413 before it is read whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import ssl
from collections.abc import Generator, Iterable, Sequence
from typing import Any, cast

import grpc
import uvicorn
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from tactful.api.edge import DOOR_CLIENT_KEY
from tactful.api.http_routes import HttpRoute, field_at, nested
from tactful.app.settings import ConfigError, HttpSettings, TlsSettings, parse_listen

log = logging.getLogger("tactful.http")
# Registers the google.rpc detail types, so a Status's details print as JSON.
DETAIL_TYPES = (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo)
DEADLINE_S = 30.0
# google/rpc/code.proto: the HTTP status each gRPC code maps to.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
FORWARDED_HEADERS = ("authorization", "x-request-id")
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")  # what gRPC metadata may carry as text
JSON = "application/json"


class _Refused(Exception):
    """A request the door answers itself: it never reached the service."""

    def __init__(self, http_status: int, code: int, message: str, headers: Any = None) -> None:
        super().__init__(message)
        self.http_status, self.code, self.headers = http_status, code, headers or {}


def status_json(status: status_pb2.Status) -> bytes:
    """google.rpc.Status as proto3 JSON; details whose type is unknown are left out."""
    try:
        return json_format.MessageToJson(status, indent=None).encode()
    except (TypeError, json_format.Error):
        return json_format.MessageToJson(
            status_pb2.Status(code=status.code, message=status.message), indent=None
        ).encode()


class Transcoder:
    """Turns an HTTP request into its gRPC call over `channel`, and the answer back."""

    def __init__(
        self,
        routes: Sequence[HttpRoute],
        channel: grpc.aio.Channel,
        settings: HttpSettings,
    ) -> None:
        self._routes = routes
        self._max_body = settings.max_body_bytes
        self._calls = {
            route.method: channel.unary_unary(
                route.method,
                request_serializer=route.request.SerializeToString,
                response_deserializer=route.response.FromString,
            )
            for route in routes
        }

    async def answer(self, request: Request) -> Response:
        try:
            route, variables = self._route_of(request.method, request.url.path)
            message = await self._message(route, variables, request)
            return await self._call(route, message, request)
        except _Refused as refused:
            status = status_pb2.Status(code=refused.code, message=str(refused))
            return Response(status_json(status), refused.http_status, refused.headers, JSON)
        except Exception:  # a fault of the door's own: logged, answered as gRPC would
            log.exception("the HTTP/JSON door failed on %s %s", request.method, request.url.path)
            status = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
            return Response(status_json(status), 500, {}, JSON)

    def _route_of(self, verb: str, path: str) -> tuple[HttpRoute, dict[str, str]]:
        allowed = []
        for route in self._routes:
            variables = route.match(path)
            if variables is None:
                continue
            if route.verb == verb:
                return route, variables
            allowed.append(route.verb)
        if allowed:
            raise _Refused(
                405,
                code_pb2.UNIMPLEMENTED,
                f"{path} answers {', '.join(allowed)}, not {verb}",
                {"Allow": ", ".join(allowed)},
            )
        raise _Refused(
            404, code_pb2.NOT_FOUND, f"no method at {path} (the routes: docs/guide/http.md)"
        )

    async def _message(
        self, route: HttpRoute, variables: dict[str, str], request: Request
    ) -> Message:
        """The request message: the body's fields (or the query's), then the path's,
        which win over the body's as in grpc-gateway."""
        message, from_path = route.request(), route.request()
        try:
            fields = await self._fields(route, request)
            if not isinstance(fields, dict):
                raise ValueError("the body must be a JSON object")
            json_format.ParseDict(fields, message)
            json_format.ParseDict(nested(variables), from_path)
        except (json_format.ParseError, ValueError, RecursionError) as exc:
            raise _Refused(
                400,
                code_pb2.INVALID_ARGUMENT,
                f"not a {route.request.DESCRIPTOR.full_name} in JSON: {exc}",
            ) from None
        for name in variables:
            *parents, leaf = name.split(".")
            place = message
            for parent in parents:
                place = getattr(place, parent)
            place.ClearField(leaf)
        message.MergeFrom(from_path)
        return message

    async def _fields(self, route: HttpRoute, request: Request) -> Any:
        if not route.body:  # a GET: ?purpose=x&subject.id=y, a repeated field repeated
            query: dict[str, list[str]] = {}
            for key, value in request.query_params.multi_items():
                query.setdefault(key, []).append(value)
            descriptor = cast(Descriptor, route.request.DESCRIPTOR)
            return nested(
                {
                    key: values if _repeated(field_at(descriptor, key)) else values[-1]
                    for key, values in query.items()
                }
            )
        parsed = json.loads(await self._body(request) or b"{}")
        return parsed if route.body == "*" else {route.body: parsed}

    async def _body(self, request: Request) -> bytes:
        kind = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if kind != JSON:
            raise _Refused(415, code_pb2.INVALID_ARGUMENT, f"the body must be {JSON}, not {kind}")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise self._too_large()
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > self._max_body:
                    raise self._too_large()
        except ClientDisconnect:
            raise _Refused(400, code_pb2.CANCELLED, "the client went away") from None
        return bytes(body)

    def _too_large(self) -> _Refused:
        return _Refused(
            413, code_pb2.INVALID_ARGUMENT, f"the body is larger than {self._max_body} bytes"
        )

    async def _call(self, route: HttpRoute, message: Message, request: Request) -> Response:
        metadata = tuple(
            (name, value)
            for name in FORWARDED_HEADERS
            if (value := request.headers.get(name)) is not None and _METADATA_VALUE.fullmatch(value)
        )
        if request.client is not None:  # for the failed-call limits (api/edge.py)
            metadata += ((DOOR_CLIENT_KEY, request.client.host),)
        call = self._calls[route.method](message, metadata=metadata, timeout=DEADLINE_S)
        try:
            reply = await call
        except grpc.aio.AioRpcError as error:
            return self._error(error)
        headers = _request_id(await call.trailing_metadata())
        body = json_format.MessageToJson(
            reply, indent=None, always_print_fields_with_no_presence=True
        )
        return Response(body.encode(), 200, headers, JSON)

    def _error(self, error: grpc.aio.AioRpcError) -> Response:
        trailers = error.trailing_metadata() or ()
        status = status_pb2.Status(code=error.code().value[0], message=error.details() or "")
        for key, value in trailers:
            if key == "grpc-status-details-bin" and isinstance(value, bytes):
                status = status_pb2.Status.FromString(value)
        headers = _request_id(trailers)
        return Response(status_json(status), HTTP_STATUS.get(error.code(), 500), headers, JSON)


def _repeated(field: FieldDescriptor | None) -> bool:
    return field is not None and bool(field.is_repeated)


def _request_id(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    for key, value in metadata or ():
        if key == "x-request-id" and isinstance(value, str):
            return {"X-Request-Id": value}
    return {}


def create_door_app(
    routes: Sequence[HttpRoute], channel: grpc.aio.Channel, settings: HttpSettings
) -> Starlette:
    """The ASGI application: every route through one transcoder, CORS in front."""
    transcoder = Transcoder(routes, channel, settings)
    middleware = (
        [
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=sorted({route.verb for route in routes}),
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id"],
                allow_credentials=False,
                max_age=600,
            )
        ]
        if settings.cors_origins
        else []
    )
    verbs = ["GET", "PUT", "POST", "DELETE", "PATCH"]
    return Starlette(
        routes=[Route("/{path:path}", transcoder.answer, methods=verbs)], middleware=middleware
    )


class _Server(uvicorn.Server):
    """uvicorn inside Tactful's own event loop: the signals stay `tactful serve`'s."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpDoor:
    """The door's listener: start() binds and serves, stop() closes it and its channel."""

    def __init__(
        self,
        settings: HttpSettings,
        tls: TlsSettings | None,
        routes: Sequence[HttpRoute],
        target: str,
        *,
        reuse_port: bool = False,
    ) -> None:
        self._settings, self._tls, self._routes, self._target = settings, tls, routes, target
        self._reuse_port = reuse_port  # several processes on one port (SO_REUSEPORT)
        self.port = 0

    def bind(self) -> None:
        """Take the door's address now, before the server starts; ConfigError if it
        cannot be had."""
        host, port = parse_listen(self._settings.listen)
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        try:
            listener = socket.create_server(
                (host.strip("[]"), port), family=family, reuse_port=self._reuse_port
            )
        except OSError as exc:
            raise ConfigError(
                f"http.listen: cannot listen on {self._settings.listen}: {exc.strerror or exc}"
            ) from None
        # Inherited by every connection: uvicorn writes a reply's head and body apart,
        # and without it the body waits for the client's delayed ACK (40 ms a call).
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def unbind(self) -> None:
        """Give the address back (a start that failed after bind)."""
        self._listener.close()

    async def start(self) -> None:
        """Serve on the bound address, through a channel to `target`."""
        self._channel = grpc.aio.insecure_channel(self._target)
        app = create_door_app(self._routes, self._channel, self._settings)
        tls: dict[str, Any] = {}
        if self._tls is not None:
            tls = {"ssl_certfile": str(self._tls.cert), "ssl_keyfile": str(self._tls.key)}
            if self._tls.client_ca is not None:
                tls |= {
                    "ssl_ca_certs": str(self._tls.client_ca),
                    "ssl_cert_reqs": ssl.CERT_REQUIRED,
                }
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,  # the edge logs every call already
            server_header=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
            **tls,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._listener]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # its error, raised here
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task
        await self._channel.close()
        self._listener.close()
