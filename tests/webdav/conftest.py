"""One real ``corestore serve`` subprocess (posix homes) for the WebDAV tests, and HTTP helpers.

The server is started with :class:`corestore.launch.ServerProcess`, the same harness the server
tests use. With ``--import-mode=importlib`` test modules cannot import this file, so helpers are
fixtures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import httpx
import pytest

from corestore.launch import ServerProcess, posix_home_mount

JWT_SECRET = "webdav-test-secret-not-for-production-0123"
PASSWORDS = {"einstein": "relativity", "marie": "radioactivity", "richard": "superfluidity"}


@pytest.fixture(scope="session")
def dav_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("davserve")
    srv = ServerProcess.start(
        root,
        # SHA1 is what ownCloud clients and rclone compare (oc:checksums), as a site serving
        # them would configure it.
        mounts=posix_home_mount(root / "home", fsync=False, checksum="sha1"),
        server=f'jwt_secret = "{JWT_SECRET}"\nlog_level = "info"\n',
    )
    yield srv
    code = srv.stop()
    assert code == 0, "the server did not shut down cleanly:\n" + srv.output()[-5000:]
    # Every bad request of the suite must have been answered from the error tree, never a crash.
    assert "Traceback" not in srv.output(), srv.output()[-5000:]


@pytest.fixture(scope="session")
def dav_client(dav_server: ServerProcess) -> Callable[..., httpx.Client]:
    """``dav_client(user)``: an httpx client with Basic auth on the server's base URL."""
    clients: list[httpx.Client] = []

    def make(user: str = "einstein", **kwargs: object) -> httpx.Client:
        client = httpx.Client(
            base_url=dav_server.http_url, auth=(user, PASSWORDS[user]), timeout=60, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def require_binary() -> Callable[[str], str]:
    """The path of an external client, or a skip that says which Debian package provides it."""
    packages = {
        "litmus": "litmus",
        "rclone": "rclone",
        "nextcloudcmd": "nextcloud-desktop-cmd",
        "owncloudcmd": "owncloud-client-cmd",
    }

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} is not installed (apt-get install -y {packages.get(name, name)})")
        return path

    return find
