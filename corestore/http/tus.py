"""tus 1.0 resumable uploads: core, creation, termination and checksum extensions.

* ``POST /data/tus/<transfer token>`` with ``Upload-Length`` creates an upload and answers
  ``Location: /data/tus/<token>/<upload id>``.
* ``HEAD`` on the location tells the offset; ``PATCH`` appends at that offset; ``DELETE`` drops it.

Bytes are staged in a driver-agnostic area on local disk (``<upload id>.bin`` plus a JSON
``<upload id>.json`` with who may continue it and where it goes), appended as they arrive, so a
cut connection keeps what was received and the client resumes from ``Upload-Offset``. When the
last byte is in, the staged file streams into ``driver.write`` (atomic, checksum verified) and the
staging files are removed. Every follow-up request must present a valid upload token for the same
user and target, so a resumed upload may use a freshly initiated token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from corestore.errors import (
    Aborted,
    InvalidArgument,
    LockConflict,
    Locked,
    NotFound,
    PermissionDenied,
)
from corestore.http.transfer import CHUNK_SIZE, body_chunks, info_headers, verify
from corestore.state import ServerState
from corestore.streams import new_hasher

__all__ = ["TusStore", "routes"]

log = logging.getLogger("corestore.tus")

TUS_VERSION = "1.0.0"
#: tus names its algorithms in lower case; values travel in base64.
_TUS_CHECKSUMS = ("sha1", "md5", "sha256")
_ID_ALPHABET = set("0123456789abcdef")
#: Unfinished uploads older than this are removed at startup.
STALE_AFTER = 7 * 24 * 3600


@dataclass
class _Session:
    user: str
    target: dict[str, Any]
    length: int
    created: float


class TusStore:
    """The staging area: one ``.bin`` and one ``.json`` per unfinished upload."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._busy: set[str] = set()

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for meta in self.root.glob("*.json"):
            if now - meta.stat().st_mtime > STALE_AFTER:
                self._remove(meta.stem)

    def _paths(self, upload_id: str) -> tuple[Path, Path]:
        if len(upload_id) != 32 or not set(upload_id) <= _ID_ALPHABET:
            raise NotFound("no such upload")
        return self.root / f"{upload_id}.json", self.root / f"{upload_id}.bin"

    def _create(self, session: _Session) -> str:
        upload_id = secrets.token_hex(16)
        meta, data = self._paths(upload_id)
        data.touch(exist_ok=False)
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(session)))
        os.replace(tmp, meta)
        return upload_id

    def _load(self, upload_id: str) -> tuple[_Session, int]:
        meta, data = self._paths(upload_id)
        try:
            session = _Session(**json.loads(meta.read_text()))
            return session, data.stat().st_size
        except FileNotFoundError:
            raise NotFound("no such upload (finished, terminated or expired)") from None

    def data_path(self, upload_id: str) -> Path:
        return self._paths(upload_id)[1]

    def _remove(self, upload_id: str) -> None:
        for path in self._paths(upload_id):
            path.unlink(missing_ok=True)

    async def create(self, session: _Session) -> str:
        return await asyncio.to_thread(self._create, session)

    async def load(self, upload_id: str) -> tuple[_Session, int]:
        return await asyncio.to_thread(self._load, upload_id)

    async def remove(self, upload_id: str) -> None:
        await asyncio.to_thread(self._remove, upload_id)

    def claim(self, upload_id: str) -> None:
        """One PATCH at a time per upload. :raises Locked: another request is writing to it."""
        if upload_id in self._busy:
            raise Locked("another request is writing to this upload")
        self._busy.add(upload_id)

    def release(self, upload_id: str) -> None:
        self._busy.discard(upload_id)

    async def read(self, upload_id: str) -> AsyncIterator[bytes]:
        """The staged bytes, chunk by chunk, read in a worker thread."""
        handle = await asyncio.to_thread(open, self.data_path(upload_id), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)


