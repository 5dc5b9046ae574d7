"""A file's manifest and the shard geometry derived from it.

Everything about where a byte lives follows from ``(size, chunk_size, k)``: chunk c's ciphertext
is its plaintext plus a 16-byte AEAD tag, split into k blocks of ``B_c = ceil(len/k)`` bytes (zero
padded). Shard i holds block i of every chunk, each followed by its 16-byte integrity tag, so a
record has a fixed size (only the last is shorter) and chunk c starts at ``c * record``: range
reads need no index and no per-chunk metadata. An empty file is still one chunk, so the final-chunk
flag always exists.
"""

from __future__ import annotations

import hmac
import struct
import uuid
from dataclasses import asdict, dataclass

from corestore.errors import DataLoss, InvalidArgument, PermissionDenied

from .codec import block_size, check_params
from .crypto import AEAD_TAG, BLOCK_TAG, CIPHERS, FileKeys, commitment, derive_keys, key_check

__all__ = ["DEFAULT_CHUNK", "Manifest", "PRESETS", "parse_redundancy", "MIN_CHUNK", "MAX_CHUNK"]

PRESETS: dict[str, tuple[int, int]] = {
    "4-6": (4, 6),
    "3-10": (3, 10),
    "10-16": (10, 16),
    "20-60": (20, 60),
}
MIN_CHUNK = 4 << 10
MAX_CHUNK = 16 << 20
#: Plaintext bytes per chunk unless a file says otherwise. Every chunk costs the same hand-overs
#: between the loop, the coding pool and m shard senders whatever its size; at 4 MiB they cost
#: a tenth of the upload's time less than at 1 MiB (the coding itself is no faster).
DEFAULT_CHUNK = 4 << 20


def parse_redundancy(text: str) -> tuple[int, int]:
    """``"4-6"`` or a preset name into ``(k, m)``."""
    if text in PRESETS:
        return PRESETS[text]
    try:
        k_text, m_text = text.split("-")
        k, m = int(k_text), int(m_text)
    except ValueError:
        raise InvalidArgument(f"redundancy must look like k-m (e.g. 4-6), got {text!r}") from None
    check_params(k, m)
    return k, m


def check_chunk_size(chunk_size: int) -> None:
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise InvalidArgument(f"chunk size must be between {MIN_CHUNK} and {MAX_CHUNK} bytes")


@dataclass(frozen=True)
class Manifest:
    """What the coordinator stores per file. ``salt``, ``key_check``, ``commit`` and ``k_int`` are
    hex strings so the manifest travels as JSON unchanged."""

    file_id: str
    size: int
    chunk_size: int
    k: int
    m: int
    cipher: str
    salt: str
    key_check: str
    commit: str
    k_int: str

    # -- geometry -----------------------------------------------------------------------------

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self.file_id)

    @property
    def integrity_key(self) -> bytes:
        return bytes.fromhex(self.k_int)

    @property
    def n_chunks(self) -> int:
        return max(1, -(-self.size // self.chunk_size))

    def plain_len(self, c: int) -> int:
        if c < self.n_chunks - 1:
            return self.chunk_size
        return self.size - (self.n_chunks - 1) * self.chunk_size

    def block_len(self, c: int) -> int:
        return block_size(self.plain_len(c) + AEAD_TAG, self.k)

    def record_len(self, c: int) -> int:
        return self.block_len(c) + BLOCK_TAG

    @property
    def full_record(self) -> int:
        return block_size(self.chunk_size + AEAD_TAG, self.k) + BLOCK_TAG

    def record_offset(self, c: int) -> int:
        return c * self.full_record

    @property
    def shard_size(self) -> int:
        return self.record_offset(self.n_chunks - 1) + self.record_len(self.n_chunks - 1)

    def chunks_for(self, start: int, end: int) -> range:
        """Chunks overlapping the plaintext byte range ``[start, end)``."""
        if end <= start:
            return range(0)
        return range(start // self.chunk_size, (end - 1) // self.chunk_size + 1)

    # -- commitment ---------------------------------------------------------------------------

    @staticmethod
    def header(
        file_id: str, size: int, chunk_size: int, k: int, m: int, cipher: str, salt: str
    ) -> bytes:
        return (
            b"cbst/v1|"
            + struct.pack(">16sQIHH", uuid.UUID(file_id).bytes, size, chunk_size, k, m)
            + cipher.encode()
            + b"|"
            + bytes.fromhex(salt)
        )

    @classmethod
    def build(
        cls,
        *,
        file_id: str,
        size: int,
        chunk_size: int,
        k: int,
        m: int,
        cipher: str,
        salt: bytes,
        keys: FileKeys | None,
        k_int: bytes,
    ) -> Manifest:
        if cipher not in CIPHERS:
            raise InvalidArgument(f"unknown cipher {cipher!r}; use one of {', '.join(CIPHERS)}")
        header = cls.header(file_id, size, chunk_size, k, m, cipher, salt.hex())
        commit_key = keys.commit if keys is not None else k_int
        return cls(
            file_id=file_id,
            size=size,
            chunk_size=chunk_size,
            k=k,
            m=m,
            cipher=cipher,
            salt=salt.hex(),
            key_check=key_check(keys).hex() if keys is not None else "",
            commit=commitment(commit_key, header).hex(),
            k_int=k_int.hex(),
        )

    def unlock(self, user_key: bytes | None) -> FileKeys | None:
        """Check the key and the header against the commitment; return the per-upload keys.

        :raises PermissionDenied: no key or the wrong key for an encrypted file.
        :raises DataLoss: the manifest was edited after upload.
        """
        keys = None
        if self.cipher != "none":
            if not user_key or len(user_key) != 32:
                raise PermissionDenied("this file is encrypted: a 32-byte key is required")
            keys = derive_keys(user_key, bytes.fromhex(self.salt), self.uuid)
            if not hmac.compare_digest(key_check(keys).hex(), self.key_check):
                raise PermissionDenied("wrong encryption key")
        header = self.header(
            self.file_id, self.size, self.chunk_size, self.k, self.m, self.cipher, self.salt
        )
        expect = commitment(keys.commit if keys else self.integrity_key, header).hex()
        if not hmac.compare_digest(expect, self.commit):
            raise DataLoss("the file's manifest does not match its commitment")
        return keys

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        return cls(**{f: data[f] for f in cls.__dataclass_fields__})
