"""The posix driver: a local folder served with the whole contract and every capability.

This module is the async face of the driver. It resolves references, moves bytes, and hands every
blocking step to :class:`~corestore_posix.store.PosixStore` on a small thread pool, so the event
loop never waits on a disk or on SQLite. See ``layout.py`` for the on-disk layout and path
containment, ``index.py`` for ids, etags and the SQLite schema, ``uploads.py`` for atomic writes.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from corestore.driver import (
    StorageDriver,
    SupportsGrants,
    SupportsLocks,
    SupportsMetadata,
    SupportsRecycle,
    SupportsVersions,
)
from corestore.resources import (
    ByteRange,
    FileVersion,
    Grant,
    Grantee,
    Lock,
    Quota,
    RecycleItem,
    Reference,
    ResourceInfo,
    WriteOptions,
)
from corestore.streams import Pumpable, rechunk
from corestore_posix.options import PosixOptions
from corestore_posix.store import PosixStore
from corestore_posix.uploads import Upload

__all__ = ["PosixDriver"]

T = TypeVar("T")

#: Worker threads per driver: enough to overlap a few transfers with metadata calls, few enough
#: that memory stays bounded by ``chunk_size`` times this number.
THREADS = 8
#: Children described per thread hop while listing a folder.
LIST_PAGE = 256


class PosixDriver(
    StorageDriver,
    SupportsMetadata,
    SupportsLocks,
    SupportsVersions,
    SupportsRecycle,
    SupportsGrants,
):
    """Files in a local folder; ids, metadata, locks, grants in SQLite beside it."""

    name = "posix"
    Options = PosixOptions
    description = "local POSIX folder with metadata, locks, versions, recycle bin and grants"

    options: PosixOptions

    def __init__(self, options: PosixOptions | None = None) -> None:
        if options is None:
            raise TypeError("PosixDriver needs options (at least root); use from_config()")
        super().__init__(options)
        self._store = PosixStore(options)
        self._executor: ThreadPoolExecutor | None = None

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking work on the driver's threads."""
        assert self._executor is not None, "driver not opened"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(THREADS, thread_name_prefix=f"posix-{id(self):x}")
        await self._run(self._store.open)

    async def aclose(self) -> None:
        if self._executor is not None:
            await self._run(self._store.close)
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _resolve(self, ref: Reference) -> tuple[str, ...]:
        return await self._run(self._store.resolve, ref)

    # -- required core ------------------------------------------------------------------------

    async def stat(self, ref: Reference, *, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        return await self._run(self._store.stat, await self._resolve(ref), tuple(metadata_keys))

    async def list_container(
        self, ref: Reference, *, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[ResourceInfo]:
        segments = await self._resolve(ref)
        fd, entries = await self._run(self._store.open_listing, segments)
        try:
            while page := await self._run(
                self._store.list_page, segments, entries, tuple(metadata_keys), LIST_PAGE
            ):
                for info in page:
                    yield info
        finally:
            await self._run(_close_listing, fd, entries)

    async def create_container(self, ref: Reference) -> ResourceInfo:
        return await self._run(self._store.create_container, await self._resolve(ref))

    async def touch(self, ref: Reference, *, lock_id: str | None = None) -> ResourceInfo:
        return await self._run(self._store.touch, await self._resolve(ref))

    async def delete(self, ref: Reference, *, lock_id: str | None = None) -> None:
        await self._run(self._store.delete, await self._resolve(ref), lock_id)

    async def move(
        self, source: Reference, destination: Reference, *, lock_id: str | None = None
    ) -> ResourceInfo:
        src, dst = await self._resolve(source), await self._resolve(destination)
        return await self._run(self._store.move, src, dst, lock_id)

    async def open_read(
        self, ref: Reference, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        fd, size = await self._run(self._store.open_file, await self._resolve(ref))
        async for chunk in self._read_fd(fd, size, byte_range):
            yield chunk

    async def _read_fd(
        self, fd: int, size: int, byte_range: ByteRange | None
    ) -> AsyncIterator[bytes]:
        """Yield ``chunk_size`` pieces of an open file, then close it (also when abandoned)."""
        try:
            offset, end = (byte_range or ByteRange()).clamp(size)
            while offset < end:
                chunk = await self._run(
                    os.pread, fd, min(self.options.chunk_size, end - offset), offset
                )
                if not chunk:
                    break
                offset += len(chunk)
                yield chunk
        finally:
            await self._run(os.close, fd)

    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008 - frozen, shared safely
    ) -> ResourceInfo:
        """Stream into a temp file, then let :meth:`PosixStore.commit_write` rename it in.

        A :class:`~corestore.streams.Pumpable` body is received, hashed and written by its own
        thread. Otherwise a chunk is written and hashed in a thread while the next one is
        received. Either way at most two chunks are in memory, whatever the file size.
        """
        segments = await self._resolve(ref)
        upload = await self._run(self._store.begin_write, segments, options)
        try:
            if isinstance(chunks, Pumpable):  # the whole transfer runs in the body's thread
                await chunks.pump(upload.append)
            else:
                await self._append_stream(upload, chunks)
            checksum = upload.digest.verify()
            return await self._run(self._store.commit_write, segments, upload, checksum, options)
        finally:
            await self._run(upload.discard)

    async def _append_stream(self, upload: Upload, chunks: AsyncIterable[bytes]) -> None:
        """Write each chunk in a thread while the next one is received."""
        pending: asyncio.Future[None] | None = None
        try:
            async for chunk in rechunk(chunks, self.options.chunk_size):
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(self._run(upload.append, chunk))
            if pending is not None:
                await pending
                pending = None
        finally:
            if pending is not None:
                # The stream failed or the request was cancelled while a chunk was being
                # written: drop that chunk's outcome (the stream's error is the one to report);
                # discard() waits for a thread still writing it.
                _drop(pending)

    async def get_quota(self, ref: Reference) -> Quota:
        await self._resolve(ref)
        return await self._run(self._store.get_quota)

    # -- metadata -----------------------------------------------------------------------------

    async def set_metadata(
        self, ref: Reference, metadata: Mapping[str, str], *, lock_id: str | None = None
    ) -> None:
        await self._run(self._store.set_metadata, await self._resolve(ref), dict(metadata), lock_id)

    async def unset_metadata(
        self, ref: Reference, keys: Sequence[str], *, lock_id: str | None = None
    ) -> None:
        await self._run(self._store.unset_metadata, await self._resolve(ref), tuple(keys), lock_id)

    # -- locks --------------------------------------------------------------------------------

    async def set_lock(self, ref: Reference, lock: Lock) -> None:
        await self._run(self._store.set_lock, await self._resolve(ref), lock)

    async def get_lock(self, ref: Reference) -> Lock:
        return await self._run(self._store.get_lock, await self._resolve(ref))

    async def refresh_lock(
        self, ref: Reference, lock: Lock, *, existing_lock_id: str | None = None
    ) -> None:
        await self._run(self._store.refresh_lock, await self._resolve(ref), lock, existing_lock_id)

    async def unlock(self, ref: Reference, lock: Lock) -> None:
        await self._run(self._store.unlock, await self._resolve(ref), lock)

    # -- versions -----------------------------------------------------------------------------

    async def list_versions(self, ref: Reference) -> AsyncIterator[FileVersion]:
        for version in await self._run(self._store.list_versions, await self._resolve(ref)):
            yield version

    async def open_version(
        self, ref: Reference, key: str, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        fd, size = await self._run(self._store.open_version, await self._resolve(ref), key)
        async for chunk in self._read_fd(fd, size, byte_range):
            yield chunk

    async def restore_version(
        self, ref: Reference, key: str, *, lock_id: str | None = None
    ) -> None:
        await self._run(self._store.restore_version, await self._resolve(ref), key, lock_id)

    # -- recycle bin --------------------------------------------------------------------------

    async def list_recycle(self, ref: Reference) -> AsyncIterator[RecycleItem]:
        await self._resolve(ref)
        for item in await self._run(self._store.list_recycle):
            yield item

    async def restore_recycle_item(
        self, ref: Reference, key: str, *, restore_to: Reference | None = None
    ) -> ResourceInfo:
        await self._resolve(ref)
        target = None if restore_to is None else await self._resolve(restore_to)
        return await self._run(self._store.restore_recycle_item, key, target)

    async def purge_recycle(self, ref: Reference, key: str | None = None) -> None:
        await self._resolve(ref)
        await self._run(self._store.purge_recycle, key)

    # -- grants -------------------------------------------------------------------------------

    async def add_grant(self, ref: Reference, grant: Grant) -> None:
        await self._run(self._store.add_grant, await self._resolve(ref), grant)

    async def update_grant(self, ref: Reference, grant: Grant) -> None:
        await self._run(self._store.update_grant, await self._resolve(ref), grant)

    async def remove_grant(self, ref: Reference, grantee: Grantee) -> None:
        await self._run(self._store.remove_grant, await self._resolve(ref), grantee)

    async def list_grants(self, ref: Reference) -> AsyncIterator[Grant]:
        for grant in await self._run(self._store.list_grants, await self._resolve(ref)):
            yield grant


def _drop(future: asyncio.Future[None]) -> None:
    """Cancel a future, or if it already finished, mark its exception as seen."""
    if not future.cancel() and not future.cancelled():
        future.exception()


def _close_listing(fd: int, entries: object) -> None:
    close = getattr(entries, "close", None)
    if close is not None:
        close()
    os.close(fd)
