"""A /p2p mount on a real swarm in a real ``corestore serve`` process, driven by cs3client."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from corestore.launch import ServerProcess, cs3client_for

pytest.importorskip("cs3client")

from cs3client.cs3resource import Resource  # noqa: E402
from cs3client.exceptions import NotFoundException  # noqa: E402


@pytest.fixture(scope="module")
def served(swarm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    mount = f"""
[[mounts]]
path = "/p2p"
driver = "cubbit_p2p"
id = "p2p"
[mounts.options]
coordinator = "{swarm.url}"
secret = "serve-test-secret-0123456789"
chunk_size = "64KiB"
"""
    srv = ServerProcess.start(
        tmp_path_factory.mktemp("p2pserve"),
        mounts=mount,
        server='jwt_secret = "p2p-test-secret-0123456789abcdef0123"',
    )
    yield srv
    assert srv.stop() == 0, srv.output()[-3000:]


def test_cs3client_round_trip_on_p2p(served: ServerProcess) -> None:
    client, auth = cs3client_for(served)
    token = auth.get_token
    workdir = "/p2p/roundtrip"
    client.file.make_dir(token(), Resource(abs_path=workdir))
    path = f"{workdir}/data.bin"
    data = os.urandom(300_001)
    client.file.write_file(token(), Resource(abs_path=path), data, -1)

    info = client.file.stat(token(), Resource(abs_path=path))
    assert info.size == len(data) and info.path == path
    assert info.id.storage_id == "p2p" and info.id.opaque_id
    assert b"".join(client.file.read_file(token(), Resource(abs_path=path))) == data
    assert [i.path for i in client.file.list_dir(token(), Resource(abs_path=workdir))] == [path]

    client.file.set_xattr(token(), Resource(abs_path=path), "project", "swarm")
    moved = f"{workdir}/renamed.bin"
    client.file.rename_file(token(), Resource(abs_path=path), Resource(abs_path=moved))
    assert client.file.stat(token(), Resource(abs_path=moved)).id.opaque_id == info.id.opaque_id
    with pytest.raises(NotFoundException):
        client.file.stat(token(), Resource(abs_path=path))

    client.file.write_file(token(), Resource(abs_path=moved), b"second content", -1)
    assert b"".join(client.file.read_file(token(), Resource(abs_path=moved))) == b"second content"
    client.file.remove_file(token(), Resource(abs_path=moved))
    with pytest.raises(NotFoundException):
        client.file.stat(token(), Resource(abs_path=moved))
