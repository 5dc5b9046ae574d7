"""The conformance kit against a moto S3 server, a fresh bucket per test.

The whole kit runs on a versioned bucket under a prefix. The core and metadata tests run again
on an unversioned bucket at the bucket's root, because deletes and moves take other paths there
(plain deletes instead of purging version histories).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from corestore_s3 import S3Driver
from corestore_s3.testing import MotoServer, driver_config

from corestore.driver import Capability
from corestore.testing import CoreTests, DriverTests, MetadataTests


class TestS3Conformance(DriverTests):
    large_file_size = 256 << 20

    @pytest_asyncio.fixture
    async def driver(self, moto: MotoServer) -> AsyncIterator[S3Driver]:
        bucket = moto.new_bucket(versioned=True)
        async with S3Driver.from_config(driver_config(moto, bucket, prefix="ns/")) as driver:
            assert driver.supports(Capability.VERSIONS)
            yield driver


class TestS3UnversionedConformance(CoreTests, MetadataTests):
    @pytest_asyncio.fixture
    async def driver(self, moto: MotoServer) -> AsyncIterator[S3Driver]:
        bucket = moto.new_bucket(versioned=False)
        async with S3Driver.from_config(driver_config(moto, bucket)) as driver:
            assert not driver.supports(Capability.VERSIONS)
            yield driver
