"""The CS3 OCM RPCs not exercised by the end-to-end flow: AcceptInvite, accepted-user management,
invite listing and the OcmIncomingAPI, on both the gateway and the standalone services."""

from __future__ import annotations

import time

from cs3.identity.user.v1beta1 import resources_pb2 as user_pb
from cs3.ocm.incoming.v1beta1 import ocm_incoming_api_pb2 as inc
from cs3.ocm.incoming.v1beta1 import ocm_incoming_api_pb2_grpc as inc_grpc
from cs3.ocm.invite.v1beta1 import invite_api_pb2 as inv
from cs3.ocm.invite.v1beta1 import resources_pb2 as invr
from cs3.rpc.v1beta1 import code_pb2
from cs3.sharing.ocm.v1beta1 import ocm_api_pb2 as ocm
from cs3.sharing.ocm.v1beta1 import resources_pb2 as ocmr
from cs3.storage.provider.v1beta1 import resources_pb2 as spr


def code(res) -> str:  # noqa: ANN001
    return code_pb2.Code.Name(res.status.code)


def test_accept_invite_and_accepted_users(site_a, peer) -> None:  # noqa: ANN001
    md = site_a.login("richard")
    token = site_a.gateway.GenerateInviteToken(
        inv.GenerateInviteTokenRequest(description="grpc"), metadata=md
    ).invite_token
    listed = site_a.invites.ListInviteTokens(inv.ListInviteTokensRequest(), metadata=md)
    assert token.token in [t.token for t in listed.invite_tokens]
    remote = user_pb.User(
        id=user_pb.UserId(
            opaque_id="bob", idp="remote.example.org", type=user_pb.USER_TYPE_FEDERATED
        ),
        mail="bob@remote.example.org",
        display_name="Bob",
    )
    # site A allowlists only site B and the test peer
    denied = site_a.invites.AcceptInvite(
        inv.AcceptInviteRequest(
            invite_token=invr.InviteToken(token=token.token), remote_user=remote
        ),
        metadata=md,
    )
    assert code(denied) == "CODE_PERMISSION_DENIED"
    remote.id.idp = peer.domain  # allowlisted
    accepted = site_a.invites.AcceptInvite(
        inv.AcceptInviteRequest(
            invite_token=invr.InviteToken(token=token.token), remote_user=remote
        ),
        metadata=md,
    )
    assert code(accepted) == "CODE_OK"
    assert (accepted.user_id.opaque_id, accepted.display_name) == ("richard", "Richard Feynman")
    again = site_a.invites.AcceptInvite(
        inv.AcceptInviteRequest(
            invite_token=invr.InviteToken(token=token.token), remote_user=remote
        ),
        metadata=md,
    )
    assert code(again) == "CODE_ALREADY_EXISTS"
    unknown = site_a.invites.AcceptInvite(
        inv.AcceptInviteRequest(invite_token=invr.InviteToken(token="nope"), remote_user=remote),
        metadata=md,
    )
    assert code(unknown) == "CODE_INVALID_ARGUMENT"
    unauthenticated = site_a.invites.AcceptInvite(
        inv.AcceptInviteRequest(
            invite_token=invr.InviteToken(token=token.token), remote_user=remote
        )
    )
    assert code(unauthenticated) == "CODE_UNAUTHENTICATED"
    missing = site_a.invites.GetAcceptedUser(
        inv.GetAcceptedUserRequest(remote_user_id=user_pb.UserId(opaque_id="ghost", idp="x.org")),
        metadata=md,
    )
    assert code(missing) == "CODE_NOT_FOUND"


