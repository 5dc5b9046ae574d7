"""The cubbit_p2p driver against the conformance kit, on a real swarm (coordinator + 6 nodes)."""

from __future__ import annotations

import os

import pytest
import pytest_asyncio
from corestore_cubbit_p2p.driver import P2PDriver

from corestore import Reference, WriteOptions
from corestore.testing import DriverTests, read_all, write_bytes

SECRET = "test-secret-" + "x" * 20


class TestP2PDriverConformance(DriverTests):
    large_file_size = 64 << 20

    @pytest_asyncio.fixture
    async def driver(self, swarm):
        async with P2PDriver.from_config(
            {"coordinator": swarm.url, "secret": SECRET, "chunk_size": 65536}
        ) as d:
            yield d


async def test_two_mounts_share_one_namespace(swarm):
    cfg = {"coordinator": swarm.url, "secret": SECRET}
    async with P2PDriver.from_config(cfg) as a, P2PDriver.from_config(cfg) as b:
        await a.create_container(Reference.of("/shared"))
        data = os.urandom(300_000)
        await write_bytes(a, "/shared/f.bin", data)
        assert await read_all(b, "/shared/f.bin") == data
        info = await b.stat(Reference.of("/shared/f.bin"))
        assert (await a.stat(Reference.by_id(info.id))).path == "/shared/f.bin"


async def test_wrong_secret_cannot_read(swarm):
    from corestore.errors import PermissionDenied

    async with (
        P2PDriver.from_config({"coordinator": swarm.url, "secret": SECRET}) as a,
        P2PDriver.from_config(
            {"coordinator": swarm.url, "secret": "another-secret-value-123"}
        ) as b,
    ):
        await write_bytes(a, "/secret.bin", b"top secret")
        with pytest.raises(PermissionDenied):
            await read_all(b, "/secret.bin")


async def test_failed_write_keeps_old_content(swarm):
    from corestore.errors import InvalidArgument

    async with P2PDriver.from_config({"coordinator": swarm.url, "secret": SECRET}) as d:
        await write_bytes(d, "/keep.bin", b"old")

        async def cut():
            yield b"new" * 1000
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            await d.write(Reference.of("/keep.bin"), cut())
        with pytest.raises(InvalidArgument):
            await d.write(Reference.of("/keep.bin"), _short(), WriteOptions(expected_size=10))
        assert await read_all(d, "/keep.bin") == b"old"


async def _short():
    yield b"12345"
