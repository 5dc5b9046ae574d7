"""The bounded-memory streaming test: a large generated file through ``write`` and ``open_read``.

The file is generated chunk by chunk and hashed on both sides, so the test itself holds one chunk
at a time; any growth it measures is the driver's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from corestore.driver import StorageDriver
from corestore.resources import Reference, WriteOptions
from corestore.testing.fixtures import DriverFixtures
from corestore.testing.memory import PeakRSS

__all__ = ["StreamingTests", "generated_stream"]

CHUNK = 1 << 20


async def generated_stream(size: int, digest: hashlib._Hash, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """Yield ``size`` pseudo-random bytes, each chunk distinct (a counter prefix), hashing them."""
    block = os.urandom(chunk)
    sent = 0
    index = 0
    while sent < size:
        n = min(chunk, size - sent)
        part = index.to_bytes(8, "little") + block[8:n] if n > 8 else block[:n]
        digest.update(part)
        yield part
        sent += n
        index += 1


class StreamingTests(DriverFixtures):
    """Streams ``large_file_size`` bytes through the driver within ``memory_bound`` of growth."""

    async def test_large_stream_has_bounded_memory(self, driver: StorageDriver, base: str) -> None:
        size = self.large_file_size
        if not size:
            pytest.skip("large_file_size is 0 for this driver")
        ref = Reference.of(f"{base}/large.bin")
        sent = hashlib.sha256()
        received = hashlib.sha256()
        with PeakRSS() as peak:
            info = await driver.write(ref, generated_stream(size, sent), WriteOptions(expected_size=size))
            count = 0
            async for chunk in driver.open_read(ref):
                received.update(chunk)
                count += len(chunk)
        assert info.size == size and count == size
        assert received.hexdigest() == sent.hexdigest()
        assert peak.growth < self.memory_bound, (
            f"peak RSS grew by {peak.growth / 2**20:.1f} MiB streaming {size / 2**20:.0f} MiB "
            f"(bound {self.memory_bound / 2**20:.0f} MiB)"
        )
