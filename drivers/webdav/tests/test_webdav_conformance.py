"""The conformance kit against the webdav driver, on wsgidav and on rclone serve webdav."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from corestore.testing import DriverTests
from corestore_webdav import WebdavDriver
from corestore_webdav.servers import WebdavServer

FOLDER_ETAGS = (
    "the server sends no etag for folders; the driver derives one from the folder's mtime "
    "(one-second resolution), which does not change when something deeper changes"
)


class TestWsgidavConformance(DriverTests):
    """wsgidav with its property manager on: ids and metadata live in dead properties."""

    large_file_size = 128 << 20

    @pytest_asyncio.fixture
    async def driver(self, wsgidav_server: WebdavServer) -> AsyncIterator[WebdavDriver]:
        async with WebdavDriver.from_config(wsgidav_server.driver_config()) as driver:
            yield driver

    @pytest.mark.xfail(reason=FOLDER_ETAGS, strict=True)
    async def test_etag_propagates_to_ancestors(self, driver: WebdavDriver, base: str) -> None:
        await super().test_etag_propagates_to_ancestors(driver, base)


class TestRcloneConformance(DriverTests):
    """rclone serve webdav: no dead properties, so ids are derived from paths."""

    large_file_size = 128 << 20

    @pytest_asyncio.fixture
    async def driver(self, rclone_server: WebdavServer) -> AsyncIterator[WebdavDriver]:
        async with WebdavDriver.from_config(rclone_server.driver_config()) as driver:
            yield driver

    @pytest.mark.xfail(reason=FOLDER_ETAGS, strict=True)
    async def test_etag_propagates_to_ancestors(self, driver: WebdavDriver, base: str) -> None:
        await super().test_etag_propagates_to_ancestors(driver, base)
