"""The CS3 OCM services: ``InviteAPI``, ``OcmAPI``, ``OcmIncomingAPI`` and their gateway RPCs.

:class:`OcmRPCs` implements each RPC once; the server registers it for the three OCM services
and the gateway servicer inherits it, so a client may call either. Every method translates
protobuf and delegates to :class:`~corestore.ocm.site.OcmSite`; errors become statuses through
the server's ``@rpc`` decorator. Without ``[ocm] enabled = true`` every RPC answers UNIMPLEMENTED.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from cs3.identity.user.v1beta1 import resources_pb2 as user_pb
from cs3.ocm.incoming.v1beta1 import ocm_incoming_api_pb2 as inc
from cs3.ocm.invite.v1beta1 import invite_api_pb2 as inv
from cs3.ocm.invite.v1beta1 import resources_pb2 as invr
from cs3.sharing.ocm.v1beta1 import ocm_api_pb2 as ocm
from cs3.sharing.ocm.v1beta1 import resources_pb2 as ocmr
from cs3.storage.provider.v1beta1 import resources_pb2 as spr

from corestore.errors import InvalidArgument, NotFound, Unimplemented
from corestore.grpc import convert
from corestore.grpc.rpc import rpc
from corestore.ocm.address import normalize_host, parse_address
from corestore.ocm.site import OcmSite
from corestore.ocm.store import Contact, Invite, OutgoingShare, ReceivedShare
from corestore.resources import EDITOR_PERMISSIONS, VIEWER_PERMISSIONS, Permission
from corestore.users import User

__all__ = ["OcmRPCs", "SERVICES"]

SERVICES = (
    inv.DESCRIPTOR.services_by_name["InviteAPI"],
    ocm.DESCRIPTOR.services_by_name["OcmAPI"],
    inc.DESCRIPTOR.services_by_name["OcmIncomingAPI"],
)

_STATES = {
    "pending": ocmr.SHARE_STATE_PENDING,
    "accepted": ocmr.SHARE_STATE_ACCEPTED,
    "rejected": ocmr.SHARE_STATE_REJECTED,
}


def _ts(seconds: float) -> Any:
    return convert.timestamp(seconds) if seconds else None


def federated_id(user_id: str, domain: str) -> user_pb.UserId:
    return user_pb.UserId(idp=domain, opaque_id=user_id, type=user_pb.USER_TYPE_FEDERATED)


def _contact_pb(contact: Contact) -> user_pb.User:
    return user_pb.User(
        id=federated_id(contact.user_id, contact.domain),
        username=contact.user_id,
        mail=contact.email,
        display_name=contact.name,
    )


def _perm_names(pb: spr.ResourcePermissions) -> list[str]:
    names = ["read"]
    if pb.initiate_file_upload or pb.create_container or pb.delete or pb.move:
        names.append("write")
    if pb.add_grant:
        names.append("share")
    return names


def _perms_pb(names: list[str]) -> spr.ResourcePermissions:
    perms = set(EDITOR_PERMISSIONS if "write" in names else VIEWER_PERMISSIONS)
    if "share" in names:
        perms.add(Permission.ADD_GRANT)
    return convert.permissions_to_pb(frozenset(perms))


class OcmRPCs:
    """Mixed into the gateway servicer and registered alone for the OCM services."""

    state: Any

    @property
    def _ocm(self) -> OcmSite:
        site = getattr(self.state, "ocm", None)
        if site is None:
            raise Unimplemented(
                "Open Cloud Mesh is not enabled on this server ([ocm] enabled = true)"
            )
        return site

    # -- conversions ---------------------------------------------------------------------------

    def _invite_pb(self, invite: Invite) -> invr.InviteToken:
        return invr.InviteToken(
            token=invite.token,
            user_id=convert.user_id(invite.owner, self.state.idp),
            expiration=_ts(invite.expiration),
            description=invite.description,
        )

    def _share_pb(self, share: OutgoingShare, with_token: bool = True) -> ocmr.Share:
        perms = _perms_pb(share.permissions)
        owner = convert.user_id(share.owner, self.state.idp)
        return ocmr.Share(
            id=ocmr.ShareId(opaque_id=share.id),
            resource_id=convert.resource_id(share.storage_id, share.opaque_id),
            name=share.name,
            token=share.secret if with_token else "",
            grantee=spr.Grantee(
                type=spr.GRANTEE_TYPE_USER,
                user_id=federated_id(share.grantee, share.grantee_domain),
            ),
            owner=owner,
            creator=owner,
            ctime=_ts(share.ctime),
            mtime=_ts(share.mtime),
            expiration=_ts(share.expiration),
            share_type=ocmr.SHARE_TYPE_USER,
            recipient_type=ocmr.RECIPIENT_TYPE_USER,
            access_methods=[
                ocmr.AccessMethod(
                    webdav_options=ocmr.WebDAVAccessMethod(
                        permissions=perms, access_types=[ocmr.ACCESS_TYPE_REMOTE]
                    )
                )
            ],
        )

    def _received_pb(self, share: ReceivedShare) -> ocmr.ReceivedShare:
        owner, sender = parse_address(share.owner), parse_address(share.sender)
        perms = _perms_pb(share.permissions)
        folder = share.resource_type == "folder"
        return ocmr.ReceivedShare(
            id=ocmr.ShareId(opaque_id=share.id),
            name=share.name,
            remote_share_id=share.remote_share_id,
            grantee=spr.Grantee(
                type=spr.GRANTEE_TYPE_USER,
                user_id=convert.user_id(share.share_with, self.state.idp),
            ),
            owner=federated_id(owner.identifier, owner.host),
            creator=federated_id(sender.identifier, sender.host),
            ctime=_ts(share.ctime),
            mtime=_ts(share.ctime),
            expiration=_ts(share.expiration),
            share_type=ocmr.SHARE_TYPE_USER,
            state=_STATES[share.state],
            resource_type=spr.RESOURCE_TYPE_CONTAINER if folder else spr.RESOURCE_TYPE_FILE,
            recipient_type=ocmr.RECIPIENT_TYPE_USER,
            shared_resource_type=ocmr.SHARE_RESOURCE_TYPE_CONTAINER
            if folder
            else ocmr.SHARE_RESOURCE_TYPE_FILE,
            # the secret stays on the server: the /ocm mount uses it, clients never need it
            protocols=[
                ocmr.Protocol(
                    webdav_options=ocmr.WebDAVProtocol(
                        uri=share.uri,
                        permissions=ocmr.SharePermissions(permissions=perms),
                        share_permissions=perms,
                        requirements=share.requirements,
                    )
                )
            ],
            destination=f"{self._ocm.options.mount_path.rstrip('/')}/{share.share_with}/{share.name}"
            if share.state == "accepted"
            else "",
        )

    def _share_id(self, ref: ocmr.ShareReference, user: User) -> str:
        if ref.HasField("id") and ref.id.opaque_id:
            return ref.id.opaque_id
        if ref.token:
            share = self._ocm.share_by_token(ref.token)
            return share.id
        if ref.HasField("key"):
            key = ref.key
            for share in self._ocm.list_shares(user):
                if (
                    (share.storage_id, share.opaque_id)
                    == (key.resource_id.storage_id, key.resource_id.opaque_id)
                    and share.grantee == key.grantee.user_id.opaque_id
                    and share.grantee_domain
                    == normalize_host(key.grantee.user_id.idp or share.grantee_domain)
                ):
                    return share.id
            raise NotFound("no share matches that key")
        raise InvalidArgument("the share reference needs an id, a key or a token")

    # -- InviteAPI -----------------------------------------------------------------------------

    @rpc(inv.GenerateInviteTokenResponse)
    async def GenerateInviteToken(self, request: Any, context: Any, user: User) -> Any:
        invite = await self._ocm.generate_invite(user, request.description)
        return inv.GenerateInviteTokenResponse(invite_token=self._invite_pb(invite))

    @rpc(inv.ListInviteTokensResponse)
    async def ListInviteTokens(self, request: Any, context: Any, user: User) -> Any:
        return inv.ListInviteTokensResponse(
            invite_tokens=[self._invite_pb(i) for i in self._ocm.list_invites(user)]
        )

    @rpc(inv.ForwardInviteResponse)
    async def ForwardInvite(self, request: Any, context: Any, user: User) -> Any:
        domain = request.origin_system_provider.domain
        if not domain:
            raise InvalidArgument("origin_system_provider.domain is required")
        contact = await self._ocm.forward_invite(user, request.invite_token.token, domain)
        return inv.ForwardInviteResponse(
            user_id=federated_id(contact.user_id, contact.domain),
            email=contact.email,
            display_name=contact.name,
        )

    @rpc(inv.AcceptInviteResponse)
    async def AcceptInvite(self, request: Any, context: Any, user: User) -> Any:
        remote = request.remote_user
        if not remote.id.opaque_id or not remote.id.idp:
            raise InvalidArgument(
                "remote_user.id needs opaque_id and idp (the remote provider domain)"
            )
        domain = normalize_host(remote.id.idp)
        self._ocm.check_allowed(domain)
        inviter = await self._ocm.accept_invite(
            request.invite_token.token,
            remote.id.opaque_id,
            domain,
            remote.mail,
            remote.display_name,
        )
        return inv.AcceptInviteResponse(
            user_id=convert.user_id(inviter.username, self.state.idp),
            email=inviter.mail,
            display_name=inviter.display_name,
        )

    @rpc(inv.GetAcceptedUserResponse)
    async def GetAcceptedUser(self, request: Any, context: Any, user: User) -> Any:
        contact = self._ocm.get_contact(
            user, request.remote_user_id.opaque_id, request.remote_user_id.idp
        )
        return inv.GetAcceptedUserResponse(remote_user=_contact_pb(contact))

    @rpc(inv.FindAcceptedUsersResponse)
    async def FindAcceptedUsers(self, request: Any, context: Any, user: User) -> Any:
        return inv.FindAcceptedUsersResponse(
            accepted_users=[_contact_pb(c) for c in self._ocm.find_contacts(user, request.filter)]
        )

    @rpc(inv.DeleteAcceptedUserResponse)
    async def DeleteAcceptedUser(self, request: Any, context: Any, user: User) -> Any:
        await self._ocm.delete_contact(
            user, request.remote_user_id.opaque_id, request.remote_user_id.idp
        )
        return inv.DeleteAcceptedUserResponse()

    # -- OcmAPI: outgoing shares -----------------------------------------------------------------

    @rpc(ocm.CreateOCMShareResponse)
    async def CreateOCMShare(self, request: Any, context: Any, user: User) -> Any:
        rid = request.resource_id
        if not rid.opaque_id:
            raise InvalidArgument("resource_id is required")
        grantee = request.grantee.user_id
        domain = request.recipient_mesh_provider.domain or grantee.idp
        perms = ["read"]
        for method in request.access_methods:
            if method.HasField("webdav_options"):
                perms = _perm_names(method.webdav_options.permissions)
            elif method.HasField("webapp_options"):
                raise Unimplemented("webapp shares are not supported; use a webdav access method")
        expiration = request.expiration.seconds if request.HasField("expiration") else 0
        share = await self._ocm.create_share(
            user, rid.storage_id, rid.opaque_id, grantee.opaque_id, domain, perms, float(expiration)
        )
        return ocm.CreateOCMShareResponse(
            share=self._share_pb(share), recipient_display_name=share.recipient_display_name
        )

    @rpc(ocm.RemoveOCMShareResponse)
    async def RemoveOCMShare(self, request: Any, context: Any, user: User) -> Any:
        await self._ocm.remove_share(user, self._share_id(request.ref, user))
        return ocm.RemoveOCMShareResponse()

    @rpc(ocm.GetOCMShareResponse)
    async def GetOCMShare(self, request: Any, context: Any, user: User) -> Any:
        return ocm.GetOCMShareResponse(
            share=self._share_pb(self._ocm.get_share(user, self._share_id(request.ref, user)))
        )

    @rpc(ocm.GetOCMShareByTokenResponse)
    async def GetOCMShareByToken(self, request: Any, context: Any, user: User) -> Any:
        share = self._ocm.share_by_token(request.token)
        self._ocm.get_share(user, share.id)  # only the owner may look it up
        return ocm.GetOCMShareByTokenResponse(share=self._share_pb(share))

    @rpc(ocm.ListOCMSharesResponse)
    async def ListOCMShares(self, request: Any, context: Any, user: User) -> Any:
        shares = self._ocm.list_shares(user)
        for f in request.filters:
            if f.type == ocm.ListOCMSharesRequest.Filter.TYPE_RESOURCE_ID:
                shares = [
                    s
                    for s in shares
                    if (s.storage_id, s.opaque_id)
                    == (f.resource_id.storage_id, f.resource_id.opaque_id)
                ]
        return ocm.ListOCMSharesResponse(shares=[self._share_pb(s) for s in shares])

    @rpc(ocm.UpdateOCMShareResponse)
    async def UpdateOCMShare(self, request: Any, context: Any, user: User) -> Any:
        share_id = self._share_id(request.ref, user)
        if not request.field:
            raise InvalidArgument("nothing to update")
        for field in request.field:
            if field.HasField("access_methods"):
                method = field.access_methods
                if not method.HasField("webdav_options"):
                    raise Unimplemented("only webdav access methods can be updated")
                await self._ocm.update_share(
                    user, share_id, permissions=_perm_names(method.webdav_options.permissions)
                )
            elif field.HasField("expiration"):
                await self._ocm.update_share(
                    user, share_id, expiration=float(field.expiration.seconds)
                )
        return ocm.UpdateOCMShareResponse()

    # -- OcmAPI: received shares -----------------------------------------------------------------

    @rpc(ocm.ListReceivedOCMSharesResponse)
    async def ListReceivedOCMShares(self, request: Any, context: Any, user: User) -> Any:
        return ocm.ListReceivedOCMSharesResponse(
            shares=[self._received_pb(s) for s in self._ocm.list_received(user)]
        )

    @rpc(ocm.GetReceivedOCMShareResponse)
    async def GetReceivedOCMShare(self, request: Any, context: Any, user: User) -> Any:
        if not request.ref.id.opaque_id:
            raise InvalidArgument("ref.id is required")
        return ocm.GetReceivedOCMShareResponse(
            share=self._received_pb(self._ocm.get_received(user, request.ref.id.opaque_id))
        )

    @rpc(ocm.UpdateReceivedOCMShareResponse)
    async def UpdateReceivedOCMShare(self, request: Any, context: Any, user: User) -> Any:
        paths = list(request.update_mask.paths) or ["state"]
        if paths != ["state"] and not set(paths) <= {"state", "hidden"}:
            raise InvalidArgument(f"only state can be updated, not {paths}")
        states = {v: k for k, v in _STATES.items()}
        if request.share.state not in states:
            raise InvalidArgument("state must be PENDING, ACCEPTED or REJECTED")
        await self._ocm.update_received(
            user, request.share.id.opaque_id, states[request.share.state]
        )
        return ocm.UpdateReceivedOCMShareResponse()

    # -- OcmIncomingAPI --------------------------------------------------------------------------

    @rpc(inc.CreateOCMIncomingShareResponse)
    async def CreateOCMIncomingShare(self, request: Any, context: Any, user: User) -> Any:
        """Record a share another site made for ``share_with`` (what ``POST /ocm/shares`` does)."""
        site = self._ocm
        if request.share_with.opaque_id != user.username:
            raise InvalidArgument("share_with must be the calling user")
        webdav = next(
            (p.webdav_options for p in request.protocols if p.HasField("webdav_options")), None
        )
        if (
            webdav is None
            or not webdav.uri.startswith(("http://", "https://"))
            or not webdav.shared_secret
        ):
            raise InvalidArgument(
                "a webdav protocol with an absolute uri and a shared_secret is required"
            )
        if (
            not request.owner.opaque_id
            or not request.owner.idp
            or not request.resource_id
            or not request.name
        ):
            raise InvalidArgument("name, resource_id and owner (opaque_id@idp) are required")
        peer = normalize_host(request.owner.idp)
        site.check_allowed(peer)
        owner = f"{request.owner.opaque_id}@{peer}"
        sender = (
            f"{request.sender.opaque_id}@{normalize_host(request.sender.idp)}"
            if request.sender.opaque_id
            else owner
        )
        now = time.time()
        share = ReceivedShare(
            id=str(uuid.uuid4()),
            remote_share_id=request.resource_id,
            name=request.name,
            share_with=user.username,
            owner=owner,
            sender=sender,
            peer=peer,
            resource_type="folder"
            if request.resource_type == spr.RESOURCE_TYPE_CONTAINER
            else "file",
            share_type="user",
            uri=webdav.uri,
            secret=webdav.shared_secret,
            permissions=_perm_names(webdav.permissions.permissions),
            requirements=list(webdav.requirements),
            ctime=now,
            description=request.description,
            expiration=float(request.expiration.seconds) if request.HasField("expiration") else 0.0,
        )
        await site.receive_share(share)
        return inc.CreateOCMIncomingShareResponse(id=share.id, created=_ts(now))

    @rpc(inc.UpdateOCMIncomingShareResponse)
    async def UpdateOCMIncomingShare(self, request: Any, context: Any, user: User) -> Any:
        share = self._ocm.get_received(user, request.ocm_share_id)
        if request.HasField("expiration"):
            share.expiration = float(request.expiration.seconds)
        if request.description:
            share.description = request.description
        webdav = next(
            (p.webdav_options for p in request.protocols if p.HasField("webdav_options")), None
        )
        if webdav is not None:
            share.permissions = _perm_names(webdav.permissions.permissions)
        await self._ocm.store.save()
        return inc.UpdateOCMIncomingShareResponse()

    @rpc(inc.DeleteOCMIncomingShareResponse)
    async def DeleteOCMIncomingShare(self, request: Any, context: Any, user: User) -> Any:
        share = self._ocm.get_received(user, request.id)
        await self._ocm.remove_received(share.id)
        return inc.DeleteOCMIncomingShareResponse()


class OcmServicer(OcmRPCs):
    """The three OCM services on their own (the gateway servicer has the same RPCs)."""

    def __init__(self, state: Any) -> None:
        self.state = state
