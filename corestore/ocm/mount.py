"""The receiver side: accepted OCM shares as folders under ``/ocm/<user>/<share name>``.

:class:`ReceivedSharesDriver` is a storage driver the server mounts (at ``ocm.mount_path``) when
OCM is on. Its two top levels are virtual (users with accepted shares, then their shares); below
a share everything is delegated to a :class:`corestore_webdav.WebdavDriver` pointed at the share's
WebDAV URI with the shared secret as Bearer token, opened on first use and closed when the share
goes away. So received shares work through every API (CS3, the WebDAV front end, the data path)
like any other mount. The sharer enforces the share's permissions; :meth:`permissions_for` also
refuses writes to read-only shares up front and keeps users out of each other's shares.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Any

from corestore.driver import StorageDriver
from corestore.errors import (
    ConfigError,
    CorestoreError,
    NotAFolder,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unimplemented,
)
from corestore.ocm.remotefile import RemoteFile
from corestore.ocm.site import OcmSite
from corestore.ocm.store import ReceivedShare
from corestore.paths import join_path, split_path
from corestore.resources import (
    EDITOR_PERMISSIONS,
    VIEWER_PERMISSIONS,
    ByteRange,
    Permission,
    Quota,
    Reference,
    ResourceInfo,
    ResourceType,
    WriteOptions,
)

__all__ = ["ReceivedSharesDriver"]

log = logging.getLogger("corestore.ocm.mount")

_LOOK = frozenset(
    {Permission.STAT, Permission.LIST_CONTAINER, Permission.GET_PATH, Permission.GET_QUOTA}
)


def _sharer_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A sharer refusing the secret (401) means the share is gone: PERMISSION_DENIED for our user,
    not UNAUTHENTICATED (which would read as "your own login is bad")."""

    def denied(exc: Unauthenticated) -> PermissionDenied:
        return PermissionDenied(f"the sharer no longer grants access: {exc.message}")

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for item in fn(self, *args, **kwargs):
                    yield item
            except Unauthenticated as exc:
                raise denied(exc) from None

        return stream

    @functools.wraps(fn)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(self, *args, **kwargs)
        except Unauthenticated as exc:
            raise denied(exc) from None

    return call


def _etag(*parts: str) -> str:
    return '"' + hashlib.sha1("\0".join(parts).encode()).hexdigest() + '"'


