"""Writing one shard file on a node: digest, capacity check and early writeback.

The digest identifies a shard's bytes (repair checks that a rebuilt shard is byte-identical to
the original). It guards against accidents, not attackers: the per-block tags do that, and a
node reports whatever digest it likes anyway. So it is XXH3-128, about 20x cheaper than
SHA-256, which used to cost a node as much CPU as receiving the bytes.

A shard is fsynced before it is acknowledged. Written directly (``O_DIRECT``) the data is on the
disk already and the fsync only commits metadata and the last block; when the page cache is used,
the writer asks the kernel to start writeback every few megabytes as they arrive
(``sync_file_range``), so that the final fsync finds little left to do either.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import mmap
import os

import xxhash
from aiohttp import web

__all__ = ["DIGEST", "ShardWriter", "same_digest"]

#: Prefix of every digest this node reports, so that digests of other kinds are never compared.
DIGEST = "xxh3-128"

#: Bytes written between two writeback requests.
_WRITEBACK_EVERY = 8 << 20

_SYNC_FILE_RANGE_WRITE = 2

#: Direct I/O needs buffers, offsets and lengths aligned to the device's blocks.
_ALIGN = 4096

#: Bytes staged before each direct write.
_STAGE = 4 << 20


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
    """Appends to an open temp file; all methods block (call them from a worker thread).

    Where the file system allows it the shard bypasses the page cache (``O_DIRECT``): the bytes
    go from an aligned staging buffer to the disk, so a node neither copies them into the
    cache nor pays for writing them back later (together about as much CPU as receiving them),
    and a busy node does not push other data out of the cache. The last partial block is
    written through the cache by :meth:`flush`. Elsewhere writes are buffered and writeback is
    started every few megabytes.
    """

    def __init__(self, fd: int, room: int) -> None:
        self.fd = fd
        self.size = 0
        self._room = room
        self._hash = xxhash.xxh3_128()
        self._unsynced_from = 0
        self._direct = _set_direct(fd, True)
        self._stage = mmap.mmap(-1, _STAGE) if self._direct else None
        self._view = memoryview(self._stage) if self._stage is not None else None
        self._staged = 0

    def write(self, piece: memoryview) -> None:
        if self.size + len(piece) > self._room:
            raise web.HTTPInsufficientStorage(text="node is full")
        self._hash.update(piece)
        if self._view is not None:
            self._stage_piece(piece)
        else:
            self._write_buffered(piece)
        self.size += len(piece)

    def flush(self) -> None:
        """Write out what is staged (call once, after the last :meth:`write`)."""
        if self._view is None or not self._staged:
            return
        aligned = self._staged - self._staged % _ALIGN
        if aligned:
            self._write_direct(self._view[:aligned])
        if self._staged > aligned:
            self._leave_direct()
            _write_all(self.fd, self._view[aligned : self._staged])
        self._staged = 0

    def close(self) -> None:
        """Drop the staging buffer (the file descriptor belongs to the caller). Only references
        are dropped: a cancelled transfer's thread may still hold a view of the buffer."""
        self._view = None
        self._stage = None

    def digest(self) -> str:
        return f"{DIGEST}:{self._hash.hexdigest()}"

    def _stage_piece(self, piece: memoryview) -> None:
        assert self._view is not None
        while piece:
            n = min(len(piece), _STAGE - self._staged)
            self._view[self._staged : self._staged + n] = piece[:n]
            self._staged += n
            piece = piece[n:]
            if self._staged == _STAGE:
                self._write_direct(self._view)
                self._staged = 0

    def _write_direct(self, view: memoryview) -> None:
        if self._direct:
            try:
                written = os.write(self.fd, view)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: this file system refuses direct I/O
                    raise
                written = 0
            if written == len(view):
                return
            self._leave_direct()  # a short or refused write: finish through the page cache
            view = view[written:]
        _write_all(self.fd, view)

    def _leave_direct(self) -> None:
        if self._direct:
            _set_direct(self.fd, False)
            self._direct = False

    def _write_buffered(self, piece: memoryview) -> None:
        _write_all(self.fd, piece)
        end = self.size + len(piece)
        if _start_writeback is not None and end - self._unsynced_from >= _WRITEBACK_EVERY:
            # Only starts the writes (no wait); an error here shows up at fsync.
            _start_writeback(
                self.fd, self._unsynced_from, end - self._unsynced_from, _SYNC_FILE_RANGE_WRITE
            )
            self._unsynced_from = end


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def _set_direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd``; false where the platform or file system refuses."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | direct) if on else (flags & ~direct))
    except OSError:
        return False
    return True


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
