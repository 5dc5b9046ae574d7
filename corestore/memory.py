"""Process-wide allocator tuning for processes that stream data.

By default glibc serves each allocation of a megabyte or so with a fresh ``mmap`` and returns it
with ``munmap`` (its dynamic thresholds only move part of the way), so every chunk of every
transfer pays page faults and page zeroing in the kernel: about a quarter of the CPU time of a
1 GiB upload, in the server as in a swarm's driver. Raising the mmap and trim thresholds lets
freed chunks be reused from the heap; memory still follows the chunks in flight.

Entry points call :func:`tune_malloc` once at start (``corestore serve``, swarm nodes and the
coordinator); a benchmark calls it before measuring anything, so that every contestant runs
under the same allocator.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations up to this size come from the heap (larger ones are still mapped).
MMAP_THRESHOLD = 16 << 20
#: Free memory kept at the top of a heap before it is returned to the kernel.
TRIM_THRESHOLD = 64 << 20


def tune_malloc() -> bool:
    """Apply the thresholds; false where there is no glibc, or the operator chose their own
    through ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