class ReceivedSharesDriver(StorageDriver):
    name = "ocm-received"
    description = "OCM shares received from other sites (served by the sharer over WebDAV)"

    def __init__(self, site: OcmSite) -> None:
        super().__init__(None)
        self.site = site
        self._drivers: dict[str, StorageDriver] = {}
        self._files: dict[str, RemoteFile] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        site.on_received_removed.append(self._forget)

    async def aclose(self) -> None:
        files, self._files = self._files, {}
        for remote in files.values():
            await remote.aclose()
        drivers, self._drivers = self._drivers, {}
        for driver in drivers.values():
            try:
                await driver.aclose()
            except Exception:  # noqa: BLE001 - closing one must not stop the others
                log.exception("closing an OCM share client failed")

    def _forget(self, share_id: str) -> None:
        clients = (self._drivers.pop(share_id, None), self._files.pop(share_id, None))
        for client in clients:
            if client is not None:
                asyncio.get_running_loop().create_task(client.aclose())

    def _file(self, share: ReceivedShare) -> RemoteFile:
        remote = self._files.get(share.id)
        if remote is None:
            remote = RemoteFile(share.uri, share.secret, self.site.options.timeout)
            self._files[share.id] = remote
        return remote

    # -- access control (called by the storage service) ----------------------------------------

    def permissions_for(self, username: str, segments: Sequence[str]) -> frozenset[Permission]:
        if len(segments) <= 1:
            return _LOOK if not segments or segments[0] == username else frozenset()
        if segments[0] != username:
            return frozenset()
        share = self._names(username).get(segments[1])
        if share is None:
            return _LOOK
        return EDITOR_PERMISSIONS if "write" in share.permissions else VIEWER_PERMISSIONS

    # -- the virtual levels ----------------------------------------------------------------------

    def _names(self, username: str) -> dict[str, ReceivedShare]:
        """The user's accepted shares by folder name (a clash gets the share id appended)."""
        names: dict[str, ReceivedShare] = {}
        for share in sorted(self.site.accepted_received(), key=lambda s: s.ctime):
            if share.share_with != username:
                continue
            name = share.name.replace("/", "_") or "share"
            if name in names:
                name = f"{name} ({share.id[:8]})"
            names[name] = share
        return names

    def _users(self) -> list[str]:
        return sorted({s.share_with for s in self.site.accepted_received()})

    def _virtual(self, path: str, id_: str) -> ResourceInfo:
        segments = split_path(path)
        shares = self._names(segments[0]) if segments else {}
        etag = (
            _etag(path, *sorted(s.id for s in shares.values()))
            if segments
            else _etag(path, *self._users())
        )
        return ResourceInfo(
            id=id_,
            path=path,
            type=ResourceType.CONTAINER,
            size=0,
            mtime=0.0,
            etag=etag,
            permissions=None,
        )

    async def _locate(
        self, ref: Reference
    ) -> tuple[tuple[str, ...], ReceivedShare | None, Reference | None]:
        """``(segments, share, inner ref)``: the share and a reference inside it, if below one."""
        if ref.resource_id is not None:
            rid = ref.resource_id
            if rid.startswith("s:"):
                share_id, _, inner = rid[2:].partition(":")
                share = self.site.store.received.get(share_id)
                if share is None or share.state != "accepted":
                    raise NotFound("the share is gone")
                name = next(
                    (n for n, s in self._names(share.share_with).items() if s.id == share_id),
                    share.name,
                )
                inner_ref = (
                    Reference.by_id(inner, ref.path)
                    if inner
                    else Reference.of(join_path(split_path(ref.path)))
                )
                return (share.share_with, name), share, inner_ref
            if rid == "root":
                base: tuple[str, ...] = ()
            elif rid.startswith("u:"):
                base = (rid[2:],)
            else:
                raise NotFound(f"unknown resource id {rid!r}")
            ref = Reference.of(join_path(base + split_path(ref.path)))
        segments = split_path(ref.path)
        if len(segments) < 2:
            if segments and segments[0] not in self._users():
                raise NotFound(f"no received shares for {segments[0]}")
            return segments, None, None
        share = self._names(segments[0]).get(segments[1])
        if share is None:
            raise NotFound(f"no accepted share named {segments[1]!r}")
        if share.resource_type != "folder" and len(segments) > 2:
            raise NotFound(f"{segments[1]} is a shared file: it has no children")
        return segments, share, Reference.of(join_path(segments[2:]))

    async def _driver(self, share: ReceivedShare) -> StorageDriver:
        driver = self._drivers.get(share.id)
        if driver is not None:
            return driver
        lock = self._opening.setdefault(share.id, asyncio.Lock())
        async with lock:
            driver = self._drivers.get(share.id)
            if driver is None:
                if share.resource_type != "folder":
                    raise NotAFolder(f"{share.name} is a shared file")
                from corestore_webdav.driver import WebdavDriver
                from corestore_webdav.options import WebdavOptions

                driver = WebdavDriver(
                    WebdavOptions(
                        url=share.uri.rstrip("/") + "/",
                        bearer_token=share.secret,
                        id_scheme="path",
                        timeout=self.site.options.timeout,
                        verify_tls=True,
                    )
                )
                try:
                    await driver.open()
                except (ConfigError, Unauthenticated, PermissionDenied, NotFound) as exc:
                    raise PermissionDenied(
                        f"the sharer refused access to {share.name}: {exc}"
                    ) from None
                self._drivers[share.id] = driver
        return driver

    def _outer(
        self, share: ReceivedShare, prefix: tuple[str, ...], info: ResourceInfo
    ) -> ResourceInfo:
        path = join_path(prefix + split_path(info.path))
        parent = f"s:{share.id}:{info.parent_id}" if info.parent_id else None
        return dataclasses.replace(
            info,
            id=f"s:{share.id}:{info.id}",
            path=path,
            parent_id=parent,
            owner=None,
            permissions=None,
        )

    # -- the driver contract ---------------------------------------------------------------------

    @_sharer_errors
    async def stat(self, ref: Reference, *, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        segments, share, inner = await self._locate(ref)
        if share is None:
            return self._virtual(join_path(segments), f"u:{segments[0]}" if segments else "root")
        if share.resource_type != "folder":
            return await self._file(share).stat(share.id, join_path(segments[:2]))
        driver = await self._driver(share)
        return self._outer(
            share, segments[:2], await driver.stat(inner, metadata_keys=metadata_keys)
        )

    @_sharer_errors
    async def list_container(
        self, ref: Reference, *, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[ResourceInfo]:
        segments, share, inner = await self._locate(ref)
        if share is None:
            if not segments:
                for user in self._users():
                    yield self._virtual(join_path((user,)), f"u:{user}")
                return
            for name, received in self._names(segments[0]).items():
                path = join_path((segments[0], name))
                if received.resource_type == "folder":
                    yield dataclasses.replace(
                        self._virtual(path, f"s:{received.id}:"), etag=_etag(received.id)
                    )
                else:
                    try:
                        yield await self._file(received).stat(received.id, path)
                    except CorestoreError:  # the sharer is away: still show the share
                        yield ResourceInfo(
                            id=f"s:{received.id}:",
                            path=path,
                            type=ResourceType.FILE,
                            size=0,
                            mtime=received.ctime,
                            etag=_etag(received.id),
                        )
            return
        driver = await self._driver(share)
        async for info in driver.list_container(inner, metadata_keys=metadata_keys):
            yield self._outer(share, segments[:2], info)

    async def _inner(
        self, ref: Reference
    ) -> tuple[ReceivedShare, tuple[str, ...], StorageDriver, Reference]:
        segments, share, inner = await self._locate(ref)
        if share is None or inner is None:
            raise PermissionDenied("the folders above received shares are read-only")
        return share, segments, await self._driver(share), inner

    @_sharer_errors
    async def create_container(self, ref: Reference) -> ResourceInfo:
        share, segments, driver, inner = await self._inner(ref)
        return self._outer(share, segments[:2], await driver.create_container(inner))

    @_sharer_errors
    async def touch(self, ref: Reference, *, lock_id: str | None = None) -> ResourceInfo:
        share, segments, driver, inner = await self._inner(ref)
        return self._outer(share, segments[:2], await driver.touch(inner, lock_id=lock_id))

    @_sharer_errors
    async def delete(self, ref: Reference, *, lock_id: str | None = None) -> None:
        share, segments, driver, inner = await self._inner(ref)
        if inner.resource_id is None and not split_path(inner.path):
            raise PermissionDenied(
                "a received share is removed by declining it, not by deleting it"
            )
        await driver.delete(inner, lock_id=lock_id)

    @_sharer_errors
    async def move(
        self, source: Reference, destination: Reference, *, lock_id: str | None = None
    ) -> ResourceInfo:
        share, segments, driver, inner = await self._inner(source)
        dshare, _, _, dinner = await self._inner(destination)
        if dshare.id != share.id:
            raise Unimplemented("moving between received shares is not supported")
        return self._outer(share, segments[:2], await driver.move(inner, dinner, lock_id=lock_id))

    @_sharer_errors
    async def open_read(
        self, ref: Reference, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        segments, file_share, _ = await self._locate(ref)
        if file_share is not None and file_share.resource_type != "folder":
            path = join_path(segments[:2])
            async for chunk in self._file(file_share).open_read(path, byte_range):
                yield chunk
            return
        share, segments, driver, inner = await self._inner(ref)
        async for chunk in driver.open_read(inner, byte_range):
            yield chunk

    @_sharer_errors
    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008 - frozen, shared safely
    ) -> ResourceInfo:
        segments, file_share, _ = await self._locate(ref)
        if file_share is not None and file_share.resource_type != "folder":
            path = join_path(segments[:2])
            await self._file(file_share).write(path, chunks, options)
            return await self._file(file_share).stat(file_share.id, path)
        share, segments, driver, inner = await self._inner(ref)
        return self._outer(share, segments[:2], await driver.write(inner, chunks, options))

    @_sharer_errors
    async def get_quota(self, ref: Reference) -> Quota:
        segments, share, inner = await self._locate(ref)
        if share is None or share.resource_type != "folder":
            return Quota(total=0, used=0)
        return await (await self._driver(share)).get_quota(inner)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<ReceivedSharesDriver {len(self._drivers)} open>"
