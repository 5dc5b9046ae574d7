"""Every ``ProviderAPI`` RPC over real gRPC against the posix driver (``/home``).

Each call goes through :func:`call`, which records the RPC name; the last test checks that all
34 RPCs of the service were exercised.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
from cs3.identity.user.v1beta1 import resources_pb2 as user_pb
from cs3.rpc.v1beta1 import code_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from cs3.types.v1beta1 import types_pb2

CALLED: set[str] = set()
OK = code_pb2.CODE_OK


def call(stub: Any, token: list, name: str, request: Any) -> Any:
    CALLED.add(name)
    method = getattr(stub, name)
    response = method(request, metadata=token)
    if hasattr(response, "status"):
        return response
    return list(response)  # server-streaming


def ref(path: str) -> spr.Reference:
    return spr.Reference(path=path)


def code(response: Any) -> str:
    return code_pb2.Code.Name(response.status.code)


@pytest.fixture
def home(provider: Any, einstein: list) -> str:
    path = f"/home/einstein/api-{uuid.uuid4().hex[:8]}"
    assert (
        code(call(provider, einstein, "CreateContainer", sp.CreateContainerRequest(ref=ref(path))))
        == "CODE_OK"
    )
    return path


def upload(provider: Any, token: list, path: str, data: bytes, **options: Any) -> requests.Response:
    opaque = types_pb2.Opaque(
        map={"Upload-Length": types_pb2.OpaqueEntry(decoder="plain", value=str(len(data)).encode())}
    )
    res = call(
        provider,
        token,
        "InitiateFileUpload",
        sp.InitiateFileUploadRequest(ref=ref(path), opaque=opaque, **options),
    )
    assert code(res) == "CODE_OK", res.status
    assert {p.protocol for p in res.protocols} == {"simple", "tus"}
    simple = next(p for p in res.protocols if p.protocol == "simple")
    assert simple.expose and "X-Reva-Transfer" in simple.opaque.map
    return requests.put(simple.upload_endpoint, data=data, timeout=30)


def download(provider: Any, token: list, path: str, version_key: str | None = None) -> bytes:
    opaque = None
    if version_key:
        opaque = types_pb2.Opaque(
            map={"version_key": types_pb2.OpaqueEntry(decoder="plain", value=version_key.encode())}
        )
    res = call(
        provider,
        token,
        "InitiateFileDownload",
        sp.InitiateFileDownloadRequest(ref=ref(path), opaque=opaque),
    )
    assert code(res) == "CODE_OK", res.status
    (proto,) = res.protocols
    got = requests.get(proto.download_endpoint, timeout=30)
    assert got.status_code == 200, got.text
    return got.content


def test_namespace(provider: Any, einstein: list, home: str) -> None:
    assert call(provider, einstein, "GetHome", sp.GetHomeRequest()).path == "/home/einstein"
    assert (
        code(call(provider, einstein, "CreateHome", sp.CreateHomeRequest())) == "CODE_OK"
    )  # idempotent

    sub = f"{home}/sub"
    assert (
        code(call(provider, einstein, "CreateContainer", sp.CreateContainerRequest(ref=ref(sub))))
        == "CODE_OK"
    )
    again = call(provider, einstein, "CreateContainer", sp.CreateContainerRequest(ref=ref(sub)))
    assert code(again) == "CODE_ALREADY_EXISTS"
    assert (
        code(call(provider, einstein, "TouchFile", sp.TouchFileRequest(ref=ref(f"{sub}/a.txt"))))
        == "CODE_OK"
    )

    stat = call(provider, einstein, "Stat", sp.StatRequest(ref=ref(f"{sub}/a.txt")))
    info = stat.info
    assert info.type == spr.RESOURCE_TYPE_FILE and info.size == 0 and info.path == f"{sub}/a.txt"
    assert info.id.storage_id == info.id.space_id == "home"
    assert info.parent_id.opaque_id and info.etag and info.mime_type == "text/plain"
    assert info.owner.opaque_id == "einstein" and info.permission_set.delete

    rel = spr.Reference(resource_id=info.parent_id, path="./a.txt")
    assert call(provider, einstein, "Stat", sp.StatRequest(ref=rel)).info.id == info.id
    path = call(provider, einstein, "GetPath", sp.GetPathRequest(resource_id=info.id))
    assert path.path == f"{sub}/a.txt"

    listing = call(provider, einstein, "ListContainer", sp.ListContainerRequest(ref=ref(sub)))
    assert [i.path for i in listing.infos] == [f"{sub}/a.txt"]
    stream = call(
        provider, einstein, "ListContainerStream", sp.ListContainerStreamRequest(ref=ref(sub))
    )
    assert [m.info.path for m in stream] == [f"{sub}/a.txt"] and all(
        m.status.code == OK for m in stream
    )

    moved = call(
        provider,
        einstein,
        "Move",
        sp.MoveRequest(source=ref(f"{sub}/a.txt"), destination=ref(f"{home}/b.txt")),
    )
    assert code(moved) == "CODE_OK"
    assert (
        call(provider, einstein, "Stat", sp.StatRequest(ref=ref(f"{home}/b.txt"))).info.id
        == info.id
    )

    assert code(call(provider, einstein, "Delete", sp.DeleteRequest(ref=ref(sub)))) == "CODE_OK"
    assert code(call(provider, einstein, "Stat", sp.StatRequest(ref=ref(sub)))) == "CODE_NOT_FOUND"

    quota = call(provider, einstein, "GetQuota", sp.GetQuotaRequest(ref=ref(home)))
    assert code(quota) == "CODE_OK" and quota.total_bytes >= quota.used_bytes

    # the virtual root above the mounts lists both of them
    root = call(provider, einstein, "ListContainer", sp.ListContainerRequest(ref=ref("/")))
    assert {i.path for i in root.infos} == {"/home", "/scratch"}


def test_unsupported_rpcs_say_unimplemented(provider: Any, einstein: list, home: str) -> None:
    target = ref(f"{home}/x")
    assert (
        code(
            call(
                provider,
                einstein,
                "CreateSymlink",
                sp.CreateSymlinkRequest(ref=target, target="/a"),
            )
        )
        == "CODE_UNIMPLEMENTED"
    )
    assert (
        code(
            call(
                provider,
                einstein,
                "CreateReference",
                sp.CreateReferenceRequest(ref=target, target_uri="cs3:x"),
            )
        )
        == "CODE_UNIMPLEMENTED"
    )
    assert (
        code(call(provider, einstein, "SetImmutable", sp.SetImmutableRequest(ref=target)))
        == "CODE_UNIMPLEMENTED"
    )
    assert (
        code(call(provider, einstein, "UnsetImmutable", sp.UnsetImmutableRequest(ref=target)))
        == "CODE_UNIMPLEMENTED"
    )
    # the memory driver on /scratch has no locks: the capability check says so
    lock = spr.Lock(lock_id="l", type=spr.LOCK_TYPE_WRITE)
    assert code(
        call(provider, einstein, "SetLock", sp.SetLockRequest(ref=ref("/scratch/x"), lock=lock))
    ) in ("CODE_UNIMPLEMENTED",)


def test_data_transfer_and_metadata(provider: Any, einstein: list, home: str) -> None:
    path = f"{home}/data.bin"
    assert upload(provider, einstein, path, b"0123456789").status_code == 200
    assert download(provider, einstein, path) == b"0123456789"

    md = spr.ArbitraryMetadata(metadata={"color": "blue", "size": "xl"})
    assert (
        code(
            call(
                provider,
                einstein,
                "SetArbitraryMetadata",
                sp.SetArbitraryMetadataRequest(ref=ref(path), arbitrary_metadata=md),
            )
        )
        == "CODE_OK"
    )
    stat = call(
        provider,
        einstein,
        "Stat",
        sp.StatRequest(ref=ref(path), arbitrary_metadata_keys=["color", "size"]),
    )
    assert dict(stat.info.arbitrary_metadata.metadata) == {"color": "blue", "size": "xl"}
    assert (
        code(
            call(
                provider,
                einstein,
                "UnsetArbitraryMetadata",
                sp.UnsetArbitraryMetadataRequest(ref=ref(path), arbitrary_metadata_keys=["color"]),
            )
        )
        == "CODE_OK"
    )
    stat = call(
        provider, einstein, "Stat", sp.StatRequest(ref=ref(path), arbitrary_metadata_keys=["*"])
    )
    assert dict(stat.info.arbitrary_metadata.metadata) == {"size": "xl"}


def test_locks(provider: Any, einstein: list, home: str) -> None:
    path = f"{home}/locked.txt"
    upload(provider, einstein, path, b"v1")
    lock = spr.Lock(
        lock_id="L1",
        type=spr.LOCK_TYPE_WRITE,
        app_name="editor",
        expiration=types_pb2.Timestamp(seconds=int(time.time()) + 600),
    )
    assert (
        code(call(provider, einstein, "SetLock", sp.SetLockRequest(ref=ref(path), lock=lock)))
        == "CODE_OK"
    )
    other = spr.Lock(lock_id="L2", type=spr.LOCK_TYPE_WRITE, app_name="other")
    assert (
        code(call(provider, einstein, "SetLock", sp.SetLockRequest(ref=ref(path), lock=other)))
        == "CODE_FAILED_PRECONDITION"
    )

    got = call(provider, einstein, "GetLock", sp.GetLockRequest(ref=ref(path)))
    assert (
        got.lock.lock_id == "L1"
        and got.lock.app_name == "editor"
        and got.lock.user.opaque_id == "einstein"
    )
    assert call(provider, einstein, "Stat", sp.StatRequest(ref=ref(path))).info.lock.lock_id == "L1"

    assert (
        code(call(provider, einstein, "Delete", sp.DeleteRequest(ref=ref(path)))) == "CODE_LOCKED"
    )
    assert (
        upload(provider, einstein, path, b"v2").status_code == 409
    )  # the data path: lock conflict

    refreshed = spr.Lock(
        lock_id="L1",
        type=spr.LOCK_TYPE_WRITE,
        app_name="editor",
        expiration=types_pb2.Timestamp(seconds=int(time.time()) + 1200),
    )
    assert (
        code(
            call(
                provider,
                einstein,
                "RefreshLock",
                sp.RefreshLockRequest(ref=ref(path), lock=refreshed),
            )
        )
        == "CODE_OK"
    )
    assert (
        code(
            call(
                provider, einstein, "RefreshLock", sp.RefreshLockRequest(ref=ref(path), lock=other)
            )
        )
        == "CODE_FAILED_PRECONDITION"
    )
    assert (
        code(call(provider, einstein, "Unlock", sp.UnlockRequest(ref=ref(path), lock=other)))
        == "CODE_FAILED_PRECONDITION"
    )
    assert (
        code(call(provider, einstein, "Unlock", sp.UnlockRequest(ref=ref(path), lock=refreshed)))
        == "CODE_OK"
    )
    assert (
        code(call(provider, einstein, "GetLock", sp.GetLockRequest(ref=ref(path))))
        == "CODE_NOT_FOUND"
    )
    assert code(call(provider, einstein, "Delete", sp.DeleteRequest(ref=ref(path)))) == "CODE_OK"


def test_versions(provider: Any, einstein: list, home: str) -> None:
    path = f"{home}/versioned.txt"
    upload(provider, einstein, path, b"first")
    upload(provider, einstein, path, b"second!")
    versions = call(
        provider, einstein, "ListFileVersions", sp.ListFileVersionsRequest(ref=ref(path))
    ).versions
    assert len(versions) == 1 and versions[0].size == len(b"first")
    assert download(provider, einstein, path, version_key=versions[0].key) == b"first"
    res = call(
        provider,
        einstein,
        "RestoreFileVersion",
        sp.RestoreFileVersionRequest(ref=ref(path), key=versions[0].key),
    )
    assert code(res) == "CODE_OK"
    assert download(provider, einstein, path) == b"first"


def test_recycle(provider: Any, einstein: list, home: str) -> None:
    for name in ("gone.txt", "purged.txt", "moved.txt"):
        upload(provider, einstein, f"{home}/{name}", name.encode())
        assert (
            code(call(provider, einstein, "Delete", sp.DeleteRequest(ref=ref(f"{home}/{name}"))))
            == "CODE_OK"
        )
    items = call(
        provider, einstein, "ListRecycle", sp.ListRecycleRequest(ref=ref("/home/einstein"))
    ).recycle_items
    by_path = {i.ref.path: i for i in items}
    assert {f"{home}/gone.txt", f"{home}/purged.txt", f"{home}/moved.txt"} <= set(by_path)
    stream = call(
        provider,
        einstein,
        "ListRecycleStream",
        sp.ListRecycleStreamRequest(ref=ref("/home/einstein")),
    )
    assert {m.recycle_item.key for m in stream} == {i.key for i in items}

    key = by_path[f"{home}/gone.txt"].key
    res = call(
        provider,
        einstein,
        "RestoreRecycleItem",
        sp.RestoreRecycleItemRequest(ref=ref("/home/einstein"), key=key),
    )
    assert code(res) == "CODE_OK"
    assert download(provider, einstein, f"{home}/gone.txt") == b"gone.txt"

    key = by_path[f"{home}/moved.txt"].key
    res = call(
        provider,
        einstein,
        "RestoreRecycleItem",
        sp.RestoreRecycleItemRequest(
            ref=ref("/home/einstein"), key=key, restore_ref=ref(f"{home}/elsewhere.txt")
        ),
    )
    assert code(res) == "CODE_OK"
    assert download(provider, einstein, f"{home}/elsewhere.txt") == b"moved.txt"

    key = by_path[f"{home}/purged.txt"].key
    res = call(
        provider,
        einstein,
        "PurgeRecycle",
        sp.PurgeRecycleRequest(ref=ref("/home/einstein"), key=key),
    )
    assert code(res) == "CODE_OK"
    items = call(
        provider, einstein, "ListRecycle", sp.ListRecycleRequest(ref=ref("/home/einstein"))
    ).recycle_items
    assert key not in {i.key for i in items}


def _grantee(user: str) -> spr.Grantee:
    return spr.Grantee(
        type=spr.GRANTEE_TYPE_USER, user_id=user_pb.UserId(opaque_id=user, idp="corestore")
    )


def test_grants(provider: Any, einstein: list, marie: list, home: str) -> None:
    shared = f"{home}/shared"
    call(provider, einstein, "CreateContainer", sp.CreateContainerRequest(ref=ref(shared)))
    upload(provider, einstein, f"{shared}/paper.txt", b"E=mc2")
    assert (
        code(call(provider, marie, "ListContainer", sp.ListContainerRequest(ref=ref(shared))))
        == "CODE_PERMISSION_DENIED"
    )

    viewer = spr.ResourcePermissions(stat=True, list_container=True, initiate_file_download=True)
    grant = spr.Grant(grantee=_grantee("marie"), permissions=viewer)
    assert (
        code(call(provider, einstein, "AddGrant", sp.AddGrantRequest(ref=ref(shared), grant=grant)))
        == "CODE_OK"
    )
    grants = call(provider, einstein, "ListGrants", sp.ListGrantsRequest(ref=ref(shared))).grants
    assert [g.grantee.user_id.opaque_id for g in grants] == ["marie"] and grants[0].permissions.stat

    listing = call(provider, marie, "ListContainer", sp.ListContainerRequest(ref=ref(shared)))
    assert code(listing) == "CODE_OK" and [i.path for i in listing.infos] == [f"{shared}/paper.txt"]
    assert download(provider, marie, f"{shared}/paper.txt") == b"E=mc2"
    denied = call(
        provider,
        marie,
        "InitiateFileUpload",
        sp.InitiateFileUploadRequest(ref=ref(f"{shared}/new.txt")),
    )
    assert code(denied) == "CODE_PERMISSION_DENIED"
    # a grant does not open the rest of the home
    assert (
        code(call(provider, marie, "Stat", sp.StatRequest(ref=ref(home))))
        == "CODE_PERMISSION_DENIED"
    )

    editor = spr.ResourcePermissions(
        stat=True, list_container=True, initiate_file_download=True, initiate_file_upload=True
    )
    grant = spr.Grant(grantee=_grantee("marie"), permissions=editor)
    assert (
        code(
            call(
                provider,
                einstein,
                "UpdateGrant",
                sp.UpdateGrantRequest(ref=ref(shared), grant=grant),
            )
        )
        == "CODE_OK"
    )
    assert upload(provider, marie, f"{shared}/reply.txt", b"nice").status_code == 200

    assert (
        code(
            call(
                provider,
                einstein,
                "DenyGrant",
                sp.DenyGrantRequest(ref=ref(shared), grantee=_grantee("marie")),
            )
        )
        == "CODE_OK"
    )
    assert (
        code(call(provider, marie, "Stat", sp.StatRequest(ref=ref(shared))))
        == "CODE_PERMISSION_DENIED"
    )

    assert (
        code(
            call(
                provider,
                einstein,
                "RemoveGrant",
                sp.RemoveGrantRequest(ref=ref(shared), grant=spr.Grant(grantee=_grantee("marie"))),
            )
        )
        == "CODE_OK"
    )
    assert (
        call(provider, einstein, "ListGrants", sp.ListGrantsRequest(ref=ref(shared))).grants == []
    )
    assert (
        code(call(provider, marie, "Stat", sp.StatRequest(ref=ref(shared))))
        == "CODE_PERMISSION_DENIED"
    )


def test_expired_grants_count_as_none(
    provider: Any, einstein: list, marie: list, home: str
) -> None:
    folder = f"{home}/expiring"
    call(provider, einstein, "CreateContainer", sp.CreateContainerRequest(ref=ref(folder)))
    viewer = spr.ResourcePermissions(stat=True, list_container=True)
    past = types_pb2.Timestamp(seconds=int(time.time()) - 60)
    grant = spr.Grant(grantee=_grantee("marie"), permissions=viewer, expiration=past)
    assert (
        code(call(provider, einstein, "AddGrant", sp.AddGrantRequest(ref=ref(folder), grant=grant)))
        == "CODE_OK"
    )
    assert (
        code(call(provider, marie, "Stat", sp.StatRequest(ref=ref(folder))))
        == "CODE_PERMISSION_DENIED"
    )
    future = types_pb2.Timestamp(seconds=int(time.time()) + 600)
    grant = spr.Grant(grantee=_grantee("marie"), permissions=viewer, expiration=future)
    assert (
        code(
            call(
                provider,
                einstein,
                "UpdateGrant",
                sp.UpdateGrantRequest(ref=ref(folder), grant=grant),
            )
        )
        == "CODE_OK"
    )
    assert code(call(provider, marie, "Stat", sp.StatRequest(ref=ref(folder)))) == "CODE_OK"


def test_relative_references(provider: Any, einstein: list, home: str) -> None:
    """``{resource_id: folder, path: "./x"}`` works for creating, uploading and reading."""
    folder = call(provider, einstein, "Stat", sp.StatRequest(ref=ref(home))).info.id
    rel = spr.Reference(resource_id=folder, path="./sub")
    assert (
        code(call(provider, einstein, "CreateContainer", sp.CreateContainerRequest(ref=rel)))
        == "CODE_OK"
    )
    target = spr.Reference(resource_id=folder, path="./sub/new.txt")
    res = call(provider, einstein, "InitiateFileUpload", sp.InitiateFileUploadRequest(ref=target))
    assert code(res) == "CODE_OK"
    assert (
        requests.put(res.protocols[0].upload_endpoint, data=b"relative", timeout=30).status_code
        == 200
    )
    stat = call(provider, einstein, "Stat", sp.StatRequest(ref=target))
    assert stat.info.path == f"{home}/sub/new.txt" and stat.info.size == len(b"relative")
    assert download(provider, einstein, f"{home}/sub/new.txt") == b"relative"
    missing = spr.Reference(resource_id=folder, path="./nope/new.txt")
    res = call(provider, einstein, "InitiateFileUpload", sp.InitiateFileUploadRequest(ref=missing))
    assert code(res) == "CODE_FAILED_PRECONDITION"


def test_second_mount_routes_by_path_and_id(provider: Any, einstein: list) -> None:
    name = f"/scratch/{uuid.uuid4().hex[:8]}"
    assert (
        code(call(provider, einstein, "CreateContainer", sp.CreateContainerRequest(ref=ref(name))))
        == "CODE_OK"
    )
    info = call(provider, einstein, "Stat", sp.StatRequest(ref=ref(name))).info
    assert info.id.storage_id == "scratch" and info.path == name
    by_id = call(
        provider, einstein, "Stat", sp.StatRequest(ref=spr.Reference(resource_id=info.id, path="."))
    )
    assert by_id.info.path == name


def test_recycle_bins_are_per_home(provider: Any, einstein: list, marie: list, home: str) -> None:
    upload(provider, einstein, f"{home}/mine.txt", b"einstein's")
    call(provider, einstein, "Delete", sp.DeleteRequest(ref=ref(f"{home}/mine.txt")))
    items = call(
        provider, einstein, "ListRecycle", sp.ListRecycleRequest(ref=ref("/home/einstein"))
    )
    key = next(i.key for i in items.recycle_items if i.ref.path == f"{home}/mine.txt")

    theirs = call(provider, marie, "ListRecycle", sp.ListRecycleRequest(ref=ref("/home/marie")))
    assert code(theirs) == "CODE_OK" and key not in {i.key for i in theirs.recycle_items}
    res = call(
        provider,
        marie,
        "RestoreRecycleItem",
        sp.RestoreRecycleItemRequest(ref=ref("/home/marie"), key=key),
    )
    assert code(res) == "CODE_NOT_FOUND"
    res = call(
        provider, marie, "PurgeRecycle", sp.PurgeRecycleRequest(ref=ref("/home/marie"), key=key)
    )
    assert code(res) == "CODE_NOT_FOUND"
    assert (
        code(call(provider, marie, "PurgeRecycle", sp.PurgeRecycleRequest(ref=ref("/home/marie"))))
        == "CODE_OK"
    )
    res = call(provider, marie, "ListRecycle", sp.ListRecycleRequest(ref=ref("/home/einstein")))
    assert code(res) == "CODE_PERMISSION_DENIED"

    items = call(
        provider, einstein, "ListRecycle", sp.ListRecycleRequest(ref=ref("/home/einstein"))
    )
    assert key in {i.key for i in items.recycle_items}  # marie's purge left it alone


def test_every_provider_rpc_was_called() -> None:
    from cs3.storage.provider.v1beta1 import provider_api_pb2

    service = provider_api_pb2.DESCRIPTOR.services_by_name["ProviderAPI"]
    all_rpcs = {m.name for m in service.methods}
    assert len(all_rpcs) == 34
    assert all_rpcs - CALLED == set()