def test_accepted_user_lifecycle(site_a, site_b, peer) -> None:  # noqa: ANN001
    """A contact made over /invite-accepted can be looked up and deleted over gRPC."""
    md = site_a.login("richard")
    token = site_a.invites.GenerateInviteToken(
        inv.GenerateInviteTokenRequest(), metadata=md
    ).invite_token
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/invite-accepted",
        {
            "recipientProvider": peer.domain,
            "token": token.token,
            "userID": "carol",
            "email": "carol@peer",
            "name": "Carol",
        },
    )
    assert status == 200, answer
    carol = user_pb.UserId(opaque_id="carol", idp=peer.domain)
    got = site_a.gateway.GetAcceptedUser(
        inv.GetAcceptedUserRequest(remote_user_id=carol), metadata=md
    )
    assert code(got) == "CODE_OK" and got.remote_user.display_name == "Carol"
    assert got.remote_user.id.type == user_pb.USER_TYPE_FEDERATED
    assert (
        code(
            site_a.invites.DeleteAcceptedUser(
                inv.DeleteAcceptedUserRequest(remote_user_id=carol), metadata=md
            )
        )
        == "CODE_OK"
    )
    found = site_a.invites.FindAcceptedUsers(
        inv.FindAcceptedUsersRequest(filter="carol"), metadata=md
    )
    assert list(found.accepted_users) == []


def test_incoming_share_api(site_b) -> None:  # noqa: ANN001
    md = site_b.login("richard")
    incoming = inc_grpc.OcmIncomingAPIStub(site_b.channel)
    request = inc.CreateOCMIncomingShareRequest(
        name="dataset",
        resource_id="remote-42",
        owner=user_pb.UserId(opaque_id="dora", idp="far.example.org"),
        share_with=user_pb.UserId(opaque_id="richard"),
        resource_type=spr.RESOURCE_TYPE_CONTAINER,
        share_type=ocmr.SHARE_TYPE_USER,
        protocols=[
            ocmr.Protocol(
                webdav_options=ocmr.WebDAVProtocol(
                    uri="https://far.example.org/remote.php/dav/ocm/remote-42",
                    shared_secret="secret",
                )
            )
        ],
    )
    created = incoming.CreateOCMIncomingShare(request, metadata=md)
    assert code(created) == "CODE_OK" and created.id
    assert created.created.seconds >= int(time.time()) - 5
    again = site_b.gateway.CreateOCMIncomingShare(request, metadata=md)
    assert code(again) == "CODE_ALREADY_EXISTS"
    received = site_b.ocm.GetReceivedOCMShare(
        ocm.GetReceivedOCMShareRequest(
            ref=ocmr.ShareReference(id=ocmr.ShareId(opaque_id=created.id))
        ),
        metadata=md,
    )
    assert code(received) == "CODE_OK"
    assert (received.share.owner.opaque_id, received.share.owner.idp) == ("dora", "far.example.org")
    assert received.share.state == ocmr.SHARE_STATE_PENDING
    assert not received.share.protocols[0].webdav_options.shared_secret  # never handed out
    # someone else's share is invisible
    other = site_b.ocm.GetReceivedOCMShare(
        ocm.GetReceivedOCMShareRequest(
            ref=ocmr.ShareReference(id=ocmr.ShareId(opaque_id=created.id))
        ),
        metadata=site_b.login("marie"),
    )
    assert code(other) == "CODE_NOT_FOUND"
    wrong_user = incoming.CreateOCMIncomingShare(request, metadata=site_b.login("marie"))
    assert code(wrong_user) == "CODE_INVALID_ARGUMENT"
    assert (
        code(
            incoming.UpdateOCMIncomingShare(
                inc.UpdateOCMIncomingShareRequest(ocm_share_id=created.id, description="updated"),
                metadata=md,
            )
        )
        == "CODE_OK"
    )
    assert (
        code(
            incoming.DeleteOCMIncomingShare(
                inc.DeleteOCMIncomingShareRequest(id=created.id), metadata=md
            )
        )
        == "CODE_OK"
    )
    gone = site_b.ocm.GetReceivedOCMShare(
        ocm.GetReceivedOCMShareRequest(
            ref=ocmr.ShareReference(id=ocmr.ShareId(opaque_id=created.id))
        ),
        metadata=md,
    )
    assert code(gone) == "CODE_NOT_FOUND"
