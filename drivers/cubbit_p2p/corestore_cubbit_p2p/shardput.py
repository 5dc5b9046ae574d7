"""One shard's streaming PUT, sent by a thread of its own over a blocking socket.

Why not the event loop: an upload pushes 1.5x the file's bytes to m nodes, and on a fast link
the sending itself is most of the driver's work. Through aiohttp every block became an awaited
write of the loop thread (the kernel copy held up all other coroutines, and a partial send was
copied again into the transport's buffer). Here each shard's thread hands a block and its tag
to the kernel in one ``sendmsg`` with the GIL released, so m sends, the loop and the coding
pool run side by side. The request is plain HTTP/1.1 (``Content-Length`` when the shard size
is known, chunked otherwise) and the answer is read with :mod:`http.client`.

The loop side keeps the bounded-queue contract of the pipeline: :meth:`ShardSender.send`
waits (at most ``stall_timeout``) while ``depth`` records are unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from corestore.errors import Unavailable

__all__ = ["Placement", "Record", "ShardSender"]

log = logging.getLogger(__name__)

#: One record of a shard: a block and its 16-byte tag, stored back to back.
Record = tuple[bytes | memoryview, bytes]

_END = object()  # the body is complete: finish the request and read the answer
_ABORT = object()  # stop now, leave the request incomplete (the node discards it)


@dataclass(frozen=True)
class Placement:
    """Shard ``index`` of a file on node ``node_id`` reachable at ``url``."""

    index: int
    node_id: str
    url: str

    def shard_url(self, file_id: str) -> str:
        return f"{self.url}/shards/{file_id}/{self.index}"


class ShardSender:
    """One streaming PUT of one shard, fed through a bounded queue (the backpressure).

    A failure (refused connection, an error answer, a stall longer than ``stall_timeout``)
    marks the sender dead (``alive`` is false, ``error`` says why) and never raises into the
    producer: losing one shard is the pipeline's decision, not this class's.
    """

    def __init__(
        self,
        placement: Placement,
        file_id: str,
        depth: int,
        length: int | None = None,
        *,
        stall_timeout: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.placement = placement
        self.error: BaseException | None = None
        self.result: dict | None = None
        self._url = urlsplit(placement.shard_url(file_id))
        self._length = length
        self._depth = depth
        self._stall, self._connect_timeout = stall_timeout, connect_timeout
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(depth)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._sock: socket.socket | None = None
        self._sock_lock = threading.Lock()
        self._aborted = False
        self._thread = threading.Thread(
            target=self._run, name=f"p2p-shard-{placement.index}", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self.error is None

    # -- loop side ------------------------------------------------------------------------------

    async def send(self, record: Record, stall_timeout: float) -> None:
        if not self.alive:
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), stall_timeout)
        except TimeoutError:
            self.abort()
            self._fail(Unavailable(f"node {self.placement.node_id} stalled"))
            return
        if self.alive:
            self._queue.put(record)

    async def finish(self) -> None:
        """End the body (when still alive) and wait for the node's answer."""
        if self.alive:
            self._queue.put(_END)
        await asyncio.shield(self._done)

    def abort(self) -> None:
        """Stop sending at once; a blocked ``sendmsg`` is woken by shutting the socket down."""
        with self._sock_lock:
            self._aborted = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
        self._queue.put(_ABORT)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            log.info(
                "shard %s on %s dropped: %s", self.placement.index, self.placement.node_id, exc
            )
        for _ in range(self._depth):  # wake a producer waiting for a slot
            self._slots.release()

    def _finished(self, result: dict | None, exc: BaseException | None) -> None:
        if exc is not None:
            self._fail(exc)
        else:
            self.result = result
        if not self._done.done():
            self._done.set_result(None)

    def _from_thread(self, callback: Callable[..., object], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(callback, *args)

    # -- thread side ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            result = self._put()
        except BaseException as exc:  # noqa: BLE001 - handed to the loop
            self._from_thread(self._finished, None, exc)
        else:
            self._from_thread(self._finished, result, None)
        finally:
            with self._sock_lock:
                if self._sock is not None:
                    self._sock.close()

    def _put(self) -> dict:
        url = self._url
        sock = socket.create_connection((url.hostname, url.port or 80), self._connect_timeout)
        with self._sock_lock:
            self._sock = sock
            if self._aborted:
                raise Unavailable("cancelled")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._stall)
        chunked = self._length is None
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {self._length}"
        pending: list[bytes | memoryview] = [
            f"PUT {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n"
            f"{framing}\r\n\r\n".encode("ascii")
        ]
        try:
            while True:
                item = self._queue.get()
                if item is _ABORT:
                    raise Unavailable("cancelled")
                if item is _END:
                    break
                block, tag = item  # type: ignore[misc]
                if chunked:
                    size = len(block) + len(tag)
                    pending += [f"{size:x}\r\n".encode("ascii"), block, tag, b"\r\n"]
                else:
                    pending += [block, tag]
                _send_all(sock, pending)
                pending = []
                self._from_thread(self._slots.release)
            if chunked:
                pending.append(b"0\r\n\r\n")
            if pending:
                _send_all(sock, pending)
        except TimeoutError:
            raise Unavailable(f"node {self.placement.node_id} stalled") from None
        except OSError as exc:
            if self._aborted:
                raise Unavailable("cancelled") from None
            # The node may have answered and closed early (full, bad request): say what it said.
            raise self._early_answer(sock) or Unavailable(
                f"sending to node {self.placement.node_id} failed: {exc}"
            ) from None
        return self._answer(sock)

    def _answer(self, sock: socket.socket) -> dict:
        resp = http.client.HTTPResponse(sock, method="PUT")
        try:
            resp.begin()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"node {self.placement.node_id} gave no answer: {exc}") from None
        finally:
            resp.close()
        if resp.status != 200:
            text = body[:200].decode("utf-8", "replace").strip()
            raise Unavailable(f"node {self.placement.node_id} answered {resp.status}: {text}")
        return json.loads(body)

    def _early_answer(self, sock: socket.socket) -> Unavailable | None:
        with contextlib.suppress(OSError):
            sock.settimeout(1.0)
            try:
                self._answer(sock)
            except Unavailable as exc:
                return exc
        return None


def _send_all(sock: socket.socket, buffers: Sequence[bytes | memoryview]) -> None:
    """``sendmsg`` until every byte of ``buffers`` is out (a send may be partial)."""
    views = [memoryview(b).cast("B") for b in buffers]
    while views:
        sent = sock.sendmsg(views)
        while sent:
            head = len(views[0])
            if sent >= head:
                sent -= head
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0
        while views and not len(views[0]):
            views.pop(0)
