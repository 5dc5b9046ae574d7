"""A federated share streams: a file much larger than the memory bound crosses both sites (the
receiver's data path -> its /ocm mount -> webdav driver -> the sharer's OCM WebDAV -> posix) and
neither server process grows by more than the bound."""

from __future__ import annotations

import hashlib
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

from corestore.testing.memory import PeakRSS

SIZE = 256 << 20
CHUNK = 1 << 20
#: chunk size x queue depth x a few streams, plus interpreter noise: far below SIZE
BOUND = 96 << 20


def ok(res):  # noqa: ANN001, ANN201
    assert res.status.code == code_pb2.CODE_OK, res.status
    return res


def _chunks():  # noqa: ANN202
    block = hashlib.sha256(b"ocm").digest() * (CHUNK // 32)
    for _ in range(SIZE // CHUNK):
        yield block


@pytest.mark.slow
def test_large_file_streams_across_sites(site_a, site_b) -> None:  # noqa: ANN001
    md_a, md_b = site_a.login("marie"), site_b.login("einstein")
    token = ok(
        site_a.invites.GenerateInviteToken(inv.GenerateInviteTokenRequest(), metadata=md_a)
    ).invite_token
    ok(
        site_b.invites.ForwardInvite(
            inv.ForwardInviteRequest(
                invite_token=invr.InviteToken(token=token.token),
                origin_system_provider=prov.ProviderInfo(domain=site_a.domain),
            ),
            metadata=md_b,
        )
    )
    ok(
        site_a.gateway.CreateContainer(
            sp.CreateContainerRequest(ref=spr.Reference(path="/home/marie/big")), metadata=md_a
        )
    )
    up = ok(
        site_a.gateway.InitiateFileUpload(
            sp.InitiateFileUploadRequest(ref=spr.Reference(path="/home/marie/big/blob.bin")),
            metadata=md_a,
        )
    )
    simple = next(p for p in up.protocols if p.protocol == "simple")
    put = urllib.request.Request(
        simple.upload_endpoint,
        data=_chunks(),
        method="PUT",
        headers={"X-Reva-Transfer": simple.token, "Content-Length": str(SIZE)},
    )
    urllib.request.urlopen(put, timeout=300).close()
    info = ok(
        site_a.gateway.Stat(
            sp.StatRequest(ref=spr.Reference(path="/home/marie/big")), metadata=md_a
        )
    ).info
    ok(
        site_a.ocm.CreateOCMShare(
            ocm.CreateOCMShareRequest(
                resource_id=info.id,
                grantee=spr.Grantee(
                    type=spr.GRANTEE_TYPE_USER,
                    user_id={"opaque_id": "einstein", "idp": site_b.domain},
                ),
                recipient_mesh_provider=prov.ProviderInfo(domain=site_b.domain),
            ),
            metadata=md_a,
        )
    )
    (received,) = [
        s
        for s in ok(
            site_b.ocm.ListReceivedOCMShares(ocm.ListReceivedOCMSharesRequest(), metadata=md_b)
        ).shares
        if s.name == "big"
    ]
    ok(
        site_b.ocm.UpdateReceivedOCMShare(
            ocm.UpdateReceivedOCMShareRequest(
                share=ocmr.ReceivedShare(id=received.id, state=ocmr.SHARE_STATE_ACCEPTED),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=md_b,
        )
    )

    down = ok(
        site_b.gateway.InitiateFileDownload(
            sp.InitiateFileDownloadRequest(ref=spr.Reference(path="/ocm/einstein/big/blob.bin")),
            metadata=md_b,
        )
    )
    simple = next(p for p in down.protocols if p.protocol == "simple")
    expected = hashlib.sha256()
    for chunk in _chunks():
        expected.update(chunk)
    got, size = hashlib.sha256(), 0
    with PeakRSS(site_a.server.pid) as rss_a, PeakRSS(site_b.server.pid) as rss_b:
        request = urllib.request.Request(
            simple.download_endpoint, headers={"X-Reva-Transfer": simple.token}
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            while chunk := response.read(CHUNK):
                got.update(chunk)
                size += len(chunk)
    print(f"peak RSS growth: sharer {rss_a.growth >> 20} MiB, receiver {rss_b.growth >> 20} MiB")
    assert size == SIZE
    assert got.hexdigest() == expected.hexdigest()
    assert rss_a.growth < BOUND, f"sharer grew by {rss_a.growth >> 20} MiB"
    assert rss_b.growth < BOUND, f"receiver grew by {rss_b.growth >> 20} MiB"
