"""Fixtures of the s3 driver's tests: one moto server process per session, a bucket per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from corestore_s3 import S3Driver
from corestore_s3.testing import MotoServer, driver_config, start_moto, stop_moto


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = start_moto()
    yield server
    stop_moto(server)


@pytest_asyncio.fixture
async def s3_driver(moto: MotoServer) -> AsyncIterator[S3Driver]:
    """An opened driver on a fresh versioned bucket."""
    bucket = moto.new_bucket(versioned=True)
    async with S3Driver.from_config(driver_config(moto, bucket)) as driver:
        yield driver
