"""Streaming transfers: multipart upload with bounded memory, ranged-GET download.

Upload: the stream is cut into ``part_size`` parts; at most ``concurrency`` parts are in flight,
and the loop does not read the next part until a slot frees, so memory stays near
``part_size x (concurrency + 2)`` whatever the file size. A stream that fits in one part is a
single ``PutObject``. The object appears only at ``CompleteMultipartUpload``, after the stream was
verified, so readers never see a partial object; on any failure (including cancellation when a
client hangs up) the upload is aborted, so no parts are left behind to be billed.

Download: one ranged ``GetObject`` per ``range_size`` window, each pinned to the object version
seen first (``IfMatch`` or ``VersionId``), so an overwrite during a long read fails cleanly
instead of splicing two contents. Bodies are streamed, so a window's size costs no memory; a
broken connection resumes from the first byte not yet delivered.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any

from corestore.errors import Aborted, ETagMismatch, InsufficientStorage, Unavailable
from corestore.resources import Checksum
from corestore.streams import StreamDigest
from corestore_s3.errors import s3_errors

__all__ = ["MAX_PARTS", "download", "upload"]

MAX_PARTS = 10_000
#: Chunk size handed to the caller while streaming a GET body.
READ_CHUNK = 1 << 20


def part_size_for(configured: int, expected_size: int | None) -> int:
    """Grow the part size when a known length would need more than S3's 10 000 parts."""
    if expected_size is None:
        return configured
    return max(configured, math.ceil(expected_size / MAX_PARTS))


async def upload(
    client: Any,
    bucket: str,
    key: str,
    chunks: AsyncIterable[bytes],
    digest: StreamDigest,
    *,
    part_size: int,
    concurrency: int,
    extras: Callable[[Checksum | None], Mapping[str, Any]],
    conditions: Mapping[str, str],
    what: str,
) -> Checksum | None:
    """Stream ``chunks`` into ``key``; commit only once ``digest`` verifies.

    :param extras: gives the ``PutObject``/``CreateMultipartUpload`` arguments (metadata,
        content type) for a checksum. A single-part upload is sent after the stream ended, so its
        metadata can hold the verified checksum; a multipart upload fixes its metadata when it
        starts, so it gets ``None``.
    :param conditions: ``IfMatch`` / ``IfNoneMatch`` for the commit (``PutObject`` or
        ``CompleteMultipartUpload``), so S3 itself refuses a commit that lost a race.
    :returns: the checksum recorded in the object's metadata (``None`` for multipart).
    """
    parts = _parts(chunks, part_size)
    try:
        first = await anext(parts, None)
        if first is not None:
            await asyncio.to_thread(digest.update, first)
        second = await anext(parts, None)
        if second is None:
            checksum = digest.verify()
            with s3_errors(what):
                await client.put_object(
                    Bucket=bucket, Key=key, Body=first or b"", **extras(checksum), **conditions
                )
            return checksum
        head = [first, second]
        del first, second  # _multipart owns them now, so sent parts can be freed
        await _multipart(
            client, bucket, key, head, parts, digest, concurrency, extras(None), conditions, what
        )
        return None
    finally:
        await parts.aclose()


async def _multipart(
    client: Any,
    bucket: str,
    key: str,
    head: list[bytearray],
    rest: AsyncIterator[bytes],
    digest: StreamDigest,
    concurrency: int,
    extras: Mapping[str, Any],
    conditions: Mapping[str, str],
    what: str,
) -> None:
    with s3_errors(what):
        created = await client.create_multipart_upload(Bucket=bucket, Key=key, **extras)
    upload_id = created["UploadId"]
    slots = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task[dict[str, Any]]] = []

    async def send(number: int, body: bytearray) -> dict[str, Any]:
        try:
            with s3_errors(what):
                part = await client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                    Body=_PartBody(body),
                )  # fmt: skip
            return {"PartNumber": number, "ETag": part["ETag"]}
        finally:
            slots.release()

    try:
        await slots.acquire()
        number = 0
        body: bytearray | None = head.pop(0)
        queued: bytearray | None = head.pop(0)
        while body is not None:
            number += 1
            if number > MAX_PARTS:
                raise InsufficientStorage("file too large for S3 at this part size")
            if number > 1:
                await asyncio.to_thread(digest.update, body)
            tasks.append(asyncio.create_task(send(number, body)))  # holds a slot until sent
            body = None
            # Take the next part's slot *before* reading it, so no part waits in memory.
            await slots.acquire()
            failed = next((t for t in tasks if t.done() and t.exception() is not None), None)
            if failed is not None:  # fail fast: stop reading the stream once a part failed
                raise failed.exception()  # type: ignore[misc]
            body, queued = (queued if queued is not None else await anext(rest, None)), None
        slots.release()
        done_parts = await asyncio.gather(*tasks)
        digest.verify()
        with s3_errors(what):
            await client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": list(done_parts)}, **conditions,
            )  # fmt: skip
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.shield(_abort(client, bucket, key, upload_id))
        raise


