"""An s3 mount in a real ``corestore serve`` process, driven by the unmodified cs3client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corestore_s3.testing import MotoServer

from corestore.launch import ServerProcess, cs3client_for

pytest.importorskip("cs3client")

from cs3client.cs3resource import Resource  # noqa: E402
from cs3client.exceptions import NotFoundException  # noqa: E402


@pytest.fixture(scope="module")
def served(
    moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """A server whose /home mount is a prefix of a fresh versioned bucket (yielded with it)."""
    bucket = moto.new_bucket(versioned=True)
    mount = f"""
[[mounts]]
path = "/home"
driver = "s3"
id = "s3home"
home = true
[mounts.options]
endpoint = "{moto.endpoint}"
bucket = "{bucket}"
prefix = "homes/"
access_key_id = "testing"
secret_access_key = "testing"
"""
    root: Path = tmp_path_factory.mktemp("s3serve")
    srv = ServerProcess.start(
        root, mounts=mount, server='jwt_secret = "s3-test-secret-0123456789abcdef0123"'
    )
    yield srv, bucket
    assert srv.stop() == 0, srv.output()[-3000:]


def test_cs3client_round_trip_on_s3(served: tuple[ServerProcess, str], moto: MotoServer) -> None:
    server, bucket = served
    client, auth = cs3client_for(server)
    token = auth.get_token
    workdir = "/home/einstein/s3-roundtrip"
    client.file.make_dir(token(), Resource(abs_path=workdir))
    path = f"{workdir}/notes.txt"
    client.file.write_file(token(), Resource(abs_path=path), b"hello from s3", -1)

    info = client.file.stat(token(), Resource(abs_path=path))
    assert info.size == len(b"hello from s3") and info.path == path
    assert info.id.storage_id == "s3home" and info.id.opaque_id
    assert b"".join(client.file.read_file(token(), Resource(abs_path=path))) == b"hello from s3"
    assert [i.path for i in client.file.list_dir(token(), Resource(abs_path=workdir))] == [path]

    client.file.set_xattr(token(), Resource(abs_path=path), "project", "relativity")
    moved = f"{workdir}/renamed.txt"
    client.file.rename_file(token(), Resource(abs_path=path), Resource(abs_path=moved))
    assert client.file.stat(token(), Resource(abs_path=moved)).id.opaque_id == info.id.opaque_id
    with pytest.raises(NotFoundException):
        client.file.stat(token(), Resource(abs_path=path))

    client.file.write_file(token(), Resource(abs_path=moved), b"second content", -1)
    assert b"".join(client.file.read_file(token(), Resource(abs_path=moved))) == b"second content"
    keys = {o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert {"homes/einstein/s3-roundtrip/", "homes/einstein/s3-roundtrip/renamed.txt"} <= keys

    client.file.remove_file(token(), Resource(abs_path=moved))
    with pytest.raises(NotFoundException):
        client.file.stat(token(), Resource(abs_path=moved))