def _headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _check_version(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise web.HTTPPreconditionFailed(headers={"Tus-Version": TUS_VERSION})


def _int_header(request: web.Request, name: str) -> int:
    value = request.headers.get(name)
    if value is None or not value.isdigit():
        raise InvalidArgument(f"{name} must be a non-negative integer")
    return int(value)


def _patch_checksum(request: web.Request) -> tuple[str, bytes] | None:
    value = request.headers.get("Upload-Checksum")
    if not value:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm.lower() not in _TUS_CHECKSUMS:
        raise InvalidArgument(f"unsupported checksum algorithm {algorithm!r}")
    try:
        return algorithm.lower(), base64.b64decode(encoded, validate=True)
    except ValueError:
        raise InvalidArgument("Upload-Checksum value is not base64") from None


async def options(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": "creation,termination,checksum",
            "Tus-Checksum-Algorithm": ",".join(_TUS_CHECKSUMS),
        },
    )


async def create(request: web.Request) -> web.Response:
    _check_version(request)
    state: ServerState = request.app["state"]
    claims = verify(request, "upload")
    state.service.transfer_target(claims.target)  # the mount must still exist
    if "Upload-Defer-Length" in request.headers:
        raise InvalidArgument("Upload-Defer-Length is not supported")
    length = _int_header(request, "Upload-Length")
    if claims.target.get("size") not in (None, length):
        raise InvalidArgument(
            f"the upload was initiated for {claims.target['size']} bytes, not {length}"
        )
    store: TusStore = request.app["tus"]
    upload_id = await store.create(_Session(claims.user, claims.target, length, time.time()))
    token = request.match_info["token"]
    location = f"{state.data_url}/tus/{token}/{upload_id}"
    log.info(
        "tus upload %s created for %s (%d bytes)", upload_id, claims.target.get("gpath"), length
    )
    if length == 0:
        await _commit(request, upload_id, _Session(claims.user, claims.target, 0, 0))
    return web.Response(status=201, headers=_headers(Location=location, **{"Upload-Offset": "0"}))


async def _session(request: web.Request) -> tuple[str, _Session, int]:
    """The upload named in the URL, if the token is for the same user and target."""
    claims = verify(request, "upload")
    upload_id = request.match_info["upload_id"]
    session, offset = await request.app["tus"].load(upload_id)
    if claims.user != session.user or claims.target.get("gpath") != session.target.get("gpath"):
        raise PermissionDenied("this transfer token is for another upload")
    request.app["state"].service.transfer_target(session.target)  # labels metrics with the driver
    return upload_id, session, offset


async def head(request: web.Request) -> web.Response:
    _check_version(request)
    _, session, offset = await _session(request)
    return web.Response(
        status=200,
        headers=_headers(**{"Upload-Offset": str(offset), "Upload-Length": str(session.length)}),
    )


class _PatchChecksumMismatch(Exception):
    """This PATCH's bytes do not match its ``Upload-Checksum`` (tus answers 460)."""


class _Appender:
    """Appends one PATCH body to the staged file, passing each chunk on once it is staged.

    What arrived before a cut connection stays staged. A PATCH with ``Upload-Checksum`` is all
    or nothing: on a mismatch (or any failure) its bytes are truncated away again.
    """

    def __init__(self, path: Path, offset: int, length: int, checksum: tuple[str, bytes] | None):
        self.path, self.start, self.offset, self.length = path, offset, offset, length
        self.checksum = checksum
        self.stream_failed = False  # the body (not the driver) broke: keep the staged bytes

    async def chunks(self, request: web.Request) -> AsyncIterator[bytes]:
        hasher = new_hasher(self.checksum[0]) if self.checksum else None
        handle = await asyncio.to_thread(open, self.path, "r+b")
        complete = False
        try:
            await asyncio.to_thread(handle.seek, self.offset)
            try:
                async for chunk in body_chunks(request):
                    if self.offset + len(chunk) > self.length:
                        raise InvalidArgument("the body runs past Upload-Length")
                    await asyncio.to_thread(handle.write, chunk)
                    if hasher:
                        hasher.update(chunk)
                    self.offset += len(chunk)
                    yield chunk
            except Exception:
                self.stream_failed = True
                raise
            await asyncio.to_thread(handle.flush)
            if hasher and hasher.digest() != self.checksum[1]:  # type: ignore[attr-defined,index]
                self.stream_failed = True
                raise _PatchChecksumMismatch
            complete = True
        finally:
            if hasher and not complete:
                await asyncio.to_thread(handle.truncate, self.start)
                self.offset = self.start
            await asyncio.to_thread(handle.close)


