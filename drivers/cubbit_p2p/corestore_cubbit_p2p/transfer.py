"""Whole-file upload and download on top of the pipeline, for any party that holds the user key.

The coordinator's ``/files`` API and the driver both use these two functions; they differ only in
how they reach the control plane (the coordinator calls its store, the driver calls the
coordinator over HTTP), which is the :class:`Control` protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, Protocol

import aiohttp

from corestore.errors import Unavailable
from corestore.streams import rechunk

from .codec import ErasureCode
from .crypto import ChunkCipher, FileKeys, derive_keys, new_salt
from .manifest import Manifest
from .pipeline import (
    ChunkOpener,
    ChunkSealer,
    Placement,
    StripeReader,
    download_stream,
    records_queued,
    upload_stream,
)

__all__ = ["Control", "open_stream", "upload"]


class Control(Protocol):
    async def allocate(self, k: int, m: int, chunk_size: int, cipher: str) -> dict: ...

    async def commit(self, manifest: Manifest, stored: dict, extra: dict | None) -> Any: ...

    async def abort(self, file_id: str) -> None: ...

    def report(self, file_id: str, index: int, node_id: str, kind: str) -> None: ...


async def upload(
    control: Control,
    session: aiohttp.ClientSession,
    chunks: AsyncIterable[bytes],
    *,
    k: int,
    m: int,
    chunk_size: int,
    cipher: str,
    user_key: bytes | None,
    write_quorum: int | None = None,
    stall_timeout: float = 30.0,
    on_plaintext: Callable[[bytes], None] | None = None,
    overlap_plaintext: bool = True,
    before_commit: Callable[[int], None] | None = None,
    commit_extra: dict | None = None,
    size_hint: int | None = None,
) -> tuple[Manifest, Any]:
    """Encrypt, encode and stream a file to its nodes, then commit its manifest.

    ``before_commit(size)`` runs when the input has ended and may raise (a size or checksum
    check) to abandon the upload: nothing is committed then, and the shards become garbage.
    ``size_hint`` (the announced size) lets every shard go out with a Content-Length.
    """
    alloc = await control.allocate(k, m, chunk_size, cipher)
    file_id = alloc["file_id"]
    try:
        k_int = bytes.fromhex(alloc["k_int"])
        salt = new_salt()
        fid = uuid.UUID(file_id)
        if cipher != "none" and user_key is None:
            raise ValueError("an encrypted upload needs a key")
        keys: FileKeys | None = (
            derive_keys(user_key, salt, fid) if user_key and cipher != "none" else None
        )
        sealer = ChunkSealer(ChunkCipher(cipher, fid, keys, k_int), ErasureCode(k, m), k_int)
        placements = [Placement(p["index"], p["node_id"], p["url"]) for p in alloc["placements"]]
        result = await upload_stream(
            session,
            placements,
            file_id,
            rechunk(chunks, chunk_size),
            sealer,
            write_quorum=min(m, write_quorum or k + 1),
            stall_timeout=stall_timeout,
            on_plaintext=on_plaintext,
            overlap_plaintext=overlap_plaintext,
            on_end=before_commit,
            shard_length=_shard_length(size_hint, chunk_size, k),
            queue_depth=records_queued(chunk_size, k),
        )
        manifest = Manifest.build(
            file_id=file_id,
            size=result.size,
            chunk_size=chunk_size,
            k=k,
            m=m,
            cipher=cipher,
            salt=salt,
            keys=keys,
            k_int=k_int,
        )
        # A node that stored a shard of the wrong length did not store this shard.
        stored = {str(i): v for i, v in result.stored.items() if v["size"] == manifest.shard_size}
        if len(stored) < min(m, write_quorum or k + 1):
            raise Unavailable(f"only {len(stored)} shards were stored intact")
        committed = await control.commit(manifest, stored, commit_extra)
    except BaseException:
        await control.abort(file_id)
        raise
    return manifest, committed


def open_stream(
    control: Control,
    session: aiohttp.ClientSession,
    manifest: Manifest,
    keys: FileKeys | None,
    sources: list[Placement],
    start: int,
    end: int,
) -> AsyncIterator[bytes]:
    """Plaintext ``[start, end)`` of a file whose key was checked (``manifest.unlock``)."""
    reader = StripeReader(
        session,
        manifest,
        sources,
        report=lambda index, node_id, kind: control.report(manifest.file_id, index, node_id, kind),
        prefetch=records_queued(manifest.chunk_size, manifest.k),
    )
    opener = ChunkOpener(
        manifest,
        ChunkCipher(manifest.cipher, manifest.uuid, keys, manifest.integrity_key),
        ErasureCode(manifest.k, manifest.m),
    )
    return download_stream(reader, opener, manifest, start, end)


def _shard_length(size: int | None, chunk_size: int, k: int) -> int | None:
    if size is None:
        return None
    return Manifest(
        str(uuid.UUID(int=0)), size, chunk_size, k, k + 1, "none", "", "", "", ""
    ).shard_size
