"""The sharer side: each OCM share's resource over WebDAV at ``/remote.php/dav/ocm/<id>/...``.

The remote site authenticates with the share's secret, as ``Authorization: Bearer <secret>``
(OCM 1.1+; an access token from the token endpoint works too) or as Basic with the secret as user
name (OCM 1.0 peers, whose paths may omit the share id). The request is then handed to the WebDAV
front end's own handler (``corestore.webdav``), **as the owner** and confined to the shared
resource (its root is looked up by resource id on every request, so renames do not break the
share). The share's permissions are enforced before that: ``read`` allows OPTIONS, PROPFIND, GET
and HEAD; ``write`` adds PUT, MKCOL, DELETE, MOVE, PROPPATCH, LOCK and UNLOCK. MOVE is done here
(the front end resolves ``Destination`` within homes only) and COPY is not offered. Revoking a
share deletes it, so the very next request is refused.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web

from corestore.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from corestore.ocm.site import DAV_PREFIX, OcmSite
from corestore.ocm.store import OutgoingShare
from corestore.paths import join_path, split_path
from corestore.service import WireRef

__all__ = ["routes"]

log = logging.getLogger("corestore.ocm.dav")

READ_METHODS = frozenset({"OPTIONS", "PROPFIND", "GET", "HEAD"})
WRITE_METHODS = frozenset({"PUT", "MKCOL", "DELETE", "MOVE", "COPY", "PROPPATCH", "LOCK", "UNLOCK"})
ALLOW = "OPTIONS, PROPFIND, GET, HEAD, PUT, MKCOL, DELETE, MOVE, PROPPATCH, LOCK, UNLOCK"


def _credentials(request: web.Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "bearer", value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user, _, _ = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        if user:
            return "basic", user
    if request.headers.get("ocm-token"):
        return "bearer", request.headers["ocm-token"]
    raise Unauthenticated("an OCM share needs the shared secret as Bearer (or Basic user name)")


class ShareView:
    """One request's view of a share: paths inside it, mapped onto the owner's resource."""

    def __init__(self, site: OcmSite, share: OutgoingShare, prefix: str) -> None:
        self.site = site
        self.share = share
        self.prefix = prefix  # URL path of the share root, ending without '/'
        owner = site.state.users.get(share.owner)
        if owner is None:
            raise Unauthenticated("the share's owner no longer exists")
        self.owner = owner

    def ref(self, segments: tuple[str, ...]) -> WireRef:
        if self.share.resource_type == "file":
            # receivers may address a single-file share as <share>/<file name> (Reva #5696)
            if segments not in ((), (self.share.name,)):
                raise NotFound("a file share has no children")
            segments = ()
        return WireRef(
            path=join_path(segments).lstrip("/") or ".",
            storage_id=self.share.storage_id,
            opaque_id=self.share.opaque_id,
        )

    def segments_of_url(self, url: str) -> tuple[str, ...]:
        path = unquote(urlsplit(url).path)
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            raise PermissionDenied("the destination is outside the share")
        return split_path(path[len(self.prefix) :] or "/")

    def allowed(self, method: str) -> None:
        if method in WRITE_METHODS and "write" not in self.share.permissions:
            raise PermissionDenied("this share is read-only")


def _resolve(request: web.Request) -> tuple[ShareView, tuple[str, ...]]:
    site: OcmSite = request.app["state"].ocm
    kind, secret = _credentials(request)
    tail = split_path(request.match_info.get("tail") or "/")
    if kind == "bearer" or (tail and tail[0] in site.store.outgoing):
        if not tail:
            raise NotFound("the URL names no share")
        share = site.authorize_secret(tail[0], secret)
        prefix = DAV_PREFIX + quote(share.id, safe="")
        return ShareView(site, share, prefix), tail[1:]
    share = site.authorize_secret(None, secret)  # OCM 1.0: Basic, no share id in the path
    return ShareView(site, share, DAV_PREFIX.rstrip("/")), tail


async def _move(request: web.Request, view: ShareView, segments: tuple[str, ...]) -> web.Response:
    if not segments or view.share.resource_type == "file":
        raise PermissionDenied("the shared resource itself cannot be moved")
    destination = request.headers.get("Destination")
    if not destination:
        raise InvalidArgument("MOVE needs a Destination header")
    dst = view.segments_of_url(destination)
    if not dst:
        raise PermissionDenied("cannot move onto the share root")
    svc = view.site.state.service
    overwrite = request.headers.get("Overwrite", "T").upper() != "F"
    existed = True
    try:
        existing = await svc.stat(view.owner, view.ref(dst))
    except NotFound:
        existed = False
    else:
        if not overwrite:
            return web.Response(status=412, text="the destination exists\n")
        if existing.info.is_container:
            await svc.delete(view.owner, view.ref(dst))
    await svc.move(view.owner, view.ref(segments), view.ref(dst))
    return web.Response(status=204 if existed else 201)


@functools.cache
def _share_dav_class() -> type:
    """The WebDAV front end's handler, confined to one share and run as the share's owner."""
    from corestore.webdav import handlers
    from corestore.webdav.paths import DavLocation

    class ShareDav(handlers.DavHandler):
        async def __call__(self, request: web.Request) -> web.StreamResponse:
            method = request.method.upper()
            try:
                view, segments = _resolve(request)
                if method == "OPTIONS":
                    return web.Response(headers={"Allow": ALLOW, "DAV": "1, 2"})
                if method not in READ_METHODS | WRITE_METHODS:
                    return web.Response(status=405, headers={"Allow": ALLOW})
                view.allowed(method)
                if method == "MOVE":  # the front end resolves destinations in homes only
                    return await _move(request, view, segments)
                if method == "COPY":
                    return web.Response(status=501, text="COPY is not supported on OCM shares\n")
                if method == "DELETE" and (not segments or view.share.resource_type == "file"):
                    raise PermissionDenied("the shared resource itself cannot be deleted")
                if view.share.resource_type == "file":
                    view.ref(segments)  # validates <file> or <file>/<file name>
                    segments = ()
                root = await self.service.get_path(view.owner, view.ref(()))
                loc = DavLocation(view.prefix, root, segments)
                request[handlers._IF_STATE] = await self._evaluate_if(request, view.owner, loc)
                return await getattr(self, "do_" + method.lower())(request, view.owner, loc)
            except Unauthenticated as exc:
                return web.Response(
                    status=401,
                    text=exc.message + "\n",
                    headers={"WWW-Authenticate": 'Bearer realm="ocm", Basic realm="ocm"'},
                )
            except (PermissionDenied, NotFound) as exc:
                return web.Response(status=exc.http_status, text=exc.message + "\n")

    return ShareDav


async def handle(request: web.Request) -> web.StreamResponse:
    return await _share_dav_class()(request.app["state"])(request)


def routes() -> list[web.AbstractRouteDef]:
    return [web.route("*", "/remote.php/dav/ocm{tail:(/.*)?}", handle, name="ocm_dav")]
