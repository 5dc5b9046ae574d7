"""The streaming data path: chunks -> sealed, coded, tagged records -> one HTTP stream per shard,
and back.

Shared by the coordinator's ``/files`` API, the driver and the repair worker, so there is one
implementation of each rule:

* CPU work (AEAD, zfec, HMAC) runs in :data:`POOL`; those calls release the GIL.
* Memory is bounded: at most ``window`` chunks are being sealed/decoded at once, each shard
  sender has a queue of ``queue_depth`` records, each shard reader prefetches ``prefetch``
  records. Nothing scales with the file size.
* Upload: one long streaming PUT per shard. A shard that fails or stalls is dropped; the upload
  goes on while at least ``write_quorum`` shards are healthy.
* Download: read primaries first (decoding is then free), check every block's tag in the reader
  task, and when a shard fails, is short, long or forged, report it and continue from a spare
  shard at the same chunk. Fewer than k authentic blocks for a chunk raises :class:`DataLoss`;
  callers abort the connection rather than end a short body cleanly.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp

from corestore.errors import DataLoss, Unavailable

from .codec import ErasureCode, block_size
from .crypto import AEAD_TAG, BLOCK_TAG, ChunkCipher, block_tag
from .manifest import Manifest
from .shardput import Placement, Record, ShardSender

__all__ = [
    "POOL",
    "Placement",
    "ShardSender",
    "StripeReader",
    "UploadResult",
    "lookahead",
    "upload_stream",
]

log = logging.getLogger(__name__)

#: One pool for all CPU work of a process; zfec, AEAD and HMAC release the GIL.
POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="p2p-cpu")

Report = Callable[[int, str, str], None]

#: Bytes of records queued per shard, for sending or after reading, whatever the chunk size.
QUEUED_PER_SHARD = 1 << 20


def records_queued(chunk_size: int, k: int) -> int:
    """The queue depth (in records) that holds about :data:`QUEUED_PER_SHARD` bytes, at least 2."""
    return max(2, QUEUED_PER_SHARD // block_size(chunk_size + AEAD_TAG, k))


@dataclass
class UploadResult:
    size: int
    #: shard index -> ``{"node_id", "size", "digest"}`` for shards stored completely.
    stored: dict[int, dict] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)


async def lookahead(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[bytes, bool]]:
    """Yield ``(chunk, is_final)``; an empty stream yields one empty final chunk."""
    pending: bytes | None = None
    async for chunk in chunks:
        if pending is not None:
            yield pending, False
        pending = chunk
    yield (pending if pending is not None else b""), True


class ChunkSealer:
    """Seal, pad, encode and tag one chunk: the CPU work of the upload, run in :data:`POOL`."""

    def __init__(self, cipher: ChunkCipher, code: ErasureCode, integrity_key: bytes):
        self._cipher, self._code, self._key = cipher, code, integrity_key

    def __call__(self, index: int, plaintext: bytes, final: bool) -> list[Record]:
        sealed = self._cipher.seal(index, plaintext, final)
        blocks = self._code.encode(sealed)
        fid = self._cipher.file_id
        return [(b, block_tag(self._key, fid, i, index, b)) for i, b in enumerate(blocks)]


async def upload_stream(
    session: aiohttp.ClientSession,
    placements: list[Placement],
    file_id: str,
    chunks: AsyncIterable[bytes],
    sealer: ChunkSealer,
    *,
    write_quorum: int,
    window: int = 3,
    queue_depth: int = 4,
    stall_timeout: float = 30.0,
    on_plaintext: Callable[[bytes], None] | None = None,
    overlap_plaintext: bool = True,
    on_end: Callable[[int], None] | None = None,
    shard_length: int | None = None,
) -> UploadResult:
    """Stream ``chunks`` (already cut to the file's chunk size) to one node per shard.

    ``on_plaintext(chunk)`` sees every plaintext chunk in order (a checksum), in a thread of its
    own when ``overlap_plaintext``. ``on_end(size)`` runs when the input has ended, before the
    shards are finalised: raising there (a size or checksum mismatch) abandons the upload. ``shard_length``, when the file
    size is known up front, is sent as each shard's Content-Length.

    :raises Unavailable: fewer than ``write_quorum`` shards could be stored; the shards that
        were written are deleted (best effort) before raising.
    """
    loop = asyncio.get_running_loop()
    senders = [
        ShardSender(p, file_id, queue_depth, shard_length, stall_timeout=stall_timeout)
        for p in placements
    ]
    inflight: collections.deque[asyncio.Future[list[Record]]] = collections.deque()
    # A costly plaintext digest (sha1, md5) runs off the event loop, in order, on a thread of
    # its own; errors it raises (too many bytes) surface at the next chunk. A cheap one
    # (adler32) runs inline, where it costs less than the hand-over would.
    hasher = (
        ThreadPoolExecutor(1, thread_name_prefix="p2p-digest")
        if on_plaintext and overlap_plaintext
        else None
    )
    hashing: collections.deque[asyncio.Future[None]] = collections.deque()
    size = 0

    def healthy() -> int:
        return sum(s.alive for s in senders)

    async def drain_one() -> None:
        records = await inflight.popleft()
        for sender, record in zip(senders, records, strict=True):
            await sender.send(record, stall_timeout)
        if healthy() < write_quorum:
            raise Unavailable(
                f"only {healthy()} shard streams left, the write quorum is {write_quorum}"
            )

    try:
        index = 0
        async for chunk, final in lookahead(chunks):
            size += len(chunk)
            if hasher is not None:
                hashing.append(loop.run_in_executor(hasher, on_plaintext, chunk))
                while hashing and (len(hashing) > window or hashing[0].done()):
                    await hashing.popleft()
            elif on_plaintext is not None:
                on_plaintext(chunk)
            inflight.append(loop.run_in_executor(POOL, sealer, index, chunk, final))
            index += 1
            if len(inflight) >= window:
                await drain_one()
        while inflight:
            await drain_one()
        while hashing:
            await hashing.popleft()
        if on_end is not None:
            on_end(size)
        await asyncio.gather(*(s.finish() for s in senders))
    except BaseException:
        for fut in [*inflight, *hashing]:
            fut.cancel()
        for s in senders:
            s.abort()
        await asyncio.gather(*(s.finish() for s in senders), return_exceptions=True)
        await delete_shards(session, file_id, [s.placement for s in senders])
        raise
    finally:
        if hasher is not None:
            hasher.shutdown(wait=False)
    result = UploadResult(size=size)
    for s in senders:
        if s.alive and s.result is not None:
            result.stored[s.placement.index] = {"node_id": s.placement.node_id, **s.result}
        else:
            result.failed.append(s.placement.index)
    if len(result.stored) < write_quorum:
        await delete_shards(session, file_id, [s.placement for s in senders])
        raise Unavailable(
            f"only {len(result.stored)} shards stored, the write quorum is {write_quorum}"
        )
    return result


async def delete_shards(
    session: aiohttp.ClientSession, file_id: str, placements: list[Placement]
) -> None:
    """Best effort: nodes that miss this garbage-collect the shard when they next report."""

    async def one(p: Placement) -> None:
        try:
            async with session.delete(p.shard_url(file_id), timeout=aiohttp.ClientTimeout(total=5)):
                pass
        except Exception:  # noqa: BLE001
            pass

    await asyncio.gather(*(one(p) for p in placements))


# -- download ----------------------------------------------------------------------------------


class _ShardStream:
    """Reads records of one shard from chunk ``first`` on, checks each tag in :data:`POOL`, and
    prefetches up to ``prefetch`` of them."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        manifest: Manifest,
        placement: Placement,
        first: int,
        last: int,
        prefetch: int,
        read_timeout: float,
    ):
        self.placement = placement
        self._session, self._m = session, manifest
        self._first, self._last = first, last
        self._timeout = read_timeout
        self._queue: asyncio.Queue[tuple[int, bytes | BaseException]] = asyncio.Queue(prefetch)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        m, p = self._m, self.placement
        loop = asyncio.get_running_loop()
        c = self._first
        try:
            start, end = (
                m.record_offset(self._first),
                m.record_offset(self._last) + m.record_len(self._last),
            )
            headers = {"Range": f"bytes={start}-{end - 1}"}
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=self._timeout)
            async with self._session.get(
                p.shard_url(m.file_id), headers=headers, timeout=timeout
            ) as resp:
                if resp.status not in (200, 206):
                    raise Unavailable(f"node answered {resp.status}")
                total = _total_size(resp)
                if total != m.shard_size:
                    raise DataLoss(f"shard has {total} bytes, expected {m.shard_size}")
                if resp.status == 200 and start:
                    raise DataLoss("node ignored the range request")
                for c in range(self._first, self._last + 1):
                    record = await resp.content.readexactly(m.record_len(c))
                    block = await loop.run_in_executor(POOL, _check_record, m, p.index, c, record)
                    await self._queue.put((c, block))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await self._queue.put((c, exc))

    async def get(self, c: int) -> memoryview:
        """The authentic block of chunk ``c``; raises what went wrong otherwise."""
        try:
            got_c, item = await asyncio.wait_for(self._queue.get(), self._timeout)
        except TimeoutError:
            raise Unavailable("shard read timed out") from None
        if isinstance(item, BaseException):
            raise item
        assert got_c == c, (got_c, c)
        return item

    def close(self) -> None:
        self._task.cancel()


