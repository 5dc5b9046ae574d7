"""Fixtures and helpers the test mixins share.

:class:`DriverFixtures` is what an implementation overrides: the ``driver`` fixture, which must
yield an *opened* driver. Every test then works inside its own fresh folder (``base``), so a
driver whose backend is shared between tests (one bucket, one WebDAV server) still gets isolated
tests. Helpers below are plain functions so a vendor's own extra tests can use them too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import ClassVar

import pytest
import pytest_asyncio

from corestore.driver import Capability, StorageDriver
from corestore.resources import ByteRange, Reference, ResourceInfo, WriteOptions

__all__ = [
    "DriverFixtures",
    "chunked",
    "list_names",
    "read_all",
    "requires",
    "write_bytes",
]

CAPABILITY_MARK = "corestore_capability"


def requires(capability: Capability) -> pytest.MarkDecorator:
    """Mark a test as needing an optional capability; it skips (saying so) where it is missing."""
    return getattr(pytest.mark, CAPABILITY_MARK)(capability)


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """Stream ``data`` in chunks of ``size`` bytes (one empty stream for empty data)."""
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def write_bytes(
    driver: StorageDriver,
    path: str | Reference,
    data: bytes,
    *,
    chunk_size: int = 64 * 1024,
    **options: object,
) -> ResourceInfo:
    """Write ``data`` to ``path`` through ``driver.write`` in ``chunk_size`` chunks."""
    ref = path if isinstance(path, Reference) else Reference.of(path)
    return await driver.write(ref, chunked(data, chunk_size), WriteOptions(**options))  # type: ignore[arg-type]


async def read_all(
    driver: StorageDriver, path: str | Reference, byte_range: ByteRange | None = None
) -> bytes:
    """Read a file (or range) through ``driver.open_read`` into bytes (small files only)."""
    ref = path if isinstance(path, Reference) else Reference.of(path)
    parts = [bytes(chunk) async for chunk in driver.open_read(ref, byte_range)]
    return b"".join(parts)


async def list_names(driver: StorageDriver, path: str | Reference) -> set[str]:
    """Names of a folder's children."""
    ref = path if isinstance(path, Reference) else Reference.of(path)
    return {info.name async for info in driver.list_container(ref)}


def _ids(infos: Iterable[ResourceInfo]) -> list[str]:
    return [info.id for info in infos]


class DriverFixtures:
    """Fixtures an implementation provides (``driver``) or may tune (class attributes)."""

    # Explicit, so the kit runs the same under pytest-asyncio's strict mode (a vendor's default).
    pytestmark = [pytest.mark.asyncio]

    #: Bytes streamed by the bounded-memory test; 0 skips it (e.g. for an in-memory driver).
    large_file_size: ClassVar[int] = 256 << 20
    #: Peak RSS growth allowed while streaming ``large_file_size`` through write and read.
    memory_bound: ClassVar[int] = 64 << 20

    @pytest_asyncio.fixture
    async def driver(self) -> AsyncIterator[StorageDriver]:
        """Yield an opened driver on an empty namespace. Implementations must override this."""
        raise NotImplementedError("override the `driver` fixture in your DriverTests subclass")
        yield  # pragma: no cover

    @pytest.fixture(autouse=True)
    def _capability_gate(self, request: pytest.FixtureRequest) -> None:
        marker = request.node.get_closest_marker(CAPABILITY_MARK)
        if marker is None:
            return
        driver: StorageDriver = request.getfixturevalue("driver")
        capability = marker.args[0]
        if not driver.supports(capability):
            pytest.skip(f"driver {driver.name!r} does not declare the {capability.value!r} capability")

    @pytest_asyncio.fixture
    async def base(self, driver: StorageDriver) -> AsyncIterator[str]:
        """A fresh, empty folder for one test: ``/kit-<random>``. Removed afterwards."""
        path = f"/kit-{uuid.uuid4().hex[:12]}"
        await driver.create_container(Reference.of(path))
        yield path
        try:
            await driver.delete(Reference.of(path))
        except Exception:  # noqa: BLE001 - cleanup must not mask the test's own result
            pass

    @staticmethod
    def now() -> float:
        return time.time()
