"""The OCM HTTP API: discovery, ``/ocm/shares``, ``/ocm/notifications``, ``/ocm/invite-accepted``
and the token endpoint.

Input is read leniently (legacy ``options``, ``name: webdav``, ``url`` for ``uri``,
``expiration: 0``, ``sharedBy``, addresses with schemes) and errors follow the spec: a JSON
``{message, validationErrors}`` with 400 (bad input, unknown recipient), 401 (bad or missing
signature), 403 (peer not allowed or not a contact), 409 (invite already accepted) and 501
(unsupported share, resource or notification type). Nothing a client sends yields a 500.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote, urljoin

from aiohttp import web

from corestore.errors import (
    AlreadyExists,
    CorestoreError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unimplemented,
)
from corestore.ocm.address import normalize_host, parse_address
from corestore.ocm.site import KNOWN_REQUIREMENTS, PERMISSIONS, OcmSite
from corestore.ocm.store import ReceivedShare

__all__ = ["routes"]

log = logging.getLogger("corestore.ocm")

BODY_LIMIT = 1 << 20
SHARE_TYPES = ("user",)
RESOURCE_TYPES = ("file", "folder")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OcmHttpError(Exception):
    def __init__(
        self, status: int, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message}
        if self.status == 400:
            body["validationErrors"] = self.errors
        return web.json_response(body, status=self.status)


def _invalid(errors: list[dict[str, str]]) -> OcmHttpError:
    return OcmHttpError(400, "; ".join(f"{e['name']}: {e['message']}" for e in errors), errors)


def _site(request: web.Request) -> OcmSite:
    return request.app["state"].ocm


def api(handler: Handler) -> Handler:
    """Map the error tree to OCM JSON errors; nothing unexpected leaks as a traceback."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except OcmHttpError as exc:
            return exc.response()
        except CorestoreError as exc:
            status = {
                InvalidArgument: 400,
                NotFound: 400,
                Unauthenticated: 401,
                PermissionDenied: 403,
                AlreadyExists: 409,
                Unimplemented: 501,
            }
            code = next((s for cls, s in status.items() if isinstance(exc, cls)), exc.http_status)
            if type(exc) is CorestoreError or code >= 500 and code not in (501, 503):
                log.error("OCM %s failed", request.path, exc_info=exc)
                return web.json_response({"message": "internal error"}, status=500)
            log.info("OCM %s: %s (%s)", request.path, exc.message, code)
            return OcmHttpError(
                code, exc.message, [{"name": "request", "message": exc.message}]
            ).response()

    return wrapped


async def _body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > BODY_LIMIT:
        raise OcmHttpError(413, "request body too large")
    body = await request.content.read(BODY_LIMIT + 1)
    if len(body) > BODY_LIMIT:
        raise OcmHttpError(413, "request body too large")
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _invalid([{"name": "body", "message": "not valid JSON"}]) from None
    if not isinstance(data, dict):
        raise _invalid([{"name": "body", "message": "expected a JSON object"}])
    return data


