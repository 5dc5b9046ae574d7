"""The conformance kit against corestore's own WebDAV front end, in its ownCloud dialect.

A real ``corestore serve`` subprocess (:mod:`corestore.launch`) serves einstein's posix home
at ``/remote.php/dav/files/einstein/``; the driver attaches to it as it would to ownCloud.
Versions and the trash bin are ownCloud endpoints the front end may not serve: the driver then
narrows them away after reading OCS and probing, and the kit skips their tests.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from corestore_owncloud import OwncloudDriver

from corestore.driver import Capability
from corestore.errors import PermissionDenied
from corestore.launch import ServerProcess, posix_home_mount
from corestore.resources import Reference
from corestore.testing import DriverTests, write_bytes

USER, PASSWORD = "einstein", "relativity"


def _speaks_owncloud_dav(url: str) -> bool:
    request = urllib.request.Request(f"{url}/remote.php/dav/files/{USER}/", method="PROPFIND")
    request.add_header("Depth", "0")
    request.add_header("Authorization", "Basic ZWluc3RlaW46cmVsYXRpdml0eQ==")  # einstein:relativity
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status == 207
    except OSError:
        return False


@pytest.fixture(scope="module")
def corestore_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("oc-serve")
    # SHA1, as a site serving ownCloud clients configures it (they compare oc:checksums).
    mounts = posix_home_mount(root / "home", fsync=False, checksum="sha1")
    server = ServerProcess.start(root, mounts=mounts)
    try:
        if not _speaks_owncloud_dav(server.http_url):
            pytest.skip(
                "this corestore serve has no WebDAV front end at /remote.php/dav/files/ yet"
            )
        yield server
    finally:
        server.stop()


def frontend_config(server: Any, **extra: object) -> dict[str, object]:
    return {"url": server.http_url, "username": USER, "password": PASSWORD, **extra}


class TestFrontendConformance(DriverTests):
    """The whole kit through ``/remote.php/dav/files/einstein/`` of a real ``corestore serve``."""

    large_file_size = 96 << 20

    @pytest_asyncio.fixture
    async def driver(self, corestore_server: Any) -> AsyncIterator[OwncloudDriver]:
        async with OwncloudDriver.from_config(frontend_config(corestore_server)) as driver:
            yield driver


async def test_frontend_wrong_password_is_permission_denied(corestore_server: Any) -> None:
    driver = OwncloudDriver.from_config(frontend_config(corestore_server, password="wrong"))
    with pytest.raises(PermissionDenied):
        await driver.open()


async def test_frontend_dialect_is_read(corestore_server: Any) -> None:
    async with OwncloudDriver.from_config(frontend_config(corestore_server)) as driver:
        assert driver._scheme == "fileid", "the front end serves oc:fileid"


async def test_frontend_capabilities_and_checksums(corestore_server: Any) -> None:
    """OCS of the front end announces neither versions nor trash, so both are narrowed away;
    the SHA1 it keeps (oc:checksums) comes back from stat, equal to the one computed on upload."""
    async with OwncloudDriver.from_config(frontend_config(corestore_server)) as driver:
        assert not driver.supports(Capability.VERSIONS) and not driver.supports(Capability.RECYCLE)
        assert driver.server_capabilities.checksum_types == ("sha1",)
        written = await write_bytes(driver, "/checksummed", b"some bytes")
        stat = await driver.stat(Reference.of("/checksummed"))
        assert written.checksum is not None and stat.checksum == written.checksum
        assert stat.id == written.id


async def test_frontend_one_put_keeps_the_id_and_ids_survive_moves(corestore_server: Any) -> None:
    """Overwrites are one PUT, so the file keeps its oc:fileid; a second driver (empty id cache)
    finds the file by that id after a move made by the first."""
    config = frontend_config(corestore_server)
    async with (
        OwncloudDriver.from_config(config) as one,
        OwncloudDriver.from_config(config) as other,
    ):
        await one.create_container(Reference.of("/ids"))
        first = await write_bytes(one, "/ids/f", b"one")
        second = await write_bytes(one, "/ids/f", b"two")
        assert second.id == first.id and second.etag != first.etag
        await one.move(Reference.of("/ids"), Reference.of("/ids-moved"))
        found = await other.stat(Reference.by_id(first.id))
        assert found.path == "/ids-moved/f"


def test_serve_mounts_an_owncloud(corestore_server: Any, tmp_path: Path) -> None:
    """The README's configuration: a second ``corestore serve`` mounts the first one's files."""
    mount = f"""
[[mounts]]
path = "/efss"
driver = "owncloud"
id = "efss"
[mounts.options]
url = "{corestore_server.http_url}/"
username = "{USER}"
password = "{PASSWORD}"
"""
    with ServerProcess.start(tmp_path, mounts=mount) as attached:
        assert "efss" in attached.output()
