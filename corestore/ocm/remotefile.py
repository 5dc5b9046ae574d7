"""A received single-file share: the file at the share's WebDAV URI, read and written directly.

The webdav driver mounts collections, so a file share gets this small client instead: PROPFIND
(Depth 0) for stat, a streamed GET (with Range) for reads, a streamed PUT for writes. The sharer
makes the PUT atomic and enforces the share's permissions.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from corestore.errors import CorestoreError, Unavailable
from corestore.resources import ByteRange, ResourceInfo, ResourceType, WriteOptions

__all__ = ["RemoteFile"]

log = logging.getLogger("corestore.ocm.mount")

CHUNK = 1 << 20
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/><d:getcontenttype/>"
    b"</d:prop></d:propfind>"
)


def _error(status: int, what: str) -> CorestoreError:
    from corestore_webdav.status import error_for

    return error_for(status, what)


class RemoteFile:
    def __init__(self, uri: str, secret: str, timeout: float) -> None:
        self.uri = uri
        self._headers = {"Authorization": f"Bearer {secret}"}
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        )

    async def aclose(self) -> None:
        await self._session.close()

    async def stat(self, share_id: str, path: str) -> ResourceInfo:
        from corestore_webdav.propfind import MultistatusParser

        try:
            async with self._session.request(
                "PROPFIND",
                self.uri,
                data=_PROPFIND,
                headers={
                    **self._headers,
                    "Depth": "0",
                    "Content-Type": "application/xml; charset=utf-8",
                },
            ) as response:
                if response.status != 207:
                    raise _error(response.status, path)
                parser = MultistatusParser(urlsplit(self.uri).path)
                entries = []
                async for chunk in response.content.iter_chunked(CHUNK):
                    entries.extend(parser.feed(chunk))
                entries.extend(parser.close())
        except aiohttp.ClientError as exc:
            raise Unavailable(f"the sharer of {path} cannot be reached: {exc}") from None
        if not entries:
            raise Unavailable(f"the sharer sent no properties for {path}")
        entry = entries[0]
        return ResourceInfo(
            id=f"s:{share_id}:",
            path=path,
            type=ResourceType.CONTAINER if entry.is_dir else ResourceType.FILE,
            size=entry.size,
            mtime=entry.mtime,
            etag=entry.etag or '""',
            mime_type=entry.content_type or "",
        )

    async def open_read(
        self, path: str, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        headers = dict(self._headers)
        if byte_range is not None:
            end = "" if byte_range.length is None else str(byte_range.start + byte_range.length - 1)
            if byte_range.length == 0:
                return
            headers["Range"] = f"bytes={byte_range.start}-{end}"
        try:
            async with self._session.get(self.uri, headers=headers) as response:
                if response.status == 416:
                    return  # a range past the end yields nothing
                if response.status not in (200, 206):
                    raise _error(response.status, path)
                skip = byte_range.start if byte_range and response.status == 200 else 0
                remaining = byte_range.length if byte_range and response.status == 200 else None
                async for chunk in response.content.iter_chunked(CHUNK):
                    if skip:  # the sharer ignored Range: cut the slice ourselves
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if remaining is not None:
                        chunk, remaining = chunk[:remaining], remaining - min(remaining, len(chunk))
                    if chunk:
                        yield chunk
                    if remaining == 0:
                        return
        except aiohttp.ClientError as exc:
            raise Unavailable(f"reading {path} from its sharer failed: {exc}") from None

    async def write(self, path: str, chunks: AsyncIterable[bytes], options: WriteOptions) -> None:
        headers = dict(self._headers)
        if options.expected_size is not None:
            headers["Content-Length"] = str(options.expected_size)
        if options.if_match:
            headers["If-Match"] = options.if_match

        async def body() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk

        try:
            async with self._session.put(self.uri, data=body(), headers=headers) as response:
                if response.status not in (200, 201, 204):
                    raise _error(response.status, path)
        except aiohttp.ClientError as exc:
            raise Unavailable(f"writing {path} to its sharer failed: {exc}") from None
