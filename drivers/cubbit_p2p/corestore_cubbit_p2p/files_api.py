"""The ``/files`` API of the coordinator (the seed's Cubbit integration).

``POST /files``
    multipart with an ``options`` part (JSON) followed by the ``file`` part, or a raw streamed body
    with the options in the query string. Options: ``encryption`` (true/false, default true),
    ``key`` (32 bytes as 64 hex chars or base64; generated when absent), ``cipher``
    (``aes256gcm``/``chacha20poly1305``), ``redundancy`` (``k-m`` or a preset), ``chunk_size``.
    Answer: ``{"file_id", "size", "state", "k", "m"}`` plus ``"key"`` when corestore generated the
    key. That key is shown once and never stored.
``GET /files/{file_id}``
    key in ``X-Encryption-Key``. Streams; ``Range: bytes=a-b`` gives 206. A wrong key is 403 and
    too few reachable shards 503, both before any byte. A download that fails mid-way aborts the
    connection: it never ends a short body cleanly.
``HEAD /files/{file_id}``
    size and state; a key, if given, is checked.
``DELETE /files/{file_id}``
    needs the key of an encrypted file; shards are garbage-collected by their nodes.

Here the coordinator does the crypto and coding itself: it streams the request body through the
shared pipeline to the nodes, so its memory stays bounded whatever the file size. It never
stores the user key: only the salt, a key check and the commitment.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from corestore.errors import InvalidArgument, RangeNotSatisfiable, Unavailable

from . import store as st
from .crypto import new_user_key
from .manifest import Manifest, check_chunk_size, parse_redundancy
from .repair import usable_sources

if TYPE_CHECKING:
    from .coordinator import Coordinator

__all__ = ["add_routes", "parse_key"]

log = logging.getLogger(__name__)
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_key(text: str | None) -> bytes | None:
    """A 32-byte key from 64 hex characters or (url-safe) base64."""
    if not text:
        return None
    text = text.strip()
    try:
        if len(text) == 64:
            return bytes.fromhex(text)
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raise InvalidArgument("the key must be 32 bytes in hex or base64") from None
    if len(key) != 32:
        raise InvalidArgument("the key must be 32 bytes in hex or base64")
    return key


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class FilesAPI:
    def __init__(self, coordinator: Coordinator) -> None:
        self.c = coordinator

    async def post(self, request: web.Request) -> web.Response:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            options: dict = {}
            if part is not None and part.name == "options":
                try:
                    options = json.loads(await part.text() or "{}")
                except ValueError:
                    raise InvalidArgument("the options part must be JSON") from None
                part = await reader.next()
            if part is None or part.name != "file":
                raise InvalidArgument("expected an 'options' part followed by a 'file' part")

            async def body() -> AsyncIterator[bytes]:
                while chunk := await part.read_chunk(1 << 20):
                    yield chunk
        else:
            options = dict(request.query)

            async def body() -> AsyncIterator[bytes]:
                async for chunk in request.content.iter_any():
                    yield chunk

        if not isinstance(options, dict):
            raise InvalidArgument("options must be a JSON object")
        unknown = set(options) - {
            "encryption",
            "key",
            "cipher",
            "redundancy",
            "chunk_size",
            "k",
            "m",
        }
        if unknown:
            raise InvalidArgument(f"unknown option {sorted(unknown)[0]!r}")
        encrypt = _truthy(options.get("encryption", True))
        key = parse_key(options.get("key") or request.headers.get("X-Encryption-Key"))
        generated = encrypt and key is None
        if generated:
            key = new_user_key()
        cipher = str(options.get("cipher", "aes256gcm")) if encrypt else "none"
        if "k" in options or "m" in options:
            k, m = parse_redundancy(f"{options.get('k')}-{options.get('m')}")
        else:
            k, m = parse_redundancy(str(options.get("redundancy", self.c.config.redundancy)))
        try:
            chunk_size = int(options.get("chunk_size", self.c.config.chunk_size))
        except ValueError:
            raise InvalidArgument("chunk_size must be an integer") from None
        check_chunk_size(chunk_size)
        size_hint = (
            None if request.content_type.startswith("multipart/") else request.content_length
        )
        manifest, state = await self.c.upload(
            body(),
            k=k,
            m=m,
            chunk_size=chunk_size,
            cipher=cipher,
            user_key=key if encrypt else None,
            size_hint=size_hint,
        )
        answer = {
            "file_id": manifest.file_id,
            "size": manifest.size,
            "state": state,
            "k": k,
            "m": m,
        }
        if generated:
            assert key is not None
            answer["key"] = key.hex()
        return web.json_response(answer, status=201)

    async def _load(self, request: web.Request, need_key: bool = True):  # noqa: ANN202
        try:
            file_id = str(uuid.UUID(request.match_info["file_id"]))
        except ValueError:
            raise web.HTTPNotFound(text="no such file") from None
        info = await self.c.store.run(st.file_info, file_id)
        manifest = Manifest.from_json(info["manifest"])
        key = parse_key(request.headers.get("X-Encryption-Key"))
        keys = manifest.unlock(key) if (need_key or key) else None
        return info, manifest, keys

    async def head(self, request: web.Request) -> web.Response:
        info, manifest, _ = await self._load(request, need_key=False)
        return web.Response(
            headers={
                "Content-Length": str(manifest.size),
                "Accept-Ranges": "bytes",
                "X-File-State": info["state"],
                "X-Redundancy": f"{manifest.k}-{manifest.m}",
            }
        )

    async def get(self, request: web.Request) -> web.StreamResponse:
        info, manifest, keys = await self._load(request)
        start, end, status = 0, manifest.size, 200
        headers = {
            "Accept-Ranges": "bytes",
            "X-File-State": info["state"],
            "Content-Type": "application/octet-stream",
        }
        if "Range" in request.headers:
            start, end = _parse_range(request.headers["Range"], manifest.size)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{manifest.size}"
        sources = usable_sources(info)
        if len(sources) < manifest.k:
            raise Unavailable(f"need {manifest.k} reachable shards, have {len(sources)}")
        stream = self.c.open_stream(manifest, keys, sources, start, end)
        # Read the first piece before any header goes out: a failure here is a clean error.
        first = await anext(stream, None)
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = end - start
        await resp.prepare(request)
        try:
            if first:
                await resp.write(first)
            async for piece in stream:
                await resp.write(piece)
        except Exception as exc:
            log.warning("download of %s aborted: %s", manifest.file_id, exc)
            if request.transport is not None:
                request.transport.abort()  # never end a short body cleanly
            return resp
        finally:
            await stream.aclose()
        await resp.write_eof()
        return resp

    async def delete(self, request: web.Request) -> web.Response:
        info, manifest, _ = await self._load(request)
        await self.c.store.run(st.delete_file, manifest.file_id)
        return web.json_response({"deleted": manifest.file_id})


def _parse_range(header: str, size: int) -> tuple[int, int]:
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise InvalidArgument("only a single byte range is supported")
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"range starts past the end of a {size}-byte file")
    return start, end


def add_routes(app: web.Application, coordinator: Coordinator) -> None:
    api = FilesAPI(coordinator)
    app.router.add_post("/files", api.post)
    app.router.add_route("HEAD", "/files/{file_id}", api.head)
    app.router.add_get("/files/{file_id}", api.get, allow_head=False)
    app.router.add_delete("/files/{file_id}", api.delete)
