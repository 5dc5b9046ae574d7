"""The s3 driver: a corestore namespace in one bucket (and prefix) of an S3-compatible store.

See :mod:`corestore_s3.layout` for where files, folders and ids live, and
:mod:`corestore_s3.transfer` for the streaming data path. What S3 cannot give us, and how we make
up for it:

* **Folders** are zero-byte marker objects ``a/b/``. Prefixes another client wrote without a
  marker are shown as folders too (with a path-derived id) and get a marker on first change.
* **Stable ids**: S3 has no rename, a move is copy + delete. The id travels in the object's
  metadata (``cs-id``, copied along) and the id index maps it to the current path. An index
  entry is trusted only if the object at that path still carries the id.
* **Tree etags**: prefixes have no etag, so each folder marker carries ``cs-etag``, replaced on
  every change below it along the whole path to the root: one HEAD + one PUT per level.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from corestore.driver import Capability, StorageDriver, SupportsMetadata, SupportsVersions
from corestore.errors import (
    AlreadyExists,
    ConfigError,
    CorestoreError,
    ETagMismatch,
    InvalidArgument,
    IsAFolder,
    MissingParent,
    MoveIntoItself,
    NotAFolder,
    NotFound,
    PermissionDenied,
)
from corestore.paths import join_path, split_path
from corestore.resources import (
    ByteRange,
    Checksum,
    FileVersion,
    Quota,
    Reference,
    ResourceInfo,
    ResourceType,
    WriteOptions,
    guess_mime_type,
)
from corestore.streams import StreamDigest
from corestore_s3.errors import s3_errors
from corestore_s3.layout import Layout, Meta, derived_id, path_of_derived_id
from corestore_s3.options import S3Options
from corestore_s3.transfer import download, part_size_for, upload

__all__ = ["S3Driver"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The checksum recorded for every write (what the memory and posix drivers record too).
CHECKSUM_KIND = "sha1"
FOLDER_CONTENT_TYPE = "application/x-directory"
#: S3's limit for a single CopyObject; larger objects are copied part by part.
MAX_COPY_SIZE = 5 << 30
#: Parallel HEADs when a listing or a move needs per-object metadata.
METADATA_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class _Node:
    """What a path names: a file or a folder, with its HEAD (``None``: folder without marker)."""

    segments: tuple[str, ...]
    is_dir: bool
    head: Mapping[str, Any] | None

    @property
    def meta(self) -> Meta:
        return Meta.decode((self.head or {}).get("Metadata", {}))


def _new_token() -> str:
    return uuid.uuid4().hex


def _past_key(items: Iterable[Mapping[str, Any]], key: str) -> bool:
    """Whether a version listing (sorted by key) has moved past ``key``: no later page has it.

    ``Prefix=key`` also matches every longer key (for a marker ``a/``: the whole folder), so
    version lookups of one key stop here instead of paging through the rest.
    """
    return any(item["Key"] > key for item in items)


class S3Driver(StorageDriver, SupportsMetadata, SupportsVersions):
    """Files as objects, folders as marker objects, ids and tree etags in object metadata."""

    name = "s3"
    Options = S3Options
    description = "S3-compatible object store (AWS, MinIO, Ceph RGW, moto) through s3fs"
    options: S3Options

    #: Objects above this size are moved with UploadPartCopy (tests lower it).
    max_copy_size: int = MAX_COPY_SIZE

    def __init__(self, options: S3Options | None = None) -> None:
        if options is None:
            raise ConfigError("the s3 driver needs at least the 'bucket' option")
        super().__init__(options)
        self._layout = Layout(options.prefix)
        self._bucket = options.bucket
        self._fs: Any = None
        self._client: Any = None
        self._root_id = ""

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check bucket and credentials, create the root marker, probe versioning."""
        import s3fs  # lazily: loading the plugin must not pay for botocore

        opts = self.options
        self._fs = s3fs.S3FileSystem(
            asynchronous=True,
            skip_instance_cache=True,
            endpoint_url=opts.endpoint or None,
            key=opts.access_key_id or None,
            secret=opts.secret_access_key or None,
            token=opts.session_token or None,
            client_kwargs={"region_name": opts.region},
            config_kwargs={
                "retries": {"max_attempts": opts.retries, "mode": "standard"},
                "max_pool_connections": max(METADATA_CONCURRENCY, 2 * opts.concurrency) + 4,
                # We checksum every stream ourselves; don't pay for a second CRC per part.
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            },
        )
        try:
            with s3_errors("connecting to the S3 endpoint"):
                self._client = await self._fs.set_session()
            await self._check_bucket()
            await self._ensure_root()
            await self._probe_versioning()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing must not fail the caller
                log.debug("closing the S3 client failed", exc_info=True)

    async def _check_bucket(self) -> None:
        try:
            with s3_errors(f"bucket {self._bucket}"):
                await self._client.head_bucket(Bucket=self._bucket)
        except NotFound:
            if not self.options.create_bucket:
                raise ConfigError(
                    f"bucket {self._bucket!r} does not exist (set create_bucket = true?)"
                ) from None
            extra = {}
            if self.options.region != "us-east-1":
                extra["CreateBucketConfiguration"] = {"LocationConstraint": self.options.region}
            with s3_errors(f"creating bucket {self._bucket}"):
                await self._client.create_bucket(Bucket=self._bucket, **extra)

    async def _ensure_root(self) -> None:
        key = self._layout.root_marker
        head = await self._head(key, "/")
        if head is None:
            meta = Meta(id=_new_token(), etag=_new_token(), mtime=time.time())
            await self._put_marker(key, meta, "/")
            head = await self._head(key, "/")  # another instance may have won the race
        self._root_id = Meta.decode((head or {}).get("Metadata", {})).id or ""
        if not self._root_id:
            raise CorestoreError("the root marker of this storage has no id")

    async def _probe_versioning(self) -> None:
        try:
            with s3_errors("bucket versioning"):
                answer = await self._client.get_bucket_versioning(Bucket=self._bucket)
            enabled = answer.get("Status") == "Enabled"
        except PermissionDenied:
            enabled = False
        if not enabled:
            self.narrow_capabilities({Capability.VERSIONS})

    # -- small S3 helpers ---------------------------------------------------------------------

    async def _head(self, key: str, what: str, **extra: str) -> dict[str, Any] | None:
        try:
            with s3_errors(what):
                return await self._client.head_object(Bucket=self._bucket, Key=key, **extra)
        except NotFound:
            return None

    async def _put_marker(self, key: str, meta: Meta, what: str) -> None:
        with s3_errors(what):
            await self._client.put_object(
                Bucket=self._bucket, Key=key, Body=b"",
                Metadata=meta.encode(), ContentType=FOLDER_CONTENT_TYPE,
            )  # fmt: skip

    async def _put_index(self, resource_id: str, is_dir: bool, segments: tuple[str, ...]) -> None:
        body = ("d:" if is_dir else "f:") + join_path(segments)
        with s3_errors(join_path(segments)):
            await self._client.put_object(
                Bucket=self._bucket, Key=self._layout.index_key(resource_id),
                Body=body.encode("utf-8", "surrogatepass"), ContentType="text/plain",
            )  # fmt: skip

    async def _pages(self, operation: str, what: str, **kwargs: Any) -> AsyncIterator[dict]:
        """Pages of a paginated listing, one at a time (never the whole listing)."""
        paginator = self._client.get_paginator(operation)
        with s3_errors(what):
            async for page in paginator.paginate(Bucket=self._bucket, **kwargs):
                yield page

    async def _has_objects_below(self, segments: tuple[str, ...]) -> bool:
        """Whether any key starts with the folder's prefix (a folder without its marker)."""
        prefix = self._layout.folder_prefix(segments)
        with s3_errors(join_path(segments)):
            page = await self._client.list_objects_v2(Bucket=self._bucket, Prefix=prefix, MaxKeys=1)
        return bool(page.get("KeyCount") or page.get("Contents"))

    @staticmethod
    async def _bounded(coros: Iterable[Awaitable[T]], limit: int = METADATA_CONCURRENCY) -> list[T]:
        slots = asyncio.Semaphore(limit)

        async def run(coro: Awaitable[T]) -> T:
            async with slots:
                return await coro

        return await asyncio.gather(*(run(c) for c in coros))

    async def _delete_keys(self, keys: Iterable[str], what: str) -> None:
        await self._delete_entries([{"Key": key} for key in keys], what)

    async def _delete_entries(self, entries: list[dict[str, str]], what: str) -> None:
        """DeleteObjects in batches of 1000 (entries may name a ``VersionId``)."""
        for start in range(0, len(entries), 1000):
            with s3_errors(what):
                answer = await self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": entries[start : start + 1000], "Quiet": True},
                )
            if answer.get("Errors"):
                raise CorestoreError(f"could not delete everything below {what}")

    @property
    def _versioned(self) -> bool:
        return self.supports(Capability.VERSIONS)

    async def _purge(self, prefix: str, what: str, *, exact: bool) -> None:
        """Delete every version (and delete marker) of one key, or of all keys below a prefix.

        With versioning, a plain delete only hides an object; without a recycle bin a deleted
        or moved-away file must not leave history behind for the next file at that path.
        """
        async for page in self._pages("list_object_versions", what, Prefix=prefix):
            items = (*page.get("Versions", []), *page.get("DeleteMarkers", []))
            entries = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in items
                if not exact or item["Key"] == prefix
            ]
            await self._delete_entries(entries, what)
            if exact and _past_key(items, prefix):
                break

    async def _remove(self, keys: list[str], what: str) -> None:
        """Remove objects for good: their whole history when the bucket keeps versions."""
        if not self._versioned:
            await self._delete_keys(keys, what)
            return
        await self._bounded(self._purge(key, what, exact=True) for key in keys)

    # -- resolution ---------------------------------------------------------------------------

    async def _resolve(self, ref: Reference) -> tuple[str, ...]:
        """Validated segments of a reference; id references go through the id index."""
        if ref.resource_id is None:
            return self._layout.segments(ref.path)
        base = await self._path_of_id(ref.resource_id)
        return self._layout.segments(join_path(base + split_path(ref.path)))

    async def _path_of_id(self, resource_id: str) -> tuple[str, ...]:
        if resource_id == self._root_id:
            return ()
        missing = NotFound(f"no resource with id {resource_id}")
        key = self._layout.index_key(resource_id)
        try:
            with s3_errors(f"id {resource_id}"):
                answer = await self._client.get_object(Bucket=self._bucket, Key=key)
                async with answer["Body"] as body:
                    entry = (await body.read()).decode("utf-8", "surrogatepass")
            path = entry[2:]
        except NotFound:
            path = path_of_derived_id(resource_id)
            if path is None:
                raise missing from None
        segments = split_path(path)
        node = await self._lookup(segments)
        if node is None or self._id_of(node) != resource_id:
            raise missing  # a stale index entry: the resource was deleted or replaced
        return segments

    async def _lookup(self, segments: tuple[str, ...]) -> _Node | None:
        """What is at a path: a file, a folder (marker, or a bare prefix), or nothing."""
        if not segments:
            return _Node((), True, await self._head(self._layout.root_marker, "/"))
        what = join_path(segments)
        file_head, marker_head = await asyncio.gather(
            self._head(self._layout.file_key(segments), what),
            self._head(self._layout.marker_key(segments), what),
        )
        if file_head is not None:
            return _Node(segments, False, file_head)
        if marker_head is not None:
            return _Node(segments, True, marker_head)
        if await self._has_objects_below(segments):
            return _Node(segments, True, None)
        return None

    async def _require(self, segments: tuple[str, ...]) -> _Node:
        node = await self._lookup(segments)
        if node is None:
            raise NotFound(join_path(segments))
        return node

    async def _folder_id(self, segments: tuple[str, ...], *, missing: type[CorestoreError]) -> str:
        """Id of the folder at ``segments``; ``missing`` is raised if there is none."""
        if not segments:
            return self._root_id
        head = await self._head(self._layout.marker_key(segments), join_path(segments))
        node = _Node(segments, True, head) if head is not None else await self._lookup(segments)
        if node is None:
            raise missing(join_path(segments))
        if not node.is_dir:
            raise NotAFolder(join_path(segments))
        return self._id_of(node)

    def _id_of(self, node: _Node) -> str:
        if not node.segments:
            return self._root_id
        return node.meta.id or derived_id(node.segments)

    def _info(
        self, node: _Node, parent_id: str | None, metadata_keys: Sequence[str] = ()
    ) -> ResourceInfo:
        head = node.head or {}
        meta = node.meta
        if node.is_dir:
            size = 0
            etag = meta.etag or derived_id(node.segments)
        else:
            size = int(head.get("ContentLength", 0))
            etag = meta.etag or str(head.get("ETag", "")).strip('"')
        modified = head.get("LastModified")
        mtime = meta.mtime or (modified.timestamp() if modified else time.time())
        checksum = None
        if meta.checksum and ":" in meta.checksum:
            kind, value = meta.checksum.split(":", 1)
            checksum = Checksum(kind, value)
        user = meta.user or {}
        if "*" not in metadata_keys:
            user = {k: v for k, v in user.items() if k in metadata_keys}
        name = node.segments[-1] if node.segments else ""
        return ResourceInfo(
            id=self._id_of(node),
            path=join_path(node.segments),
            type=ResourceType.CONTAINER if node.is_dir else ResourceType.FILE,
            size=size,
            mtime=mtime,
            etag=etag,
            parent_id=parent_id,
            checksum=checksum,
            mime_type=guess_mime_type(name, node.is_dir),
            metadata=user,
        )

    async def _parent_id(self, segments: tuple[str, ...]) -> str | None:
        if not segments:
            return None
        return await self._folder_id(segments[:-1], missing=NotFound)

    # -- tree etags ---------------------------------------------------------------------------

    async def _bump(self, *folders: tuple[str, ...]) -> None:
        """Give every folder from each of ``folders`` up to the root a new tree etag.

        Cost: one HEAD and one PUT per level (levels in parallel), plus one DELETE of the old
        marker version per level in a versioned bucket. A folder without a marker (a
        bare prefix from another client) gets one here, with its path-derived id.
        """
        levels = {folder[:depth] for folder in folders for depth in range(len(folder) + 1)}
        await self._bounded(self._bump_one(level) for level in levels)

    async def _bump_one(self, segments: tuple[str, ...]) -> None:
        key = self._layout.marker_key(segments)
        what = join_path(segments)
        head = await self._head(key, what)
        if head is None and segments and not await self._has_objects_below(segments):
            return  # deleted meanwhile: don't resurrect it
        meta = Meta.decode(head["Metadata"]) if head else Meta(id=derived_id(segments))
        await self._put_marker(key, meta.replace(etag=_new_token(), mtime=time.time()), what)
        if self._versioned and head and head.get("VersionId") not in (None, "null"):
            # A marker's history is worthless: drop it so bumps don't pile up versions.
            await self._delete_entries([{"Key": key, "VersionId": head["VersionId"]}], what)

    # -- required core ------------------------------------------------------------------------

    async def stat(self, ref: Reference, *, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        segments = await self._resolve(ref)
        node, parent_id = await asyncio.gather(self._require(segments), self._parent_id(segments))
        return self._info(node, parent_id, metadata_keys)

    async def list_container(
        self, ref: Reference, *, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[ResourceInfo]:
        segments = await self._resolve(ref)
        node = await self._require(segments)
        if not node.is_dir:
            raise NotAFolder(join_path(segments))
        folder_id = self._id_of(node)
        prefix = self._layout.folder_prefix(segments)
        async for page in self._pages(
            "list_objects_v2", join_path(segments), Prefix=prefix, Delimiter="/"
        ):
            children: list[Awaitable[_Node | None]] = []
            for item in page.get("Contents", []):
                if item["Key"] != prefix:
                    children.append(self._child(item["Key"], is_dir=False))
            for item in page.get("CommonPrefixes", []):
                if item["Prefix"] != self._layout.internal_prefix:
                    children.append(self._child(item["Prefix"], is_dir=True))
            for child in await self._bounded(children):
                if child is not None:
                    yield self._info(child, folder_id, metadata_keys)

    async def _child(self, key: str, *, is_dir: bool) -> _Node | None:
        """A listed child, with the HEAD its id lives in (``None`` if it vanished meanwhile)."""
        segments = self._layout.segments_of_key(key)
        head = await self._head(key, join_path(segments))
        if head is None and not is_dir:
            return None
        return _Node(segments, is_dir, head)

    async def create_container(self, ref: Reference) -> ResourceInfo:
        segments, parent_id = await self._prepare_create(ref)
        meta = Meta(id=_new_token(), etag=_new_token(), mtime=time.time())
        await self._put_index(meta.id, True, segments)  # type: ignore[arg-type]
        await self._put_marker(self._layout.marker_key(segments), meta, join_path(segments))
        await self._bump(segments[:-1])
        return self._info(_Node(segments, True, {"Metadata": meta.encode()}), parent_id)

    async def touch(self, ref: Reference, *, lock_id: str | None = None) -> ResourceInfo:
        segments, parent_id = await self._prepare_create(ref)
        checksum = StreamDigest(CHECKSUM_KIND).verify()
        meta = Meta(id=_new_token(), etag=_new_token(), mtime=time.time(), checksum=str(checksum))
        await self._put_index(meta.id, False, segments)  # type: ignore[arg-type]
        exclusive = {"IfNoneMatch": "*"} if self.options.conditional_writes else {}
        try:
            with s3_errors(join_path(segments)):
                await self._client.put_object(
                    Bucket=self._bucket, Key=self._layout.file_key(segments), Body=b"",
                    Metadata=meta.encode(), ContentType=guess_mime_type(segments[-1], False),
                    **exclusive,
                )  # fmt: skip
        except ETagMismatch:
            await self._forget_index(meta.id)  # type: ignore[arg-type]
            raise AlreadyExists(join_path(segments)) from None
        await self._bump(segments[:-1])
        head = {"Metadata": meta.encode(), "ContentLength": 0}
        return self._info(_Node(segments, False, head), parent_id)

    async def _prepare_create(self, ref: Reference) -> tuple[tuple[str, ...], str]:
        segments = await self._resolve(ref)
        if not segments:
            raise AlreadyExists("/")
        parent_id = await self._folder_id(segments[:-1], missing=MissingParent)
        if await self._lookup(segments) is not None:
            raise AlreadyExists(join_path(segments))
        return segments, parent_id

    async def delete(self, ref: Reference, *, lock_id: str | None = None) -> None:
        segments = await self._resolve(ref)
        if not segments:
            raise PermissionDenied("the root folder cannot be deleted")
        node = await self._require(segments)
        what = join_path(segments)
        if node.is_dir:
            prefix = self._layout.folder_prefix(segments)
            if self._versioned:
                await self._purge(prefix, what, exact=False)
            else:
                async for page in self._pages("list_objects_v2", what, Prefix=prefix):
                    await self._delete_keys(
                        [item["Key"] for item in page.get("Contents", [])], what
                    )
        else:
            keys = [self._layout.file_key(segments)]
            if node.meta.id:
                keys.append(self._layout.index_key(node.meta.id))
            await self._remove(keys, what)
        await self._bump(segments[:-1])

    async def move(
        self, source: Reference, destination: Reference, *, lock_id: str | None = None
    ) -> ResourceInfo:
        src = await self._resolve(source)
        dst = await self._resolve(destination)
        if not src:
            raise PermissionDenied("the root folder cannot be moved")
        if not dst:
            raise AlreadyExists("/")
        if dst[: len(src)] == src:
            raise MoveIntoItself(f"{join_path(src)} -> {join_path(dst)}")
        node = await self._require(src)
        parent_id = await self._folder_id(dst[:-1], missing=MissingParent)
        if await self._lookup(dst) is not None:
            raise AlreadyExists(join_path(dst))
        if node.is_dir:
            await self._move_tree(node, dst)
        else:
            await self._move_object(
                self._layout.file_key(src), self._layout.file_key(dst), node.head
            )
            await self._remove([self._layout.file_key(src)], join_path(src))
        await self._bump(src[:-1], dst[:-1])
        return self._info(await self._require(dst), parent_id)

    async def _move_tree(self, node: _Node, dst: tuple[str, ...]) -> None:
        """Copy every object below the folder, then delete the originals, page by page.

        Not atomic: S3 has no rename. A crash midway leaves objects at both places (never
        none); ids stay correct because the index follows each copy.
        """
        src_prefix = self._layout.folder_prefix(node.segments)
        dst_prefix = self._layout.folder_prefix(dst)
        if node.head is None:  # a bare prefix: give the moved folder a marker that keeps its id
            meta = Meta(id=derived_id(node.segments), etag=_new_token(), mtime=time.time())
            await self._put_index(meta.id, True, dst)  # type: ignore[arg-type]
            await self._put_marker(self._layout.marker_key(dst), meta, join_path(dst))
        what = join_path(node.segments)
        async for page in self._pages("list_objects_v2", what, Prefix=src_prefix):
            keys = [item["Key"] for item in page.get("Contents", [])]
            await self._bounded(
                self._move_object(key, dst_prefix + key[len(src_prefix) :], None) for key in keys
            )
            await self._remove(keys, what)

    async def _move_object(
        self, src_key: str, dst_key: str, head: Mapping[str, Any] | None
    ) -> None:
        """Copy one object to its new key and point its index entry there."""
        segments = self._layout.segments_of_key(src_key)
        new_segments = self._layout.segments_of_key(dst_key)
        head = head or await self._head(src_key, join_path(segments))
        if head is None:
            return  # deleted meanwhile
        meta = Meta.decode(head.get("Metadata", {}))
        is_dir = dst_key.endswith("/")
        adopted = None if meta.id else meta.replace(id=derived_id(segments))
        if self._versioned and not is_dir:
            await self._copy_history(src_key, dst_key)
        await self._copy(src_key, dst_key, head, adopted)
        await self._put_index((adopted or meta).id, is_dir, new_segments)  # type: ignore[arg-type]

    async def _copy(
        self,
        src_key: str,
        dst_key: str,
        head: Mapping[str, Any],
        meta: Meta | None,
        version_id: str | None = None,
    ) -> None:
        """Server-side copy keeping metadata (or replacing it with ``meta``)."""
        source = {"Bucket": self._bucket, "Key": src_key}
        if version_id:
            source["VersionId"] = version_id
        what = join_path(self._layout.segments_of_key(dst_key))
        content_type = head.get("ContentType") or "application/octet-stream"
        size = int(head.get("ContentLength", 0))
        if size <= self.max_copy_size:
            extra: dict[str, Any] = {}
            if meta is not None:
                extra = {"Metadata": meta.encode(), "MetadataDirective": "REPLACE",
                         "ContentType": content_type}  # fmt: skip
            with s3_errors(what):
                await self._client.copy_object(
                    Bucket=self._bucket, Key=dst_key, CopySource=source, **extra
                )
            return
        metadata = meta.encode() if meta is not None else dict(head.get("Metadata", {}))
        with s3_errors(what):
            created = await self._client.create_multipart_upload(
                Bucket=self._bucket, Key=dst_key, Metadata=metadata, ContentType=content_type
            )
        upload_id = created["UploadId"]
        step = max(self.options.part_size, -(-size // 10_000))

        async def part(number: int, start: int) -> dict[str, Any]:
            end = min(size, start + step) - 1
            with s3_errors(what):
                answer = await self._client.upload_part_copy(
                    Bucket=self._bucket, Key=dst_key, UploadId=upload_id, PartNumber=number,
                    CopySource=source, CopySourceRange=f"bytes={start}-{end}",
                )  # fmt: skip
            return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

        try:
            parts = await self._bounded(
                (part(n + 1, start) for n, start in enumerate(range(0, size, step))),
                self.options.concurrency,
            )
            with s3_errors(what):
                await self._client.complete_multipart_upload(
                    Bucket=self._bucket, Key=dst_key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )  # fmt: skip
        except BaseException:
            with s3_errors(what):
                await asyncio.shield(
                    self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=dst_key, UploadId=upload_id
                    )
                )
            raise

    async def open_read(
        self, ref: Reference, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        segments = await self._resolve(ref)
        node = await self._require(segments)
        if node.is_dir:
            raise IsAFolder(join_path(segments))
        assert node.head is not None
        start, end = (byte_range or ByteRange()).clamp(int(node.head.get("ContentLength", 0)))
        pin = {"IfMatch": node.head["ETag"]}
        async for chunk in download(
            self._client, self._bucket, self._layout.file_key(segments), start, end,
            range_size=self.options.range_size, pin=pin, what=join_path(segments),
        ):  # fmt: skip
            yield chunk

    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008
    ) -> ResourceInfo:
        segments = await self._resolve(ref)
        what = join_path(segments)
        if not segments:
            raise IsAFolder("/")
        parent_id = await self._folder_id(segments[:-1], missing=MissingParent)
        node = await self._lookup(segments)
        if node is not None and node.is_dir:
            raise IsAFolder(what)
        if node is not None and options.if_not_exist:
            raise AlreadyExists(what)
        if options.if_match and (node is None or self._info(node, None).etag != options.if_match):
            raise ETagMismatch(what)
        previous = node.meta if node is not None else Meta()
        meta = Meta(
            id=previous.id or (derived_id(segments) if node is not None else _new_token()),
            etag=_new_token(),
            mtime=options.mtime or time.time(),
            user=previous.user,
        )
        if node is None or not previous.id:
            await self._put_index(meta.id, False, segments)  # type: ignore[arg-type]
        content_type = guess_mime_type(segments[-1], False)

        def extras(checksum: Checksum | None) -> dict[str, Any]:
            final = meta.replace(checksum=str(checksum) if checksum else None)
            return {"Metadata": final.encode(), "ContentType": content_type}

        conditions: dict[str, str] = {}
        if self.options.conditional_writes:
            if options.if_not_exist:
                conditions["IfNoneMatch"] = "*"
            elif options.if_match and node is not None and node.head is not None:
                conditions["IfMatch"] = node.head["ETag"]  # the version the check saw
        digest = StreamDigest(CHECKSUM_KIND, options)
        try:
            checksum = await upload(
                self._client, self._bucket, self._layout.file_key(segments), chunks, digest,
                part_size=part_size_for(self.options.part_size, options.expected_size),
                concurrency=self.options.concurrency, extras=extras, conditions=conditions,
                what=what,
            )  # fmt: skip
        except BaseException as exc:
            if node is None:  # nothing was created: don't leave its index entry behind
                await asyncio.shield(self._forget_index(meta.id))  # type: ignore[arg-type]
            if isinstance(exc, ETagMismatch) and options.if_not_exist:
                raise AlreadyExists(what) from exc  # another writer created it meanwhile
            raise
        if node is not None and not options.keep_version and self.supports(Capability.VERSIONS):
            await self._drop_version(segments, node.head)
        await self._bump(segments[:-1])
        final = meta.replace(checksum=str(checksum) if checksum else None)
        head = {"Metadata": final.encode(), "ContentLength": digest.size}
        return self._info(_Node(segments, False, head), parent_id)

    async def _forget_index(self, resource_id: str) -> None:
        """Best effort: a leftover entry is harmless (lookups check it), only untidy."""
        try:
            await self._remove([self._layout.index_key(resource_id)], "index")
        except CorestoreError:
            log.debug("could not remove index entry %s", resource_id, exc_info=True)

    async def _drop_version(
        self, segments: tuple[str, ...], head: Mapping[str, Any] | None
    ) -> None:
        version = (head or {}).get("VersionId")
        if version and version != "null":
            with s3_errors(join_path(segments)):
                await self._client.delete_object(
                    Bucket=self._bucket, Key=self._layout.file_key(segments), VersionId=version
                )

    async def get_quota(self, ref: Reference) -> Quota:
        """Used bytes by listing the namespace: O(objects) requests/1000, streamed."""
        await self._resolve(ref)
        used = 0
        async for page in self._pages("list_objects_v2", "quota", Prefix=self._layout.prefix):
            for item in page.get("Contents", []):
                if not item["Key"].startswith(self._layout.internal_prefix):
                    used += int(item.get("Size", 0))
        return Quota(total=self.options.quota, used=used)

    # -- metadata -----------------------------------------------------------------------------

    async def set_metadata(
        self, ref: Reference, metadata: Mapping[str, str], *, lock_id: str | None = None
    ) -> None:
        if any(not key for key in metadata):
            raise InvalidArgument("metadata keys must not be empty")
        await self._change_metadata(ref, lambda user: {**user, **metadata})

    async def unset_metadata(
        self, ref: Reference, keys: Sequence[str], *, lock_id: str | None = None
    ) -> None:
        await self._change_metadata(
            ref, lambda user: {k: v for k, v in user.items() if k not in keys}
        )

    async def _change_metadata(self, ref: Reference, change: Any) -> None:
        """Rewrite the object's metadata: a PUT for a marker, a copy onto itself for a file."""
        segments = await self._resolve(ref)
        node = await self._require(segments)
        meta = node.meta
        if node.is_dir:
            base = meta if node.head is not None else Meta(id=derived_id(segments))
            updated = base.replace(
                user=change(dict(meta.user or {})), etag=base.etag or _new_token()
            )
            await self._put_marker(self._layout.marker_key(segments), updated, join_path(segments))
            return
        assert node.head is not None
        if not meta.id:
            meta = meta.replace(id=derived_id(segments))
        updated = meta.replace(user=change(dict(meta.user or {})))
        key = self._layout.file_key(segments)
        await self._copy(key, key, node.head, updated)
        if self._versioned:  # same content: the pre-change copy is not a version worth keeping
            await self._drop_version(segments, node.head)

    # -- versions -----------------------------------------------------------------------------

    async def _file(self, ref: Reference) -> tuple[tuple[str, ...], _Node]:
        segments = await self._resolve(ref)
        node = await self._require(segments)
        if node.is_dir:
            raise IsAFolder(join_path(segments))
        return segments, node

    async def _noncurrent_versions(self, key: str, what: str) -> AsyncIterator[FileVersion]:
        """The key's earlier versions, newest first (S3's order within one key)."""
        async for page in self._pages("list_object_versions", what, Prefix=key):
            for item in page.get("Versions", []):
                if item["Key"] != key or item.get("IsLatest"):
                    continue
                yield FileVersion(
                    key=item["VersionId"],
                    size=int(item.get("Size", 0)),
                    mtime=item["LastModified"].timestamp(),
                    etag=str(item.get("ETag", "")).strip('"'),
                )
            if _past_key((*page.get("Versions", []), *page.get("DeleteMarkers", [])), key):
                break

    async def list_versions(self, ref: Reference) -> AsyncIterator[FileVersion]:
        segments, _ = await self._file(ref)
        async for version in self._noncurrent_versions(
            self._layout.file_key(segments), join_path(segments)
        ):
            yield version

    async def _copy_history(self, src_key: str, dst_key: str) -> None:
        """Replay the earlier versions at the new key, oldest first, so versions follow a move.

        Holds the version list of this one file (not its contents) in memory.
        """
        what = join_path(self._layout.segments_of_key(src_key))
        versions = [v async for v in self._noncurrent_versions(src_key, what)]
        for version in reversed(versions):
            head: Mapping[str, Any] = {"ContentLength": version.size}
            if version.size > self.max_copy_size:
                head = await self._version_head(self._layout.segments_of_key(src_key), version.key)
            await self._copy(src_key, dst_key, head, None, version_id=version.key)

    async def _version_head(self, segments: tuple[str, ...], key: str) -> dict[str, Any]:
        what = f"version {key} of {join_path(segments)}"
        try:
            head = await self._head(self._layout.file_key(segments), what, VersionId=key)
        except InvalidArgument:  # a malformed version id
            head = None
        if head is None or head.get("DeleteMarker"):
            raise NotFound(what)
        return head

    async def open_version(
        self, ref: Reference, key: str, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        segments, _ = await self._file(ref)
        head = await self._version_head(segments, key)
        start, end = (byte_range or ByteRange()).clamp(int(head.get("ContentLength", 0)))
        async for chunk in download(
            self._client, self._bucket, self._layout.file_key(segments), start, end,
            range_size=self.options.range_size, pin={"VersionId": key},
            what=join_path(segments),
        ):  # fmt: skip
            yield chunk

    async def restore_version(
        self, ref: Reference, key: str, *, lock_id: str | None = None
    ) -> None:
        segments, node = await self._file(ref)
        head = await self._version_head(segments, key)
        current = node.meta
        restored = Meta.decode(head.get("Metadata", {})).replace(
            id=current.id or derived_id(segments), etag=_new_token(), mtime=time.time(),
            user=current.user,
        )  # fmt: skip
        object_key = self._layout.file_key(segments)
        await self._copy(object_key, object_key, head, restored, version_id=key)
        await self._bump(segments[:-1])
