"""The ``simple`` data-transfer protocol: PUT to upload, GET (with Range) and HEAD to download.

Endpoints are ``/data/simple/<transfer token>``; the token may also come in ``X-Reva-Transfer``
(which wins). Bytes stream between the socket and the driver in ~1 MiB chunks: nothing holds a
whole file, and file I/O happens inside drivers, which keep it off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from aiohttp import web

from corestore.auth import TransferClaims
from corestore.driver import Capability
from corestore.errors import InvalidArgument, LockConflict, Locked, NotFound
from corestore.http.socketbody import parsed_chunks, socket_body
from corestore.metrics import current_driver
from corestore.resources import ByteRange, Checksum, ResourceInfo
from corestore.state import ServerState

__all__ = ["CHUNK_SIZE", "body_chunks", "parse_range", "routes", "send_ranged", "transfer_token"]

log = logging.getLogger("corestore.http")

#: Chunk size between socket and driver: big enough that per-chunk costs (thread hops) vanish.
CHUNK_SIZE = 1 << 20

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def transfer_token(request: web.Request) -> str | None:
    return request.headers.get("X-Reva-Transfer") or request.match_info.get("token")


def verify(request: web.Request, op: str) -> TransferClaims:
    state: ServerState = request.app["state"]
    return state.tokens.verify_transfer(transfer_token(request), op)


def body_chunks(request: web.Request) -> AsyncIterable[bytes]:
    """The request body for a driver: chunks of exactly :data:`CHUNK_SIZE` (the last shorter).

    A large plain body is a :class:`~corestore.http.socketbody.SocketBody`, read off the socket
    by a thread of its own (and :class:`~corestore.streams.Pumpable`); others come through
    aiohttp's parser. A client that hangs up makes the read raise, which aborts the driver's
    write (nothing is committed).
    """
    state: ServerState = request.app["state"]
    counter = state.metrics.bytes.labels("in", current_driver.get())
    direct = socket_body(request, CHUNK_SIZE, counter.inc)
    return direct if direct is not None else parsed_chunks(request, CHUNK_SIZE, counter.inc)


async def prefetch(chunks: AsyncIterator[bytes], depth: int = 2) -> AsyncIterator[bytes]:
    """Read up to ``depth`` chunks ahead, so the driver reads while the socket sends.

    Memory stays at ``depth + 1`` chunks. If the consumer stops early (a client hung up), the
    reader task is cancelled and the driver's iterator closed.
    """
    queue: asyncio.Queue[tuple[bytes | None, BaseException | None]] = asyncio.Queue(depth)

    async def produce() -> None:
        try:
            async for chunk in chunks:
                await queue.put((chunk, None))
            await queue.put((None, None))
        except Exception as exc:  # handed to the consumer, which raises it in its own context
            await queue.put((None, exc))
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    task = asyncio.create_task(produce())
    try:
        while True:
            chunk, error = await queue.get()
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """A single ``bytes=`` range within ``size``; ``None`` means "send everything".

    Malformed or multi-part ranges are ignored (RFC 9110 allows it) and the whole file is sent.

    :raises ValueError: the range cannot be satisfied (the caller answers 416).
    """
    if not header or size == 0:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = min(int(last), size)
        if length == 0:
            raise ValueError("empty suffix range")
        return ByteRange(size - length, length)
    start = int(first)
    if start >= size:
        raise ValueError("range starts past the end")
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return ByteRange(start, end - start + 1)


def _checksum_header(request: web.Request) -> Checksum | None:
    """``OC-Checksum: SHA1:<hex>`` as ownCloud clients send it."""
    value = request.headers.get("OC-Checksum")
    if not value:
        return None
    kind, _, digest = value.partition(":")
    if not digest:
        raise InvalidArgument("OC-Checksum must be '<type>:<hex>'")
    return Checksum(kind.strip().lower(), digest.strip().lower())


def _declared_length(request: web.Request) -> int | None:
    for header in ("Upload-Length", "Content-Length"):
        value = request.headers.get(header)
        if value:
            try:
                return int(value)
            except ValueError:
                raise InvalidArgument(f"{header} is not a number") from None
    return None


def info_headers(info: ResourceInfo, storage_id: str) -> dict[str, str]:
    headers = {
        "ETag": info.etag if info.etag.startswith('"') else f'"{info.etag}"',
        "OC-FileId": f"{storage_id}!{info.id}",
        "Last-Modified": formatdate(info.mtime, usegmt=True),
    }
    if info.checksum is not None:
        headers["OC-Checksum"] = f"{info.checksum.type.upper()}:{info.checksum.value}"
    return headers


async def simple_upload(request: web.Request) -> web.Response:
    state: ServerState = request.app["state"]
    claims = verify(request, "upload")
    routed = state.service.transfer_target(claims.target)
    size = _declared_length(request)
    if size is not None and claims.target.get("size") not in (None, size):
        raise InvalidArgument(
            f"the upload was initiated for {claims.target['size']} bytes, not {size}"
        )
    mtime = request.headers.get("X-OC-Mtime")
    options = state.service.write_options(
        claims.target,
        expected_size=size,
        checksum=_checksum_header(request),
        lock_id=request.headers.get("X-Lock-Id"),
        mtime=float(mtime) if mtime and mtime.replace(".", "", 1).isdigit() else None,
        keep_version=False
        if request.headers.get("X-Disable-Versioning", "").lower() == "true"
        else None,
    )
    try:
        info = await routed.driver.write(routed.ref, body_chunks(request), options)
    except Locked as exc:  # the data path answers a lock conflict with 409, as Reva does
        raise LockConflict(exc.message) from exc
    return web.Response(status=200, headers=info_headers(info, routed.mount.id))


async def simple_download(request: web.Request) -> web.StreamResponse:
    state: ServerState = request.app["state"]
    claims = verify(request, "download")
    routed = state.service.transfer_target(claims.target)
    driver, ref = routed.driver, routed.ref
    info = await driver.stat(ref)
    version = claims.target.get("version")
    headers = info_headers(info, routed.mount.id)
    headers.update(
        {
            "Accept-Ranges": "bytes",
            "Content-Type": info.mime_type or "application/octet-stream",
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(info.name)}",
        }
    )
    size = info.size
    if version:
        if not driver.supports(Capability.VERSIONS):
            raise InvalidArgument("this storage keeps no versions")
        sizes = [v.size async for v in driver.list_versions(ref) if v.key == version]  # type: ignore[attr-defined]
        if not sizes:
            raise NotFound(f"no version {version}")
        size = sizes[0]

    def open_chunks(byte_range: ByteRange | None) -> AsyncIterator[bytes]:
        if version:
            return driver.open_version(ref, version, byte_range)  # type: ignore[attr-defined]
        return driver.open_read(ref, byte_range)

    return await send_ranged(
        request,
        size=size,
        headers=headers,
        range_header=request.headers.get("Range"),
        open_chunks=open_chunks,
        counter=state.metrics.bytes.labels("out", driver.name),
        what=str(claims.target.get("gpath")),
    )


async def send_ranged(
    request: web.Request,
    *,
    size: int,
    headers: dict[str, str],
    range_header: str | None,
    open_chunks: Callable[[ByteRange | None], AsyncIterator[bytes]],
    counter: Any,
    what: str,
) -> web.StreamResponse:
    """Answer a GET or HEAD for ``size`` bytes: 200, 206 for one range, 416 past the end.

    Shared by the data path and the WebDAV front end. The body streams from ``open_chunks``
    (called with the range) one chunk ahead of the socket. Once headers are sent an error can
    only cut the body short: the connection is closed, so the client never takes a short body
    for a whole one.
    """
    try:
        byte_range = parse_range(range_header, size)
    except ValueError:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    if byte_range:
        start, end = byte_range.clamp(size)
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        response.content_length = end - start
    else:
        response.content_length = size
    if request.method == "HEAD":
        return response
    chunks = prefetch(open_chunks(byte_range))
    await response.prepare(request)
    try:
        async for chunk in chunks:
            await response.write(chunk)
            counter.inc(len(chunk))
        await response.write_eof()
    except (ConnectionError, OSError) as exc:
        log.info("download of %s cut: %s", what, exc)
        response.force_close()
    except Exception:  # headers are gone: all we can do is log and cut the body short
        log.exception("download of %s failed mid-stream", what)
        response.force_close()
    return response


def _quote(name: str) -> str:
    return quote(name, safe="")


def routes() -> list[web.RouteDef]:
    return [
        web.put("/data/simple/{token}", simple_upload, name="http_upload"),
        web.get("/data/simple/{token}", simple_download, name="http_download", allow_head=True),
    ]
