"""The federated flow between two sites over real gRPC, HTTP and WebDAV: invite, share, access,
write refused then allowed, unshare."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request

import pytest
from cs3.ocm.invite.v1beta1 import invite_api_pb2 as inv
from cs3.ocm.invite.v1beta1 import resources_pb2 as invr
from cs3.ocm.provider.v1beta1 import resources_pb2 as prov
from cs3.rpc.v1beta1 import code_pb2
from cs3.sharing.ocm.v1beta1 import ocm_api_pb2 as ocm
from cs3.sharing.ocm.v1beta1 import resources_pb2 as ocmr
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from google.protobuf import field_mask_pb2

pytestmark = pytest.mark.timeout(300)


def code(status) -> str:  # noqa: ANN001
    return code_pb2.Code.Name(status.code)


def ok(res):  # noqa: ANN001, ANN201
    assert res.status.code == code_pb2.CODE_OK, res.status
    return res


def path_ref(path: str) -> spr.Reference:
    return spr.Reference(path=path)


def upload(site, md, path: str, data: bytes) -> None:  # noqa: ANN001
    res = site.gateway.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=path_ref(path)), metadata=md
    )
    if res.status.code != code_pb2.CODE_OK:
        raise PermissionError(code(res.status))
    proto = next(p for p in res.protocols if p.protocol == "simple")
    request = urllib.request.Request(
        proto.upload_endpoint, data=data, method="PUT", headers={"X-Reva-Transfer": proto.token}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201, 204)


def download(site, md, path: str) -> bytes:  # noqa: ANN001
    res = ok(
        site.gateway.InitiateFileDownload(
            sp.InitiateFileDownloadRequest(ref=path_ref(path)), metadata=md
        )
    )
    proto = next(p for p in res.protocols if p.protocol == "simple")
    request = urllib.request.Request(
        proto.download_endpoint, headers={"X-Reva-Transfer": proto.token}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def dav(
    site,
    user: str,
    password: str,
    method: str,
    path: str,
    data: bytes | None = None,  # noqa: ANN001
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{site.http}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Basic {auth}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def connected(site_a, site_b):  # noqa: ANN001, ANN201
    """einstein@A invites marie@B, marie accepts: returns the invite token."""
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    token = ok(
        site_a.invites.GenerateInviteToken(
            inv.GenerateInviteTokenRequest(description="collab"), metadata=md_a
        )
    ).invite_token
    assert token.expiration.seconds > time.time() + 23 * 3600
    res = ok(
        site_b.gateway.ForwardInvite(
            inv.ForwardInviteRequest(
                invite_token=invr.InviteToken(token=token.token),
                origin_system_provider=prov.ProviderInfo(domain=site_a.domain),
            ),
            metadata=md_b,
        )
    )
    assert (res.user_id.opaque_id, res.user_id.idp) == ("einstein", site_a.domain)
    assert res.display_name == "Albert Einstein"
    return token.token


def test_invite_flow(site_a, site_b, connected) -> None:  # noqa: ANN001
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    # both sides know each other now
    found = ok(
        site_a.invites.FindAcceptedUsers(inv.FindAcceptedUsersRequest(filter=""), metadata=md_a)
    )
    assert [(u.id.opaque_id, u.id.idp) for u in found.accepted_users] == [("marie", site_b.domain)]
    found = ok(
        site_b.gateway.FindAcceptedUsers(
            inv.FindAcceptedUsersRequest(filter="einst"), metadata=md_b
        )
    )
    assert [(u.id.opaque_id, u.id.idp) for u in found.accepted_users] == [
        ("einstein", site_a.domain)
    ]
    # re-accepting gives ALREADY_EXISTS
    again = site_b.gateway.ForwardInvite(
        inv.ForwardInviteRequest(
            invite_token=invr.InviteToken(token=connected),
            origin_system_provider=prov.ProviderInfo(domain=site_a.domain),
        ),
        metadata=md_b,
    )
    assert code(again.status) == "CODE_ALREADY_EXISTS"
    # a used token is single-use: another user of B cannot reuse it
    other = site_b.gateway.ForwardInvite(
        inv.ForwardInviteRequest(
            invite_token=invr.InviteToken(token=connected),
            origin_system_provider=prov.ProviderInfo(domain=site_a.domain),
        ),
        metadata=site_b.login("richard"),
    )
    assert code(other.status) == "CODE_INVALID_ARGUMENT"
    # an unknown token fails cleanly
    unknown = site_b.gateway.ForwardInvite(
        inv.ForwardInviteRequest(
            invite_token=invr.InviteToken(token="no-such-token"),
            origin_system_provider=prov.ProviderInfo(domain=site_a.domain),
        ),
        metadata=md_b,
    )
    assert code(unknown.status) == "CODE_INVALID_ARGUMENT"
    assert "unknown" in unknown.status.message


def test_expired_invite_fails_cleanly(tmp_path, site_b, launch_site) -> None:  # noqa: ANN001
    site_c = launch_site(tmp_path / "site-c", "site-c", invite_ttl=1)
    md_c = site_c.login("richard")
    token = ok(
        site_c.invites.GenerateInviteToken(inv.GenerateInviteTokenRequest(), metadata=md_c)
    ).invite_token
    time.sleep(1.5)
    res = site_b.gateway.ForwardInvite(
        inv.ForwardInviteRequest(
            invite_token=invr.InviteToken(token=token.token),
            origin_system_provider=prov.ProviderInfo(domain=site_c.domain),
        ),
        metadata=site_b.login("richard"),
    )
    assert code(res.status) == "CODE_INVALID_ARGUMENT"
    assert "expired" in res.status.message


def _viewer() -> spr.ResourcePermissions:
    return spr.ResourcePermissions(
        stat=True, list_container=True, initiate_file_download=True, get_path=True
    )


def _editor() -> spr.ResourcePermissions:
    return spr.ResourcePermissions(
        stat=True,
        list_container=True,
        initiate_file_download=True,
        get_path=True,
        initiate_file_upload=True,
        create_container=True,
        delete=True,
        move=True,
    )


def _received(site_b, md_b):  # noqa: ANN001, ANN202
    return ok(
        site_b.ocm.ListReceivedOCMShares(ocm.ListReceivedOCMSharesRequest(), metadata=md_b)
    ).shares


@pytest.fixture(scope="module")
def shared(site_a, site_b, connected):  # noqa: ANN001, ANN201
    """einstein@A shares /home/einstein/project read-only with marie@B, who accepts it."""
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    ok(
        site_a.gateway.CreateContainer(
            sp.CreateContainerRequest(ref=path_ref("/home/einstein/project")), metadata=md_a
        )
    )
    upload(site_a, md_a, "/home/einstein/project/hello.txt", b"hello from site A\n")
    info = ok(
        site_a.gateway.Stat(sp.StatRequest(ref=path_ref("/home/einstein/project")), metadata=md_a)
    ).info
    res = ok(
        site_a.ocm.CreateOCMShare(
            ocm.CreateOCMShareRequest(
                resource_id=info.id,
                grantee=spr.Grantee(
                    type=spr.GRANTEE_TYPE_USER, user_id={"opaque_id": "marie", "idp": site_b.domain}
                ),
                recipient_mesh_provider=prov.ProviderInfo(domain=site_b.domain),
                access_methods=[
                    ocmr.AccessMethod(webdav_options=ocmr.WebDAVAccessMethod(permissions=_viewer()))
                ],
            ),
            metadata=md_a,
        )
    )
    assert res.recipient_display_name == "Marie Curie"
    received = _received(site_b, md_b)
    assert [(r.name, r.remote_share_id, r.state) for r in received] == [
        ("project", res.share.id.opaque_id, ocmr.SHARE_STATE_PENDING)
    ]
    ok(
        site_b.ocm.UpdateReceivedOCMShare(
            ocm.UpdateReceivedOCMShareRequest(
                share=ocmr.ReceivedShare(id=received[0].id, state=ocmr.SHARE_STATE_ACCEPTED),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=md_b,
        )
    )
    return res.share


def test_duplicate_share_is_refused(site_a, site_b, shared) -> None:  # noqa: ANN001
    again = site_a.ocm.CreateOCMShare(
        ocm.CreateOCMShareRequest(
            resource_id=shared.resource_id,
            grantee=spr.Grantee(
                type=spr.GRANTEE_TYPE_USER, user_id={"opaque_id": "marie", "idp": site_b.domain}
            ),
            recipient_mesh_provider=prov.ProviderInfo(domain=site_b.domain),
        ),
        metadata=site_a.login("einstein"),
    )
    assert code(again.status) == "CODE_ALREADY_EXISTS"


def test_recipient_reads_through_cs3(site_b, shared) -> None:  # noqa: ANN001
    md_b = site_b.login("marie")
    info = ok(
        site_b.gateway.Stat(sp.StatRequest(ref=path_ref("/ocm/marie/project")), metadata=md_b)
    ).info
    assert info.type == spr.RESOURCE_TYPE_CONTAINER
    listing = ok(
        site_b.gateway.ListContainer(
            sp.ListContainerRequest(ref=path_ref("/ocm/marie/project")), metadata=md_b
        )
    ).infos
    assert [(i.path, i.size) for i in listing] == [("/ocm/marie/project/hello.txt", 18)]
    assert download(site_b, md_b, "/ocm/marie/project/hello.txt") == b"hello from site A\n"
    # nobody else on B sees marie's share
    other = site_b.gateway.Stat(
        sp.StatRequest(ref=path_ref("/ocm/marie/project")), metadata=site_b.login("richard")
    )
    assert code(other.status) == "CODE_PERMISSION_DENIED"


def test_read_only_share_refuses_writes(site_a, site_b, shared) -> None:  # noqa: ANN001
    md_b = site_b.login("marie")
    with pytest.raises(PermissionError, match="CODE_PERMISSION_DENIED"):
        upload(site_b, md_b, "/ocm/marie/project/new.txt", b"nope")
    res = site_b.gateway.CreateContainer(
        sp.CreateContainerRequest(ref=path_ref("/ocm/marie/project/sub")), metadata=md_b
    )
    assert code(res.status) == "CODE_PERMISSION_DENIED"
    # and the sharer itself refuses, whatever the receiver does: a PUT with the secret gets 403
    request = urllib.request.Request(
        f"{shared_url(site_a, shared)}/direct.txt",
        data=b"x",
        method="PUT",
        headers={"Authorization": f"Bearer {shared.token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403
    for method in ("MKCOL", "DELETE", "MOVE", "COPY", "PROPPATCH", "LOCK"):
        request = urllib.request.Request(
            f"{shared_url(site_a, shared)}/hello.txt",
            method=method,
            headers={
                "Authorization": f"Bearer {shared.token}",
                "Destination": f"{shared_url(site_a, shared)}/moved.txt",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 403, method
    listing = ok(
        site_a.gateway.ListContainer(
            sp.ListContainerRequest(ref=path_ref("/home/einstein/project")),
            metadata=site_a.login("einstein"),
        )
    ).infos
    assert [i.path for i in listing] == ["/home/einstein/project/hello.txt"]


def test_recipient_through_webdav_front_end(site_b, shared) -> None:  # noqa: ANN001
    base = "/remote.php/dav/ocm-received/marie/project"
    status, body = dav(
        site_b, "marie", "radioactivity", "PROPFIND", base + "/", headers={"Depth": "1"}
    )
    assert status == 207, body
    assert b"hello.txt" in body
    status, body = dav(site_b, "marie", "radioactivity", "GET", base + "/hello.txt")
    assert (status, body) == (200, b"hello from site A\n")
    status, _ = dav(site_b, "marie", "radioactivity", "PUT", base + "/new.txt", data=b"nope")
    assert status == 403
    status, _ = dav(site_b, "richard", "superfluidity", "GET", base + "/hello.txt")
    assert status in (403, 404)


def shared_url(site_a, share) -> str:  # noqa: ANN001
    return f"{site_a.http}/remote.php/dav/ocm/{share.id.opaque_id}"


def test_sharer_webdav_auth(site_a, shared) -> None:  # noqa: ANN001
    url = shared_url(site_a, shared) + "/hello.txt"
    for headers, expected in (
        ({"Authorization": f"Bearer {shared.token}"}, 200),
        ({"Authorization": "Basic " + base64.b64encode(f"{shared.token}:".encode()).decode()}, 200),
        ({"Authorization": "Bearer wrong-secret"}, 401),
        ({}, 401),
    ):
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, b""
        assert status == expected, headers
        if status == 200:
            assert body == b"hello from site A\n"
    # OCM 1.0 peers: Basic with the secret, no share id in the path
    basic = base64.b64encode(f"{shared.token}:".encode()).decode()
    request = urllib.request.Request(
        f"{site_a.http}/remote.php/dav/ocm/hello.txt", headers={"Authorization": f"Basic {basic}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == b"hello from site A\n"


def test_write_share_lets_recipient_upload(site_a, site_b, shared) -> None:  # noqa: ANN001
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    ok(
        site_a.ocm.UpdateOCMShare(
            ocm.UpdateOCMShareRequest(
                ref=ocmr.ShareReference(id=shared.id),
                field=[
                    ocm.UpdateOCMShareRequest.UpdateField(
                        access_methods=ocmr.AccessMethod(
                            webdav_options=ocmr.WebDAVAccessMethod(permissions=_editor())
                        )
                    )
                ],
            ),
            metadata=md_a,
        )
    )
    upload(site_b, md_b, "/ocm/marie/project/from-b.txt", b"written by B\n")
    ok(
        site_b.gateway.CreateContainer(
            sp.CreateContainerRequest(ref=path_ref("/ocm/marie/project/sub")), metadata=md_b
        )
    )
    assert download(site_a, md_a, "/home/einstein/project/from-b.txt") == b"written by B\n"
    listing = ok(
        site_a.gateway.ListContainer(
            sp.ListContainerRequest(ref=path_ref("/home/einstein/project")), metadata=md_a
        )
    ).infos
    assert sorted(i.path.rsplit("/", 1)[-1] for i in listing) == ["from-b.txt", "hello.txt", "sub"]


def test_forged_unshare_notification_is_ignored(site_a, site_b, shared, peer) -> None:  # noqa: ANN001
    """Someone other than the sharer cannot revoke marie's share on B: unsigned or signed with a key
    that is not the sharer's, SHARE_UNSHARED is refused and the share keeps working."""
    note = {
        "notificationType": "SHARE_UNSHARED",
        "resourceType": "folder",
        "providerId": shared.id.opaque_id,
    }
    url = f"{site_b.http}/ocm/notifications"
    for sign in ("none", "rfc9421", "cavage"):
        status, answer, _ = peer.post(url, note, sign=sign)
        assert status == 401, (sign, answer)
    md_b = site_b.login("marie")
    assert shared.id.opaque_id in [r.remote_share_id for r in _received(site_b, md_b)]
    assert download(site_b, md_b, "/ocm/marie/project/hello.txt") == b"hello from site A\n"


