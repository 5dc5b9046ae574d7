"""The unmodified cs3client from PyPI against a running ``corestore serve``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cs3client.auth import Auth
from cs3client.cs3client import CS3Client
from cs3client.cs3resource import Resource
from cs3client.exceptions import AlreadyExistsException, FileLockedException, NotFoundException

from corestore.launch import cs3client_for


@pytest.fixture(scope="module")
def einstein_client(server: Any) -> tuple[CS3Client, Auth]:
    return cs3client_for(server, "einstein", "relativity")


@pytest.fixture
def workdir(einstein_client: tuple[CS3Client, Auth]) -> str:
    client, auth = einstein_client
    path = f"/home/einstein/cs3client-{uuid.uuid4().hex[:8]}"
    client.file.make_dir(auth.get_token(), Resource(abs_path=path))
    return path


def test_file_lifecycle(einstein_client: tuple[CS3Client, Auth], workdir: str) -> None:
    client, auth = einstein_client
    token = auth.get_token()
    assert token[0] == "x-access-token"
    assert auth.get_token() == token  # cs3client decodes our JWT and reuses it

    with pytest.raises(AlreadyExistsException):
        client.file.make_dir(auth.get_token(), Resource(abs_path=workdir))

    path = f"{workdir}/notes.txt"
    client.file.write_file(auth.get_token(), Resource(abs_path=path), b"hello corestore", -1)

    info = client.file.stat(auth.get_token(), Resource(abs_path=path))
    assert info.size == len(b"hello corestore")
    assert info.path == path
    assert info.id.storage_id == "home" and info.id.opaque_id
    assert info.etag and info.mtime.seconds > 0
    assert info.mime_type == "text/plain"
    assert info.owner.opaque_id == "einstein"
    assert info.permission_set.initiate_file_upload
    assert info.checksum.sum

    by_id = client.file.stat(
        auth.get_token(),
        Resource.from_file_ref_and_endpoint(
            info.id.opaque_id, f"{info.id.storage_id}${info.id.space_id}"
        ),
    )
    assert by_id.id.opaque_id == info.id.opaque_id
    assert by_id.path == path

    names = [i.path for i in client.file.list_dir(auth.get_token(), Resource(abs_path=workdir))]
    assert names == [path]

    content = b"".join(client.file.read_file(auth.get_token(), Resource(abs_path=path)))
    assert content == b"hello corestore"

    moved = f"{workdir}/renamed.txt"
    client.file.rename_file(auth.get_token(), Resource(abs_path=path), Resource(abs_path=moved))
    with pytest.raises(NotFoundException):
        client.file.stat(auth.get_token(), Resource(abs_path=path))
    assert (
        client.file.stat(auth.get_token(), Resource(abs_path=moved)).id.opaque_id
        == info.id.opaque_id
    )

    client.file.touch_file(auth.get_token(), Resource(abs_path=f"{workdir}/empty"))
    assert client.file.stat(auth.get_token(), Resource(abs_path=f"{workdir}/empty")).size == 0

    client.file.remove_file(auth.get_token(), Resource(abs_path=moved))
    with pytest.raises(NotFoundException):
        client.file.stat(auth.get_token(), Resource(abs_path=moved))


def test_xattrs(einstein_client: tuple[CS3Client, Auth], workdir: str) -> None:
    client, auth = einstein_client
    res = Resource(abs_path=f"{workdir}/x.bin")
    client.file.write_file(auth.get_token(), res, b"x", -1)
    client.file.set_xattr(auth.get_token(), res, "project", "relativity")
    from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp

    stat = client._gateway.Stat(
        sp.StatRequest(ref=res.ref, arbitrary_metadata_keys=["project"]),
        metadata=[auth.get_token()],
    )
    assert stat.info.arbitrary_metadata.metadata["project"] == "relativity"
    client.file.remove_xattr(auth.get_token(), res, "project")
    stat = client._gateway.Stat(
        sp.StatRequest(ref=res.ref, arbitrary_metadata_keys=["project"]),
        metadata=[auth.get_token()],
    )
    assert "project" not in stat.info.arbitrary_metadata.metadata


def test_locks(einstein_client: tuple[CS3Client, Auth], workdir: str) -> None:
    client, auth = einstein_client
    res = Resource(abs_path=f"{workdir}/locked.txt")
    client.file.write_file(auth.get_token(), res, b"v1", -1)

    client.file.set_lock(auth.get_token(), res, app_name="app-a", lock_id="lock-1")
    lock = client.file.get_lock(auth.get_token(), res)
    assert lock["lock_id"] == "lock-1" and lock["app_name"] == "app-a"

    with pytest.raises(FileLockedException):  # another holder
        client.file.set_lock(auth.get_token(), res, app_name="app-b", lock_id="lock-2")
    with pytest.raises(FileLockedException):  # writing without the lock id: 409 on the data path
        client.file.write_file(auth.get_token(), res, b"v2", -1)

    client.file.write_file(auth.get_token(), res, b"v2", -1, app_name="app-a", lock_id="lock-1")
    client.file.refresh_lock(
        auth.get_token(), res, app_name="app-a", lock_id="lock-1b", existing_lock_id="lock-1"
    )
    assert client.file.get_lock(auth.get_token(), res)["lock_id"] == "lock-1b"
    with pytest.raises(FileLockedException):
        client.file.unlock(auth.get_token(), res, app_name="app-b", lock_id="lock-1b")
    client.file.unlock(auth.get_token(), res, app_name="app-a", lock_id="lock-1b")
    with pytest.raises(NotFoundException):  # CS3: GetLock answers NOT_FOUND when there is no lock
        client.file.get_lock(auth.get_token(), res)
    assert b"".join(client.file.read_file(auth.get_token(), res)) == b"v2"


def test_quota(einstein_client: tuple[CS3Client, Auth]) -> None:
    client, auth = einstein_client
    quota = client.file.get_quota(auth.get_token(), Resource(abs_path="/home/einstein"))
    assert quota.used_bytes >= 0
    assert quota.total_bytes >= quota.used_bytes


def test_other_users_home_is_private(server: Any, workdir: str) -> None:
    client, auth = cs3client_for(server, "marie", "radioactivity")
    from cs3client.exceptions import PermissionDeniedException

    with pytest.raises(PermissionDeniedException):
        list(client.file.list_dir(auth.get_token(), Resource(abs_path=workdir)))


def test_versions_through_the_gateway(
    einstein_client: tuple[CS3Client, Auth], workdir: str
) -> None:
    client, auth = einstein_client
    res = Resource(abs_path=f"{workdir}/draft.txt")
    client.file.write_file(auth.get_token(), res, b"first draft", -1)
    client.file.write_file(auth.get_token(), res, b"second draft", -1)
    versions = list(client.checkpoint.list_file_versions(auth.get_token(), res))
    assert [v.size for v in versions] == [len(b"first draft")]
    client.checkpoint.restore_file_version(auth.get_token(), res, versions[0].key)
    assert b"".join(client.file.read_file(auth.get_token(), res)) == b"first draft"