def _total_size(resp: aiohttp.ClientResponse) -> int:
    content_range = resp.headers.get("Content-Range")
    if content_range and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(resp.headers.get("Content-Length", "-1"))


def check_block(m: Manifest, shard: int, c: int, block: bytes | memoryview, tag: bytes) -> None:
    """Raise :class:`DataLoss` unless ``tag`` is the block tag of ``block`` at (shard, chunk)."""
    if not hmac.compare_digest(tag, block_tag(m.integrity_key, m.uuid, shard, c, block)):
        raise DataLoss(f"block tag mismatch in shard {shard}, chunk {c}")


def _check_record(m: Manifest, shard: int, c: int, record: bytes) -> memoryview:
    view = memoryview(record)
    block = view[:-BLOCK_TAG]
    check_block(m, shard, c, block, view[-BLOCK_TAG:])
    return block


class StripeReader:
    """Yields, for each chunk of a range, k authentic blocks ``{shard index: block}``.

    ``placements`` are tried in order (callers put primaries first); the first k are opened,
    the rest are spares that take over at the chunk where another shard failed.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        manifest: Manifest,
        placements: list[Placement],
        *,
        report: Report | None = None,
        prefetch: int = 4,
        read_timeout: float = 30.0,
    ):
        self._session, self._m = session, manifest
        self._spares = collections.deque(placements)
        self._report = report
        self._prefetch, self._timeout = prefetch, read_timeout
        self._active: dict[int, _ShardStream] = {}
        self.bad: list[tuple[Placement, str]] = []

    def _open(self, first: int, last: int) -> bool:
        if not self._spares:
            return False
        p = self._spares.popleft()
        self._active[p.index] = _ShardStream(
            self._session, self._m, p, first, last, self._prefetch, self._timeout
        )
        return True

    def _drop(self, stream: _ShardStream, exc: BaseException) -> None:
        stream.close()
        del self._active[stream.placement.index]
        kind = (
            "corrupt" if isinstance(exc, DataLoss | asyncio.IncompleteReadError) else "unavailable"
        )
        self.bad.append((stream.placement, kind))
        if self._report is not None:
            self._report(stream.placement.index, stream.placement.node_id, kind)

    async def stripes(self, first: int, last: int) -> AsyncIterator[tuple[int, dict[int, bytes]]]:
        k = self._m.k
        try:
            while len(self._active) < k and self._open(first, last):
                pass
            for c in range(first, last + 1):
                blocks: dict[int, bytes] = {}
                while len(blocks) < k:
                    pending = [s for idx, s in self._active.items() if idx not in blocks]
                    if not pending:
                        if len(self._active) >= k or not self._open(c, last):
                            raise DataLoss(
                                f"chunk {c}: fewer than {k} authentic shards are reachable"
                            )
                        continue
                    results = await asyncio.gather(
                        *(s.get(c) for s in pending), return_exceptions=True
                    )
                    for stream, res in zip(pending, results, strict=True):
                        if isinstance(res, BaseException):
                            if isinstance(res, asyncio.CancelledError):
                                raise res
                            self._drop(stream, res)
                        else:
                            blocks[stream.placement.index] = res
                    while len(self._active) < k and self._open(c, last):
                        pass
                yield c, blocks
        finally:
            self.close()

    def close(self) -> None:
        for s in self._active.values():
            s.close()
        self._active.clear()


class ChunkOpener:
    """Decode k blocks and open the chunk: the CPU work of the download, run in :data:`POOL`."""

    def __init__(self, manifest: Manifest, cipher: ChunkCipher, code: ErasureCode):
        self._m, self._cipher, self._code = manifest, cipher, code

    def __call__(self, c: int, blocks: dict[int, bytes]) -> bytes:
        primaries = self._code.decode(blocks)
        sealed_len = self._m.plain_len(c) + 16
        sealed = b"".join(primaries)
        if len(sealed) != sealed_len:  # strip the zero padding without another copy
            sealed = memoryview(sealed)[:sealed_len]
        return self._cipher.open(c, sealed, final=c == self._m.n_chunks - 1)


async def download_stream(
    reader: StripeReader,
    opener: ChunkOpener,
    manifest: Manifest,
    start: int,
    end: int,
    *,
    window: int = 3,
) -> AsyncIterator[bytes]:
    """Plaintext bytes ``[start, end)`` of a file, decoded ``window`` chunks ahead."""
    chunks = manifest.chunks_for(start, end)
    if not chunks:
        # Still authenticate something for an empty file so a forged manifest cannot pass.
        chunks = range(1) if manifest.size == 0 else range(0)
        if not chunks:
            return
    loop = asyncio.get_running_loop()
    inflight: collections.deque[tuple[int, asyncio.Future[bytes]]] = collections.deque()

    def cut(c: int, plain: bytes) -> bytes:
        base = c * manifest.chunk_size
        return plain[max(0, start - base) : max(0, min(len(plain), end - base))]

    try:
        async for c, blocks in reader.stripes(chunks.start, chunks.stop - 1):
            inflight.append((c, loop.run_in_executor(POOL, opener, c, blocks)))
            if len(inflight) >= window:
                c0, fut = inflight.popleft()
                out = cut(c0, await fut)
                if out:
                    yield out
        while inflight:
            c0, fut = inflight.popleft()
            out = cut(c0, await fut)
            if out:
                yield out
    finally:
        for _, fut in inflight:
            fut.cancel()
