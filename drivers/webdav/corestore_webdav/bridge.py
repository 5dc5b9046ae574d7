"""Bridges between the event loop and the blocking HTTP client running in worker threads.

webdav4 (and httpx's sync client under it) block, so every request runs in a thread. Streams
cross the boundary through small bounded queues: memory stays at ``depth`` chunks per stream
whatever the file size, and back-pressure works both ways (a slow server slows the producer of
an upload; a slow consumer slows the reading of a download).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

__all__ = ["StreamAborted", "feed_thread", "stream_from_thread"]

T = TypeVar("T")
_END = object()


class StreamAborted(Exception):
    """The async side of a stream failed or went away; the thread's request is cut short."""


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def feed_thread(
    chunks: AsyncIterable[bytes],
    consume: Callable[[Iterator[bytes]], T],
    *,
    depth: int,
) -> T:
    """Run ``consume(body)`` in a thread, where ``body`` yields the chunks of ``chunks``.

    ``consume`` is typically an HTTP PUT whose request body is ``body``. If ``chunks`` raises (the
    client went away), ``body`` raises :class:`StreamAborted` so the request is cut and never
    completes, then the original error propagates here. If ``consume`` ends first (the server
    refused the upload), the rest of ``chunks`` is not read and its outcome is returned or raised.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)

    def body() -> Iterator[bytes]:
        while True:
            item = asyncio.run_coroutine_threadsafe(queue.get(), loop).result()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise StreamAborted("the upload stream failed") from item.exc
            yield item

    worker = asyncio.ensure_future(asyncio.to_thread(consume, body()))
    try:
        async for chunk in chunks:
            if chunk and not await _put_unless_done(queue, chunk, worker):
                break
        else:
            await _put_unless_done(queue, _END, worker)
    except BaseException as exc:
        while not queue.empty():  # make room: the thread must see the failure, not block
            queue.get_nowait()
        queue.put_nowait(_Failure(exc))
        try:
            await asyncio.shield(worker)
        except BaseException:  # noqa: BLE001 - the producer's error is the one to report
            pass
        raise
    return await worker


async def _put_unless_done(
    queue: asyncio.Queue[Any], item: object, worker: asyncio.Future[Any]
) -> bool:
    """Queue ``item``; return ``False`` if the worker finished before there was room."""
    if not queue.full():
        queue.put_nowait(item)
        return True
    put = asyncio.ensure_future(queue.put(item))
    await asyncio.wait({put, worker}, return_when=asyncio.FIRST_COMPLETED)
    if put.done():
        return True
    put.cancel()
    return False


class _Stopped(Exception):
    """Raised inside the producer thread when the consumer is gone."""


async def stream_from_thread(
    produce: Callable[[Callable[[Any], None]], None], *, depth: int
) -> AsyncIterator[Any]:
    """Yield what ``produce(emit)`` emits from a worker thread, at most ``depth`` items ahead.

    ``produce`` calls ``emit(item)`` per item (a downloaded chunk, a parsed listing entry) and
    blocks while the consumer is ``depth`` items behind. When the consumer stops early, the next
    ``emit`` raises inside the thread, which unwinds ``produce`` and closes its response.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    room = threading.Semaphore(depth)
    stopped = threading.Event()

    def emit(item: Any) -> None:
        room.acquire()
        if stopped.is_set():
            raise _Stopped
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def run() -> None:
        try:
            produce(emit)
        except _Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            final: object = _Failure(exc)
        else:
            final = _END
        if not stopped.is_set():
            loop.call_soon_threadsafe(queue.put_nowait, final)

    worker = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        while True:
            item = await queue.get()
            room.release()
            if item is _END:
                break
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stopped.set()
        room.release(depth + 1)  # wake a producer blocked on a full queue
        await asyncio.shield(worker)