class _PartBody(io.RawIOBase):
    """A seekable, read-only file over one part, so no layer below copies the part whole.

    Given ``bytes``, botocore wraps them in a ``BytesIO`` that aiohttp copies whole; given a
    ``bytearray``, aiohttp slices (copies) it and joins it with the headers (copies again). A
    file is read in 64 KiB chunks instead, and seeking back lets botocore hash and retry it.
    """

    def __init__(self, data: bytearray) -> None:
        super().__init__()
        self._view = memoryview(data)
        self._position = 0

    def __len__(self) -> int:
        return len(self._view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), len(self._view) - self._position)
        memoryview(buffer).cast("B")[:count] = self._view[self._position : self._position + count]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


async def _parts(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytearray]:
    """Cut a stream into ``size``-byte parts, each filled in place with one copy.

    Parts are ``bytearray`` on purpose: botocore wraps a ``bytes`` body in a ``BytesIO``, which
    aiohttp then copies whole, doubling the memory of every part in flight. (Not
    :func:`corestore.streams.rechunk` either: its slicing costs two more copies per part.)
    """
    part = bytearray(size)
    view = memoryview(part)
    filled = 0
    async for chunk in chunks:
        data = memoryview(chunk)
        while data:
            take = min(size - filled, len(data))
            view[filled : filled + take] = data[:take]
            filled += take
            data = data[take:]
            if filled == size:
                view.release()
                yield part
                part = bytearray(size)
                view = memoryview(part)
                filled = 0
    view.release()
    if filled:
        del part[filled:]
        yield part


async def _abort(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort, so the parts are freed; a failure here only leaves work for a lifecycle rule."""
    try:
        await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception:  # noqa: BLE001 - already failing; the original error matters
        pass


async def download(
    client: Any,
    bucket: str,
    key: str,
    start: int,
    end: int,
    *,
    range_size: int,
    pin: Mapping[str, str],
    what: str,
    resumes: int = 3,
) -> AsyncIterator[bytes]:
    """Yield bytes ``[start, end)`` of ``key`` with one ranged GET per ``range_size`` window.

    A connection that breaks mid-body is resumed with a new ranged GET from the first byte not
    yet yielded (``resumes`` times per window), so a long read survives a dropped connection.

    :param pin: ``{"IfMatch": s3_etag}`` or ``{"VersionId": ...}``: every request reads the same
        version, or the read fails with :class:`Aborted`.
    """
    offset = start
    while offset < end:
        window_end = min(end, offset + range_size)
        attempts = 0
        while offset < window_end:
            try:
                with s3_errors(what):
                    response = await client.get_object(
                        Bucket=bucket, Key=key, Range=f"bytes={offset}-{window_end - 1}", **pin
                    )
            except ETagMismatch:
                raise Aborted(f"the file changed while it was being read: {what}") from None
            body = response["Body"]
            try:
                while offset < window_end:
                    with s3_errors(what):
                        chunk = await body.read(min(READ_CHUNK, window_end - offset))
                    if not chunk:
                        raise Unavailable(f"the S3 response ended early: {what}")
                    offset += len(chunk)
                    yield chunk
            except Unavailable:
                attempts += 1
                if attempts > resumes:
                    raise
            finally:
                body.close()
