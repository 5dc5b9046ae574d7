"""A safe wrapper around zfec's Reed-Solomon codec.

zfec is fast and releases the GIL, but it has silent wrong-output traps (see the design notes in
the README): ``Decoder.decode`` reorders the caller's sequence in place, duplicate block numbers
or numbers >= m give garbage without an error, and primary output blocks *are* the input objects.
Every call here builds fresh lists, checks block numbers, and hands zfec only immutable ``bytes``
(or views of them), so an output block can never change after it has been queued for sending.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache

import zfec

from corestore.errors import InvalidArgument

__all__ = ["ErasureCode", "CodecError", "block_size"]


class CodecError(InvalidArgument):
    """Blocks handed to the codec are inconsistent (wrong count, ids or lengths)."""


def block_size(ciphertext_len: int, k: int) -> int:
    """Bytes per block for a chunk of ``ciphertext_len`` bytes split into ``k`` primaries."""
    return max(1, -(-ciphertext_len // k))


def check_params(k: int, m: int) -> None:
    if not (1 <= k < m <= 256):
        raise InvalidArgument(f"redundancy must satisfy 1 <= k < m <= 256, got k={k}, m={m}")


class ErasureCode:
    """``k``-of-``m`` systematic coding of one chunk at a time. Thread-safe: zfec's coders only
    read their matrices, and every call uses its own lists."""

    def __init__(self, k: int, m: int) -> None:
        check_params(k, m)
        self.k, self.m = k, m
        self._encoder, self._decoder = _coders(k, m)

    def split(self, data: bytes) -> list[memoryview]:
        """Zero-pad ``data`` to a multiple of k and cut it into the k primary blocks."""
        size = block_size(len(data), self.k)
        padded = len(data) != size * self.k
        if padded:
            data = bytes(data) + bytes(size * self.k - len(data))
        elif not isinstance(data, bytes):
            data = bytes(data)  # never give zfec a mutable buffer: outputs alias inputs
        view = memoryview(data)
        return [view[i * size : (i + 1) * size] for i in range(self.k)]

    def encode(self, data: bytes) -> list[memoryview | bytes]:
        """All m blocks of one chunk (``data`` is padded here). Primaries are views of ``data``."""
        primaries = self.split(data)
        parity = self._encoder.encode(list(primaries), list(range(self.k, self.m)))
        return [*primaries, *parity]

    def encode_some(self, primaries: Sequence[bytes], wanted: Sequence[int]) -> list[bytes]:
        """Only the blocks ``wanted`` (repair regenerates just the missing shards)."""
        ids = self._check_ids(wanted, exact=None)
        if len(primaries) != self.k:
            raise CodecError(f"need {self.k} primary blocks, got {len(primaries)}")
        out = self._encoder.encode([bytes(p) for p in primaries], list(ids))
        return [bytes(b) for b in out]

    def decode(self, blocks: Mapping[int, bytes | memoryview]) -> list[bytes | memoryview]:
        """The k primary blocks from any k distinct blocks ``{block number: block}``.

        Blocks must be immutable (``bytes`` or views of ``bytes``): with all primaries present
        they are returned as they are.
        """
        ids = self._check_ids(list(blocks), exact=self.k)
        lengths = {len(blocks[i]) for i in ids}
        if len(lengths) != 1:
            raise CodecError("blocks of one chunk must have equal lengths")
        if ids == list(range(self.k)):  # all primaries: decoding is free (and copy-free)
            return [blocks[i] for i in ids]
        # A fresh list per call: zfec reorders the sequence it is given.
        fresh = [bytes(blocks[i]) for i in ids]
        return [bytes(b) for b in self._decoder.decode(fresh, list(ids))]

    def _check_ids(self, ids: Sequence[int], exact: int | None) -> list[int]:
        ids = sorted(ids)
        if exact is not None and len(ids) != exact:
            raise CodecError(f"need exactly {exact} blocks, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise CodecError(f"duplicate block numbers {ids}")
        if ids and (ids[0] < 0 or ids[-1] >= self.m):
            raise CodecError(f"block numbers must be in 0..{self.m - 1}, got {ids}")
        return ids


_lock = threading.Lock()


@lru_cache(maxsize=32)
def _coders_cached(k: int, m: int) -> tuple[zfec.Encoder, zfec.Decoder]:
    return zfec.Encoder(k, m), zfec.Decoder(k, m)


def _coders(k: int, m: int) -> tuple[zfec.Encoder, zfec.Decoder]:
    with _lock:
        return _coders_cached(k, m)
