"""A minimal in-memory corestore driver plugin: the example a vendor copies.

It implements only the required core of the driver contract, keeps everything in a dict, and is
registered through the ``corestore`` entry point in this distribution's ``pyproject.toml``::

    [project.entry-points.corestore]
    memory = "corestore_memory_example"

Run the conformance kit against it with no code::

    pytest --pyargs corestore.testing --corestore-driver memory
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

from corestore import (
    ByteRange,
    Quota,
    Reference,
    ResourceInfo,
    ResourceType,
    StorageDriver,
    WriteOptions,
    hookimpl,
)
from corestore.config import ByteSize, option
from corestore.errors import (
    AlreadyExists,
    ETagMismatch,
    IsAFolder,
    MissingParent,
    MoveIntoItself,
    NotAFolder,
    NotFound,
    PermissionDenied,
)
from corestore.paths import join_path, split_path
from corestore.streams import StreamDigest


@dataclass
class _Node:
    id: str
    is_dir: bool
    data: bytes = b""
    mtime: float = field(default_factory=time.time)
    etag: str = field(default_factory=lambda: uuid.uuid4().hex)
    children: dict[str, _Node] = field(default_factory=dict)
    checksum: str | None = None


@dataclass(frozen=True)
class MemoryOptions:
    quota: ByteSize = option(ByteSize(0), doc="total bytes reported by get_quota (0: unlimited)")


class MemoryDriver(StorageDriver):
    """Files in a dict. Lost when the process ends: for examples and tests only."""

    name = "memory"
    Options = MemoryOptions
    description = "in-memory example driver (required core only)"

    def __init__(self, options: MemoryOptions | None = None) -> None:
        super().__init__(options)
        self._root = _Node(id="root", is_dir=True)
        self._by_id: dict[str, tuple[str, ...]] = {"root": ()}
        self._lock = asyncio.Lock()

    # -- resolution ---------------------------------------------------------------------------

    def _segments(self, ref: Reference) -> tuple[str, ...]:
        rel = split_path(ref.path)
        if ref.resource_id is None:
            return rel
        if ref.resource_id not in self._by_id:
            raise NotFound(f"no resource with id {ref.resource_id}")
        return self._by_id[ref.resource_id] + rel

    def _walk(self, segments: tuple[str, ...]) -> _Node:
        node = self._root
        for name in segments:
            if not node.is_dir:
                raise NotFound(join_path(segments))
            try:
                node = node.children[name]
            except KeyError:
                raise NotFound(join_path(segments)) from None
        return node

    def _parent(self, segments: tuple[str, ...]) -> _Node:
        if not segments:
            raise PermissionDenied("the root cannot be replaced")
        try:
            parent = self._walk(segments[:-1])
        except NotFound:
            raise MissingParent(join_path(segments)) from None
        if not parent.is_dir:
            raise NotAFolder(join_path(segments[:-1]))
        return parent

    def _touch_ancestors(self, segments: tuple[str, ...]) -> None:
        node = self._root
        node.etag = uuid.uuid4().hex
        for name in segments[:-1]:
            node = node.children[name]
            node.etag = uuid.uuid4().hex

    def _info(self, segments: tuple[str, ...], node: _Node) -> ResourceInfo:
        parent_id = self._walk(segments[:-1]).id if segments else None
        return ResourceInfo(
            id=node.id,
            path=join_path(segments),
            type=ResourceType.CONTAINER if node.is_dir else ResourceType.FILE,
            size=sum(len(c.data) for c in node.children.values()) if node.is_dir else len(node.data),
            mtime=node.mtime,
            etag=node.etag,
            parent_id=parent_id,
            checksum=None,
        )

    def _reindex(self, segments: tuple[str, ...], node: _Node) -> None:
        self._by_id[node.id] = segments
        for name, child in node.children.items():
            self._reindex(segments + (name,), child)

    # -- required core ------------------------------------------------------------------------

    async def stat(self, ref: Reference, *, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        segments = self._segments(ref)
        return self._info(segments, self._walk(segments))

    async def list_container(
        self, ref: Reference, *, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[ResourceInfo]:
        segments = self._segments(ref)
        node = self._walk(segments)
        if not node.is_dir:
            raise NotAFolder(join_path(segments))
        for name, child in list(node.children.items()):
            yield self._info(segments + (name,), child)

    async def _create(self, ref: Reference, is_dir: bool) -> ResourceInfo:
        async with self._lock:
            segments = self._segments(ref)
            parent = self._parent(segments)
            if segments[-1] in parent.children:
                raise AlreadyExists(join_path(segments))
            node = _Node(id=uuid.uuid4().hex, is_dir=is_dir)
            parent.children[segments[-1]] = node
            self._by_id[node.id] = segments
            self._touch_ancestors(segments)
            return self._info(segments, node)

    async def create_container(self, ref: Reference) -> ResourceInfo:
        return await self._create(ref, is_dir=True)

    async def touch(self, ref: Reference, *, lock_id: str | None = None) -> ResourceInfo:
        return await self._create(ref, is_dir=False)

    async def delete(self, ref: Reference, *, lock_id: str | None = None) -> None:
        async with self._lock:
            segments = self._segments(ref)
            parent = self._parent(segments)
            node = parent.children.pop(segments[-1], None)
            if node is None:
                raise NotFound(join_path(segments))
            self._touch_ancestors(segments)

    async def move(
        self, source: Reference, destination: Reference, *, lock_id: str | None = None
    ) -> ResourceInfo:
        async with self._lock:
            src, dst = self._segments(source), self._segments(destination)
            node = self._walk(src)
            if dst[: len(src)] == src:
                raise MoveIntoItself(f"{join_path(src)} -> {join_path(dst)}")
            dst_parent = self._parent(dst)
            if dst[-1] in dst_parent.children:
                raise AlreadyExists(join_path(dst))
            del self._parent(src).children[src[-1]]
            self._touch_ancestors(src)
            dst_parent.children[dst[-1]] = node
            self._touch_ancestors(dst)
            self._reindex(dst, node)
            return self._info(dst, node)

    async def open_read(
        self, ref: Reference, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        segments = self._segments(ref)
        node = self._walk(segments)
        if node.is_dir:
            raise IsAFolder(join_path(segments))
        start, end = (byte_range or ByteRange()).clamp(len(node.data))
        view = memoryview(node.data)
        for offset in range(start, end, 1 << 20):
            yield bytes(view[offset : min(end, offset + (1 << 20))])

    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008
    ) -> ResourceInfo:
        segments = self._segments(ref)
        digest = StreamDigest("sha1", options)
        parts = []
        async for chunk in chunks:  # the stream is consumed before anything changes
            digest.update(chunk)
            parts.append(bytes(chunk))
        checksum = digest.verify()
        async with self._lock:
            parent = self._parent(segments)
            node = parent.children.get(segments[-1])
            if node is not None and node.is_dir:
                raise IsAFolder(join_path(segments))
            if node is not None and options.if_not_exist:
                raise AlreadyExists(join_path(segments))
            if options.if_match and (node is None or node.etag != options.if_match):
                raise ETagMismatch(join_path(segments))
            if node is None:
                node = _Node(id=uuid.uuid4().hex, is_dir=False)
                parent.children[segments[-1]] = node
                self._by_id[node.id] = segments
            node.data = b"".join(parts)
            node.mtime = options.mtime or time.time()
            node.etag = hashlib.sha1(node.data + node.id.encode() + str(time.time_ns()).encode()).hexdigest()
            node.checksum = checksum.value if checksum else None
            self._touch_ancestors(segments)
            return self._info(segments, node)

    async def get_quota(self, ref: Reference) -> Quota:
        used = sum(len(n.data) for n in _iter_nodes(self._root))
        return Quota(total=self.options.quota, used=used)


def _iter_nodes(node: _Node) -> Iterator[_Node]:
    yield node
    for child in node.children.values():
        yield from _iter_nodes(child)


@hookimpl
def corestore_register_drivers(registry) -> None:  # noqa: ANN001
    registry.add(MemoryDriver)
