"""The federated flow between two sites over real gRPC, HTTP and WebDAV: invite, share, access,
write refused then allowed, unshare."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request

import pytest
from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
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
    res = site.gateway.InitiateFileUpload(sp.InitiateFileUploadRequest(ref=path_ref(path)), metadata=md)
    if res.status.code != code_pb2.CODE_OK:
        raise PermissionError(code(res.status))
    proto = next(p for p in res.protocols if p.protocol == "simple")
    request = urllib.request.Request(proto.upload_endpoint, data=data, method="PUT",
                                     headers={"X-Reva-Transfer": proto.token})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201, 204)


def download(site, md, path: str) -> bytes:  # noqa: ANN001
    res = ok(site.gateway.InitiateFileDownload(sp.InitiateFileDownloadRequest(ref=path_ref(path)), metadata=md))
    proto = next(p for p in res.protocols if p.protocol == "simple")
    request = urllib.request.Request(proto.download_endpoint, headers={"X-Reva-Transfer": proto.token})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def dav(site, user: str, password: str, method: str, path: str, data: bytes | None = None,  # noqa: ANN001
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(f"{site.http}{path}", data=data, method=method,
                                     headers={"Authorization": f"Basic {auth}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def connected(site_a, site_b):  # noqa: ANN001, ANN201
    """einstein@A invites marie@B, marie accepts: returns the invite token."""
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    token = ok(site_a.invites.GenerateInviteToken(inv.GenerateInviteTokenRequest(description="collab"),
                                                   metadata=md_a)).invite_token
    assert token.expiration.seconds > time.time() + 23 * 3600
    res = ok(site_b.gateway.ForwardInvite(inv.ForwardInviteRequest(
        invite_token=invr.InviteToken(token=token.token),
        origin_system_provider=prov.ProviderInfo(domain=site_a.domain)), metadata=md_b))
    assert (res.user_id.opaque_id, res.user_id.idp) == ("einstein", site_a.domain)
    assert res.display_name == "Albert Einstein"
    return token.token


def test_invite_flow(site_a, site_b, connected) -> None:  # noqa: ANN001
    md_a, md_b = site_a.login("einstein"), site_b.login("marie")
    # both sides know each other now
    found = ok(site_a.invites.FindAcceptedUsers(inv.FindAcceptedUsersRequest(filter=""), metadata=md_a))
    assert [(u.id.opaque_id, u.id.idp) for u in found.accepted_users] == [("marie", site_b.domain)]
    found = ok(site_b.gateway.FindAcceptedUsers(inv.FindAcceptedUsersRequest(filter="einst"), metadata=md_b))
    assert [(u.id.opaque_id, u.id.idp) for u in found.accepted_users] == [("einstein", site_a.domain)]
    # re-accepting gives ALREADY_EXISTS
    again = site_b.gateway.ForwardInvite(inv.ForwardInviteRequest(
        invite_token=invr.InviteToken(token=connected),
        origin_system_provider=prov.ProviderInfo(domain=site_a.domain)), metadata=md_b)
    assert code(again.status) == "CODE_ALREADY_EXISTS"
    # a used token is single-use: another user of B cannot reuse it
    other = site_b.gateway.ForwardInvite(inv.ForwardInviteRequest(
        invite_token=invr.InviteToken(token=connected),
        origin_system_provider=prov.ProviderInfo(domain=site_a.domain)), metadata=site_b.login("richard"))
    assert code(other.status) == "CODE_INVALID_ARGUMENT"
    # an unknown token fails cleanly
    unknown = site_b.gateway.ForwardInvite(inv.ForwardInviteRequest(
        invite_token=invr.InviteToken(token="no-such-token"),
        origin_system_provider=prov.ProviderInfo(domain=site_a.domain)), metadata=md_b)
    assert code(unknown.status) == "CODE_INVALID_ARGUMENT"
    assert "unknown" in unknown.status.message


def test_expired_invite_fails_cleanly(tmp_path, site_b, launch_site) -> None:  # noqa: ANN001
    site_c = launch_site(tmp_path / "site-c", "site-c", invite_ttl=1)
    md_c = site_c.login("richard")
    token = ok(site_c.invites.GenerateInviteToken(inv.GenerateInviteTokenRequest(), metadata=md_c)).invite_token
    time.sleep(1.5)
    res = site_b.gateway.ForwardInvite(inv.ForwardInviteRequest(
        invite_token=invr.InviteToken(token=token.token),
        origin_system_provider=prov.ProviderInfo(domain=site_c.domain)), metadata=site_b.login("richard"))
    assert code(res.status) == "CODE_INVALID_ARGUMENT"
    assert "expired" in res.status.message
