"""The one place where errors become CS3 statuses, and how servicers are put on a server.

:func:`rpc` wraps every RPC method (unary or server-streaming). It

* gives the request an id (logged with every line, returned as ``status.trace``);
* authenticates the ``x-access-token`` metadata unless the RPC is public;
* maps the error tree into the response ``status`` (``exc.cs3_code``), and any other exception to
  ``CODE_INTERNAL`` with the request id, logged with its traceback server-side only;
* records metrics per RPC and driver.

:func:`add_servicer` registers the decorated methods with a deserializer that never raises: a
request that is not valid protobuf reaches the decorator as :class:`Undecodable` and is answered
``CODE_INVALID_ARGUMENT`` in a proper response instead of a bare gRPC error.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from cs3.rpc.v1beta1 import code_pb2, status_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError

from corestore.errors import CorestoreError, InvalidArgument
from corestore.logs import new_request_id, request_id
from corestore.metrics import current_driver

__all__ = ["Undecodable", "add_servicer", "ok", "rpc"]

log = logging.getLogger("corestore.grpc")
#: One line per RPC (name, code, driver, duration), with the request id like every other line.
access_log = logging.getLogger("corestore.access")


class Undecodable:
    """Stands in for a request whose bytes did not parse as the expected message."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def ok() -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.CODE_OK, trace=request_id.get())


def status_for(exc: BaseException, rpc_name: str) -> status_pb2.Status:
    """The CS3 status of an exception; unknown ones are logged and answered as internal."""
    trace = request_id.get()
    code = code_pb2.Code.DESCRIPTOR.values_by_name.get(getattr(exc, "cs3_code", ""))
    if isinstance(exc, CorestoreError) and type(exc) is not CorestoreError and code is not None:
        log.info("%s failed: %s", rpc_name, exc.message, extra={"code": exc.cs3_code})
        return status_pb2.Status(code=code.number, message=exc.message, trace=trace)
    log.error("%s failed with an internal error", rpc_name, exc_info=exc)
    return status_pb2.Status(
        code=code_pb2.CODE_INTERNAL, message=f"internal error (request id {trace})", trace=trace
    )


def rpc(
    response_cls: type, *, public: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``async def Name(self, request, context, user)`` (or an async generator)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__

        async def prologue(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            new_request_id()
            current_driver.set("-")
            if isinstance(request, Undecodable):
                raise InvalidArgument(f"the request is not a valid {request.type_name} message")
            if public:
                return None
            token = dict(context.invocation_metadata() or ()).get("x-access-token")
            return await self.state.user_for_token(token)

        def finish(self: Any, started: float, status: status_pb2.Status) -> None:
            code = code_pb2.Code.Name(status.code)
            seconds = time.perf_counter() - started
            self.state.metrics.observe(name, code, seconds, error=status.code != code_pb2.CODE_OK)
            access_log.info(
                "%s",
                name,
                extra={"code": code, "driver": current_driver.get(), "ms": round(seconds * 1e3, 2)},
            )

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = time.perf_counter()
                status = ok()
                try:
                    user = await prologue(self, request, context)
                    async for message in fn(self, request, context, user):
                        yield message
                    status = ok()
                except Exception as exc:  # noqa: BLE001 - this is the one mapping point
                    status = status_for(exc, name)
                    yield response_cls(status=status)
                finally:
                    finish(self, started, status)

            wrapper: Any = stream
        else:

            @functools.wraps(fn)
            async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = time.perf_counter()
                try:
                    user = await prologue(self, request, context)
                    response = await fn(self, request, context, user)
                    if not response.HasField("status"):
                        response.status.CopyFrom(ok())
                except Exception as exc:  # noqa: BLE001 - this is the one mapping point
                    response = response_cls(status=status_for(exc, name))
                finish(self, started, response.status)
                return response

            wrapper = unary
        wrapper.cs3_rpc = True  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _lenient(message_cls: type) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return message_cls.FromString(data)
        except (DecodeError, ValueError, TypeError):
            return Undecodable(message_cls.DESCRIPTOR.full_name)

    return deserialize


def add_servicer(server: grpc.aio.Server, servicer: Any, service: ServiceDescriptor) -> list[str]:
    """Register every ``@rpc`` method of ``servicer`` for ``service``; return their names.

    Methods of the service that the servicer does not implement are left out, so gRPC answers
    them ``UNIMPLEMENTED`` (the generated default).
    """
    handlers = {}
    for method in service.methods:
        impl = getattr(servicer, method.name, None)
        if impl is None or not getattr(impl, "cs3_rpc", False):
            continue
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            impl,
            request_deserializer=_lenient(request_cls),
            response_serializer=response_cls.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    return sorted(handlers)
