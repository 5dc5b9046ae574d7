"""The owncloud driver: an existing ownCloud 10 or Nextcloud server, as a corestore mount.

It is the webdav driver (files over ``remote.php/dav/files/<user>``) plus what the dialect adds:

* **File ids** are the server's ``oc:fileid`` (stable across moves). On ownCloud an id is turned
  back into a path with one request (``meta/<fileid>``); elsewhere the webdav driver's cached
  tree search applies.
* **Writes** are one ``PUT`` (``atomic_put``): both servers stage uploads in a ``.part`` file and
  rename it, so readers never see a partial file, the file id survives an overwrite and the old
  content becomes a version. The webdav driver's temporary-name + ``MOVE`` would instead replace
  the file (new id, no version). The last chunk is held back until size and checksum are verified,
  so a bad stream never reaches the server complete and is discarded there.
* **Versions** and the **trash bin** use each flavour's endpoints (see :mod:`.dialect`); they are
  offered only when the server's OCS capabilities announce them and the mount enables them.
* **Checksums** the server keeps (``oc:checksums``) are returned by ``stat``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from corestore_webdav.bridge import feed_thread, stream_from_thread
from corestore_webdav.driver import WebdavDriver
from corestore_webdav.propfind import OC_FILEID, Entry, propfind_body
from corestore_webdav.status import raise_for_status, transport_errors

from corestore.driver import Capability, SupportsRecycle, SupportsVersions
from corestore.errors import (
    AlreadyExists,
    CorestoreError,
    IsAFolder,
    MissingParent,
    NotFound,
)
from corestore.paths import join_path, split_path
from corestore.resources import (
    ByteRange,
    FileVersion,
    RecycleItem,
    Reference,
    ResourceInfo,
    ResourceType,
    WriteOptions,
)
from corestore.streams import StreamDigest, rechunk
from corestore_owncloud.dialect import (
    META_PATH,
    OC_CHECKSUMS,
    TRASH_PROPS,
    Capabilities,
    OcEntry,
    OcMultistatusParser,
    parse_capabilities,
    parse_multistatus,
    pick_checksum,
    product_of_status,
)
from corestore_owncloud.options import OwncloudOptions

if TYPE_CHECKING:
    import httpx

__all__ = ["OwncloudDriver"]

_XML = {"Content-Type": "application/xml; charset=utf-8"}
_VERSION_PROPS = ("{DAV:}getcontentlength", "{DAV:}getlastmodified", "{DAV:}getetag")


class OwncloudDriver(WebdavDriver, SupportsVersions, SupportsRecycle):
    """Files, versions and trash bin of one user on an ownCloud or Nextcloud server."""

    name = "owncloud"
    Options = OwncloudOptions
    description = "an ownCloud 10 or Nextcloud server (WebDAV, versions, trash bin, OCS)"

    options: OwncloudOptions

    def __init__(self, options: OwncloudOptions | None = None) -> None:
        super().__init__(options)
        files_url = self.options.files_url()
        self._base_url = files_url
        self._base_path = unquote(urlsplit(files_url).path).rstrip("/")
        self._folder = split_path(self.options.folder)
        self.flavor = "owncloud"
        self.server_capabilities = Capabilities()
        self._root_fileid: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        await super().open()  # checks the credentials on the files URL
        try:
            self.flavor = self.options.flavor
            if self.flavor == "auto":
                self.flavor = await self._detect_flavor()
            self.server_capabilities = await self._read_capabilities()
            root = await self._propfind_one((), (OC_FILEID,))
            self._root_fileid = root.fileid
            caps = self.server_capabilities
            missing: set[Capability] = set()
            versions = self.options.versions and caps.versioning and self._scheme == "fileid"
            if not (versions and await self._serves(self._versions_probe_url())):
                missing.add(Capability.VERSIONS)  # version URLs are keyed by oc:fileid
            if not (
                self.options.recycle and caps.undelete and await self._serves(self._trash_url())
            ):
                missing.add(Capability.RECYCLE)
        except BaseException:
            await self.aclose()
            raise
        self.narrow_capabilities(missing)

    async def _serves(self, url: str) -> bool:
        """Whether a dialect endpoint exists: OCS may announce what a gateway does not route."""
        response = await self._request(
            "PROPFIND", url, headers={"Depth": "0", **_XML}, content=propfind_body(), check=False
        )
        return response.status_code == 207

    def _versions_probe_url(self) -> str:
        if self.flavor == "nextcloud":
            return self.options.dav_url("versions", self.options.dav_user, "versions")
        return self.options.dav_url("meta", self._root_fileid or "0")

    async def _detect_flavor(self) -> str:
        response = await self._request("GET", f"{self.options.server_url}/status.php", check=False)
        product = product_of_status(response.content) if response.is_success else ""
        return "nextcloud" if "nextcloud" in product.lower() else "owncloud"

    async def _read_capabilities(self) -> Capabilities:
        """OCS capabilities; a server without OCS (a plain WebDAV server) has none of them."""
        url = f"{self.options.server_url}/ocs/v1.php/cloud/capabilities?format=json"
        response = await self._request("GET", url, headers={"OCS-APIRequest": "true"}, check=False)
        return parse_capabilities(response.content) if response.is_success else Capabilities()

    # -- HTTP beyond the files tree -----------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        overrides: Mapping[int, type[CorestoreError]] | None = None,
        what: str = "",
        check: bool = True,
    ) -> httpx.Response:
        client = self._client()

        def send() -> httpx.Response:
            with transport_errors(what or url):
                return client.request(method, url, headers=headers, content=content)

        response = await asyncio.to_thread(send)
        return raise_for_status(response, what or url, overrides) if check else response

    async def _propfind_url(
        self, url: str, props: Sequence[str], *, depth: str = "1", what: str = ""
    ) -> list[OcEntry]:
        """A PROPFIND on a dialect endpoint; entries carry paths relative to ``url``."""
        response = await self._request(
            "PROPFIND",
            url,
            headers={"Depth": depth, **_XML},
            content=propfind_body(props),
            overrides={409: NotFound},
            what=what,
        )
        return parse_multistatus(response.content, unquote(urlsplit(url).path))

    # -- dialect properties in the webdav driver's entries ------------------------------------

    def _parse_all(self, content: bytes) -> Iterator[Entry]:
        parser = OcMultistatusParser(self._base_path)
        yield from parser.feed(content)
        yield from parser.close()

    def _props_for(self, metadata_keys: Sequence[str]) -> tuple[list[str], bool]:
        extra, allprop = super()._props_for(metadata_keys)
        return [*extra, OC_CHECKSUMS], allprop

    async def _info(
        self, entry: Entry, parent_id: str | None, metadata_keys: Sequence[str] = ()
    ) -> ResourceInfo:
        info = await super()._info(entry, parent_id, metadata_keys)
        if isinstance(entry, OcEntry) and entry.checksums:
            checksum = pick_checksum(entry.checksums, self.options.checksum)
            info = replace(info, checksum=checksum)
        return info

    # -- ids ----------------------------------------------------------------------------------

    async def _scan_for_id(self, resource_id: str) -> tuple[str, ...] | None:
        """ownCloud answers "where is file id N" directly; otherwise search the tree."""
        if self.flavor == "owncloud" and resource_id.isdigit():
            try:
                (entry,) = await self._propfind_url(
                    self.options.dav_url("meta", resource_id), (META_PATH,), depth="0"
                )
            except (CorestoreError, ValueError):
                entry = None
            if entry is not None and entry.meta_path is not None:
                segments = self._mount_segments(entry.meta_path)
                if segments is None:
                    return None  # a file of this user, but outside the mounted folder
                found = await self._entry_or_none(segments)
                if found is not None and found.fileid == resource_id:
                    return segments
        return await super()._scan_for_id(resource_id)

    def _mount_segments(self, user_path: str) -> tuple[str, ...] | None:
        """A path in the user's files as a path of this mount, or None outside ``folder``."""
        try:
            segments = split_path("/" + user_path.strip("/"))
        except CorestoreError:
            return None
        if segments[: len(self._folder)] != self._folder:
            return None
        return segments[len(self._folder) :]

    def _user_path(self, segments: tuple[str, ...]) -> tuple[str, ...]:
        return self._folder + segments

    # -- writes -------------------------------------------------------------------------------

    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008 - frozen, shared safely
    ) -> ResourceInfo:
        if not self.options.atomic_put:
            return await super().write(ref, chunks, options)
        segments = await self._resolve(ref)
        if not segments:
            raise IsAFolder("/")
        self._check_movable_name(segments)
        target = await self._entry_or_none(segments)
        self._check_write(segments, target, options)
        kind = None if self.options.checksum == "none" else self.options.checksum
        digest = StreamDigest(kind, options)
        headers = {"Content-Type": "application/octet-stream"}
        if options.expected_size is not None:
            headers["Content-Length"] = str(options.expected_size)
        if options.mtime is not None:
            headers["X-OC-Mtime"] = str(int(options.mtime))
        if options.checksum is not None:
            headers["OC-Checksum"] = f"{options.checksum.type.upper()}:{options.checksum.value}"
        if options.if_not_exist:
            headers["If-None-Match"] = "*"
        elif options.if_match and target is not None and target.etag:
            headers["If-Match"] = target.etag  # the server re-checks at commit time
        client, url, what = self._client(), self._url(segments), join_path(segments)

        def put(body: Iterator[bytes]) -> httpx.Response:
            with transport_errors(what):
                return client.put(url, content=_verified_last(body, digest), headers=headers)

        stream = rechunk(chunks, self.options.chunk_size)
        response = await feed_thread(stream, put, depth=self.options.queue_depth)
        overrides: dict[int, type[CorestoreError]] = {404: MissingParent, 409: MissingParent}
        if options.if_not_exist:
            overrides[412] = AlreadyExists
        raise_for_status(response, what, overrides)
        checksum = digest.verify()
        info = await self._stat_segments(segments)
        return info if checksum is None else replace(info, checksum=checksum)

    # -- versions -----------------------------------------------------------------------------

    async def _fileid(self, ref: Reference) -> tuple[tuple[str, ...], str]:
        segments = await self._resolve(ref)
        entry = await self._propfind_one(segments, (OC_FILEID,))
        if entry.is_dir:
            raise IsAFolder(join_path(segments))
        if entry.fileid is None:
            raise CorestoreError(f"the server sent no oc:fileid for {join_path(segments)}")
        return segments, entry.fileid

    def _versions_url(self, fileid: str, key: str | None = None) -> str:
        if self.flavor == "nextcloud":
            parts = ["versions", self.options.dav_user, "versions", fileid]
        else:
            parts = ["meta", fileid, "v"]
        return self.options.dav_url(*parts, *([key] if key else []))

    async def list_versions(self, ref: Reference) -> AsyncIterator[FileVersion]:
        segments, fileid = await self._fileid(ref)
        entries = await self._propfind_url(
            self._versions_url(fileid), _VERSION_PROPS, what=join_path(segments)
        )
        versions = [
            FileVersion(
                key=entry.segments[-1],
                size=entry.size,
                mtime=entry.mtime or _number(entry.segments[-1]),
                etag=(entry.etag or entry.segments[-1]).strip('"'),
            )
            for entry in entries
            if len(entry.segments) == 1 and not entry.is_dir
        ]
        versions.sort(key=lambda v: (v.mtime, _number(v.key)), reverse=True)
        for version in versions:
            yield version

    async def open_version(
        self, ref: Reference, key: str, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        segments, fileid = await self._fileid(ref)
        _check_key(key)
        url, what = self._versions_url(fileid, key), f"{join_path(segments)}@{key}"
        async for chunk in self._download(url, what, byte_range):
            yield chunk

    async def restore_version(
        self, ref: Reference, key: str, *, lock_id: str | None = None
    ) -> None:
        segments, fileid = await self._fileid(ref)
        _check_key(key)
        source, what = self._versions_url(fileid, key), f"{join_path(segments)}@{key}"
        if self.flavor == "nextcloud":
            target = self.options.dav_url("versions", self.options.dav_user, "restore", "target")
            await self._request("MOVE", source, headers={"Destination": target}, what=what)
        else:
            destination = self._url(segments)
            await self._request(
                "COPY", source, headers={"Destination": destination, "Overwrite": "T"}, what=what
            )

    async def _download(
        self, url: str, what: str, byte_range: ByteRange | None
    ) -> AsyncIterator[bytes]:
        """Stream a GET from a dialect endpoint, cutting ``byte_range`` out ourselves."""
        client, chunk_size = self._client(), self.options.chunk_size
        start = byte_range.start if byte_range else 0
        remaining = byte_range.length if byte_range else None

        def produce(emit: Callable[[Any], None]) -> None:
            skip, left = start, remaining
            with transport_errors(what), client.stream("GET", url) as response:
                if not response.is_success:
                    response.read()
                    raise_for_status(response, what)
                for data in response.iter_bytes(chunk_size):
                    if skip:
                        if len(data) <= skip:
                            skip -= len(data)
                            continue
                        data, skip = data[skip:], 0
                    if left is not None:
                        data, left = data[:left], left - min(left, len(data))
                    if data:
                        emit(data)
                    if left == 0:
                        return

        async for chunk in stream_from_thread(produce, depth=self.options.queue_depth):
            yield chunk

    # -- trash bin ----------------------------------------------------------------------------

    def _trash_url(self, key: str | None = None) -> str:
        user = self.options.dav_user
        parts = ["trashbin", user, "trash"] if self.flavor == "nextcloud" else ["trash-bin", user]
        return self.options.dav_url(*parts, *([key] if key else [])) + ("" if key else "/")

    async def _trash_entries(self) -> list[tuple[OcEntry, tuple[str, ...]]]:
        """Top-level trash items that were deleted from inside this mount, with their paths."""
        entries = await self._propfind_url(
            self._trash_url(),
            ("{DAV:}resourcetype", "{DAV:}getcontentlength", *TRASH_PROPS),
            what="trash bin",
        )
        items = []
        for entry in entries:
            if len(entry.segments) != 1:
                continue
            location = entry.trash_location or entry.trash_name or entry.segments[0]
            segments = self._mount_segments(location)
            if segments:
                items.append((entry, segments))
        return items

    async def list_recycle(self, ref: Reference) -> AsyncIterator[RecycleItem]:
        for entry, segments in await self._trash_entries():
            yield RecycleItem(
                key=entry.segments[0],
                path=join_path(segments),
                type=ResourceType.CONTAINER if entry.is_dir else ResourceType.FILE,
                size=entry.total_size,
                deletion_time=entry.trash_time or entry.mtime or time.time(),
            )

    async def _trash_item(self, key: str) -> tuple[OcEntry, tuple[str, ...]]:
        _check_key(key)
        for entry, segments in await self._trash_entries():
            if entry.segments[0] == key:
                return entry, segments
        raise NotFound(f"no trash bin item {key!r}")

    async def restore_recycle_item(
        self, ref: Reference, key: str, *, restore_to: Reference | None = None
    ) -> ResourceInfo:
        _, original = await self._trash_item(key)
        target = await self._resolve(restore_to) if restore_to is not None else original
        if not target:
            raise AlreadyExists("/")
        if await self._entry_or_none(target) is not None:
            raise AlreadyExists(join_path(target))
        parent = await self._entry_or_none(target[:-1])
        if parent is None or not parent.is_dir:
            raise MissingParent(join_path(target))
        what = join_path(target)
        if self.flavor == "nextcloud":
            # Nextcloud restores to the original location only; move it on from there
            destination = self.options.dav_url("trashbin", self.options.dav_user, "restore", key)
            await self._request(
                "MOVE", self._trash_url(key), headers={"Destination": destination}, what=what
            )
            if target != original:
                await self._move(original, target, overwrite=False)
        else:
            headers = {"Destination": self._url(target), "Overwrite": "F"}
            await self._request(
                "MOVE",
                self._trash_url(key),
                headers=headers,
                what=what,
                overrides={412: AlreadyExists, 409: MissingParent},
            )
        return await self._stat_segments(target)

    async def purge_recycle(self, ref: Reference, key: str | None = None) -> None:
        # one by one, even for "all": the bin is the user's, the mount may be one folder of it
        keys = [key] if key is not None else [e.segments[0] for e, _ in await self._trash_entries()]
        if key is not None:
            await self._trash_item(key)
        for item in keys:
            await self._request("DELETE", self._trash_url(item), what=f"trash bin item {item}")


def _verified_last(body: Iterator[bytes], digest: StreamDigest) -> Iterator[bytes]:
    """Pass chunks on, holding the last one back until the whole stream is verified.

    The server commits an upload once it has the whole body; by keeping the final bytes until
    size and checksum check out, a bad stream is cut before that and the server discards it.
    """
    held: bytes | None = None
    for chunk in body:
        digest.update(chunk)
        if held is not None:
            yield held
        held = chunk
    digest.verify()
    if held is not None:
        yield held


def _check_key(key: str) -> None:
    if not key or "/" in key or key in (".", ".."):
        raise NotFound(f"no such item: {key!r}")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
