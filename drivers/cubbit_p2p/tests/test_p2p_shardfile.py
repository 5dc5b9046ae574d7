"""A node's shard writer (digest, capacity, direct and buffered writes) and the digest records it feeds."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from pathlib import Path

import pytest
import xxhash
from aiohttp import web
from corestore_cubbit_p2p import shardfile
from corestore_cubbit_p2p.shardfile import DIGEST, ShardWriter, same_digest
from corestore_cubbit_p2p.store import Store


@pytest.fixture(params=["direct", "buffered"])
def io_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every writer test runs with direct I/O (where the file system has it) and without."""
    if request.param == "buffered":
        monkeypatch.setattr(shardfile, "_set_direct", lambda fd, on: False)
    return request.param


def _write_shard(path: Path, data: bytes, piece: int) -> ShardWriter:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        writer = ShardWriter(fd, room=len(data))
        for at in range(0, len(data), piece):
            writer.write(memoryview(data)[at : at + piece])
        writer.flush()
        os.fsync(fd)
        writer.close()
    finally:
        os.close(fd)
    return writer


@pytest.mark.parametrize(
    "size",
    [0, 1, 4095, 4096, 4097, (4 << 20) - 1, 4 << 20, (4 << 20) + 3, 20 << 20, (9 << 20) + 12345],
)
def test_writer_writes_and_digests_the_bytes(tmp_path: Path, io_mode: str, size: int) -> None:
    """Sizes around the 4 KiB alignment and the 4 MiB staging buffer, and past the writeback
    interval; the tail that is not a whole block goes through the page cache."""
    data = os.urandom(size)
    writer = _write_shard(tmp_path / "shard", data, 1 << 20)
    assert (tmp_path / "shard").read_bytes() == data
    assert writer.size == len(data)
    assert writer.digest() == f"{DIGEST}:{xxhash.xxh3_128(data).hexdigest()}"


def test_writer_takes_pieces_of_any_length(tmp_path: Path, io_mode: str) -> None:
    data = os.urandom((5 << 20) + 777)
    _write_shard(tmp_path / "shard", data, 262_148)  # a block plus its tag, as uploads send
    assert (tmp_path / "shard").read_bytes() == data


def test_writer_falls_back_when_direct_writes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems accept the O_DIRECT flag and then refuse the write (EINVAL)."""
    real_write = os.write
    calls: list[int] = []

    def refusing_write(fd: int, data: memoryview) -> int:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        if flags & getattr(os, "O_DIRECT", 0):
            calls.append(len(data))
            raise OSError(errno.EINVAL, "direct I/O refused")
        return real_write(fd, data)

    monkeypatch.setattr(shardfile.os, "write", refusing_write)
    data = os.urandom((9 << 20) + 5)
    _write_shard(tmp_path / "shard", data, 1 << 20)
    assert (tmp_path / "shard").read_bytes() == data
    assert len(calls) <= 1  # refused once, then buffered for good


def test_writer_refuses_more_than_the_room_left(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "shard", os.O_WRONLY | os.O_CREAT)
    try:
        writer = ShardWriter(fd, room=10)
        writer.write(memoryview(b"0123456789"))
        with pytest.raises(web.HTTPInsufficientStorage):
            writer.write(memoryview(b"x"))
    finally:
        os.close(fd)


def test_only_digests_of_one_kind_are_compared() -> None:
    a = f"{DIGEST}:{'ab' * 16}"
    assert same_digest(a, a) is True
    assert same_digest(a, f"{DIGEST}:{'cd' * 16}") is False
    # a digest recorded before the upgrade (bare sha256 hex) cannot be compared: not a mismatch
    assert same_digest("e3" * 32, a) is None
    assert same_digest(None, a) is None


def test_store_renames_the_old_digest_column(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "c.db")
    db.execute(
        "CREATE TABLE shards (file_id TEXT NOT NULL, shard_index INTEGER NOT NULL, "
        "node_id TEXT NOT NULL, state TEXT NOT NULL, bytes INTEGER, sha256 TEXT, "
        "updated_at REAL NOT NULL, PRIMARY KEY (file_id, shard_index))"
    )
    db.execute("INSERT INTO shards VALUES ('f', 0, 'n', 'ok', 3, 'old', 0)")
    db.commit()
    db.close()
    store = Store(tmp_path / "c.db")
    try:
        row = store.db.execute("SELECT digest FROM shards").fetchone()
        assert row["digest"] == "old"
    finally:
        store.close()
