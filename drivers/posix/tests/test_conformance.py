"""The whole conformance kit against the posix driver, with the 1 GiB bounded-memory stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from corestore_posix import PosixDriver

from corestore.testing import DriverTests


class TestPosixConformance(DriverTests):
    large_file_size = 1 << 30

    @pytest_asyncio.fixture
    async def driver(self, tmp_path: Path) -> AsyncIterator[PosixDriver]:
        async with PosixDriver.from_config({"root": str(tmp_path / "root")}) as driver:
            yield driver