def _strings(
    data: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    errors = []
    for name in required:
        if name not in data or data[name] in (None, ""):
            errors.append({"name": name, "message": "REQUIRED"})
        elif not isinstance(data[name], str):
            errors.append({"name": name, "message": "must be a string"})
    for name in optional:
        if data.get(name) is not None and not isinstance(data[name], str):
            errors.append({"name": name, "message": "must be a string"})
    return errors


# -- discovery -----------------------------------------------------------------------------------


async def discovery(request: web.Request) -> web.Response:
    doc = _site(request).discovery()
    if "Nextcloud Server Crawler" in request.headers.get("User-Agent", ""):
        doc["apiVersion"] = "1.1"  # Nextcloud's client only accepts 1.0-proposal1, 1.0 and 1.1
    return web.json_response(doc)


async def jwks(request: web.Request) -> web.Response:
    return web.json_response(_site(request).jwks(), content_type="application/jwk-set+json")


async def accept_dialog(request: web.Request) -> web.Response:
    """A plain page telling the invite receiver how to accept (no web UI ships with corestore)."""
    token = request.query.get("token", "")
    provider = request.query.get("providerDomain", "")
    text = (
        "To accept this invite on your corestore site, run:\n\n"
        f"    corestore ocm accept {token}@{provider}\n"
    )
    return web.Response(text=text)


# -- /shares -------------------------------------------------------------------------------------


def _protocol(data: dict[str, Any], errors: list[dict[str, str]]) -> dict[str, Any]:
    """The WebDAV part of ``protocol`` in any of its three forms."""
    protocol = data.get("protocol")
    if not isinstance(protocol, dict):
        errors.append({"name": "protocol", "message": "REQUIRED object"})
        return {}
    name = protocol.get("name", "multi")
    if not isinstance(name, str):
        errors.append({"name": "protocol.name", "message": "must be a string"})
        return {}
    webdav = protocol.get("webdav")
    if webdav is None and isinstance(protocol.get("options"), dict) and name == "webdav":
        webdav = dict(protocol["options"])  # OCM 1.0: {name: webdav, options: {sharedSecret, ...}}
        webdav.setdefault("legacy", True)
    if webdav is None:
        known = [k for k in protocol if k not in ("name", "options")]
        raise OcmHttpError(
            501,
            f"unsupported protocol {name!r}{' with ' + ', '.join(known) if known else ''}: "
            "this provider receives webdav shares only",
        )
    if not isinstance(webdav, dict):
        errors.append({"name": "protocol.webdav", "message": "must be an object"})
        return {}
    if "uri" not in webdav and isinstance(webdav.get("url"), str):
        webdav["uri"] = webdav["url"]  # oCIS/OpenCloud wrote url
    errors += [
        {"name": f"protocol.webdav.{e['name']}", "message": e["message"]}
        for e in _strings(webdav, ("sharedSecret",), ("uri",))
    ]
    perms = webdav.get("permissions", ["read"])
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        errors.append(
            {"name": "protocol.webdav.permissions", "message": "must be an array of strings"}
        )
    elif any(p not in PERMISSIONS for p in perms):
        errors.append(
            {
                "name": "protocol.webdav.permissions",
                "message": f"values must be among {PERMISSIONS}",
            }
        )
    requirements = webdav.get("requirements", [])
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        errors.append(
            {"name": "protocol.webdav.requirements", "message": "must be an array of strings"}
        )
    elif unknown := [r for r in requirements if r not in KNOWN_REQUIREMENTS]:
        errors.append(
            {"name": "protocol.webdav.requirements", "message": f"not understood: {unknown}"}
        )
    return webdav


@api
async def create_share(request: web.Request) -> web.Response:
    site = _site(request)
    body = await _body(request)
    data = _json(body)
    if "sender" not in data and "sharedBy" in data:  # older Nextcloud
        data["sender"] = data["sharedBy"]
        data.setdefault("senderDisplayName", data.get("sharedByDisplayName"))
    errors = _strings(
        data,
        ("shareWith", "name", "providerId", "owner", "sender", "shareType", "resourceType"),
        ("description", "ownerDisplayName", "senderDisplayName"),
    )
    webdav = _protocol(data, errors)
    expiration = data.get("expiration")
    if expiration is not None and (
        isinstance(expiration, bool) or not isinstance(expiration, int) or expiration < 0
    ):
        errors.append(
            {
                "name": "expiration",
                "message": "must be a non-negative integer (seconds since the epoch)",
            }
        )
    addresses = {}
    for name in ("shareWith", "owner", "sender"):
        if isinstance(data.get(name), str) and data[name]:
            try:
                addresses[name] = parse_address(data[name], name)
            except InvalidArgument as exc:
                errors.append({"name": name, "message": exc.message})
    if errors:
        raise _invalid(errors)
    if data["shareType"] not in SHARE_TYPES:
        raise OcmHttpError(501, f"share type {data['shareType']!r} is not supported (only user)")
    if data["resourceType"] not in RESOURCE_TYPES:
        raise OcmHttpError(501, f"resource type {data['resourceType']!r} is not supported")
    peer = addresses["sender"].host
    await site.authenticate_peer(peer, request.method, request.path_qs, request.headers, body)
    if addresses["owner"].host != peer:
        raise OcmHttpError(403, "the owner must be an account of the sending provider")
    try:
        recipient = site.local_user(addresses["shareWith"])
    except NotFound as exc:
        raise _invalid([{"name": "shareWith", "message": exc.message}]) from None
    if (
        site.options.must_invite
        and site.store.contact(recipient.username, addresses["sender"].identifier, peer) is None
        and site.store.contact(recipient.username, addresses["owner"].identifier, peer) is None
    ):
        raise OcmHttpError(
            403, f"{addresses['sender']} is not a contact of the recipient (invite first)"
        )
    uri = webdav.get("uri") or ""
    if not uri.startswith(("https://", "http://")):
        # relative: a key joined to the sender's advertised webdav prefix (or the legacy path)
        peer_info = await site.client.discover(peer)
        prefix = _webdav_prefix(peer_info.discovery, data["resourceType"])
        uri = urljoin(
            peer_info.base + "/",
            prefix.lstrip("/").rstrip("/") + "/" + quote(uri or data["providerId"]),
        )
    if site.peer_of_uri(uri) != peer and normalize_host(uri) != peer:
        raise _invalid(
            [{"name": "protocol.webdav.uri", "message": "must point to the sending provider"}]
        )
    now = time.time()
    share = ReceivedShare(
        id=str(uuid.uuid4()),
        remote_share_id=data["providerId"],
        name=data["name"].strip("/") or "share",
        share_with=recipient.username,
        owner=str(addresses["owner"]),
        sender=str(addresses["sender"]),
        peer=peer,
        resource_type=data["resourceType"],
        share_type=data["shareType"],
        uri=uri,
        secret=webdav["sharedSecret"],
        permissions=list(webdav.get("permissions", ["read"])),
        requirements=list(webdav.get("requirements", [])),
        ctime=now,
        description=str(data.get("description") or ""),
        expiration=float(expiration or 0),
        owner_display_name=str(data.get("ownerDisplayName") or ""),
    )
    try:
        await site.receive_share(share)
    except AlreadyExists:
        raise _invalid(
            [{"name": "providerId", "message": "this share was already received"}]
        ) from None
    return web.json_response(
        {"recipientDisplayName": recipient.display_name or recipient.username}, status=201
    )


def _webdav_prefix(discovery: dict[str, Any], resource_type: str) -> str:
    for entry in discovery.get("resourceTypes", []) or []:
        if isinstance(entry, dict) and entry.get("name") == resource_type:
            value = (entry.get("protocols") or {}).get("webdav")
            if isinstance(value, str):
                return value
    return "/remote.php/dav/ocm/"


# -- /notifications ------------------------------------------------------------------------------


@api
async def notifications(request: web.Request) -> web.Response:
    site = _site(request)
    body = await _body(request)
    data = _json(body)
    errors = _strings(data, ("notificationType", "providerId"), ("resourceType",))
    note = data.get("notification", {})
    if note is not None and not isinstance(note, dict):
        errors.append({"name": "notification", "message": "must be an object"})
    if errors:
        raise _invalid(errors)
    note = note or {}
    kind, provider_id = data["notificationType"], data["providerId"]
    # Who is talking: the peer on the other end of the share (or contact) named by providerId.
    received = [s for s in site.store.received.values() if s.remote_share_id == provider_id]
    outgoing = site.store.outgoing.get(provider_id)
    if kind in ("SHARE_UNSHARED", "RESHARE_CHANGE_PERMISSION") and received:
        peer = received[0].peer
        secret = note.get("sharedSecret")
        if isinstance(secret, str) and secret != received[0].secret:
            raise OcmHttpError(403, "the shared secret does not match the share")
    elif kind in ("SHARE_ACCEPTED", "SHARE_DECLINED") and outgoing is not None:
        peer = outgoing.grantee_domain
    elif kind == "USER_REMOVED":
        contact = next((c for c in site.store.contacts if c.user_id == provider_id), None)
        if contact is None:
            raise _invalid([{"name": "providerId", "message": "unknown user"}])
        peer = contact.domain
    elif kind in (
        "SHARE_UNSHARED",
        "SHARE_ACCEPTED",
        "SHARE_DECLINED",
        "RESHARE_CHANGE_PERMISSION",
    ):
        raise _invalid([{"name": "providerId", "message": "no such share"}])
    else:
        raise OcmHttpError(501, f"notification type {kind!r} is not supported")
    await site.authenticate_peer(peer, request.method, request.path_qs, request.headers, body)
    await site.notification(peer, kind, provider_id, note)
    return web.json_response({}, status=201)


# -- /invite-accepted ----------------------------------------------------------------------------


@api
async def invite_accepted(request: web.Request) -> web.Response:
    site = _site(request)
    body = await _body(request)
    if request.content_type == "application/x-www-form-urlencoded":  # Reva accepts forms too
        data: dict[str, Any] = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
    else:
        data = _json(body)
    errors = _strings(data, ("recipientProvider", "token", "userID", "email", "name"))
    if errors:
        raise _invalid(errors)
    try:
        domain = normalize_host(data["recipientProvider"])
    except InvalidArgument as exc:
        raise _invalid([{"name": "recipientProvider", "message": exc.message}]) from None
    await site.authenticate_peer(domain, request.method, request.path_qs, request.headers, body)
    user_id = data["userID"]
    if "@" in user_id:
        try:
            user_id = parse_address(user_id, "userID").identifier
        except InvalidArgument:
            pass
    inviter = await site.accept_invite(data["token"], user_id, domain, data["email"], data["name"])
    return web.json_response(
        {
            "userID": inviter.username,
            "email": inviter.mail or "",
            "name": inviter.display_name or inviter.username,
        }
    )


# -- token endpoint (code flow) ------------------------------------------------------------------


def _token_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


async def token(request: web.Request) -> web.Response:
    site = _site(request)
    body = await _body(request)
    if request.content_type == "application/json":  # the 2024 draft sent JSON
        try:
            raw = json.loads(body)
            form = {k: str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        except ValueError:
            return _token_error("invalid_request", "the body is not valid JSON")
    else:
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
    if form.get("grant_type") not in ("authorization_code", "ocm_authorization_code", "ocm_share"):
        return _token_error("unsupported_grant_type", "use grant_type=authorization_code")
    if not form.get("code") or not form.get("client_id"):
        return _token_error("invalid_request", "code and client_id are required")
    try:
        client = normalize_host(form["client_id"])
        await site.authenticate_peer(client, request.method, request.path_qs, request.headers, body)
    except (Unauthenticated, PermissionDenied, InvalidArgument) as exc:
        return _token_error(
            "invalid_client", exc.message, 401 if isinstance(exc, Unauthenticated) else 400
        )
    try:
        share = site.share_by_token(form["code"])
        if share.grantee_domain != client:
            raise NotFound("not this client's share")
        access, ttl = site.exchange_token(form["code"])
    except (NotFound, Unauthenticated):
        return _token_error("invalid_grant", "unknown, revoked or expired code")
    return web.json_response(
        {"access_token": access, "token_type": "Bearer", "expires_in": ttl},
        headers={"Cache-Control": "no-store"},
    )


def routes() -> list[web.AbstractRouteDef]:
    from corestore.ocm import dav, frontend

    return [
        web.get("/.well-known/ocm", discovery, name="ocm_discovery"),
        web.get("/ocm-provider", discovery, name="ocm_provider"),
        web.get("/ocm-provider/", discovery, name="ocm_provider_slash"),
        web.get("/.well-known/jwks.json", jwks, name="ocm_jwks"),
        web.get("/ocm/accept-invite", accept_dialog, name="ocm_accept_dialog"),
        web.post("/ocm/shares", create_share, name="ocm_shares"),
        web.post("/ocm/notifications", notifications, name="ocm_notifications"),
        web.post("/ocm/invite-accepted", invite_accepted, name="ocm_invite_accepted"),
        web.post("/ocm/token", token, name="ocm_token"),
        *dav.routes(),
        *frontend.routes(),
    ]
