"""The shard sender's HTTP on a real aiohttp server: both framings, early answers, stalls, aborts."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from corestore_cubbit_p2p.shardput import Placement, ShardSender

FILE_ID = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
async def node() -> AsyncIterator[tuple[str, dict]]:
    """A stand-in node: ``ok`` stores, ``full`` refuses before reading, ``stall`` never reads."""
    seen: dict = {"stall_started": asyncio.Event(), "release": asyncio.Event()}

    async def put(request: web.Request) -> web.Response:
        mode = request.match_info["mode"]
        if mode == "full":
            raise web.HTTPInsufficientStorage(text="node is full")
        if mode == "stall":
            seen["stall_started"].set()
            await seen["release"].wait()
        body = await request.read()
        seen["chunked"] = request.headers.get("Transfer-Encoding") == "chunked"
        seen["connection"] = request.headers.get("Connection")
        return web.json_response({"size": len(body), "digest": hashlib.sha256(body).hexdigest()})

    app = web.Application(client_max_size=1 << 30)
    app.router.add_put("/{mode}/shards/{file_id}/{index}", put)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        seen["release"].set()
        await runner.cleanup()


def _records(n: int, size: int = 70_001) -> list[tuple[bytes, bytes]]:
    return [(os.urandom(size), os.urandom(16)) for _ in range(n)]


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_records_arrive_in_order_with_either_framing(node, framing: str) -> None:
    url, seen = node
    records = _records(12)
    total = sum(len(b) + len(t) for b, t in records)
    sender = ShardSender(
        Placement(3, "n1", f"{url}/ok"),
        FILE_ID,
        depth=2,
        length=total if framing == "length" else None,
    )
    for record in records:
        await sender.send(record, stall_timeout=5)
    await sender.finish()
    assert sender.alive, sender.error
    expected = hashlib.sha256(b"".join(b + t for b, t in records)).hexdigest()
    assert sender.result == {"size": total, "digest": expected}
    assert seen["chunked"] is (framing == "chunked")
    assert seen["connection"] == "close"


async def test_memoryview_blocks_are_sent_as_they_are(node) -> None:
    url, _ = node
    data = os.urandom(100_000)
    view = memoryview(data)
    sender = ShardSender(Placement(0, "n1", f"{url}/ok"), FILE_ID, depth=2)
    await sender.send((view[:50_000], b"t" * 16), stall_timeout=5)
    await sender.send((view[50_000:], b"u" * 16), stall_timeout=5)
    await sender.finish()
    assert (
        sender.result["digest"]
        == hashlib.sha256(data[:50_000] + b"t" * 16 + data[50_000:] + b"u" * 16).hexdigest()
    )


async def test_an_early_refusal_is_reported_with_the_nodes_answer(node) -> None:
    url, _ = node
    sender = ShardSender(Placement(1, "n2", f"{url}/full"), FILE_ID, depth=2, length=64 << 20)
    for record in _records(64, 1 << 20):
        await sender.send(record, stall_timeout=5)
        if not sender.alive:
            break
    await sender.finish()
    assert not sender.alive
    assert "507" in str(sender.error)


async def test_a_stalled_node_is_dropped_and_the_producer_is_not_held(node) -> None:
    url, seen = node
    sender = ShardSender(
        Placement(2, "n3", f"{url}/stall"), FILE_ID, depth=2, length=256 << 20, stall_timeout=1.0
    )
    started = asyncio.get_running_loop().time()
    for record in _records(256, 1 << 20):  # far more than the socket buffers hold
        await sender.send(record, stall_timeout=1.0)
        if not sender.alive:
            break
    await sender.finish()
    assert seen["stall_started"].is_set()
    assert not sender.alive and "stalled" in str(sender.error)
    assert asyncio.get_running_loop().time() - started < 10


async def test_abort_stops_a_sender_blocked_in_the_kernel(node) -> None:
    url, _ = node
    sender = ShardSender(
        Placement(4, "n4", f"{url}/stall"), FILE_ID, depth=64, length=256 << 20, stall_timeout=30
    )
    for record in _records(64, 1 << 20):  # the thread blocks in sendmsg long before the end
        await sender.send(record, stall_timeout=30)
    await asyncio.sleep(0.2)
    sender.abort()
    await asyncio.wait_for(sender.finish(), 5)
    assert not sender.alive


async def test_a_refused_connection_marks_the_shard_failed(unused_tcp_port: int) -> None:
    sender = ShardSender(
        Placement(5, "n5", f"http://127.0.0.1:{unused_tcp_port}"), FILE_ID, depth=2
    )
    await sender.send((b"x", b"y" * 16), stall_timeout=5)
    await sender.finish()
    assert not sender.alive
