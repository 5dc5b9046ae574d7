"""Writing one shard file on a node: digest, capacity check and early writeback.

The digest identifies a shard's bytes (repair checks that a rebuilt shard is byte-identical to
the original). It guards against accidents, not attackers: the per-block tags do that, and a
node reports whatever digest it likes anyway. So it is XXH3-128, about 20x cheaper than
SHA-256, which used to cost a node as much CPU as receiving the bytes.

A shard is fsynced before it is acknowledged. Left to the end, that fsync writes the whole shard
while the uploader waits; instead the writer asks the kernel to start writing back every few
megabytes as they arrive (``sync_file_range``), so the final fsync finds little left to do.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

import xxhash
from aiohttp import web

__all__ = ["DIGEST", "ShardWriter", "same_digest"]

#: Prefix of every digest this node reports, so that digests of other kinds are never compared.
DIGEST = "xxh3-128"

#: Bytes written between two writeback requests.
_WRITEBACK_EVERY = 8 << 20

_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> object | None:
    """libc's ``sync_file_range`` (Linux), or ``None`` where there is none."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fn = libc.sync_file_range
        fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return fn
    return None


_start_writeback = _sync_file_range()


class ShardWriter:
    """Appends to an open temp file; all methods block (call them from a worker thread)."""

    def __init__(self, fd: int, room: int) -> None:
        self.fd = fd
        self.size = 0
        self._room = room
        self._hash = xxhash.xxh3_128()
        self._unsynced_from = 0

    def write(self, piece: memoryview) -> None:
        if self.size + len(piece) > self._room:
            raise web.HTTPInsufficientStorage(text="node is full")
        self._hash.update(piece)
        view = piece
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(piece)
        if _start_writeback is not None and self.size - self._unsynced_from >= _WRITEBACK_EVERY:
            # Only starts the writes (no wait); an error here shows up at fsync.
            _start_writeback(
                self.fd,
                self._unsynced_from,
                self.size - self._unsynced_from,
                _SYNC_FILE_RANGE_WRITE,
            )
            self._unsynced_from = self.size

    def digest(self) -> str:
        return f"{DIGEST}:{self._hash.hexdigest()}"


def same_digest(a: str | None, b: str | None) -> bool | None:
    """Whether two recorded digests match; ``None`` when they cannot be compared (one is
    missing, or they were computed with different algorithms, e.g. before an upgrade)."""
    if not a or not b:
        return None
    kind_a, _, _ = a.rpartition(":")
    kind_b, _, _ = b.rpartition(":")
    if kind_a != kind_b:
        return None
    return a == b
