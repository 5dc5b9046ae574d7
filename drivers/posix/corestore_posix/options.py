"""Options of the posix driver, parsed strictly by :func:`corestore.config.parse_options`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corestore.config import ByteSize, option
from corestore.streams import CHECKSUM_TYPES, DEFAULT_CHUNK_SIZE, checksum_option

__all__ = ["PosixOptions"]


@dataclass(frozen=True)
class PosixOptions:
    """Where the tree lives and how carefully it is written.

    Validation that a type cannot express (a checksum name, a positive chunk size) happens in
    ``__post_init__``; ``parse_options`` turns the ``ValueError`` into a ``ConfigError`` that
    names the key, so a typo in a config file fails at startup, not at the first upload.
    """

    root: Path = option(
        doc="folder holding the user tree (root/files) and the driver's state (root/.corestore)"
    )
    checksum: str = option(
        "adler32",
        doc=f"checksum computed while streaming and returned by stat: one of "
        f"{', '.join(CHECKSUM_TYPES)} or 'none' (adler32 is nearly free; sha1, which "
        f"ownCloud clients and rclone compare, halves upload speed on a small machine)",
    )
    chunk_size: ByteSize = option(
        ByteSize(DEFAULT_CHUNK_SIZE),
        doc="bytes per read/write call and per thread hop; bounds memory per transfer",
    )
    fsync: bool = option(
        True,
        doc="fsync file data, folders and the index on every commit (turn off only for scratch "
        "storage: a power cut may then lose recent writes)",
    )
    quota: ByteSize = option(
        ByteSize(0),
        doc="total bytes allowed under files/ (0: no limit; get_quota reports the filesystem size)",
    )

    def __post_init__(self) -> None:
        checksum_option(self.checksum)
        if self.chunk_size <= 0:
            raise ValueError(f"chunk_size: must be positive, got {self.chunk_size}")
        if self.quota < 0:
            raise ValueError(f"quota: must not be negative, got {self.quota}")

    @property
    def checksum_type(self) -> str | None:
        """The checksum to compute, or ``None`` when switched off."""
        return checksum_option(self.checksum)
