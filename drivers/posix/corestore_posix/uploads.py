"""One write in progress: a temp file in ``uploads/`` that a single rename commits.

Each writer has its own temp file, so concurrent writers to one path never share bytes: the last
rename wins whole. The temp file lives on the same filesystem as the tree, so the commit is a
``rename(2)``: atomic, and readers holding the old file keep reading the old bytes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from corestore.errors import Aborted, InsufficientStorage, translate_os_error
from corestore.streams import StreamDigest
from corestore_posix.index import new_id
from corestore_posix.layout import Layout

__all__ = ["Upload"]

#: Chunks at least this large are hashed in parallel with their write.
_PARALLEL = 256 << 10

#: Hashing threads shared by all uploads (hashlib and zlib release the GIL on large buffers).
_HASHERS = ThreadPoolExecutor(4, thread_name_prefix="posix-hash")


class Upload:
    """A temp file being filled chunk by chunk. All methods block: call them in a worker thread.

    The methods hold a lock so that :meth:`discard`, run when the request was cancelled, waits for
    an :meth:`append` still running in another thread instead of closing the descriptor under it
    (a write to a recycled descriptor number would land in some other file).

    :param limit: bytes this write may store before the quota is exceeded (``None``: no limit).
    """

    def __init__(self, layout: Layout, digest: StreamDigest, limit: int | None) -> None:
        self.path = layout.uploads / new_id()
        self.digest = digest
        self.limit = limit
        self.committed = False
        self._lock = threading.Lock()
        with translate_os_error("upload"):
            self.fd: int | None = os.open(
                self.path,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o666,
            )

    def append(self, chunk: bytes | memoryview) -> None:
        """Hash the chunk and write it, both off the event loop.

        A large chunk is hashed in another thread while this one writes it (both release the
        GIL), so a costly checksum costs the longer of the two steps instead of their sum;
        adler32 is cheaper than the hand-over and runs here.
        """
        with self._lock:
            if self.fd is None:  # discarded while this call waited for a thread
                raise Aborted("upload was cancelled")
            parallel = len(chunk) >= _PARALLEL and self.digest.costly
            hashing = _HASHERS.submit(self.digest.update, chunk) if parallel else None
            if hashing is None:
                self.digest.update(chunk)
            try:
                view = memoryview(chunk)
                with translate_os_error("upload"):
                    while view:
                        view = view[os.write(self.fd, view) :]
            finally:
                if hashing is not None:
                    hashing.result()  # the chunk must not change before its hash is done
            if self.limit is not None and self.digest.size > self.limit:
                raise InsufficientStorage("quota exceeded")

    def finish(self, *, fsync: bool, mtime: float | None) -> os.stat_result:
        """Set the requested mtime, flush to disk, and describe the file about to be committed."""
        assert self.fd is not None
        with self._lock, translate_os_error("upload"):
            if mtime is not None:
                os.utime(self.fd, (mtime, mtime))
            if fsync:
                os.fsync(self.fd)
            return os.fstat(self.fd)

    def discard(self) -> None:
        """Close the temp file, and remove it unless the commit renamed it into the tree."""
        with self._lock:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        if not self.committed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
