"""A large request body read straight off the socket by one worker thread.

aiohttp delivers a body as 256 KiB ``bytes`` objects created on the event loop, which the data
path then joins into 1 MiB chunks and hands to a driver thread: three copies, a fresh allocation
per piece (page faults cost as much as the copies on this class of machine) and two thread hops
per megabyte. For a plain ``Content-Length`` body on a TCP or Unix socket, :class:`SocketBody`
instead pauses aiohttp's reading and lets one thread ``readv`` the rest of the body into a
reused buffer. A driver that writes in threads takes it through :meth:`SocketBody.pump`
(the whole upload then runs in that one thread); any other driver iterates it like any body.

The HTTP parser never sees the bytes read this way, so the connection is closed after the
response: a keep-alive request would be parsed as body bytes. An app opts in with
:func:`enable`, which installs the response hook that does so; in other apps, and for bodies
under :data:`MIN_SIZE`, TLS and compressed or chunked bodies, aiohttp reads the body itself.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

__all__ = [
    "CLOSE_CONNECTION",
    "IDLE_TIMEOUT",
    "enable",
    "MIN_SIZE",
    "SocketBody",
    "parsed_chunks",
    "pump_body",
    "socket_body",
]

#: Request key set when the body bypassed the parser: the response must close the connection.
CLOSE_CONNECTION: Any = (
    web.RequestKey("corestore.close_connection", bool)
    if hasattr(web, "RequestKey")  # aiohttp >= 3.12
    else "corestore.close_connection"
)

#: App key of the apps whose responses close a bypassed connection (see :func:`enable`).
_ENABLED = web.AppKey("corestore.socket_body", bool)

#: Smaller bodies are not worth a thread and a new connection for the client's next request.
MIN_SIZE = 8 << 20

#: Seconds without a byte from the client before the upload fails.
IDLE_TIMEOUT = 120.0

#: How often a waiting reader thread checks whether the request was abandoned.
_POLL_MS = 500

#: Chunks read ahead for a consumer that iterates.
_QUEUE_DEPTH = 2


class SocketBody:
    """The rest of one request body, read from the socket in a worker thread.

    Use it once, either with :meth:`pump` or by iterating. Memory is one chunk buffer (plus, when
    iterated, the chunks queued for the consumer), whatever the body size.
    """

    def __init__(
        self,
        head: bytes,
        fd: int,
        remaining: int,
        *,
        chunk_size: int,
        is_closing: Callable[[], bool],
        on_bytes: Callable[[int], None] = lambda n: None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self._head = memoryview(head)
        self._fd = fd
        self._remaining = remaining
        self._total = len(head) + remaining
        self._chunk_size = chunk_size
        self._is_closing = is_closing
        self._on_bytes = on_bytes
        self._idle_timeout = idle_timeout
        self._abandoned = False
        self._used = False
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN | select.POLLPRI)

    # -- blocking side (the worker thread) ---------------------------------------------------

    def _read_some(self, view: memoryview) -> int:
        """Read at least one byte into ``view``; 0 only at the end of the body."""
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            self._on_bytes(n)
            return n
        if not self._remaining:
            return 0
        view = view[: self._remaining]
        idle_since = time.monotonic()
        while True:
            if self._abandoned or self._is_closing():
                raise ConnectionAbortedError("the request was abandoned during the upload")
            try:
                n = os.readv(self._fd, [view])
            except BlockingIOError:
                idle = time.monotonic() - idle_since
                if not self._poller.poll(_POLL_MS) and idle > self._idle_timeout:
                    # a ConnectionError: the client's doing, answered 400 and logged as such
                    raise ConnectionAbortedError(
                        f"no data from the client for {idle:.0f} s"
                    ) from None
                continue
            if n == 0:
                raise ConnectionResetError(
                    f"the client closed the connection after {self._total - self._remaining} "
                    f"of {self._total} bytes"
                )
            self._remaining -= n
            self._on_bytes(n)
            return n

    def _fill(self, view: memoryview) -> int:
        """Fill ``view`` (less only at the end of the body); return the bytes read."""
        filled = 0
        while filled < len(view):
            n = self._read_some(view[filled:])
            if not n:
                break
            filled += n
        return filled

    def _run(self, sink: Callable[[memoryview], None]) -> None:
        view = memoryview(bytearray(self._chunk_size))
        while n := self._fill(view):
            sink(view[:n])

    # -- asyncio side ------------------------------------------------------------------------

    def _start(self, sink: Callable[[memoryview], None], done: Callable[[Any], None]) -> None:
        """Run the transfer in a thread of its own (an upload may last long: it must not hold a
        pool slot), then call ``done`` on the loop with ``None`` or the exception raised."""
        if self._used:
            raise RuntimeError("a request body can be read only once")
        self._used = True
        loop = asyncio.get_running_loop()

        def target() -> None:
            try:
                self._run(sink)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop
                loop.call_soon_threadsafe(done, exc)
            else:
                loop.call_soon_threadsafe(done, None)

        threading.Thread(target=target, name="corestore-body", daemon=True).start()

    def _abandon(self) -> None:
        self._abandoned = True

    async def pump(self, sink: Callable[[memoryview], None]) -> None:
        """Call ``sink`` from a worker thread with each chunk of the body, in order.

        ``sink`` may block (write, hash); it gets a view that is only valid during the call, and
        an exception it raises stops the transfer and is raised here. Cancelling the caller
        stops the thread at its next chunk, or within half a second while it waits for data.
        """
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None) -> None:
            if finished.done():  # a cancelled caller no longer waits for the outcome
                return
            if error is None:
                finished.set_result(None)
            else:
                finished.set_exception(error)

        self._start(sink, settle)
        try:
            await finished
        finally:
            self._abandon()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The body as ``bytes`` chunks, for drivers that consume an async iterable.

        At most :data:`_QUEUE_DEPTH` chunks wait for the consumer; the thread waits for a free
        slot, and gives up when the consumer stops iterating.
        """
        items: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        slots = threading.Semaphore(_QUEUE_DEPTH)
        loop = asyncio.get_running_loop()

        def hand_over(view: memoryview) -> None:
            while not slots.acquire(timeout=_POLL_MS / 1000):
                if self._abandoned:
                    raise ConnectionAbortedError("the consumer stopped reading the body")
            loop.call_soon_threadsafe(items.put_nowait, bytes(view))

        self._start(hand_over, items.put_nowait)
        try:
            while (item := await items.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                slots.release()
                yield item
        finally:
            self._abandon()


def enable(app: web.Application) -> None:
    """Let handlers of ``app`` and its sub-apps read large bodies off the socket.

    Installs the response hook that closes the connection after such a body: without it the
    client would send its next request on a connection whose reading is paused, and hang.
    """
    app[_ENABLED] = True
    app.on_response_prepare.append(_close_after_bypass)


async def _close_after_bypass(request: web.Request, response: web.StreamResponse) -> None:
    if request.get(CLOSE_CONNECTION):
        response.force_close()  # the server closes after this response...
        response.headers["Connection"] = "close"  # ...and the client knows it


def socket_body(
    request: web.Request, chunk_size: int, on_bytes: Callable[[int], None]
) -> SocketBody | None:
    """A :class:`SocketBody` for ``request``, or ``None`` when aiohttp must read the body.

    Call it before anything reads the body: what aiohttp has buffered becomes the first bytes.
    """
    length = request.content_length
    transport = request.transport
    if (
        not any(app.get(_ENABLED) for app in request.match_info.apps)
        or length is None
        or length < MIN_SIZE
        or transport is None
        or request.headers.get("Content-Encoding", "identity").lower() != "identity"
        or "Transfer-Encoding" in request.headers
        or transport.get_extra_info("ssl_object") is not None
    ):
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return None
    content = request.content  # nothing has read from it yet: handlers call this first
    # read_nowait and feed_eof may resume aiohttp's reading, so pause only after them (no await
    # in between: no byte can reach the parser after this point).
    head = content.read_nowait() if not content.is_eof() else b""
    content.feed_eof()
    transport.pause_reading()
    remaining = length - content.total_bytes
    request[CLOSE_CONNECTION] = True
    return SocketBody(
        head,
        sock.fileno(),
        remaining,
        chunk_size=chunk_size,
        is_closing=transport.is_closing,
        on_bytes=on_bytes,
    )


async def pump_body(
    request: web.Request,
    sink: Callable[[memoryview], None],
    *,
    chunk_size: int,
    on_bytes: Callable[[int], None] = lambda n: None,
) -> None:
    """Feed the whole request body to a blocking ``sink``, off the event loop.

    For a server that writes a body to a file itself (a swarm node): a large plain body goes
    through :meth:`SocketBody.pump`; any other is read by aiohttp and each piece handed to
    ``sink`` in a worker thread.
    """
    body = socket_body(request, chunk_size, on_bytes)
    if body is not None:
        await body.pump(sink)
        return
    async for chunk in parsed_chunks(request, chunk_size, on_bytes):
        await asyncio.to_thread(sink, memoryview(chunk))


async def parsed_chunks(
    request: web.Request, chunk_size: int, on_bytes: Callable[[int], None] = lambda n: None
) -> AsyncIterator[bytes]:
    """The body as read by aiohttp, in chunks of exactly ``chunk_size`` (the last shorter).

    ``readexactly`` joins the parser's pieces with a single copy, and exact-size chunks pass
    through the drivers' own re-chunking without another one.
    """
    content = request.content
    while True:
        try:
            chunk = await content.readexactly(chunk_size)
        except asyncio.IncompleteReadError as end:  # a clean end of the body
            if end.partial:
                on_bytes(len(end.partial))
                yield end.partial
            return
        on_bytes(len(chunk))
        yield chunk
