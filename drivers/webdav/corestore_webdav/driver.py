"""The webdav driver: a corestore mount backed by any WebDAV server.

Each driver call becomes one or a few WebDAV requests (PROPFIND, MKCOL, PUT, GET, MOVE, DELETE,
PROPPATCH), sent by webdav4's HTTP client from worker threads so the event loop never blocks.

* **Atomic writes.** Neither a plain PUT on wsgidav nor on ``rclone serve webdav`` is atomic: both
  write into the target file as bytes arrive, so a cut upload leaves a truncated file. ``write``
  therefore uploads to a hidden temporary name in the same folder and MOVEs it over the target
  (``Overwrite: T``, or ``F`` for ``if_not_exist``). Temporary names never show in listings.
* **Resource ids** follow ``id_scheme`` (see :mod:`corestore_webdav.ids`).
* **Etags** are the server's. Folders usually have none (neither wsgidav nor rclone sends one);
  their etag is then derived from the folder's modification time, which does not propagate to
  ancestors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from corestore.driver import Capability, StorageDriver, SupportsLocks, SupportsMetadata
from corestore.errors import (
    AlreadyExists,
    ConfigError,
    CorestoreError,
    ETagMismatch,
    InvalidPath,
    IsAFolder,
    MissingParent,
    MoveIntoItself,
    NotAFolder,
    NotFound,
    PermissionDenied,
)
from corestore.locks import check_lock_for_write, check_lock_holder, check_new_lock, live_lock
from corestore.paths import join_path, split_path
from corestore.resources import (
    ByteRange,
    Checksum,
    Lock,
    Quota,
    Reference,
    ResourceInfo,
    ResourceType,
    WriteOptions,
    guess_mime_type,
)
from corestore.streams import StreamDigest, rechunk
from corestore_webdav.bridge import feed_thread, stream_from_thread
from corestore_webdav.lockprop import dump_lock, load_lock
from corestore_webdav.options import WebdavOptions
from corestore_webdav.propfind import (
    CORESTORE_NS,
    ETAG_PROP,
    ID_PROP,
    LOCK_PROP,
    OC_FILEID,
    QUOTA_PROPS,
    Entry,
    MultistatusParser,
    TruncatedListing,
    meta_tag,
    propfind_body,
    proppatch_body,
)
from corestore_webdav.status import error_for, raise_for_status, transport_errors

if TYPE_CHECKING:
    import httpx

__all__ = ["WebdavDriver"]

#: Prefix of in-flight uploads; such names are hidden from listings.
TEMP_PREFIX = ".corestore-upload-"
#: Temporary uploads older than this (seconds) are leftovers of a crash; listings remove them.
STALE_UPLOAD_AGE = 24 * 3600
ROOT_ID = "root"
#: Tries of a listing the server cut short (a concurrent delete while it walked the folder).
LISTING_ATTEMPTS = 4
_FRAGILE_NAME = re.compile(r"[;\x00-\x1f\x7f]")
#: Properties every PROPFIND asks for besides the standard ones.
_OWN_PROPS = (OC_FILEID, ID_PROP, ETAG_PROP, LOCK_PROP)
_XML = {"Content-Type": "application/xml; charset=utf-8"}


class WebdavDriver(StorageDriver, SupportsMetadata, SupportsLocks):
    """Files on a WebDAV server.

    Metadata and locks live in dead properties; on a server without PROPPATCH both capabilities
    are dropped at :meth:`open`.
    """

    name = "webdav"
    Options = WebdavOptions
    description = "any WebDAV server (wsgidav, rclone serve webdav, Nextcloud, ...) via webdav4"

    options: WebdavOptions

    def __init__(self, options: WebdavOptions | None = None) -> None:
        super().__init__(options)
        self._http: httpx.Client | None = None
        self._base_url = self.options.url.rstrip("/")
        self._base_path = unquote(urlsplit(self.options.url).path).rstrip("/")
        self._scheme = "path"
        self._dead_props = False
        self._mangles_moves = False
        self._background: set[asyncio.Future[None]] = set()
        self._id_paths: dict[str, tuple[str, ...]] = {}  # id -> last known segments (a hint)
        self._commit_locks: weakref.WeakValueDictionary[tuple[str, ...], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        import httpx
        from webdav4.client import Client  # lazy: importing the plugin must stay cheap

        opts = self.options
        headers = {"Authorization": f"Bearer {opts.bearer_token}"} if opts.bearer_token else {}
        client = Client(
            self.options.url,
            auth=(opts.username, opts.password) if opts.username else None,
            retry=False,
            headers=headers,
            timeout=httpx.Timeout(opts.timeout),
            limits=httpx.Limits(
                max_connections=opts.max_connections, max_keepalive_connections=opts.max_connections
            ),
            verify=opts.verify_tls,
        )
        self._http = client.http
        try:
            root = await self._propfind_one((), _OWN_PROPS)
            if not root.is_dir:
                raise ConfigError(f"webdav.url is not a collection: {opts.url}")
            self._dead_props = await self._probe_dead_properties()
            self._mangles_moves = await self._probe_move_names()
            self._scheme = self._choose_scheme(root)
        except BaseException:
            await self.aclose()
            raise
        if not self._dead_props:
            self.narrow_capabilities({Capability.METADATA, Capability.LOCKS})

    async def aclose(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._http is not None:
            http, self._http = self._http, None
            await asyncio.to_thread(http.close)

    def _choose_scheme(self, root: Entry) -> str:
        wanted = self.options.id_scheme
        if wanted == "fileid" and root.fileid is None:
            raise ConfigError("webdav.id_scheme = 'fileid' but the server sends no oc:fileid")
        if wanted == "property" and not self._dead_props:
            raise ConfigError("webdav.id_scheme = 'property' but the server refuses PROPPATCH")
        if wanted != "auto":
            return wanted
        if root.fileid is not None:
            return "fileid"
        return "property" if self._dead_props else "path"

    async def _probe_dead_properties(self) -> bool:
        """Whether the server stores dead properties: set one on the root and look at the answer."""
        body = proppatch_body({f"{{{CORESTORE_NS}}}probe": "1"})
        response = await self._call("PROPPATCH", (), content=body, headers=_XML, check=False)
        if response.status_code != 207:
            return False
        entries = list(self._parse_all(response.content))
        return bool(entries) and not entries[0].failed_props

    async def _probe_move_names(self) -> bool:
        """Whether MOVE loses names with ``;`` or control characters in ``Destination``.

        wsgidav parses the decoded Destination as a URL, so ``a;b`` becomes ``a`` and tabs vanish:
        a write or rename to such a name would land on a *different* name. The probe moves a
        hidden empty file to such a name and looks; on a server that mangles, those names are
        refused (:class:`InvalidPath`) rather than written somewhere else.
        """
        token = uuid.uuid4().hex
        source = (f"{TEMP_PREFIX}{token}-a",)
        wanted = (f"{TEMP_PREFIX}{token}-b;c\td",)
        try:
            await self._call("PUT", source, content=b"")
            await self._call("MOVE", source, headers={"Destination": self._url(wanted)})
            return await self._entry_or_none(wanted) is None
        except CorestoreError:
            return False  # a read-only root: nothing will be moved anyway
        finally:
            for leftover in (source, wanted, (f"{TEMP_PREFIX}{token}-b",)):
                await self._delete_quietly(leftover)

    def _check_movable_name(self, segments: tuple[str, ...]) -> None:
        if self._mangles_moves and segments and _FRAGILE_NAME.search(segments[-1]):
            raise InvalidPath(
                "this WebDAV server cannot store names with ';' or control characters "
                f"(its MOVE mangles them): {join_path(segments)}"
            )

    # -- HTTP plumbing ------------------------------------------------------------------------

    def _url(self, segments: Sequence[str], collection: bool = False) -> str:
        path = "/".join(quote(s, safe="") for s in segments)
        return f"{self._base_url}/{path}" + ("/" if collection and segments else "")

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise CorestoreError("webdav driver used before open() or after aclose()")
        return self._http

    async def _call(
        self,
        method: str,
        segments: Sequence[str],
        *,
        collection: bool = False,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        overrides: Mapping[int, type[CorestoreError]] | None = None,
        check: bool = True,
    ) -> httpx.Response:
        """One request in a worker thread; failures are translated unless ``check`` is false."""
        what = join_path(tuple(segments))
        client = self._client()
        url = self._url(segments, collection)

        def send() -> httpx.Response:
            with transport_errors(what):
                return client.request(method, url, headers=headers, content=content)

        response = await asyncio.to_thread(send)
        return raise_for_status(response, what, overrides) if check else response

    def _parse_all(self, content: bytes) -> Iterator[Entry]:
        parser = MultistatusParser(self._base_path)
        yield from parser.feed(content)
        yield from parser.close()

    def _props_for(self, metadata_keys: Sequence[str]) -> tuple[list[str], bool]:
        """Extra properties to ask for, and whether to ask for all of them (``"*"``)."""
        extra = list(_OWN_PROPS)
        if not self.supports(Capability.METADATA) or not metadata_keys:
            return extra, False
        if "*" in metadata_keys:
            return extra, True
        return extra + [meta_tag(k) for k in metadata_keys], False

    async def _propfind_one(
        self, segments: tuple[str, ...], extra: Sequence[str] = (), *, allprop: bool = False
    ) -> Entry:
        """PROPFIND depth 0 of one resource."""
        body = propfind_body(extra, allprop=allprop)
        response = await self._call(
            "PROPFIND",
            segments,
            headers={"Depth": "0", **_XML},
            content=body,
            overrides={409: NotFound},
        )
        entries = list(self._parse_all(response.content))
        for entry in entries:
            if entry.segments == segments:
                return entry
        if len(entries) == 1 and entries[0].status in (None, 200):
            # one answer to a depth-0 request is about our resource, whatever its href spelling
            # (another Unicode normalisation, a redirect target)
            entries[0].segments = segments
            return entries[0]
        raise NotFound(join_path(segments))

    def _propfind_children(
        self, segments: tuple[str, ...], extra: Sequence[str], allprop: bool
    ) -> AsyncIterator[Entry]:
        """PROPFIND depth 1, parsed while it streams in: the folder's entry, then its children."""
        client = self._client()
        url = self._url(segments)
        body = propfind_body(extra, allprop=allprop)
        what = join_path(segments)

        def produce(emit: Callable[[Any], None]) -> None:
            with transport_errors(what):
                headers = {"Depth": "1", **_XML}
                with client.stream("PROPFIND", url, headers=headers, content=body) as response:
                    if response.status_code != 207:
                        response.read()
                        if response.status_code == 500:
                            # wsgidav fails the whole PROPFIND when a child vanishes while it
                            # walks the folder (a cut upload's temp file being removed): the
                            # same race as rclone's truncated answer, retried the same way.
                            raise TruncatedListing(f"PROPFIND answered 500: {what}")
                        raise_for_status(response, what, {409: NotFound})
                        raise CorestoreError(f"PROPFIND answered {response.status_code}: {what}")
                    parser = MultistatusParser(self._base_path)
                    for data in response.iter_bytes():
                        for entry in parser.feed(data):
                            emit(entry)
                    for entry in parser.close():
                        emit(entry)

        return stream_from_thread(produce, depth=self.options.queue_depth * 64)

    # -- ids ----------------------------------------------------------------------------------

    def _path_id(self, segments: tuple[str, ...]) -> str:
        return "p" + base64.urlsafe_b64encode(join_path(segments).encode()).decode().rstrip("=")

    async def _id_of(self, entry: Entry) -> str:
        """The id of a resource, minting one (a dead property) where the scheme needs it."""
        if self._scheme == "path":
            return self._path_id(entry.segments)
        if self._scheme == "fileid":
            resource_id = entry.fileid or self._path_id(entry.segments)
        elif not entry.segments:
            resource_id = ROOT_ID
        elif entry.dead_id:
            resource_id = entry.dead_id
        else:
            resource_id = uuid.uuid4().hex
            await self._set_props(entry.segments, {ID_PROP: resource_id})
            entry.dead_id = resource_id
        self._remember(resource_id, entry.segments)
        return resource_id

    def _remember(self, resource_id: str, segments: tuple[str, ...]) -> None:
        if len(self._id_paths) > 1_000_000:
            self._id_paths.clear()  # a hint cache: losing it only costs a rescan
        self._id_paths[resource_id] = segments

    async def _segments_of_id(self, resource_id: str) -> tuple[str, ...]:
        if self._scheme == "path":
            if not resource_id.startswith("p"):
                raise NotFound(f"no resource with id {resource_id}")
            try:
                raw = base64.urlsafe_b64decode(resource_id[1:] + "=" * (-len(resource_id[1:]) % 4))
                return split_path(raw.decode())
            except (ValueError, UnicodeDecodeError):
                raise NotFound(f"no resource with id {resource_id}") from None
        if resource_id == ROOT_ID and self._scheme == "property":
            return ()
        hint = self._id_paths.get(resource_id)
        if hint is not None:
            try:
                entry = await self._propfind_one(hint, _OWN_PROPS)
            except NotFound:
                pass
            else:
                if await self._id_of(entry) == resource_id:
                    return hint
        found = await self._scan_for_id(resource_id)
        if found is None:
            raise NotFound(f"no resource with id {resource_id}")
        return found

    async def _scan_for_id(self, resource_id: str) -> tuple[str, ...] | None:
        """Walk the tree breadth-first with depth-1 PROPFINDs until the id shows up.

        Generic WebDAV has no lookup by id, and many servers refuse ``Depth: infinity``; hits are
        cached, so a scan is paid once per resource that moved or was never seen.
        """
        root = await self._propfind_one((), _OWN_PROPS)
        if await self._id_of(root) == resource_id:
            return ()
        pending: list[tuple[str, ...]] = [()]
        while pending:
            folder = pending.pop(0)
            async for entry in self._propfind_children(folder, _OWN_PROPS, False):
                if entry.segments == folder or _hidden(entry.segments):
                    continue
                if (entry.dead_id or entry.fileid) and await self._id_of(entry) == resource_id:
                    return entry.segments
                if entry.is_dir:
                    pending.append(entry.segments)
        return None

    async def _resolve(self, ref: Reference) -> tuple[str, ...]:
        relative = split_path(ref.path)
        if ref.resource_id is None:
            return relative
        return await self._segments_of_id(ref.resource_id) + relative

    # -- info ---------------------------------------------------------------------------------

    async def _info(
        self, entry: Entry, parent_id: str | None, metadata_keys: Sequence[str] = ()
    ) -> ResourceInfo:
        name = entry.segments[-1] if entry.segments else ""
        if entry.is_dir:
            mime = guess_mime_type(name, True)
        else:
            mime = entry.content_type or guess_mime_type(name, False)
        metadata = entry.metadata
        if metadata_keys and "*" not in metadata_keys:
            metadata = {k: v for k, v in metadata.items() if k in metadata_keys}
        return ResourceInfo(
            id=await self._id_of(entry),
            path=join_path(entry.segments),
            type=ResourceType.CONTAINER if entry.is_dir else ResourceType.FILE,
            size=entry.size,
            mtime=entry.mtime,
            etag=_etag_of(entry),
            parent_id=parent_id,
            mime_type=mime,
            metadata=dict(metadata) if metadata_keys else {},
            lock=live_lock(load_lock(entry.dead_lock)) if self.supports(Capability.LOCKS) else None,
        )

    async def _parent_id(self, segments: tuple[str, ...]) -> str | None:
        if not segments:
            return None
        if self._scheme == "path":
            return self._path_id(segments[:-1])
        return await self._id_of(await self._propfind_one(segments[:-1], _OWN_PROPS))

    async def _stat_segments(
        self, segments: tuple[str, ...], metadata_keys: Sequence[str] = ()
    ) -> ResourceInfo:
        extra, allprop = self._props_for(metadata_keys)
        entry = await self._propfind_one(segments, extra, allprop=allprop)
        return await self._info(entry, await self._parent_id(segments), metadata_keys)

    async def _entry_or_none(
        self, segments: tuple[str, ...], allprop: bool = False
    ) -> Entry | None:
        try:
            return await self._propfind_one(segments, _OWN_PROPS, allprop=allprop)
        except NotFound:
            return None

    # -- required core ------------------------------------------------------------------------

    async def stat(self, ref: Reference, *, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        return await self._stat_segments(await self._resolve(ref), metadata_keys)

    async def list_container(
        self, ref: Reference, *, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[ResourceInfo]:
        segments = await self._resolve(ref)
        extra, allprop = self._props_for(metadata_keys)
        folder_id: str | None = None
        yielded: set[str] = set()  # names only, to resume after a truncated answer
        for attempt in range(LISTING_ATTEMPTS):
            try:
                async for entry in self._propfind_children(segments, extra, allprop):
                    if entry.segments == segments:
                        if not entry.is_dir:
                            raise NotAFolder(join_path(segments))
                        folder_id = await self._id_of(entry)
                        continue
                    if entry.segments[:-1] != segments or entry.segments[-1] in yielded:
                        continue
                    if _hidden(entry.segments):
                        if entry.mtime and time.time() - entry.mtime > STALE_UPLOAD_AGE:
                            self._discard_later(entry.segments)  # left by a crashed writer
                        continue
                    yielded.add(entry.segments[-1])
                    yield await self._info(entry, folder_id, metadata_keys)
                return
            except TruncatedListing:
                if attempt == LISTING_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def create_container(self, ref: Reference) -> ResourceInfo:
        segments = await self._resolve(ref)
        if not segments:
            raise AlreadyExists("/")
        # rclone answers 201 to MKCOL on an existing folder, so look first
        if await self._entry_or_none(segments) is not None:
            raise AlreadyExists(join_path(segments))
        await self._call(
            "MKCOL",
            segments,
            collection=True,
            overrides={405: MissingParent, 409: MissingParent, 404: MissingParent},
        )
        if self._scheme == "property":
            await self._set_props(segments, {ID_PROP: uuid.uuid4().hex})
        await self._propagate(segments)
        return await self._stat_segments(segments)

    async def touch(self, ref: Reference, *, lock_id: str | None = None) -> ResourceInfo:
        options = WriteOptions(expected_size=0, if_not_exist=True, lock_id=lock_id)
        return await self.write(ref, _empty(), options)

    async def delete(self, ref: Reference, *, lock_id: str | None = None) -> None:
        segments = await self._resolve(ref)
        if not segments:
            raise PermissionDenied("the root of a mount cannot be deleted")
        async with self._commit_lock(segments):
            if self.supports(Capability.LOCKS):
                self._check_unlocked(await self._propfind_one(segments, _OWN_PROPS), lock_id)
            response = await self._call("DELETE", segments, overrides={409: NotFound})
        await self._propagate(segments)
        if response.status_code == 207:  # some members could not be deleted
            raise CorestoreError(f"could not delete everything below {join_path(segments)}")

    async def move(
        self, source: Reference, destination: Reference, *, lock_id: str | None = None
    ) -> ResourceInfo:
        src = await self._resolve(source)
        dst = await self._resolve(destination)
        if not src:
            raise PermissionDenied("the root of a mount cannot be moved")
        if not dst:
            raise AlreadyExists("/")
        if dst[: len(src)] == src:
            raise MoveIntoItself(f"{join_path(src)} -> {join_path(dst)}")
        self._check_movable_name(dst)
        async with self._commit_lock(src):
            if self.supports(Capability.LOCKS):
                self._check_unlocked(await self._propfind_one(src, _OWN_PROPS), lock_id)
            await self._move(src, dst, overwrite=False)
        await self._propagate(src, dst)
        return await self._stat_segments(dst)

    async def _move(self, src: tuple[str, ...], dst: tuple[str, ...], *, overwrite: bool) -> None:
        headers = {"Destination": self._url(dst), "Overwrite": "T" if overwrite else "F"}
        response = await self._call("MOVE", src, headers=headers, check=False)
        if response.is_success:
            return
        status = response.status_code
        if status in (403, 404, 409):
            # servers disagree on how to say "no source" or "no destination parent" (rclone
            # answers 403 to both), so find out which it is
            if await self._entry_or_none(src) is None:
                raise NotFound(join_path(src))
            parent = await self._entry_or_none(dst[:-1])
            if parent is None or not parent.is_dir:
                raise MissingParent(join_path(dst))
        raise error_for(status, join_path(dst), {412: AlreadyExists})

    async def open_read(
        self, ref: Reference, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        segments = await self._resolve(ref)
        entry = await self._propfind_one(segments)
        if entry.is_dir:
            raise IsAFolder(join_path(segments))
        start, end = (byte_range or ByteRange()).clamp(entry.size)
        if byte_range is not None and start >= end:
            return
        client, url, what = self._client(), self._url(segments), join_path(segments)
        # identity: a compressed body would make ranges and sizes meaningless
        headers = {"Accept-Encoding": "identity"}
        if byte_range is not None:
            headers["Range"] = f"bytes={start}-{end - 1}"
        chunk_size = self.options.chunk_size

        def produce(emit: Callable[[Any], None]) -> None:
            with transport_errors(what), client.stream("GET", url, headers=headers) as response:
                if response.status_code == 416:
                    return
                if not response.is_success:
                    response.read()
                    raise_for_status(response, what)
                # a server that ignores Range answers 200 with everything: cut it ourselves
                skip = start if response.status_code == 200 else 0
                remaining = end - start if byte_range is not None else None
                parts: list[bytes] = []
                gathered = 0
                # gather the socket's small reads into chunk_size pieces with one join; httpx's
                # own re-chunking (iter_bytes(chunk_size)) costs three times the CPU
                for data in response.iter_raw():
                    if skip:
                        if len(data) <= skip:
                            skip -= len(data)
                            continue
                        data, skip = data[skip:], 0
                    if remaining is not None:
                        data = data[:remaining]
                        remaining -= len(data)
                    parts.append(data)
                    gathered += len(data)
                    if gathered >= chunk_size:
                        emit(b"".join(parts))
                        parts.clear()
                        gathered = 0
                    if remaining == 0:
                        break
                if parts:
                    emit(b"".join(parts))

        async for chunk in stream_from_thread(produce, depth=self.options.queue_depth):
            yield chunk

    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008 - frozen, shared safely
    ) -> ResourceInfo:
        segments = await self._resolve(ref)
        if not segments:
            raise IsAFolder("/")
        self._check_movable_name(segments)
        target = await self._entry_or_none(segments, allprop=self._dead_props)
        self._check_write(segments, target, options)
        temp = segments[:-1] + (f"{TEMP_PREFIX}{uuid.uuid4().hex}",)
        kind = None if self.options.checksum == "none" else self.options.checksum
        digest = StreamDigest(kind, options)
        try:
            await self._upload(temp, rechunk(chunks, self.options.chunk_size), digest, options)
            checksum = digest.verify()
            async with self._commit_lock(segments):
                if self._dead_props or options.if_match:
                    # check again right before the swap (etag, lock) and take the properties of
                    # the content being replaced as they are now
                    target = await self._entry_or_none(segments, allprop=self._dead_props)
                    self._check_write(segments, target, options)
                if self._dead_props:
                    await self._carry_properties(temp, target)
                await self._move(temp, segments, overwrite=not options.if_not_exist)
                await self._propagate(segments)
                info = await self._stat_segments(segments)
        except BaseException:
            self._discard_later(temp)
            raise
        return _with_checksum(info, checksum)

    def _commit_lock(self, segments: tuple[str, ...]) -> asyncio.Lock:
        """One lock per target path for the final MOVE of a write.

        Concurrent ``MOVE`` with ``Overwrite: T`` onto one path is not safe on every server
        (wsgidav deletes the destination, then renames, and a second MOVE in between fails with
        500); serialising the swaps of this mount's writers avoids that.
        """
        lock = self._commit_locks.get(segments)
        if lock is None:
            lock = self._commit_locks[segments] = asyncio.Lock()
        return lock

    def _check_write(
        self, segments: tuple[str, ...], target: Entry | None, options: WriteOptions
    ) -> None:
        what = join_path(segments)
        if target is not None and options.if_not_exist:
            raise AlreadyExists(what)
        if target is not None and target.is_dir:
            raise IsAFolder(what)
        if options.if_match and (target is None or _etag_of(target) != options.if_match):
            raise ETagMismatch(what)
        if target is not None:
            self._check_unlocked(target, options.lock_id)

    async def _upload(
        self,
        temp: tuple[str, ...],
        chunks: AsyncIterable[bytes],
        digest: StreamDigest,
        options: WriteOptions,
    ) -> None:
        """PUT the stream to ``temp``; size and checksum are checked in the sending thread, so a
        bad stream is cut before the server ever sees its end."""
        client, url, what = self._client(), self._url(temp), join_path(temp[:-1])
        headers = {"Content-Type": "application/octet-stream"}
        if options.expected_size is not None:
            headers["Content-Length"] = str(options.expected_size)
        else:
            # chunked: cheroot (wsgidav) answers errors such as 409 before reading the body and
            # leaves its rest in the connection, where it spoils the next request (400)
            headers["Connection"] = "close"
        if options.mtime is not None:
            headers["X-OC-Mtime"] = str(int(options.mtime))

        def checked(body: Iterator[bytes]) -> Iterator[bytes]:
            for chunk in body:
                digest.update(chunk)
                yield chunk
            digest.verify()

        def put(body: Iterator[bytes]) -> httpx.Response:
            with transport_errors(what):
                return client.put(url, content=checked(body), headers=headers)

        response = await feed_thread(chunks, put, depth=self.options.queue_depth)
        raise_for_status(response, what, {404: MissingParent, 409: MissingParent})

    async def _carry_properties(self, temp: tuple[str, ...], target: Entry | None) -> None:
        """Give the new content the target's id and metadata before it replaces the target."""
        props = {ID_PROP: (await self._id_of(target)) if target else uuid.uuid4().hex}
        if target is not None:
            props.update({meta_tag(k): v for k, v in target.metadata.items()})
            if target.dead_lock and self.supports(Capability.LOCKS):
                props[LOCK_PROP] = target.dead_lock
        await self._set_props(temp, props)

    async def _propagate(self, *changed: tuple[str, ...]) -> None:
        """Give every folder above the changed paths a new etag (a dead property), root included.

        WebDAV servers seldom propagate folder etags (wsgidav and rclone send none for folders),
        yet sync clients rely on a folder's etag changing when anything below it changes. Done
        only where dead properties work; best effort: the change itself has already succeeded.
        """
        if not (self._dead_props and self.options.propagate_etags):
            return
        folders = {path[:i] for path in changed for i in range(len(path))}
        results = await asyncio.gather(
            *(self._set_props(folder, {ETAG_PROP: uuid.uuid4().hex}) for folder in folders),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, CorestoreError):
                raise result

    def _discard_later(self, temp: tuple[str, ...]) -> None:
        """Remove a failed upload's temporary file, in the background.

        A server may still be handling the cut PUT when our DELETE arrives (rclone then creates
        or keeps the file after the DELETE), so look again a few times until it stays gone.
        Temporary names are hidden from listings meanwhile; :meth:`aclose` waits for these tasks.
        """
        task = asyncio.ensure_future(self._discard(temp))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _discard(self, temp: tuple[str, ...]) -> None:
        absent = 0
        for delay in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6):
            await asyncio.sleep(delay)
            try:
                if await self._entry_or_none(temp) is None:
                    absent += 1
                    if absent == 2:
                        return
                    continue
            except CorestoreError:
                return
            absent = 0
            await self._delete_quietly(temp)

    async def _delete_quietly(self, segments: tuple[str, ...]) -> None:
        try:
            await self._call("DELETE", segments, check=False)
        except CorestoreError:
            pass

    async def get_quota(self, ref: Reference) -> Quota:
        segments = await self._resolve(ref)
        entry = await self._propfind_one(segments, QUOTA_PROPS)
        used = entry.quota_used or 0
        if entry.quota_available is None or entry.quota_available < 0:
            return Quota(total=0, used=used)  # unknown or unlimited
        return Quota(total=used + entry.quota_available, used=used)

    # -- metadata (dead properties) -----------------------------------------------------------

    async def _set_props(
        self, segments: tuple[str, ...], props: Mapping[str, str], remove: Sequence[str] = ()
    ) -> None:
        body = proppatch_body(dict(props), remove)
        response = await self._call("PROPPATCH", segments, content=body, headers=_XML)
        if response.status_code == 207:
            for entry in self._parse_all(response.content):
                if entry.failed_props:
                    raise PermissionDenied(
                        f"the WebDAV server refused to store properties on {join_path(segments)}"
                    )

    async def set_metadata(
        self, ref: Reference, metadata: Mapping[str, str], *, lock_id: str | None = None
    ) -> None:
        segments = await self._resolve(ref)
        await self._check_unlocked_at(segments, lock_id)
        await self._set_props(segments, {meta_tag(k): v for k, v in metadata.items()})

    async def unset_metadata(
        self, ref: Reference, keys: Sequence[str], *, lock_id: str | None = None
    ) -> None:
        segments = await self._resolve(ref)
        await self._check_unlocked_at(segments, lock_id)
        if keys:
            await self._set_props(segments, {}, [meta_tag(k) for k in keys])

    # -- locks (dead properties) --------------------------------------------------------------

    def _check_unlocked(self, entry: Entry, lock_id: str | None) -> None:
        if self.supports(Capability.LOCKS):
            check_lock_for_write(load_lock(entry.dead_lock), lock_id, join_path(entry.segments))

    async def _check_unlocked_at(self, segments: tuple[str, ...], lock_id: str | None) -> None:
        if self.supports(Capability.LOCKS):
            self._check_unlocked(await self._propfind_one(segments, _OWN_PROPS), lock_id)

    async def _current_lock(self, segments: tuple[str, ...]) -> Lock | None:
        return load_lock((await self._propfind_one(segments, _OWN_PROPS)).dead_lock)

    async def set_lock(self, ref: Reference, lock: Lock) -> None:
        segments = await self._resolve(ref)
        async with self._commit_lock(segments):  # atomic within this mount, not across servers
            check_new_lock(await self._current_lock(segments), join_path(segments))
            await self._set_props(segments, {LOCK_PROP: dump_lock(lock)})

    async def get_lock(self, ref: Reference) -> Lock:
        segments = await self._resolve(ref)
        lock = live_lock(await self._current_lock(segments))
        if lock is None:
            raise NotFound(f"not locked: {join_path(segments)}")
        return lock

    async def refresh_lock(
        self, ref: Reference, lock: Lock, *, existing_lock_id: str | None = None
    ) -> None:
        segments = await self._resolve(ref)
        async with self._commit_lock(segments):
            current = await self._current_lock(segments)
            held = check_lock_holder(current, lock, join_path(segments), existing_lock_id)
            renewed = replace(lock, creation_time=lock.creation_time or held.creation_time)
            await self._set_props(segments, {LOCK_PROP: dump_lock(renewed)})

    async def unlock(self, ref: Reference, lock: Lock) -> None:
        segments = await self._resolve(ref)
        async with self._commit_lock(segments):
            check_lock_holder(await self._current_lock(segments), lock, join_path(segments))
            await self._set_props(segments, {}, [LOCK_PROP])


def _hidden(segments: tuple[str, ...]) -> bool:
    return bool(segments) and segments[-1].startswith(TEMP_PREFIX)


def _etag_of(entry: Entry) -> str:
    """The server's etag without quotes; for folders without one, the etag the driver propagates
    (dead property) or else a hash of their mtime."""
    server = entry.etag.removeprefix("W/").strip('"') if entry.etag else None
    if not entry.is_dir and server:
        return server
    # folders: mix what the server knows (its etag, or the mtime) with what the driver propagated,
    # so changes made by other clients and deep changes made through corestore both show
    basis = f"{server or entry.mtime}:{entry.size}:{entry.dead_etag or ''}"
    return "d" + hashlib.sha1(basis.encode()).hexdigest()[:16]


def _with_checksum(info: ResourceInfo, checksum: Checksum | None) -> ResourceInfo:
    return info if checksum is None else replace(info, checksum=checksum)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover
