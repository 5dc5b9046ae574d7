"""The driver against a WebDAV server without the ownCloud dialect (wsgidav)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from corestore_owncloud import OwncloudDriver
from corestore_webdav.servers import WebdavServer

from corestore.driver import Capability
from corestore.errors import PermissionDenied
from corestore.resources import Reference
from corestore.testing import read_all, write_bytes

from .conftest import PASSWORD, USER  # noqa: TID252


def config(server: WebdavServer, **extra: object) -> dict[str, object]:
    return {"url": server.url, "username": USER, "password": PASSWORD, **extra}


@pytest_asyncio.fixture
async def driver(wsgidav_server: WebdavServer) -> AsyncIterator[OwncloudDriver]:
    async with OwncloudDriver.from_config(config(wsgidav_server, atomic_put=False)) as d:
        yield d


async def test_without_ocs_versions_and_trash_are_narrowed(driver: OwncloudDriver) -> None:
    assert driver.flavor == "owncloud"
    assert not driver.supports(Capability.VERSIONS) and not driver.supports(Capability.RECYCLE)
    assert driver.supports(Capability.METADATA)  # wsgidav keeps dead properties


async def test_files_land_under_the_users_dav_folder(
    driver: OwncloudDriver, wsgidav_server: WebdavServer
) -> None:
    await driver.create_container(Reference.of("/d"))
    await write_bytes(driver, "/d/f", b"hello")
    assert (wsgidav_server.root / "remote.php/dav/files" / USER / "d/f").read_bytes() == b"hello"
    assert await read_all(driver, "/d/f") == b"hello"


async def test_a_subfolder_mount(wsgidav_server: WebdavServer) -> None:
    (wsgidav_server.root / "remote.php/dav/files" / USER / "Science").mkdir(exist_ok=True)
    async with OwncloudDriver.from_config(config(wsgidav_server, folder="/Science")) as d:
        await write_bytes(d, "/x", b"data")  # one PUT
        assert await read_all(d, "/x") == b"data"
    assert (
        wsgidav_server.root / "remote.php/dav/files" / USER / "Science/x"
    ).read_bytes() == b"data"


async def test_wrong_password_is_permission_denied(wsgidav_server: WebdavServer) -> None:
    driver = OwncloudDriver.from_config(config(wsgidav_server, password="wrong"))
    with pytest.raises(PermissionDenied) as caught:
        await driver.open()
    assert "credentials" in caught.value.message
