"""ownCloud chunked upload, version 1: what the desktop clients fall back to for big files.

Without the ``dav.chunking`` capability, ownCloud and Nextcloud clients cut a file larger than
their chunk size (10 MB by default) into ``<name>-chunking-<transfer>-<count>-<index>`` PUTs with
``OC-Chunked: 1``, often several in parallel. Chunks are kept in the server's upload folder; the
request that brings the last missing chunk claims the set (an atomic rename, so exactly one does),
streams the chunks in order into one atomic ``driver.write``, and answers with the file's ETag.
Earlier chunks are answered without an ETag, which is how the client knows to go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from corestore.errors import InvalidArgument

__all__ = ["ChunkName", "ChunkStore", "parse_chunk_name"]

READ_SIZE = 1 << 20
MAX_CHUNKS = 100_000
_NAME = re.compile(
    r"^(?P<name>.+)-chunking-(?P<transfer>[0-9A-Za-z]+)-(?P<count>\d+)-(?P<index>\d+)$"
)


@dataclass(frozen=True)
class ChunkName:
    name: str  # the file the chunks make up
    transfer: str
    count: int
    index: int


def parse_chunk_name(segment: str) -> ChunkName:
    """:raises InvalidArgument: not a v1 chunk name, or an index outside the count."""
    match = _NAME.match(segment)
    if not match:
        raise InvalidArgument(
            "OC-Chunked upload with a name that is not <name>-chunking-<id>-<n>-<i>"
        )
    count, index = int(match["count"]), int(match["index"])
    if not 0 < count <= MAX_CHUNKS or not 0 <= index < count:
        raise InvalidArgument("chunk index out of range")
    return ChunkName(match["name"], match["transfer"], count, index)


class ChunkStore:
    """Chunk files under ``<upload dir>/webdav-chunks/<key>/<index>``; all file I/O in threads."""

    def __init__(self, root: Path) -> None:
        self.root = root / "webdav-chunks"

    def _folder(self, owner: str, target: str, transfer: str) -> Path:
        key = hashlib.sha256(f"{owner}\0{target}\0{transfer}".encode()).hexdigest()[:40]
        return self.root / key

    async def store(
        self, owner: str, target: str, chunk: ChunkName, body: AsyncIterable[bytes]
    ) -> Path | None:
        """Keep one chunk; return the claimed folder if this chunk completed the set."""
        folder = self._folder(owner, target, chunk.transfer)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        part = folder / f"{chunk.index}.part"
        handle = await asyncio.to_thread(open, part, "wb")
        try:
            async for data in body:
                await asyncio.to_thread(handle.write, data)
        except BaseException:
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(part.unlink, missing_ok=True)
            raise
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(os.replace, part, folder / str(chunk.index))
        return await asyncio.to_thread(self._claim, folder, chunk.count)

    @staticmethod
    def _claim(folder: Path, count: int) -> Path | None:
        if not all((folder / str(i)).exists() for i in range(count)):
            return None
        claimed = folder.with_name(folder.name + ".assembling")
        try:
            os.rename(folder, claimed)  # atomic: of racing last chunks, one wins
        except OSError:
            return None
        return claimed

    @staticmethod
    async def size(folder: Path, count: int) -> int:
        return sum(
            [(await asyncio.to_thread(os.stat, folder / str(i))).st_size for i in range(count)]
        )

    @staticmethod
    async def read(folder: Path, count: int) -> AsyncIterator[bytes]:
        for i in range(count):
            handle = await asyncio.to_thread(open, folder / str(i), "rb")
            try:
                while data := await asyncio.to_thread(handle.read, READ_SIZE):
                    yield data
            finally:
                await asyncio.to_thread(handle.close)

    @staticmethod
    async def discard(folder: Path) -> None:
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
