"""A node's shard writer (digest, capacity, writeback) and the digest records it feeds."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import xxhash
from aiohttp import web
from corestore_cubbit_p2p.shardfile import DIGEST, ShardWriter, same_digest
from corestore_cubbit_p2p.store import Store


def test_writer_writes_and_digests_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(20 << 20)  # crosses the writeback interval twice
    fd = os.open(tmp_path / "shard", os.O_WRONLY | os.O_CREAT)
    try:
        writer = ShardWriter(fd, room=len(data))
        for at in range(0, len(data), 1 << 20):
            writer.write(memoryview(data)[at : at + (1 << 20)])
        os.fsync(fd)
    finally:
        os.close(fd)
    assert (tmp_path / "shard").read_bytes() == data
    assert writer.size == len(data)
    assert writer.digest() == f"{DIGEST}:{xxhash.xxh3_128(data).hexdigest()}"


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
