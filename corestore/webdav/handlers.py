"""The WebDAV methods (RFC 4918 class 1 and 2) over the storage service.

Every operation goes through :class:`~corestore.service.StorageService`, as a gRPC call would:
routing, homes, grants and lock ids are decided there and in the drivers, and errors are the
tree's, mapped to HTTP once by the server's error middleware. What is WebDAV-only lives here:
URL mapping, ``Depth``/``Overwrite``/``Destination``, the ``If`` header and lock tokens, 207
bodies. Bodies stream both ways: PUT hands request chunks to ``driver.write``, GET sends
``open_read`` chunks, PROPFIND writes one ``response`` element per child as it is listed.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from email.utils import formatdate, parsedate_to_datetime

from aiohttp import web

from corestore.errors import (
    AlreadyExists,
    CorestoreError,
    FailedPrecondition,
    InvalidArgument,
    LockConflict,
    Locked,
    MoveIntoItself,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unimplemented,
)
from corestore.http.transfer import body_chunks, send_ranged
from corestore.resources import Checksum, Lock, LockType, WriteOptions
from corestore.service import Entry
from corestore.state import ServerState
from corestore.users import User
from corestore.webdav import props
from corestore.webdav.auth import DavAuth, challenge
from corestore.webdav.chunking import ChunkStore, parse_chunk_name
from corestore.webdav.davlocks import Condition, DavLock, owner_xml, parse_if, parse_timeout
from corestore.webdav.paths import DavLocation, locate, locate_url
from corestore.webdav.xmlbody import (
    dav,
    element,
    error_body,
    multistatus_close,
    multistatus_open,
    parse_body,
    propstat,
    render,
)

__all__ = ["DavHandler"]

log = logging.getLogger("corestore.webdav")

ALLOW = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK"
XML = "application/xml; charset=utf-8"
_IF_STATE = "corestore.webdav.if"

Method = Callable[[web.Request, User, DavLocation], Awaitable[web.StreamResponse]]
LockState = tuple[set[str], str | None]  # the lock tokens covering a resource, its etag


def _etag_list(header: str) -> list[str]:
    return [t.strip().removeprefix("W/").strip('"') for t in header.split(",") if t.strip()]


class DavHandler:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.service = state.service
        self.auth = DavAuth(state)
        self.chunks = ChunkStore(state.upload_dir)

    # -- dispatch -----------------------------------------------------------------------------

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return web.Response(
                status=200,
                headers={
                    "DAV": "1, 2",
                    "Allow": ALLOW,
                    "MS-Author-Via": "DAV",
                    "Accept-Ranges": "bytes",
                },
            )
        method: Method | None = getattr(self, "do_" + request.method.lower(), None)
        if method is None:
            return web.Response(status=405, headers={"Allow": ALLOW})
        if request.url.fragment:
            raise InvalidArgument("a request URI must not carry a #fragment")
        try:
            user = await self.auth.user(request)
        except Unauthenticated as exc:
            return challenge(exc.message)
        loc = locate(self.state, user, request.path)
        request[_IF_STATE] = await self._evaluate_if(request, user, loc)
        return await method(request, user, loc)

    # -- helpers ------------------------------------------------------------------------------

    async def _stat(self, user: User, loc: DavLocation, keys: tuple[str, ...] = ()) -> Entry | None:
        try:
            return await self.service.stat(user, loc.ref, keys)
        except NotFound:
            return None

    async def _lock_at(self, user: User, loc: DavLocation) -> DavLock | None:
        try:
            return DavLock.from_lock(await self.service.get_lock(user, loc.ref))
        except (NotFound, Unimplemented, PermissionDenied):
            return None

    async def _covering(
        self, user: User, loc: DavLocation, member: bool
    ) -> list[tuple[DavLocation, DavLock]]:
        """The locks that protect ``loc``: its own, any depth-infinity lock above it and, for a
        change of membership (create, delete, move), its parent's lock."""
        found = []
        own = await self._lock_at(user, loc)
        if own is not None:
            found.append((loc, own))
        for depth in range(len(loc.segments) - 1, -1, -1):
            above = DavLocation(loc.base, loc.home, loc.segments[:depth])
            lock = await self._lock_at(user, above)
            if lock is not None and (
                lock.depth == "infinity" or (member and depth == len(loc.segments) - 1)
            ):
                found.append((above, lock))
        return found

    async def _lock_state(self, user: User, loc: DavLocation) -> LockState:
        tokens = {
            t for _, lock in await self._covering(user, loc, member=False) for t in lock.tokens
        }
        entry = await self._stat(user, loc)
        return tokens, entry.info.etag.strip('"') if entry else None

    async def _evaluate_if(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> tuple[set[str], bool]:
        """The tokens the ``If`` header submits, and whether any of its lists holds."""
        header = request.headers.get("If")
        if not header:
            return set(), True
        lists = parse_if(header)
        tokens = {c.token for lst in lists for c in lst.conditions if c.token}
        states: dict[str, LockState | None] = {}
        for lst in lists:
            where = loc
            if lst.resource is not None:
                try:
                    where = locate_url(self.state, user, lst.resource, request.host)
                except CorestoreError:
                    continue
            if where.path not in states:
                states[where.path] = await self._lock_state(user, where)
            state = states[where.path]
            if state is not None and all(self._holds(c, state) != c.negate for c in lst.conditions):
                return tokens, True
        return tokens, False

    @staticmethod
    def _holds(condition: Condition, state: LockState) -> bool:
        tokens, etag = state
        if condition.token is not None:
            return condition.token in tokens
        return etag is not None and condition.etag == etag

    @staticmethod
    def _require_if(request: web.Request) -> None:
        if not request[_IF_STATE][1]:
            raise FailedPrecondition("no condition of the If header holds")

    async def _lock_guard(
        self, request: web.Request, user: User, loc: DavLocation, member: bool
    ) -> str | None:
        """Refuse a change the caller holds no token for; return the driver lock id to present."""
        self._require_if(request)  # RFC 4918 10.4.1: a false If header is 412 before any lock check
        submitted: set[str] = request[_IF_STATE][0]
        own = None
        for holder, lock in await self._covering(user, loc, member):
            if not submitted & set(lock.tokens):
                raise Locked(f"{holder.path} is locked")
            if holder == loc:
                own = lock
        return own.lock.lock_id if own else None

    @staticmethod
    def _conditionals(request: web.Request, entry: Entry | None) -> int | None:
        """RFC 9110 preconditions: 412 for a failed ``If-Match``/``If-None-Match`` on a change,
        304 for a read whose copy is current."""
        etag = entry.info.etag.strip('"') if entry else None
        safe = request.method in ("GET", "HEAD")
        if (match := request.headers.get("If-Match")) is not None:
            if etag is None or (match.strip() != "*" and etag not in _etag_list(match)):
                return 412
        if (none_match := request.headers.get("If-None-Match")) is not None:
            if etag is not None and (none_match.strip() == "*" or etag in _etag_list(none_match)):
                return 304 if safe else 412
        elif safe and entry and (since := request.headers.get("If-Modified-Since")):
            try:
                if int(entry.info.mtime) <= parsedate_to_datetime(since).timestamp():
                    return 304
            except (TypeError, ValueError):
                pass
        return None

    def _entry_headers(self, entry: Entry) -> dict[str, str]:
        etag = props.etag_of(entry)
        return {
            "ETag": etag,
            "OC-ETag": etag,
            "OC-FileId": props.file_id(entry),
            "Last-Modified": formatdate(entry.info.mtime, usegmt=True),
        }

    # -- read ---------------------------------------------------------------------------------

    async def do_get(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        self._require_if(request)
        entry = await self.service.stat(user, loc.ref)
        if (status := self._conditionals(request, entry)) is not None:
            return web.Response(status=status, headers={"ETag": props.etag_of(entry)})
        headers = self._entry_headers(entry)
        if entry.info.is_container:
            return web.Response(status=200, text="", content_type="text/plain", headers=headers)
        routed = self.service.transfer_target(await self.service.prepare_download(user, loc.ref))
        size = entry.info.size
        headers.update(
            {
                "Accept-Ranges": "bytes",
                "Content-Type": entry.info.mime_type or "application/octet-stream",
            }
        )
        # If-Range: a range applies only while the client's copy is current; else send it all.
        if_range = request.headers.get("If-Range")
        current = not if_range or if_range.strip().strip('"') == entry.info.etag.strip('"')
        return await send_ranged(
            request,
            size=size,
            headers=headers,
            range_header=request.headers.get("Range") if current else None,
            open_chunks=lambda byte_range: routed.driver.open_read(routed.ref, byte_range),
            counter=self.state.metrics.bytes.labels("out", routed.driver.name),
            what=loc.path,
        )

    do_head = do_get

    async def do_propfind(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        self._require_if(request)
        depth = request.headers.get("Depth", "infinity").strip().lower()
        if depth == "infinity":
            return web.Response(
                status=403, body=error_body("propfind-finite-depth"), content_type="application/xml"
            )
        if depth not in ("0", "1"):
            raise InvalidArgument("Depth must be 0, 1 or infinity")
        doc = parse_body(await request.read(), "propfind")
        mode, names = "allprop", []
        if doc is not None:
            if doc.find(dav("propname")) is not None:
                mode = "propname"
            elif (prop := doc.find(dav("prop"))) is not None:
                mode, names = "prop", [props.dead_key(p.tag) for p in prop]
            elif doc.find(dav("allprop")) is None:
                raise InvalidArgument("PROPFIND needs allprop, propname or prop")
        keys: tuple[str, ...] = (
            ("*",) if mode != "prop" else tuple(n for n in names if n not in props.LIVE)
        )
        entry = await self.service.stat(user, loc.ref, keys)
        response = web.StreamResponse(status=207, headers={"Content-Type": XML, "DAV": "1, 2"})
        await response.prepare(request)
        try:
            await response.write(multistatus_open())
            await response.write(render(self._response(entry, loc, mode, names)))
            if depth == "1" and entry.info.is_container:
                async for child in self.service.list_container(user, loc.ref, keys):
                    await response.write(render(self._response(child, loc, mode, names)))
            await response.write(multistatus_close())
            await response.write_eof()
        except (ConnectionError, OSError) as exc:
            log.info("PROPFIND of %s cut: %s", loc.path, exc)
            response.force_close()
        except Exception:  # the 207 is on its way: log and cut it short
            log.exception("PROPFIND of %s failed mid-listing", loc.path)
            response.force_close()
        return response

    def _response(self, entry: Entry, loc: DavLocation, mode: str, names: list[str]) -> ET.Element:
        href = loc.href(entry.info.path, entry.info.is_container)
        found: list[ET.Element] = []
        missing: list[ET.Element] = []
        dead = dict(props.dead_props(entry.info.metadata))
        if mode == "propname":
            for name in props.LIVE:
                if props.render_live(name, entry, href) is not None:
                    found.append(element(name))
            found.extend(element(props.render_dead(k, "").tag) for k in dead)
        elif mode == "allprop":
            found = [
                node
                for name in props.ALLPROP
                if (node := props.render_live(name, entry, href)) is not None
            ]
            found.extend(props.render_dead(k, v) for k, v in dead.items())
        else:
            for name in names:
                node = (
                    props.render_live(name, entry, href)
                    if name in props.LIVE
                    else (props.render_dead(name, dead[name]) if name in dead else None)
                )
                if node is None:
                    missing.append(props.render_dead(name, ""))
                else:
                    found.append(node)
        node = element(dav("response"), children=[element(dav("href"), href)])
        if found or not missing:
            node.append(propstat(found, 200))
        if missing:
            node.append(propstat(missing, 404))
        return node

    # -- write --------------------------------------------------------------------------------

    async def do_put(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        if "Content-Range" in request.headers:
            raise InvalidArgument("partial PUT (Content-Range) is not supported")
        chunk = None
        if request.headers.get("OC-Chunked") and loc.segments:
            chunk = parse_chunk_name(loc.segments[-1])
            loc = loc.parent.child(chunk.name)
        existing = await self._stat(user, loc)
        if (status := self._conditionals(request, existing)) is not None:
            return web.Response(status=status)
        lock_id = await self._lock_guard(request, user, loc, member=existing is None)
        mtime = request.headers.get("X-OC-Mtime")
        options = WriteOptions(
            expected_size=None if chunk else request.content_length,
            checksum=_oc_checksum(request.headers.get("OC-Checksum")),
            lock_id=lock_id,
            mtime=float(mtime) if mtime and mtime.replace(".", "", 1).isdigit() else None,
        )
        target, claims = await self.service.prepare_upload(user, loc.ref, options)
        routed = self.service.transfer_target(claims)
        if chunk is None:
            info = await routed.driver.write(routed.ref, body_chunks(request), options)
        else:
            folder = await self.chunks.store(user.username, loc.path, chunk, body_chunks(request))
            if folder is None:  # more chunks to come: no ETag tells the client so
                return web.Response(status=201)
            try:
                size = await self.chunks.size(folder, chunk.count)
                options = dataclasses.replace(options, expected_size=size)
                chunks = self.chunks.read(folder, chunk.count)
                info = await routed.driver.write(routed.ref, chunks, options)
            finally:
                await self.chunks.discard(folder)
        headers = self._entry_headers(Entry(target.mount.id, info))
        if options.mtime is not None:
            headers["X-OC-MTime"] = "accepted"
        return web.Response(status=204 if existing else 201, headers=headers)

    async def do_delete(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        entry = await self.service.stat(user, loc.ref)
        if (status := self._conditionals(request, entry)) is not None:
            return web.Response(status=status)
        lock_id = await self._lock_guard(request, user, loc, member=True)
        await self.service.delete(user, loc.ref, lock_id)
        return web.Response(status=204)

    async def do_mkcol(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        if await request.read():
            return web.Response(status=415, text="MKCOL takes no body\n")
        if await self._stat(user, loc) is not None:
            return web.Response(status=405, text="already exists\n", headers={"Allow": ALLOW})
        await self._lock_guard(request, user, loc, member=True)
        try:
            entry = await self.service.create_container(user, loc.ref)
        except AlreadyExists:
            return web.Response(status=405, text="already exists\n", headers={"Allow": ALLOW})
        return web.Response(status=201, headers=self._entry_headers(entry))

    async def do_proppatch(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        doc = parse_body(await request.read(), "propertyupdate")
        if doc is None:
            raise InvalidArgument("PROPPATCH needs a propertyupdate body")
        await self.service.stat(user, loc.ref)
        final: dict[str, str | None] = {}  # key -> value to set, or None to remove; last one wins
        order: list[str] = []
        for action in doc:
            if action.tag not in (dav("set"), dav("remove")):
                continue
            for prop in action.findall(dav("prop")):
                for node in prop:
                    key = props.dead_key(node.tag)
                    final[key] = props.dead_value(node) if action.tag == dav("set") else None
                    if key not in order:
                        order.append(key)
        protected = [k for k in order if k in props.LIVE]
        href = loc.href()
        response = element(dav("response"), children=[element(dav("href"), href)])
        if protected:
            response.append(propstat([element(k) for k in protected], 403))
            others = [k for k in order if k not in props.LIVE]
            if others:
                response.append(propstat([props.render_dead(k, "") for k in others], 424))
        else:
            lock_id = await self._lock_guard(request, user, loc, member=False)
            sets = {k: v for k, v in final.items() if v is not None}
            unsets = [k for k, v in final.items() if v is None]
            if sets:
                await self.service.set_metadata(user, loc.ref, sets, lock_id)
            if unsets:
                await self.service.unset_metadata(user, loc.ref, unsets, lock_id)
            response.append(propstat([props.render_dead(k, "") for k in order], 200))
        body = multistatus_open() + render(response) + multistatus_close()
        return web.Response(status=207, body=body, headers={"Content-Type": XML})

    async def do_move(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        return await self._copy_or_move(request, user, loc, move=True)

    async def do_copy(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        return await self._copy_or_move(request, user, loc, move=False)

    async def _copy_or_move(
        self, request: web.Request, user: User, loc: DavLocation, move: bool
    ) -> web.StreamResponse:
        header = request.headers.get("Destination")
        if not header:
            raise InvalidArgument("Destination header required")
        dest = locate_url(self.state, user, header, request.host)
        overwrite = request.headers.get("Overwrite", "T").strip().upper() != "F"
        depth = request.headers.get("Depth", "infinity").strip().lower()
        if depth not in (("infinity",) if move else ("0", "infinity")):
            raise InvalidArgument(f"Depth {depth} is not allowed for {request.method}")
        source = await self.service.stat(user, loc.ref, ("*",))
        if dest.path == loc.path:
            raise PermissionDenied("source and destination are the same")
        if dest.path.startswith(loc.path.rstrip("/") + "/"):
            raise MoveIntoItself(f"cannot {request.method} {loc.path} below itself")
        lock_id = (
            await self._lock_guard(request, user, loc, member=True)
            if move
            else self._require_if(request)
        )
        existing = await self._stat(user, dest)
        if existing is not None and not overwrite:
            return web.Response(status=412, text="the destination exists and Overwrite is F\n")
        dest_lock = await self._lock_guard(request, user, dest, member=True)
        if existing is not None:
            await self.service.delete(user, dest.ref, dest_lock)
        if move:
            entry = await self.service.move(user, loc.ref, dest.ref, lock_id)
        else:
            entry = await self._copy(user, source, loc, dest, depth)
        return web.Response(status=204 if existing else 201, headers=self._entry_headers(entry))

    async def _copy(
        self, user: User, source: Entry, src: DavLocation, dst: DavLocation, depth: str
    ) -> Entry:
        """Copy one resource (and, for ``Depth: infinity``, what is below), streaming file bytes."""
        if source.info.is_container:
            entry = await self.service.create_container(user, dst.ref)
            await self._copy_dead_props(user, source, dst)
            if depth == "infinity":
                async for child in self.service.list_container(user, src.ref, ("*",)):
                    await self._copy(
                        user, child, src.child(child.info.name), dst.child(child.info.name), depth
                    )
            return entry
        routed = self.service.transfer_target(await self.service.prepare_download(user, src.ref))
        options = WriteOptions(expected_size=source.info.size)
        target, claims = await self.service.prepare_upload(user, dst.ref, options)
        into = self.service.transfer_target(claims)
        info = await into.driver.write(into.ref, routed.driver.open_read(routed.ref), options)
        await self._copy_dead_props(user, source, dst)
        return Entry(target.mount.id, info)

    async def _copy_dead_props(self, user: User, source: Entry, dst: DavLocation) -> None:
        dead = dict(props.dead_props(source.info.metadata))
        if dead:
            await self.service.set_metadata(user, dst.ref, dead, None)

    # -- locks --------------------------------------------------------------------------------

    async def do_lock(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        doc = parse_body(await request.read(), "lockinfo")
        expiration = parse_timeout(request.headers.get("Timeout"))
        if doc is None:
            return await self._refresh(request, user, loc, expiration)
        scope = doc.find(dav("lockscope"))
        if scope is None or doc.find(dav("locktype")) is None:
            raise InvalidArgument("lockinfo needs lockscope and locktype")
        shared = scope.find(dav("shared")) is not None
        depth = request.headers.get("Depth", "infinity").strip().lower()
        if depth not in ("0", "infinity"):
            raise InvalidArgument("a LOCK Depth must be 0 or infinity")
        token = f"opaquelocktoken:{uuid.uuid4()}"
        for holder, held in await self._covering(user, loc, member=False):
            if not (shared and held.shared):
                raise Locked(f"{holder.path} is already locked")
        entry = await self._stat(user, loc)
        if entry is None:  # RFC 4918 7.3: locking an unmapped URL creates an empty resource
            await self._lock_guard(request, user, loc, member=True)
            await self.service.touch(user, loc.ref)
        self._require_if(request)
        own = await self._lock_at(user, loc)
        try:
            if own is not None:  # another shared lock: one more token on the same driver lock
                lock = dataclasses.replace(
                    own.lock, lock_id=f"{own.lock.lock_id} {token}", expiration=expiration
                )
                await self.service.refresh_lock(user, loc.ref, lock, own.lock.lock_id)
            else:
                lock = Lock(
                    lock_id=token,
                    type=LockType.SHARED if shared else LockType.EXCLUSIVE,
                    user=user.username,
                    app_name=DavLock.app_name(depth, owner_xml(doc.find(dav("owner")))),
                    expiration=expiration,
                )
                await self.service.set_lock(user, loc.ref, lock)
        except LockConflict as exc:  # WebDAV answers a conflicting LOCK with 423
            raise Locked(exc.message) from exc
        return self._lock_response(
            loc, DavLock.from_lock(lock), token, 201 if entry is None else 200
        )

    async def _refresh(
        self, request: web.Request, user: User, loc: DavLocation, expiration: float | None
    ) -> web.StreamResponse:
        submitted: set[str] = request[_IF_STATE][0]
        for holder, held in await self._covering(user, loc, member=False):
            tokens = submitted & set(held.tokens)
            if tokens:
                self._require_if(request)
                lock = dataclasses.replace(held.lock, expiration=expiration)
                await self.service.refresh_lock(user, holder.ref, lock, None)
                return self._lock_response(
                    holder, DavLock.from_lock(lock), tokens.pop(), 200, with_header=False
                )
        raise FailedPrecondition("no lock of this resource was submitted in the If header")

    def _lock_response(
        self, holder: DavLocation, lock: DavLock, token: str, status: int, with_header: bool = True
    ) -> web.Response:
        active = [
            a
            for a in lock.activelocks(holder.href())
            if a.find(f"{dav('locktoken')}/{dav('href')}").text == token
        ]
        body = element(dav("prop"), children=[element(dav("lockdiscovery"), children=active)])
        headers = {"Content-Type": XML}
        if with_header:
            headers["Lock-Token"] = f"<{token}>"
        return web.Response(
            status=status,
            body=b'<?xml version="1.0" encoding="utf-8"?>\n' + render(body),
            headers=headers,
        )

    async def do_unlock(
        self, request: web.Request, user: User, loc: DavLocation
    ) -> web.StreamResponse:
        token = request.headers.get("Lock-Token", "").strip().removeprefix("<").removesuffix(">")
        if not token:
            raise InvalidArgument("Lock-Token header required")
        for holder, held in await self._covering(user, loc, member=False):
            if token in held.tokens:
                remaining = [t for t in held.tokens if t != token]
                if remaining:
                    lock = dataclasses.replace(held.lock, lock_id=" ".join(remaining))
                    await self.service.refresh_lock(user, holder.ref, lock, held.lock.lock_id)
                else:
                    await self.service.unlock(user, holder.ref, held.lock)
                return web.Response(status=204)
        raise LockConflict("this lock token does not lock the resource")


def _oc_checksum(value: str | None) -> Checksum | None:
    """``OC-Checksum: SHA1:<hex>`` as ownCloud clients send it."""
    if not value:
        return None
    kind, _, digest = value.partition(":")
    if not digest:
        raise InvalidArgument("OC-Checksum must be '<type>:<hex>'")
    return Checksum(kind.strip().lower(), digest.strip().lower())
