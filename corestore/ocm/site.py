"""The OCM logic of one site: invites, contacts, outgoing shares (sharer) and received shares.

The HTTP API (:mod:`corestore.ocm.handlers`), the gRPC services (:mod:`corestore.ocm.grpc`), the
WebDAV share server (:mod:`corestore.ocm.dav`) and the ``/ocm`` mount all call this class; it
speaks plain Python (no protobuf, no aiohttp requests) and raises the core error tree.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from corestore.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from corestore.ocm.address import Address, normalize_host, parse_address
from corestore.ocm.client import PeerClient
from corestore.ocm.config import OcmOptions
from corestore.ocm.signatures import ReplayCache, SigningKey, has_signature, verify_request
from corestore.ocm.store import Contact, Invite, OcmStore, OutgoingShare, ReceivedShare

if TYPE_CHECKING:
    from corestore.state import ServerState
    from corestore.users import User

__all__ = ["API_VERSION", "DAV_PREFIX", "OcmSite"]

log = logging.getLogger("corestore.ocm")

API_VERSION = "1.4.0"
#: Where shared resources are served over WebDAV: <DAV_PREFIX><share id>/<path>.
DAV_PREFIX = "/remote.php/dav/ocm/"
INVITE_ACCEPT_DIALOG = "/ocm/accept-invite"
KNOWN_REQUIREMENTS = frozenset({"must-exchange-token"})
PERMISSIONS = ("read", "write", "share")


@dataclass(frozen=True)
class AccessToken:
    share_id: str
    expires: float


class OcmSite:
    def __init__(self, options: OcmOptions, state: ServerState, root: Path) -> None:
        self.options = options
        self.state = state
        key_file = (
            Path(options.key_file).expanduser()
            if options.key_file
            else root / "ocm" / "signing-key.pem"
        )
        self.key = SigningKey.load_or_create(key_file)
        self.store = OcmStore.open(root / "ocm" / "state.json")
        self.client = PeerClient(options, self.key)
        self.replay = ReplayCache(options.signature_window)
        self._tokens: dict[str, AccessToken] = {}
        self.base_url = options.endpoint.rstrip("/")
        self.domain = normalize_host(options.domain) if options.domain else ""
        #: Called with a received share's id when it goes away (the mount drops its client).
        self.on_received_removed: list[Callable[[str], Any]] = []

    def bind(self, public_url: str) -> None:
        """Learn the server's public URL once it listens (ports may be chosen at bind time)."""
        if not self.base_url:
            self.base_url = public_url.rstrip("/")
        if not self.domain:
            self.domain = normalize_host(self.base_url)

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- identities -----------------------------------------------------------------------------

    def address_of(self, username: str) -> str:
        return f"{username}@{self.domain}"

    def local_user(self, address: Address) -> User:
        """The local user an address names. :raises NotFound: not ours, or no such user."""
        if address.host != self.domain:
            raise NotFound(f"{address} is not a user of this provider ({self.domain})")
        user = self.state.users.get(address.identifier)
        if user is None:
            raise NotFound(f"no user {address.identifier!r} here")
        return user

    def check_allowed(self, domain: str) -> None:
        """:raises PermissionDenied: the peer is not on the allowlist."""
        allow = {normalize_host(d) for d in self.options.allowlist}
        if allow and normalize_host(domain) not in allow:
            raise PermissionDenied(f"provider {domain} is not on this site's allowlist")

    async def authenticate_peer(
        self, domain: str, method: str, path_qs: str, headers: Any, body: bytes
    ) -> bool:
        """Check a request claims to come from ``domain``: allowlist, then its signature.

        A signed request is always verified (a bad signature is never ignored); an unsigned one
        passes only when signatures are not required. Returns whether it was signed.
        :raises PermissionDenied: not allowlisted.
        :raises Unauthenticated: a bad signature, or a missing one when required.
        """
        self.check_allowed(domain)
        if not has_signature(headers):
            if self.options.signatures_required:
                raise Unauthenticated("this provider requires signed OCM requests")
            return False
        try:
            keys = await self.client.keys(domain)
        except Unavailable as exc:
            raise Unauthenticated(
                f"cannot fetch the signing keys of {domain}: {exc.message}"
            ) from None
        verify_request(
            method,
            f"{self.base_url}{path_qs}",
            headers,
            body,
            keys,
            window=self.options.signature_window,
            replay=self.replay,
            path_qs=path_qs,
        )
        return True

    # -- discovery ------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        protocols = {"webdav": DAV_PREFIX, "webdav-receive": {"uri": "absolute"}}
        criteria = ["must-invite"] if self.options.must_invite else []
        if self.options.signatures_required:
            criteria.append("must-use-http-sig")
        if self.options.allowlist:
            criteria.append("allowlist")
        return {
            "enabled": True,
            "apiVersion": API_VERSION,
            "endPoint": f"{self.base_url}/ocm",
            "provider": self.options.provider,
            "resourceTypes": [
                {"name": name, "shareTypes": ["user"], "protocols": dict(protocols)}
                for name in ("file", "folder")
            ],
            "capabilities": [
                "exchange-token",
                "http-sig",
                "invites",
                "notifications",
                "protocol-object",
            ],
            "criteria": criteria,
            "tokenEndPoint": f"{self.base_url}/ocm/token",
            "inviteAcceptDialog": f"{self.base_url}{INVITE_ACCEPT_DIALOG}",
            "jwksUri": f"{self.base_url}/.well-known/jwks.json",
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.jwk()]}

    # -- invites (sender side) ------------------------------------------------------------------

    async def generate_invite(self, user: User, description: str = "") -> Invite:
        now = time.time()
        # hex (128 bits): safe in argv, URLs and invite strings (never starts with '-')
        invite = Invite(
            token=secrets.token_hex(16),
            owner=user.username,
            description=description,
            expiration=now + self.options.invite_ttl,
            created=now,
        )
        self.store.invites[invite.token] = invite
        await self.store.save()
        return invite

    def list_invites(self, user: User) -> list[Invite]:
        now = time.time()
        return [
            i
            for i in self.store.invites.values()
            if i.owner == user.username and i.expiration > now
        ]

    async def accept_invite(
        self, token: str, user_id: str, domain: str, email: str, name: str
    ) -> User:
        """The invite receiver accepted ``token``: remember them as a contact of the inviter.

        :raises InvalidArgument: unknown, expired or already used token.
        :raises AlreadyExists: this remote user already accepted an invite of the inviter.
        """
        invite = self.store.invites.get(token)
        if invite is None or not hmac.compare_digest(invite.token, token):
            raise InvalidArgument("unknown invite token")
        if invite.expiration <= time.time():
            raise InvalidArgument("the invite token has expired")
        remote = f"{user_id}@{domain}"
        if self.store.contact(invite.owner, user_id, domain) is not None:
            raise AlreadyExists(f"{remote} already accepted an invite of {invite.owner}")
        if invite.accepted_by:
            raise InvalidArgument("the invite token was already used")
        inviter = self.state.users.get(invite.owner)
        if inviter is None:
            raise InvalidArgument("the inviting user no longer exists")
        invite.accepted_by = remote
        self.store.contacts.append(Contact(invite.owner, user_id, domain, email, name, time.time()))
        await self.store.save()
        return inviter

    # -- invites (receiver side) ----------------------------------------------------------------

    async def forward_invite(self, user: User, token: str, domain: str) -> Contact:
        """Accept an invite of ``<someone>@domain`` for ``user``: POST /invite-accepted there."""
        if not token:
            raise InvalidArgument("missing invite token")
        domain = normalize_host(domain)
        self.check_allowed(domain)
        peer = await self.client.discover(domain)
        payload = {
            "recipientProvider": self.domain,
            "token": token,
            "userID": user.username,
            "email": user.mail or f"{user.username}@{self.domain.split(':')[0]}",
            "name": user.display_name or user.username,
        }
        answer = await self.client.post(self.client.endpoint_url(peer, "invite-accepted"), payload)
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 409:
            raise AlreadyExists(f"the invite was already accepted at {domain}")
        if answer.status in (400, 404):
            raise InvalidArgument(
                f"{domain} refused the invite: {body.get('message', 'invalid token')}"
            )
        if answer.status in (401, 403):
            raise PermissionDenied(
                f"{domain} does not trust this provider: {body.get('message', '')}"
            )
        if answer.status != 200 or not isinstance(body.get("userID"), str):
            raise Unavailable(f"{domain} answered /invite-accepted with {answer.status}")
        user_id = body["userID"]
        if "@" in user_id:  # some peers send id@host: normalise to the bare id
            user_id = parse_address(user_id).identifier
        existing = self.store.contact(user.username, user_id, domain)
        if existing is not None:
            raise AlreadyExists(f"{user_id}@{domain} is already a contact")
        contact = Contact(
            user.username,
            user_id,
            domain,
            str(body.get("email", "")),
            str(body.get("name", "")),
            time.time(),
        )
        self.store.contacts.append(contact)
        await self.store.save()
        return contact

    def find_contacts(self, user: User, text: str = "") -> list[Contact]:
        text = text.lower()
        return [
            c
            for c in self.store.contacts
            if c.local_user == user.username
            and (
                not text
                or text in c.address.lower()
                or text in c.name.lower()
                or text in c.email.lower()
            )
        ]

    def get_contact(self, user: User, user_id: str, domain: str) -> Contact:
        contact = self.store.contact(
            user.username, user_id, normalize_host(domain) if domain else domain
        )
        if contact is None and not domain:
            contact = next((c for c in self.find_contacts(user) if c.user_id == user_id), None)
        if contact is None:
            raise NotFound(f"no contact {user_id}@{domain}")
        return contact

    async def delete_contact(self, user: User, user_id: str, domain: str) -> None:
        contact = self.get_contact(user, user_id, domain)
        self.store.contacts.remove(contact)
        await self.store.save()

    # -- outgoing shares (sharer side) ----------------------------------------------------------

    def dav_url(self, share: OutgoingShare) -> str:
        return f"{self.base_url}{DAV_PREFIX}{quote(share.id)}"

    async def create_share(
        self,
        user: User,
        storage_id: str,
        opaque_id: str,
        grantee: str,
        domain: str,
        permissions: list[str],
        expiration: float = 0.0,
    ) -> OutgoingShare:
        """Share ``user``'s resource with ``grantee@domain``; it exists once the peer took it."""
        from corestore.service import WireRef

        if not grantee or not domain:
            raise InvalidArgument(
                "a share needs a grantee user id and the recipient's provider domain"
            )
        domain = normalize_host(domain)
        bad = [p for p in permissions if p not in PERMISSIONS]
        if bad or "read" not in permissions:
            raise InvalidArgument(
                f"permissions must include read and be among {PERMISSIONS}, got {permissions}"
            )
        entry = await self.state.service.stat(
            user, WireRef(storage_id=storage_id, opaque_id=opaque_id)
        )
        if entry.info.owner not in (None, user.username):
            raise PermissionDenied("only the owner of a resource can share it with another site")
        for s in self.store.outgoing.values():
            if (s.owner, s.storage_id, s.opaque_id, s.grantee, s.grantee_domain) == (
                user.username,
                storage_id,
                opaque_id,
                grantee,
                domain,
            ):
                raise AlreadyExists(f"{entry.info.path} is already shared with {grantee}@{domain}")
        self.check_allowed(domain)
        peer = await self.client.discover(domain)
        now = time.time()
        share = OutgoingShare(
            id=str(uuid.uuid4()),
            secret=secrets.token_urlsafe(32),
            owner=user.username,
            storage_id=storage_id,
            opaque_id=opaque_id,
            path=entry.info.path,
            name=entry.info.name,
            resource_type="folder" if entry.info.is_container else "file",
            grantee=grantee,
            grantee_domain=domain,
            permissions=sorted(set(permissions), key=PERMISSIONS.index),
            ctime=now,
            mtime=now,
            expiration=expiration,
        )
        me = self.address_of(user.username)
        payload: dict[str, Any] = {
            "shareWith": f"{grantee}@{domain}",
            "name": share.name,
            "description": "",
            "providerId": share.id,
            "owner": me,
            "sender": me,
            "ownerDisplayName": user.display_name or user.username,
            "senderDisplayName": user.display_name or user.username,
            "shareType": "user",
            "resourceType": share.resource_type,
            "protocol": {
                "name": "multi",
                "webdav": {
                    "uri": self.dav_url(share),
                    "sharedSecret": share.secret,
                    "permissions": share.permissions,
                },
            },
        }
        if expiration:
            payload["expiration"] = int(expiration)
        answer = await self.client.post(self.client.endpoint_url(peer, "shares"), payload)
        body = answer.body if isinstance(answer.body, dict) else {}
        message = str(body.get("message", "")) if body else ""
        if answer.status == 400:
            raise InvalidArgument(f"{domain} refused the share: {message}")
        if answer.status in (401, 403):
            raise PermissionDenied(f"{domain} refused the share: {message}")
        if answer.status == 404:  # Reva's answer for an unknown recipient
            raise NotFound(f"{domain} does not know {grantee}: {message}")
        if answer.status == 501:
            from corestore.errors import Unimplemented

            raise Unimplemented(f"{domain} does not accept this kind of share: {message}")
        if answer.status not in (200, 201):
            raise Unavailable(f"{domain} answered /shares with {answer.status}")
        share.recipient_display_name = str(body.get("recipientDisplayName", "")) if body else ""
        self.store.outgoing[share.id] = share
        await self.store.save()
        return share

    def get_share(self, user: User, share_id: str) -> OutgoingShare:
        share = self.store.outgoing.get(share_id)
        if share is None or share.owner != user.username:
            raise NotFound(f"no share {share_id}")
        return share

    def share_by_token(self, token: str) -> OutgoingShare:
        for share in self.store.outgoing.values():
            if hmac.compare_digest(share.secret.encode(), token.encode()):
                return share
        raise NotFound("no share has that token")

    def list_shares(self, user: User) -> list[OutgoingShare]:
        return [s for s in self.store.outgoing.values() if s.owner == user.username]

    async def update_share(
        self,
        user: User,
        share_id: str,
        *,
        permissions: list[str] | None = None,
        expiration: float | None = None,
    ) -> OutgoingShare:
        share = self.get_share(user, share_id)
        if permissions is not None:
            if (
                not permissions
                or any(p not in PERMISSIONS for p in permissions)
                or "read" not in permissions
            ):
                raise InvalidArgument(f"permissions must include read and be among {PERMISSIONS}")
            share.permissions = sorted(set(permissions), key=PERMISSIONS.index)
        if expiration is not None:
            share.expiration = expiration
        share.mtime = time.time()
        await self.store.save()
        if permissions is not None:
            await self._notify(
                share.grantee_domain,
                {
                    "notificationType": "RESHARE_CHANGE_PERMISSION",
                    "resourceType": share.resource_type,
                    "providerId": share.id,
                    "notification": {
                        "sharedSecret": share.secret,
                        "permissions": share.permissions,
                    },
                },
            )
        return share

    async def _notify(self, domain: str, payload: dict[str, Any]) -> None:
        """Best effort: the sharer's state is already authoritative, the peer only mirrors it."""
        try:
            peer = await self.client.discover(domain)
            answer = await self.client.post(
                self.client.endpoint_url(peer, "notifications"), payload
            )
            if answer.status not in (200, 201):
                log.warning(
                    "%s answered a %s notification with %s",
                    domain,
                    payload["notificationType"],
                    answer.status,
                )
        except (Unavailable, InvalidArgument) as exc:
            log.warning("could not notify %s (%s): %s", domain, payload["notificationType"], exc)

    async def remove_share(self, user: User, share_id: str) -> None:
        """Revoke at once (the secret stops working), then tell the recipient's site."""
        share = self.get_share(user, share_id)
        del self.store.outgoing[share.id]
        self._tokens = {t: a for t, a in self._tokens.items() if a.share_id != share.id}
        await self.store.save()
        try:
            peer = await self.client.discover(share.grantee_domain)
            payload = {
                "notificationType": "SHARE_UNSHARED",
                "resourceType": share.resource_type,
                "providerId": share.id,
                "notification": {"sharedSecret": share.secret, "message": "the share was removed"},
            }
            answer = await self.client.post(
                self.client.endpoint_url(peer, "notifications"), payload
            )
            if answer.status not in (200, 201):
                log.warning(
                    "%s answered the unshare notification with %s",
                    share.grantee_domain,
                    answer.status,
                )
        except (
            Unavailable,
            InvalidArgument,
        ) as exc:  # access is revoked already; notifying is best effort
            log.warning("could not notify %s of an unshare: %s", share.grantee_domain, exc)

    def live_share(self, share_id: str) -> OutgoingShare:
        share = self.store.outgoing.get(share_id)
        if share is None or (share.expiration and share.expiration <= time.time()):
            raise Unauthenticated("no such share, or it was revoked or has expired")
        return share

    def authorize_secret(self, share_id: str | None, secret: str) -> OutgoingShare:
        """The share a WebDAV request may use: the shared secret or an exchanged access token."""
        token = self._tokens.get(secret)
        if token is not None and token.expires > time.time():
            share = self.live_share(token.share_id)
            if share_id in (None, share.id):
                return share
        if share_id is None:
            try:
                share = self.share_by_token(secret)
            except NotFound:
                raise Unauthenticated("invalid share secret") from None
            return self.live_share(share.id)
        share = self.store.outgoing.get(share_id)
        if share is None or not hmac.compare_digest(share.secret.encode(), secret.encode()):
            raise Unauthenticated("invalid share id or secret")
        return self.live_share(share.id)

    def exchange_token(self, code: str) -> tuple[str, int]:
        """Code flow: a share's secret for a short-lived access token.

        :raises NotFound: an unknown code.
        """
        share = self.share_by_token(code)
        self.live_share(share.id)
        now = time.time()
        self._tokens = {t: a for t, a in self._tokens.items() if a.expires > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = AccessToken(share.id, now + self.options.token_ttl)
        return token, self.options.token_ttl

    # -- received shares (receiver side) --------------------------------------------------------

    async def receive_share(self, share: ReceivedShare) -> User:
        recipient = self.state.users.get(share.share_with)
        assert recipient is not None
        for existing in self.store.received.values():
            if existing.peer == share.peer and existing.remote_share_id == share.remote_share_id:
                raise AlreadyExists("this share was already received")
        self.store.received[share.id] = share
        await self.store.save()
        return recipient

    def list_received(self, user: User) -> list[ReceivedShare]:
        return [s for s in self.store.received.values() if s.share_with == user.username]

    def get_received(self, user: User, share_id: str) -> ReceivedShare:
        share = self.store.received.get(share_id)
        if share is None or share.share_with != user.username:
            raise NotFound(f"no received share {share_id}")
        return share

    def accepted_received(self) -> list[ReceivedShare]:
        now = time.time()
        return [
            s
            for s in self.store.received.values()
            if s.state == "accepted" and not (s.expiration and s.expiration <= now)
        ]

    async def update_received(self, user: User, share_id: str, state: str) -> ReceivedShare:
        share = self.get_received(user, share_id)
        if state not in ("pending", "accepted", "rejected"):
            raise InvalidArgument(f"unknown share state {state!r}")
        previous, share.state = share.state, state
        await self.store.save()
        if previous != state and state in ("accepted", "rejected"):
            await self._notify_sharer(
                share, "SHARE_ACCEPTED" if state == "accepted" else "SHARE_DECLINED"
            )
        if state != "accepted":
            self._dropped(share.id)
        return share

    async def _notify_sharer(self, share: ReceivedShare, kind: str) -> None:
        try:
            peer = await self.client.discover(share.peer)
            payload = {
                "notificationType": kind,
                "resourceType": share.resource_type,
                "providerId": share.remote_share_id,
                "notification": {"sharedSecret": share.secret},
            }
            await self.client.post(self.client.endpoint_url(peer, "notifications"), payload)
        except (Unavailable, InvalidArgument) as exc:
            log.warning("could not notify %s (%s): %s", share.peer, kind, exc)

    async def remove_received(self, share_id: str) -> None:
        if self.store.received.pop(share_id, None) is not None:
            await self.store.save()
            self._dropped(share_id)

    def _dropped(self, share_id: str) -> None:
        for callback in self.on_received_removed:
            callback(share_id)

    async def notification(
        self, peer: str, kind: str, provider_id: str, notification: dict[str, Any]
    ) -> None:
        """A peer tells us about a share. Unknown types are refused with 501 by the caller."""
        if kind == "SHARE_UNSHARED":
            match = [
                s
                for s in self.store.received.values()
                if s.peer == peer and s.remote_share_id == provider_id
            ]
            if not match:
                raise NotFound(f"no share {provider_id} from {peer}")
            for share in match:
                await self.remove_received(share.id)
            log.info("share %s from %s was unshared", provider_id, peer)
            return
        if kind in ("SHARE_ACCEPTED", "SHARE_DECLINED"):
            share = self.store.outgoing.get(provider_id)
            if share is None or share.grantee_domain != peer:
                raise NotFound(f"no share {provider_id} with {peer}")
            log.info(
                "%s@%s %s share %s",
                share.grantee,
                peer,
                "accepted" if kind == "SHARE_ACCEPTED" else "declined",
                provider_id,
            )
            return
        if kind == "RESHARE_CHANGE_PERMISSION":
            perms = notification.get("permissions")
            if not isinstance(perms, list) or not perms or any(p not in PERMISSIONS for p in perms):
                raise InvalidArgument(
                    f"notification.permissions must be a non-empty subset of {PERMISSIONS}"
                )
            for share in self.store.received.values():
                if share.peer == peer and share.remote_share_id == provider_id:
                    share.permissions = list(perms)
            await self.store.save()
            return
        if kind == "USER_REMOVED":
            before = len(self.store.contacts)
            self.store.contacts = [
                c
                for c in self.store.contacts
                if not (c.domain == peer and c.user_id == provider_id)
            ]
            if len(self.store.contacts) != before:
                await self.store.save()
            return
        from corestore.errors import Unimplemented

        raise Unimplemented(f"notification type {kind!r} is not supported")

    @staticmethod
    def peer_of_uri(uri: str) -> str:
        return normalize_host(urlsplit(uri).netloc)