async def patch(request: web.Request) -> web.Response:
    _check_version(request)
    if request.content_type != "application/offset+octet-stream":
        raise web.HTTPUnsupportedMediaType(
            text="Content-Type must be application/offset+octet-stream\n"
        )
    upload_id, session, offset = await _session(request)
    store: TusStore = request.app["tus"]
    if _int_header(request, "Upload-Offset") != offset:
        raise Aborted(f"Upload-Offset does not match the server's offset {offset}")
    appender = _Appender(
        store.data_path(upload_id), offset, session.length, _patch_checksum(request)
    )
    chunks = appender.chunks(request)
    store.claim(upload_id)
    try:
        headers: dict[str, str] = {}
        if offset == 0 and request.content_length == session.length > 0:
            # The whole file in one request: stream it into the driver while staging it, so
            # the common case needs no second pass; a cut still leaves the staged bytes.
            headers = await _commit(request, upload_id, session, chunks, appender)
        else:
            async for _ in chunks:
                pass
            if appender.offset == session.length:
                headers = await _commit(request, upload_id, session, store.read(upload_id))
        return web.Response(
            status=204, headers=_headers(**{"Upload-Offset": str(appender.offset)}, **headers)
        )
    except _PatchChecksumMismatch:
        return web.Response(status=460, text="checksum mismatch\n", headers=_headers())
    finally:
        await chunks.aclose()
        store.release(upload_id)


async def _commit(
    request: web.Request,
    upload_id: str,
    session: _Session,
    chunks: AsyncIterator[bytes],
    appender: _Appender | None = None,
) -> dict[str, str]:
    """Stream the upload's bytes into its driver, then drop the staging files.

    The staged bytes are kept when the client may still finish the upload: the body was cut
    (``appender.stream_failed``), or the file is locked (the client may retry the last PATCH).
    """
    state: ServerState = request.app["state"]
    store: TusStore = request.app["tus"]
    routed = state.service.transfer_target(session.target)
    options = state.service.write_options(session.target, expected_size=session.length)
    try:
        info = await routed.driver.write(routed.ref, chunks, options)
    except Locked as exc:
        raise LockConflict(exc.message) from exc
    except Exception:
        if appender is None or not appender.stream_failed:
            await store.remove(upload_id)
        raise
    await store.remove(upload_id)
    log.info("tus upload %s committed to %s", upload_id, session.target.get("gpath"))
    return info_headers(info, routed.mount.id)


async def terminate(request: web.Request) -> web.Response:
    _check_version(request)
    upload_id, _, _ = await _session(request)
    await request.app["tus"].remove(upload_id)
    return web.Response(status=204, headers=_headers())


def routes() -> list[web.RouteDef]:
    return [
        web.options("/data/tus/{tail:.*}", options, name="tus_options"),
        web.post("/data/tus/{token}", create, name="tus_create"),
        web.head("/data/tus/{token}/{upload_id}", head, name="tus_head"),
        web.patch("/data/tus/{token}/{upload_id}", patch, name="tus_patch"),
        web.delete("/data/tus/{token}/{upload_id}", terminate, name="tus_delete"),
    ]
