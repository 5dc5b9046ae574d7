"""The conformance kit against a moto S3 server (fresh versioned bucket per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from corestore_s3 import S3Driver
from corestore_s3.testing import MotoServer, driver_config

from corestore.driver import Capability
from corestore.testing import DriverTests


class TestS3Conformance(DriverTests):
    large_file_size = 256 << 20

    @pytest_asyncio.fixture
    async def driver(self, moto: MotoServer) -> AsyncIterator[S3Driver]:
        bucket = moto.new_bucket(versioned=True)
        async with S3Driver.from_config(driver_config(moto, bucket, prefix="ns/")) as driver:
            assert driver.supports(Capability.VERSIONS)
            yield driver