def test_file_share(site_a, site_b, connected) -> None:  # noqa: ANN001
    """A single file shared read-only, then with write: the recipient reads, then overwrites it."""
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    upload(site_a, md_a, "/home/einstein/notes.txt", b"version 1\n")
    info = ok(
        site_a.gateway.Stat(sp.StatRequest(ref=path_ref("/home/einstein/notes.txt")), metadata=md_a)
    ).info
    share = ok(
        site_a.ocm.CreateOCMShare(
            ocm.CreateOCMShareRequest(
                resource_id=info.id,
                grantee=spr.Grantee(
                    type=spr.GRANTEE_TYPE_USER, user_id={"opaque_id": "marie", "idp": site_b.domain}
                ),
                recipient_mesh_provider=prov.ProviderInfo(domain=site_b.domain),
            ),
            metadata=md_a,
        )
    ).share
    (received,) = [r for r in _received(site_b, md_b) if r.remote_share_id == share.id.opaque_id]
    assert received.resource_type == spr.RESOURCE_TYPE_FILE
    ok(
        site_b.ocm.UpdateReceivedOCMShare(
            ocm.UpdateReceivedOCMShareRequest(
                share=ocmr.ReceivedShare(id=received.id, state=ocmr.SHARE_STATE_ACCEPTED),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=md_b,
        )
    )
    stat = ok(
        site_b.gateway.Stat(sp.StatRequest(ref=path_ref("/ocm/marie/notes.txt")), metadata=md_b)
    ).info
    assert (stat.type, stat.size) == (spr.RESOURCE_TYPE_FILE, 10)
    listing = ok(
        site_b.gateway.ListContainer(
            sp.ListContainerRequest(ref=path_ref("/ocm/marie")), metadata=md_b
        )
    ).infos
    assert "/ocm/marie/notes.txt" in [i.path for i in listing]
    assert download(site_b, md_b, "/ocm/marie/notes.txt") == b"version 1\n"
    with pytest.raises(PermissionError, match="CODE_PERMISSION_DENIED"):
        upload(site_b, md_b, "/ocm/marie/notes.txt", b"nope")
    ok(
        site_a.ocm.UpdateOCMShare(
            ocm.UpdateOCMShareRequest(
                ref=ocmr.ShareReference(id=share.id),
                field=[
                    ocm.UpdateOCMShareRequest.UpdateField(
                        access_methods=ocmr.AccessMethod(
                            webdav_options=ocmr.WebDAVAccessMethod(permissions=_editor())
                        )
                    )
                ],
            ),
            metadata=md_a,
        )
    )
    upload(site_b, md_b, "/ocm/marie/notes.txt", b"version 2 from B\n")
    assert download(site_a, md_a, "/home/einstein/notes.txt") == b"version 2 from B\n"
    # Reva-style receivers address a file share as <share>/<file name>: the sharer resolves it
    request = urllib.request.Request(
        f"{shared_url(site_a, share)}/notes.txt", headers={"Authorization": f"Bearer {share.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == b"version 2 from B\n"


def test_unshare_revokes_and_notifies(site_a, site_b, shared) -> None:  # noqa: ANN001
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    ok(
        site_a.ocm.RemoveOCMShare(
            ocm.RemoveOCMShareRequest(ref=ocmr.ShareReference(id=shared.id)), metadata=md_a
        )
    )
    # the secret stops working at once on the sharer
    request = urllib.request.Request(
        f"{shared_url(site_a, shared)}/hello.txt",
        headers={"Authorization": f"Bearer {shared.token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 401
    # the receiver handled SHARE_UNSHARED: the share and its folder are gone
    assert shared.id.opaque_id not in [r.remote_share_id for r in _received(site_b, md_b)]
    res = site_b.gateway.Stat(sp.StatRequest(ref=path_ref("/ocm/marie/project")), metadata=md_b)
    assert code(res.status) == "CODE_NOT_FOUND"
    # secrets never reach the logs of either site
    assert shared.token not in site_a.server.output() and shared.token not in site_b.server.output()
    # the sharer's data is untouched
    assert download(site_a, md_a, "/home/einstein/project/hello.txt") == b"hello from site A\n"

    # sharing again, with write: the recipient accepts the new share and uploads; the sharer sees it
    again = ok(
        site_a.ocm.CreateOCMShare(
            ocm.CreateOCMShareRequest(
                resource_id=shared.resource_id,
                grantee=spr.Grantee(
                    type=spr.GRANTEE_TYPE_USER, user_id={"opaque_id": "marie", "idp": site_b.domain}
                ),
                recipient_mesh_provider=prov.ProviderInfo(domain=site_b.domain),
                access_methods=[
                    ocmr.AccessMethod(webdav_options=ocmr.WebDAVAccessMethod(permissions=_editor()))
                ],
            ),
            metadata=md_a,
        )
    ).share
    (received,) = [r for r in _received(site_b, md_b) if r.remote_share_id == again.id.opaque_id]
    ok(
        site_b.ocm.UpdateReceivedOCMShare(
            ocm.UpdateReceivedOCMShareRequest(
                share=ocmr.ReceivedShare(id=received.id, state=ocmr.SHARE_STATE_ACCEPTED),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=md_b,
        )
    )
    upload(site_b, md_b, "/ocm/marie/project/again.txt", b"shared again\n")
    assert download(site_a, md_a, "/home/einstein/project/again.txt") == b"shared again\n"
