"""Peak-RSS measurement for memory-bound tests, of this process or of another one (a server).

A sampling thread reads ``/proc/<pid>/statm`` every few milliseconds. Sampling is used instead of
``ru_maxrss`` because the peak a test cares about is the growth *during* the test, and
``ru_maxrss`` never comes down after an earlier, larger test.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from types import TracebackType

__all__ = ["PeakRSS", "rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of ``pid`` (this process by default), in bytes."""
    with open(f"/proc/{pid or 'self'}/statm", "rb") as fh:
        return int(fh.read().split()[1]) * _PAGE


class PeakRSS:
    """``with PeakRSS() as peak: ...`` then ``peak.growth`` is the peak RSS above the baseline."""

    def __init__(self, pid: int | None = None, interval: float = 0.005) -> None:
        self.pid = pid
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.baseline)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        if self.pid is None:
            gc.collect()
        self.baseline = self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.peak = max(self.peak, rss_bytes(self.pid))
        except (FileNotFoundError, ProcessLookupError):
            pass
