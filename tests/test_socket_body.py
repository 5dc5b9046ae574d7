"""``SocketBody``: a body read off a real socket by a worker thread (socketpair, no mocks)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web

from corestore.http.socketbody import MIN_SIZE, SocketBody, enable, pump_body
from corestore.streams import Pumpable

CHUNK = 64 << 10


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    server.setblocking(False)  # as asyncio leaves it
    yield server, client
    server.close()
    client.close()


def send_later(sock: socket.socket, data: bytes, *, close: bool = False, pause: float = 0) -> None:
    def run() -> None:
        view = memoryview(data)
        try:
            while view:
                piece = view[:100_000]
                sock.sendall(piece)
                view = view[len(piece) :]
                if pause:
                    time.sleep(pause)
            if close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the test is over and closed the socket
            pass

    threading.Thread(target=run, daemon=True).start()


def body_for(server: socket.socket, head: bytes, rest: int, **kwargs: object) -> SocketBody:
    return SocketBody(
        head, server.fileno(), rest, chunk_size=CHUNK, is_closing=lambda: False, **kwargs
    )


async def test_pump_delivers_head_then_socket_bytes_in_full_chunks(pair) -> None:  # noqa: ANN001
    server, client = pair
    data = os.urandom(1_000_003)
    counted: list[int] = []
    body = body_for(server, data[:777], len(data) - 777, on_bytes=counted.append)
    assert isinstance(body, Pumpable)
    send_later(client, data[777:])
    sizes: list[int] = []
    digest = hashlib.sha256()

    def sink(view: memoryview) -> None:
        sizes.append(len(view))
        digest.update(view)

    await body.pump(sink)
    assert digest.digest() == hashlib.sha256(data).digest()
    assert sizes[:-1] == [CHUNK] * (len(sizes) - 1)  # full chunks, only the last one shorter
    assert sum(counted) == len(data)


async def test_pump_stops_at_the_announced_length(pair) -> None:  # noqa: ANN001
    server, client = pair
    send_later(client, b"a" * 1000 + b"NEXT REQUEST")
    got = bytearray()
    await body_for(server, b"", 1000).pump(got.extend)
    assert bytes(got) == b"a" * 1000
    await asyncio.sleep(0.05)
    assert server.recv(100) == b"NEXT REQUEST"  # bytes after the body are left on the socket


async def test_iteration_yields_bytes(pair) -> None:  # noqa: ANN001
    server, client = pair
    data = os.urandom(300_000)
    send_later(client, data)
    chunks = [chunk async for chunk in body_for(server, b"", len(data))]
    assert all(type(chunk) is bytes for chunk in chunks)
    assert b"".join(chunks) == data


async def test_client_hanging_up_early_is_a_connection_error(pair) -> None:  # noqa: ANN001
    server, client = pair
    send_later(client, b"x" * 5000, close=True)
    with pytest.raises(ConnectionResetError, match="after 5000 of 9000 bytes"):
        await body_for(server, b"", 9000).pump(lambda view: None)
    with pytest.raises(ConnectionResetError):
        async for _ in body_for(server, b"", 9000):
            pass


async def test_a_stalled_client_times_out(pair) -> None:  # noqa: ANN001
    server, client = pair
    client.sendall(b"y" * 10)
    with pytest.raises(ConnectionAbortedError, match="no data from the client"):
        await body_for(server, b"", 100, idle_timeout=0.2).pump(lambda view: None)


async def test_sink_error_stops_the_transfer(pair) -> None:  # noqa: ANN001
    server, client = pair
    send_later(client, b"z" * 500_000)

    def sink(view: memoryview) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await body_for(server, b"", 500_000).pump(sink)


async def test_cancelling_the_caller_stops_the_thread(pair) -> None:  # noqa: ANN001
    server, client = pair
    before = {t.ident for t in threading.enumerate()}
    task = asyncio.ensure_future(body_for(server, b"", 10_000).pump(lambda view: None))
    await asyncio.sleep(0.1)  # the thread now waits for data that never comes
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(1.0)  # it checks every half second
    assert {t.ident for t in threading.enumerate() if t.name == "corestore-body"} <= before


async def test_consumer_stopping_early_stops_the_thread(pair) -> None:  # noqa: ANN001
    server, client = pair
    send_later(client, b"w" * 1_000_000, pause=0.01)
    body = body_for(server, b"", 2_000_000)
    iterator = body.__aiter__()
    await iterator.__anext__()
    await iterator.aclose()
    await asyncio.sleep(1.0)
    assert not [t for t in threading.enumerate() if t.name == "corestore-body"]


async def test_a_body_is_read_once(pair) -> None:  # noqa: ANN001
    server, client = pair
    send_later(client, b"v" * 10)
    body = body_for(server, b"", 10)
    await body.pump(lambda view: None)
    with pytest.raises(RuntimeError, match="only once"):
        await body.pump(lambda view: None)


# -- in an aiohttp app (real server on loopback) ------------------------------------------------


async def _serve(enabled: bool) -> tuple[web.AppRunner, str, list[int]]:
    """An app whose PUT handler hashes the body with ``pump_body``; ``seen`` records sizes."""
    seen: list[int] = []

    async def put(request: web.Request) -> web.Response:
        digest = hashlib.sha256()
        await pump_body(request, digest.update, chunk_size=CHUNK)
        seen.append(request.content_length or 0)
        return web.Response(text=digest.hexdigest())

    app = web.Application(client_max_size=0)
    if enabled:
        enable(app)
    app.router.add_put("/body", put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the bound port
    return runner, f"http://127.0.0.1:{port}/body", seen


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "not-enabled"])
async def test_keep_alive_client_sends_several_large_bodies(enabled: bool) -> None:
    """The client reuses connections when it may: after a bypassed body it must not."""
    runner, url, seen = await _serve(enabled)
    data = os.urandom(MIN_SIZE + 12345)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.put(url, data=data, timeout=aiohttp.ClientTimeout(30)) as res:
                    assert res.status == 200
                    assert await res.text() == hashlib.sha256(data).hexdigest()
                    closes = res.headers.get("Connection", "").lower() == "close"
                    assert closes is enabled  # only a bypassed body closes the connection
                async with session.put(
                    url, data=b"small", timeout=aiohttp.ClientTimeout(30)
                ) as res:
                    assert await res.text() == hashlib.sha256(b"small").hexdigest()
    finally:
        await runner.cleanup()
    assert len(seen) == 6
