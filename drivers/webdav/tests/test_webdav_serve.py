"""A webdav mount inside a real ``corestore serve``, driven by the unmodified cs3client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from corestore_webdav.servers import WebdavServer
from cs3client.cs3resource import Resource
from cs3client.exceptions import AlreadyExistsException, NotFoundException

from corestore.launch import ServerProcess, cs3client_for


@pytest.fixture(scope="module")
def serve(
    wsgidav_server: WebdavServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    mount = f"""
[[mounts]]
path = "/dav"
driver = "webdav"
id = "dav"
[mounts.options]
url = "{wsgidav_server.url}"
username = "{wsgidav_server.username}"
password = "{wsgidav_server.password}"
"""
    root: Path = tmp_path_factory.mktemp("serve-webdav")
    with ServerProcess.start(
        root, mounts=mount, server='jwt_secret = "webdav-test-secret-0123456789abcdef"'
    ) as server:
        yield server


def test_cs3client_round_trip_on_a_webdav_mount(
    serve: ServerProcess, wsgidav_server: WebdavServer
) -> None:
    client, auth = cs3client_for(serve)
    folder = f"/dav/cs3-{uuid.uuid4().hex[:8]}"
    client.file.make_dir(auth.get_token(), Resource(abs_path=folder))
    with pytest.raises(AlreadyExistsException):
        client.file.make_dir(auth.get_token(), Resource(abs_path=folder))

    path = f"{folder}/notes.txt"
    client.file.write_file(auth.get_token(), Resource(abs_path=path), b"hello over webdav", -1)
    info = client.file.stat(auth.get_token(), Resource(abs_path=path))
    assert info.size == len(b"hello over webdav") and info.path == path
    assert info.id.storage_id == "dav" and info.id.opaque_id and info.etag

    # the bytes really are on the WebDAV server's disk
    on_disk = wsgidav_server.root / folder.removeprefix("/dav/") / "notes.txt"
    assert on_disk.read_bytes() == b"hello over webdav"

    names = [i.path for i in client.file.list_dir(auth.get_token(), Resource(abs_path=folder))]
    assert names == [path]
    content = b"".join(client.file.read_file(auth.get_token(), Resource(abs_path=path)))
    assert content == b"hello over webdav"

    moved = f"{folder}/renamed.txt"
    client.file.rename_file(auth.get_token(), Resource(abs_path=path), Resource(abs_path=moved))
    assert (
        client.file.stat(auth.get_token(), Resource(abs_path=moved)).id.opaque_id
        == info.id.opaque_id
    )
    client.file.remove_file(auth.get_token(), Resource(abs_path=moved))
    with pytest.raises(NotFoundException):
        client.file.stat(auth.get_token(), Resource(abs_path=moved))
