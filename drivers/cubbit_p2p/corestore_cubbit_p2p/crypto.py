"""Per-chunk authenticated encryption, key commitment and per-block integrity tags.

Two keys with two owners:

* the **user key** (32 bytes) never leaves the uploader/downloader. Per upload,
  ``K_enc || K_commit = HKDF-SHA256(user key, random salt, "cbst/v1/file" || file_id)``, so the same
  user key gives unrelated keys for every upload and the same plaintext never gives the same
  ciphertext. The nonce is the chunk counter (unique because K_enc is unique per upload); the AAD
  binds file id, chunk index and a final-chunk flag (STREAM construction: no reordering,
  truncation or extension goes unnoticed).
* the **integrity key** ``K_int`` (random per file) lives in the coordinator's manifest. It tags
  every block of every shard with HMAC-SHA256 bound to (file, shard index, chunk index), so bad
  shards are found *before* decoding and repair can re-tag regenerated blocks without the user key.

GCM is not key-committing, so the manifest carries ``HMAC(K_commit, "keycheck")`` (a wrong key is
refused before any byte is sent) and ``HMAC(K_commit, "commit" || header)`` (an edited header
- size, k, m, chunk size, cipher, salt - is refused too).
"""

from __future__ import annotations

import hmac
import os
import struct
import uuid
from dataclasses import dataclass
from hashlib import sha256
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from corestore.errors import DataLoss

__all__ = [
    "AEAD_TAG",
    "BLOCK_TAG",
    "Cipher",
    "ChunkCipher",
    "IntegrityError",
    "block_tag",
    "derive_keys",
    "new_integrity_key",
    "new_salt",
    "new_user_key",
]

Cipher = Literal["aes256gcm", "chacha20poly1305", "none"]
CIPHERS: tuple[str, ...] = ("aes256gcm", "chacha20poly1305", "none")
AEAD_TAG = 16
BLOCK_TAG = 16
_VERSION = b"cbst/v1"


class IntegrityError(DataLoss):
    """Authenticated data failed its check: a corrupt or forged chunk. No plaintext is released."""


def new_user_key() -> bytes:
    return os.urandom(32)


def new_salt() -> bytes:
    return os.urandom(32)


def new_integrity_key() -> bytes:
    return os.urandom(32)


@dataclass(frozen=True)
class FileKeys:
    enc: bytes
    commit: bytes


def derive_keys(user_key: bytes, salt: bytes, file_id: uuid.UUID) -> FileKeys:
    """The per-upload keys; the HKDF info binds the file id, the salt makes them unique."""
    if len(user_key) != 32:
        raise ValueError("the user key must be 32 bytes")
    okm = HKDF(
        algorithm=hashes.SHA256(), length=64, salt=salt, info=_VERSION + b"/file" + file_id.bytes
    ).derive(user_key)
    return FileKeys(enc=okm[:32], commit=okm[32:])


def _aad(file_id: uuid.UUID, index: int, final: bool) -> bytes:
    return _VERSION + file_id.bytes + struct.pack(">QB", index, final)


def _nonce(index: int) -> bytes:
    return b"\0\0\0\0" + struct.pack(">Q", index)


class ChunkCipher:
    """Seals and opens the chunks of one upload. ``cipher="none"`` keeps the same framing: the
    16-byte trailer is then an HMAC under the integrity key, so the code path stays identical."""

    def __init__(
        self,
        cipher: str,
        file_id: uuid.UUID,
        keys: FileKeys | None,
        integrity_key: bytes,
        *,
        track_nonces: bool | None = None,
    ) -> None:
        self.cipher = cipher
        self.file_id = file_id
        self._int = integrity_key
        self._aead: AESGCM | ChaCha20Poly1305 | None = None
        if cipher == "aes256gcm":
            assert keys is not None
            self._aead = AESGCM(keys.enc)
        elif cipher == "chacha20poly1305":
            assert keys is not None
            self._aead = ChaCha20Poly1305(keys.enc)
        elif cipher != "none":
            raise ValueError(f"unknown cipher {cipher!r}")
        # Tests turn this on (here or with CORESTORE_P2P_TRACK_NONCES=1 for whole swarms) to prove
        # that no (key, nonce) pair is ever used twice.
        if track_nonces is None:
            track_nonces = os.environ.get("CORESTORE_P2P_TRACK_NONCES") == "1"
        self._used: set[int] | None = set() if track_nonces else None

    def seal(self, index: int, plaintext: bytes, final: bool) -> bytes:
        aad = _aad(self.file_id, index, final)
        if self._used is not None:
            assert index not in self._used, f"nonce {index} reused"
            self._used.add(index)
        if self._aead is None:
            return (
                bytes(plaintext) + hmac.digest(self._int, b"plain" + aad + plaintext, "sha256")[:16]
            )
        return self._aead.encrypt(_nonce(index), plaintext, aad)

    def open(self, index: int, ciphertext: bytes, final: bool) -> bytes:
        aad = _aad(self.file_id, index, final)
        if self._aead is None:
            body, tag = bytes(ciphertext[:-16]), bytes(ciphertext[-16:])
            expect = hmac.digest(self._int, b"plain" + aad + body, "sha256")[:16]
            if not hmac.compare_digest(tag, expect):
                raise IntegrityError(f"chunk {index} failed authentication")
            return bytes(body)
        try:
            return self._aead.decrypt(_nonce(index), ciphertext, aad)
        except InvalidTag:
            raise IntegrityError(f"chunk {index} failed authentication") from None


def block_tag(
    integrity_key: bytes, file_id: uuid.UUID, shard: int, chunk: int, block: bytes
) -> bytes:
    """The 16-byte tag stored after each block: binds file, shard index and chunk index."""
    mac = hmac.new(integrity_key, b"blk" + file_id.bytes + struct.pack(">HQ", shard, chunk), sha256)
    mac.update(block)
    return mac.digest()[:BLOCK_TAG]


def key_check(keys: FileKeys) -> bytes:
    return hmac.digest(keys.commit, b"keycheck", "sha256")


def commitment(key: bytes, header: bytes) -> bytes:
    return hmac.digest(key, b"commit" + header, "sha256")
