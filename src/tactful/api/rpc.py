"""What every Tactful method declares once, instead of writing it out in each:
its full name, whether it writes, and where its domain call runs.

    class InsightsServicer(...):
        service = "Insights"

        @rpc(writes=True, on_writer=True)
        def GetSegmentSizes(self, request, actor) -> MethodResult:
            released = self._insights.release_segment_sizes(actor, ...)
            return MethodResult(insights_to_proto(released), released.decision)

The decorated method reads as one sentence: convert the request, make one domain
call, convert the result. `rpc` turns it into the gRPC handler: the edge
authenticates, records and fails closed (api/edge.py); `writes` stops it while
the access log fails; `on_writer` runs the (blocking) body on the engine's writer;
`keeps_record` hands the body the call's `Expected` record, to keep with its data
(every method that writes);
an `async` body runs on the event loop as it is, a plain one where the engine reads
(the loop for SQLite, reader threads for PostgreSQL: app/stores.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from typing import Any, Literal, Protocol, TypeVar, overload

import grpc

from tactful.api.decoding import UNIMPLEMENTED_METHOD, NoRequest, NoSuchMethod, Unimplemented
from tactful.api.edge import Edge, Expected, MethodResult
from tactful.privacy.decisions import Actor

T = TypeVar("T")


class WriteScheduler(Protocol):
    """The engine's way of running a write (the SQLite engine: its one writer thread)."""

    async def run(self, call: Callable[[], T]) -> T: ...


class Servicer(Protocol):
    service: str
    _edge: Edge
    _writer: WriteScheduler


Reply = MethodResult | Awaitable[MethodResult]  # a plain body returns it, an `async` one awaits it
Body = Callable[[Any, Any, Actor], Reply]  # (servicer, request, actor)
KeepingBody = Callable[[Any, Any, Actor, Expected], Reply]  # ..., and the call's record
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Any, Context], Awaitable[Any]]  # what gRPC calls


@overload
def rpc(
    *, writes: bool = False, on_writer: bool = False, keeps_record: Literal[False] = False
) -> Callable[[Body], Handler]: ...
@overload
def rpc(
    *, writes: bool = False, on_writer: bool = False, keeps_record: Literal[True]
) -> Callable[[KeepingBody], Handler]: ...
def rpc(
    *, writes: bool = False, on_writer: bool = False, keeps_record: bool = False
) -> Callable[[Callable[..., Reply]], Handler]:
    def declare(body: Callable[..., Any]) -> Handler:
        # Checked above, by the overloads: `body` takes the actor, and the expected record
        # if it `keeps_record`, and is awaited if (and only if) it is `async`.
        asynchronous = inspect.iscoroutinefunction(body)

        @wraps(body)
        async def handler(self: Servicer, request: Any, context: Context) -> Any:
            async def call(actor: Actor, expected: Expected) -> MethodResult:
                # `keeps_record`: the body gets the call's expected record too.
                given = (actor, expected) if keeps_record else (actor,)
                result: MethodResult
                if asynchronous:
                    result = await body(self, request, *given)
                elif on_writer:
                    result = await self._writer.run(partial(body, self, request, *given))
                else:
                    # On the loop, or (an engine whose reads are network round trips)
                    # on a reader thread, so that reads do not wait for one another.
                    result = await self._edge.reads(partial(body, self, request, *given))
                return result

            method = f"tactful.v1.{self.service}/{body.__name__}"
            return await self._edge.run(method, request, context, call, writes=writes)

        return handler

    return declare


def unimplemented(edge: Edge) -> Unimplemented:
    """The handler of every method Tactful does not have: authenticated, recorded (as
    UNIMPLEMENTED_METHOD, never the path the caller sent), answered UNIMPLEMENTED."""

    async def refuse(actor: Actor, expected: Expected) -> MethodResult:
        raise NoSuchMethod()

    async def run(request: NoRequest, context: Context) -> Any:
        return await edge.run(UNIMPLEMENTED_METHOD, request, context, refuse)

    return Unimplemented(run)
