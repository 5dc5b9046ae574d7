"""The sharer side: each OCM share's resource over WebDAV at ``/remote.php/dav/ocm/<id>/...``.

The remote site authenticates with the share's secret, as ``Authorization: Bearer <secret>``
(OCM 1.1+; an access token from the token endpoint works too) or as Basic with the secret as user
name (OCM 1.0 peers, whose paths may omit the share id). Requests then run **as the owner**
through the storage service, confined below the shared resource, with the share's permissions:
``read`` allows OPTIONS/PROPFIND/GET/HEAD, ``write`` adds PUT/MKCOL/DELETE/MOVE. Revoking a share
deletes it, so the very next request is refused.

This is a small WebDAV subset, enough for OCM peers (and the corestore webdav driver): PROPFIND
with Depth 0/1, GET with a single Range, PUT streamed into an atomic driver write, MKCOL, DELETE
and MOVE within the share.
"""

from __future__ import annotations

import base64
import binascii
import logging
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from aiohttp import web

from corestore.errors import (
    CorestoreError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from corestore.http.transfer import body_chunks, parse_range
from corestore.ocm.site import DAV_PREFIX, OcmSite
from corestore.ocm.store import OutgoingShare
from corestore.paths import join_path, split_path
from corestore.resources import Permission, WriteOptions
from corestore.service import Entry, WireRef

__all__ = ["routes"]

log = logging.getLogger("corestore.ocm.dav")

READ_METHODS = frozenset({"OPTIONS", "PROPFIND", "GET", "HEAD"})
WRITE_METHODS = frozenset({"PUT", "MKCOL", "DELETE", "MOVE"})
ALLOW = "OPTIONS, PROPFIND, GET, HEAD, PUT, MKCOL, DELETE, MOVE"
FINITE_DEPTH = '<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:propfind-finite-depth/></d:error>'


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


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

    def href(self, segments: tuple[str, ...], container: bool) -> str:
        path = "/".join(quote(s, safe="") for s in segments)
        return (
            f"{self.prefix}/{path}" + ("/" if container and path else "")
            if path
            else self.prefix + "/"
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


def _prop_xml(view: ShareView, segments: tuple[str, ...], entry: Entry) -> str:
    info = entry.info
    container = info.is_container
    props = [
        "<d:resourcetype><d:collection/></d:resourcetype>" if container else "<d:resourcetype/>",
        f"<d:getlastmodified>{formatdate(info.mtime, usegmt=True)}</d:getlastmodified>",
        f"<d:getetag>{escape(_quoted(info.etag))}</d:getetag>",
    ]
    if not container:
        props.append(f"<d:getcontentlength>{info.size}</d:getcontentlength>")
        props.append(
            "<d:getcontenttype>"
            f"{escape(info.mime_type or 'application/octet-stream')}</d:getcontenttype>"
        )
    perms = "RDNVW" + ("CK" if container else "") if "write" in view.share.permissions else "S"
    props.append(f"<oc:permissions>{perms}</oc:permissions>")
    return (
        f"<d:response><d:href>{escape(view.href(segments, container))}</d:href><d:propstat><d:prop>"
        f"{''.join(props)}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )


async def _propfind(
    request: web.Request, view: ShareView, segments: tuple[str, ...]
) -> web.StreamResponse:
    depth = request.headers.get("Depth", "1").strip().lower()
    if depth not in ("0", "1"):
        return web.Response(
            status=403,
            content_type="application/xml",
            text=FINITE_DEPTH,
        )
    await request.read()  # the body only names properties; the answer always carries the same set
    svc = view.site.state.service
    entry = await svc.stat(view.owner, view.ref(segments))
    response = web.StreamResponse(
        status=207, headers={"Content-Type": "application/xml; charset=utf-8"}
    )
    await response.prepare(request)
    await response.write(
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
    )
    await response.write(_prop_xml(view, segments, entry).encode())
    if depth == "1" and entry.info.is_container:
        async for child in svc.list_container(view.owner, view.ref(segments)):
            await response.write(_prop_xml(view, segments + (child.info.name,), child).encode())
    await response.write(b"</d:multistatus>")
    await response.write_eof()
    return response


async def _get(
    request: web.Request, view: ShareView, segments: tuple[str, ...]
) -> web.StreamResponse:
    svc = view.site.state.service
    target = await svc.resolve(view.owner, view.ref(segments))
    target.require(Permission.INITIATE_FILE_DOWNLOAD)
    if target.routed is None:
        raise NotFound("nothing to download here")
    info = await target.driver.stat(target.ref)
    etag = _quoted(info.etag)
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(info.mtime, usegmt=True),
        "Accept-Ranges": "bytes",
    }
    if info.is_container:
        return web.Response(status=200, headers=headers, text="")  # folders have no body
    headers["Content-Type"] = info.mime_type or "application/octet-stream"
    try:
        byte_range = parse_range(request.headers.get("Range"), info.size)
    except ValueError:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{info.size}"})
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    if byte_range:
        start, end = byte_range.clamp(info.size)
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
        response.content_length = end - start
    else:
        response.content_length = info.size
    if request.method == "HEAD":
        return response
    await response.prepare(request)
    try:
        async for chunk in target.driver.open_read(target.ref, byte_range):
            await response.write(chunk)
        await response.write_eof()
    except (ConnectionError, OSError) as exc:
        log.info("OCM download cut: %s", exc)
        response.force_close()
    except Exception:  # headers are gone: log and cut the body short
        log.exception("OCM download failed mid-stream")
        response.force_close()
    return response


async def _put(request: web.Request, view: ShareView, segments: tuple[str, ...]) -> web.Response:
    svc = view.site.state.service
    if view.share.resource_type == "folder" and not segments:
        raise PermissionDenied("the shared folder itself cannot be overwritten")
    length = request.headers.get("Content-Length")
    options = WriteOptions(expected_size=int(length) if length and length.isdigit() else None)
    target, _ = await svc.prepare_upload(view.owner, view.ref(segments), options)
    existed = True
    try:
        await target.driver.stat(target.ref)
    except NotFound:
        existed = False
    info = await target.driver.write(target.ref, body_chunks(request), options)
    etag = _quoted(info.etag)
    return web.Response(status=204 if existed else 201, headers={"ETag": etag})


async def _mkcol(request: web.Request, view: ShareView, segments: tuple[str, ...]) -> web.Response:
    if await request.read():
        return web.Response(status=415, text="MKCOL with a body is not supported\n")
    await view.site.state.service.create_container(view.owner, view.ref(segments))
    return web.Response(status=201)


async def _delete(request: web.Request, view: ShareView, segments: tuple[str, ...]) -> web.Response:
    if not segments or view.share.resource_type == "file":
        raise PermissionDenied("the shared resource itself cannot be deleted")
    await view.site.state.service.delete(view.owner, view.ref(segments))
    return web.Response(status=204)


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


_HANDLERS: dict[str, Any] = {
    "PROPFIND": _propfind,
    "GET": _get,
    "HEAD": _get,
    "PUT": _put,
    "MKCOL": _mkcol,
    "DELETE": _delete,
    "MOVE": _move,
}


async def handle(request: web.Request) -> web.StreamResponse:
    method = request.method.upper()
    try:
        view, segments = _resolve(request)
        if method == "OPTIONS":
            return web.Response(headers={"Allow": ALLOW, "DAV": "1"})
        if method not in _HANDLERS:
            return web.Response(
                status=405 if method not in ("PROPPATCH", "LOCK", "UNLOCK", "COPY") else 501,
                headers={"Allow": ALLOW},
            )
        view.allowed(method)
        return await _HANDLERS[method](request, view, segments)
    except Unauthenticated as exc:
        return web.Response(
            status=401,
            text=exc.message + "\n",
            headers={"WWW-Authenticate": 'Bearer realm="ocm", Basic realm="ocm"'},
        )
    except (PermissionDenied, NotFound) as exc:
        return web.Response(status=exc.http_status, text=exc.message + "\n")
    except CorestoreError:
        raise  # the server's middleware maps the rest


def routes() -> list[web.AbstractRouteDef]:
    return [web.route("*", "/remote.php/dav/ocm{tail:(/.*)?}", handle, name="ocm_dav")]
