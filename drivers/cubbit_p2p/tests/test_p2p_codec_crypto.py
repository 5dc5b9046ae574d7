"""The crypto and coding library, in process.

Any k of m rebuild a chunk, the zfec wrapper refuses the inputs that make zfec silently wrong,
and every tamper is caught before plaintext is released.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid

import pytest
from corestore_cubbit_p2p.codec import CodecError, ErasureCode
from corestore_cubbit_p2p.crypto import (
    ChunkCipher,
    IntegrityError,
    derive_keys,
    new_integrity_key,
    new_salt,
    new_user_key,
)
from corestore_cubbit_p2p.manifest import Manifest, parse_redundancy
from corestore_cubbit_p2p.pipeline import ChunkOpener, ChunkSealer, _check_record

from corestore.errors import DataLoss, InvalidArgument, PermissionDenied

CHUNK = 4096
K, M = 4, 6
SIZES = [0, 1, K - 1, 15, 16, 17, CHUNK - 17, CHUNK - 16, CHUNK, CHUNK + 1, 3 * CHUNK + 5, 1001]


def _setup(size: int, cipher: str = "aes256gcm"):
    fid = uuid.uuid4()
    user, salt, k_int = new_user_key(), new_salt(), new_integrity_key()
    keys = derive_keys(user, salt, fid) if cipher != "none" else None
    man = Manifest.build(
        file_id=str(fid),
        size=size,
        chunk_size=CHUNK,
        k=K,
        m=M,
        cipher=cipher,
        salt=salt,
        keys=keys,
        k_int=k_int,
    )
    return man, user, keys


def _encode_file(man: Manifest, keys, data: bytes) -> list[list[bytes]]:
    """records[c][shard]"""
    code = ErasureCode(man.k, man.m)
    sealer = ChunkSealer(
        ChunkCipher(man.cipher, man.uuid, keys, man.integrity_key, track_nonces=True),
        code,
        man.integrity_key,
    )
    out = []
    for c in range(man.n_chunks):
        piece = data[c * CHUNK : (c + 1) * CHUNK]
        records = [bytes(b) + t for b, t in sealer(c, piece, c == man.n_chunks - 1)]
        assert [len(r) for r in records] == [man.record_len(c)] * man.m
        out.append(records)
    return out


def _decode_file(man: Manifest, keys, records, subset) -> bytes:
    opener = ChunkOpener(
        man, ChunkCipher(man.cipher, man.uuid, keys, man.integrity_key), ErasureCode(man.k, man.m)
    )
    parts = []
    for c in range(man.n_chunks):
        blocks = {i: _check_record(man, i, c, records[c][i]) for i in subset}
        parts.append(opener(c, blocks))
    return b"".join(parts)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cipher", ["aes256gcm", "chacha20poly1305", "none"])
def test_any_k_of_m_rebuild(size, cipher):
    man, user, keys = _setup(size, cipher)
    data = os.urandom(size)
    records = _encode_file(man, keys, data)
    subsets = list(itertools.combinations(range(M), K))
    random.shuffle(subsets)
    for subset in subsets:
        shuffled = list(subset)
        random.shuffle(shuffled)
        assert _decode_file(man, keys, records, shuffled) == data
    assert sum(len(r[0]) for r in records) == man.shard_size


def test_wrapper_rejects_traps_and_is_repeatable():
    code = ErasureCode(K, M)
    blocks = code.encode(os.urandom(4096))
    chosen = {1: bytes(blocks[1]), 4: bytes(blocks[4]), 5: bytes(blocks[5]), 0: bytes(blocks[0])}
    first = code.decode(chosen)
    assert code.decode(chosen) == first  # zfec reorders its input; we never reuse it
    assert b"".join(first) == b"".join(bytes(b) for b in blocks[:K])
    with pytest.raises(CodecError):
        code.decode({0: blocks[0], 1: blocks[1], 2: blocks[2]})
    with pytest.raises(CodecError):
        code.decode({0: blocks[0], 1: blocks[1], 2: blocks[2], 6: blocks[3]})
    with pytest.raises(CodecError):
        code.decode({0: blocks[0], 1: blocks[1], 2: blocks[2], 3: b"short"})
    with pytest.raises(InvalidArgument):
        ErasureCode(6, 6)
    # Regenerating only some blocks is byte-identical to the full encode.
    assert code.encode_some([bytes(b) for b in blocks[:K]], [4, 5]) == [
        bytes(blocks[4]),
        bytes(blocks[5]),
    ]


def test_encode_never_aliases_a_mutable_buffer():
    code = ErasureCode(K, M)
    buf = bytearray(os.urandom(4096))
    blocks = [bytes(b) for b in code.encode(buf)]
    buf[:] = bytes(len(buf))
    assert b"".join(bytes(b) for b in code.encode(buf)[:K]) != b"".join(blocks[:K])
    assert any(blocks)


def test_tampering_is_detected():
    man, user, keys = _setup(3 * CHUNK + 5)
    records = _encode_file(man, keys, os.urandom(man.size))
    flipped = bytearray(records[1][2])
    flipped[7] ^= 1
    with pytest.raises(DataLoss):
        _check_record(man, 2, 1, bytes(flipped))
    with pytest.raises(DataLoss):  # swapped blocks inside a shard
        _check_record(man, 2, 1, records[2][2])
    with pytest.raises(DataLoss):  # shard 3 served as shard 2
        _check_record(man, 2, 1, records[1][3])


def test_aead_binds_order_and_final_flag():
    man, user, keys = _setup(2 * CHUNK)
    cipher = ChunkCipher(man.cipher, man.uuid, keys, man.integrity_key)
    sealed0 = cipher.seal(0, b"a" * CHUNK, False)
    sealed1 = cipher.seal(1, b"b" * CHUNK, True)
    with pytest.raises(IntegrityError):
        cipher.open(1, sealed0, True)  # reordered
    with pytest.raises(IntegrityError):
        cipher.open(0, sealed0, True)  # truncated: chunk 0 claimed final
    with pytest.raises(IntegrityError):
        cipher.open(1, sealed1, False)  # extended: final chunk claimed non-final


def test_key_and_manifest_commitment():
    man, user, keys = _setup(100)
    assert man.unlock(user) == keys
    with pytest.raises(PermissionDenied):
        man.unlock(new_user_key())
    with pytest.raises(PermissionDenied):
        man.unlock(None)
    for field, value in [
        ("size", 101),
        ("k", 3),
        ("m", 7),
        ("chunk_size", 8192),
        ("salt", "00" * 32),
    ]:
        edited = Manifest.from_json({**man.to_json(), field: value})
        with pytest.raises((DataLoss, PermissionDenied)):
            edited.unlock(user)


def test_same_plaintext_twice_differs():
    data = os.urandom(5000)
    user = new_user_key()
    outs = []
    for _ in range(2):
        fid, salt = uuid.uuid4(), new_salt()
        keys = derive_keys(user, salt, fid)
        outs.append(ChunkCipher("aes256gcm", fid, keys, b"k" * 32).seal(0, data, True))
    assert outs[0] != outs[1]


def test_nonce_reuse_is_refused_when_tracked():
    man, user, keys = _setup(10)
    cipher = ChunkCipher(man.cipher, man.uuid, keys, man.integrity_key, track_nonces=True)
    cipher.seal(0, b"x", True)
    with pytest.raises(AssertionError):
        cipher.seal(0, b"y", True)


def test_redundancy_parsing():
    assert parse_redundancy("4-6") == (4, 6)
    assert parse_redundancy("20-60") == (20, 60)
    with pytest.raises(InvalidArgument):
        parse_redundancy("6-4")
    with pytest.raises(InvalidArgument):
        parse_redundancy("x")
