"""Node processes dying: downloads survive m-k losses, fail cleanly beyond, repair restores full
redundancy with byte-identical shards, stale copies are collected, and a node killed mid-upload
never leaves a corrupt file."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest
from p2p_files_client import ABORTED, HTTPFailure, download, upload
from p2p_swarm import CHUNK, Swarm

pytestmark = pytest.mark.slow


@pytest.fixture
def swarm8(tmp_path):
    s = Swarm(tmp_path, 8, dead_after=4.0)
    yield s
    s.stop()


def _shards(swarm, fid):
    db = sqlite3.connect(swarm.db_path)
    try:
        return {
            r[0]: (r[1], r[2], r[3])
            for r in db.execute(
                "SELECT shard_index, node_id, state, digest FROM shards WHERE file_id=?", (fid,)
            )
        }
    finally:
        db.close()


def _holders(swarm, fid):
    return {swarm.node_ids.index(node) for node, _, _ in _shards(swarm, fid).values()}


def test_node_loss_repair_and_a_second_loss(swarm8):
    s = swarm8
    files = []
    for size in (0, 5 * CHUNK + 3, 17 * CHUNK):
        data = os.urandom(size)
        answer = upload(s.url, data)
        files.append((answer["file_id"], answer["key"], data))
    fid0 = files[0][0]
    originals = {fid: {i: sha for i, (_, _, sha) in _shards(s, fid).items()} for fid, _, _ in files}

    # Kill two nodes that hold shards of the first file: everything still downloads.
    first_dead = sorted(_holders(s, fid0))[:2]
    for i in first_dead:
        s.kill(i)
    for fid, key, data in files:
        assert download(s.url, fid, key) == data

    # A third holder of the first file gone: a clean failure, never a short body.
    third = sorted(_holders(s, fid0) - set(first_dead))[0]
    s.kill(third)
    with pytest.raises((HTTPFailure, *ABORTED)):
        download(s.url, fid0, files[0][1])
    s.restart(third)
    s.wait_alive(6)

    # The monitor declares the two dead; repair rebuilds their shards on the other nodes.
    s.wait_dead(first_dead)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s.check()
        states = [f["state"] for f in s.status()["files"]]
        if all(st == "active" for st in states):
            break
        time.sleep(0.5)
    for fid, _, _ in files:
        shards = _shards(s, fid)
        assert all(state == "ok" for _, state, _ in shards.values()), shards
        nodes = [node for node, _, _ in shards.values()]
        assert len(set(nodes)) == 6
        assert not {s.node_ids[i] for i in first_dead} & set(nodes)
        assert {i: sha for i, (_, _, sha) in shards.items()} == originals[fid]  # byte-identical

    # A different pair of nodes can now die.
    second_dead = sorted(_holders(s, fid0) - set(first_dead))[-2:]
    assert set(second_dead) != set(first_dead)
    for i in second_dead:
        s.kill(i)
    for fid, key, data in files:
        assert download(s.url, fid, key) == data

    # A node that comes back deletes the shards that were rebuilt elsewhere.
    returning = first_dead[0]
    stale = list((s.dir / f"node{returning}" / "shards").glob("*/*"))
    assert stale
    s.restart(returning)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(p.exists() for p in stale):
        time.sleep(0.2)
    assert not any(p.exists() for p in stale)


def _slow_body(data: bytes, started: threading.Event):
    for off in range(0, len(data), CHUNK):
        if off == 40 * CHUNK:
            started.set()
        if off >= 40 * CHUNK:
            time.sleep(0.002)
        yield data[off : off + CHUNK]


def test_node_killed_mid_upload(swarm8):
    import urllib.request

    s = swarm8
    data = os.urandom(800 * CHUNK)
    started = threading.Event()
    result: dict = {}

    def run() -> None:
        req = urllib.request.Request(
            f"{s.url}/files",
            data=_slow_body(data, started),
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                import json

                result["answer"] = json.load(resp)
        except Exception as exc:  # noqa: BLE001
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30)
    db = sqlite3.connect(s.db_path)
    row = None
    try:
        deadline = time.monotonic() + 10
        while row is None and time.monotonic() < deadline:
            row = db.execute(
                "SELECT s.node_id FROM shards s JOIN files f ON f.file_id=s.file_id "
                "WHERE f.state='pending' AND s.shard_index=2"
            ).fetchone()
            time.sleep(0.05)
    finally:
        db.close()
    assert row is not None
    (node_id,) = row
    s.kill(s.node_ids.index(node_id))
    thread.join(120)
    if "answer" in result:  # degraded, repair queued, and intact
        answer = result["answer"]
        assert answer["state"] == "degraded"
        assert download(s.url, answer["file_id"], answer["key"]) == data
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s.check()
            files = {f["file_id"]: f for f in s.status()["files"]}
            if files[answer["file_id"]]["state"] == "active":
                break
            time.sleep(0.3)
        assert files[answer["file_id"]]["state"] == "active"
        assert download(s.url, answer["file_id"], answer["key"]) == data
    else:  # or a clean failure, with nothing left behind
        assert isinstance(result["error"], HTTPFailure | OSError)
        assert not [f for f in s.status()["files"] if f["state"] != "active"]


async def test_losing_the_write_quorum_fails_cleanly(swarm8):
    """With write_quorum = m, one node dying mid-upload fails the write: nothing is committed,
    the old content stays, and the partial shards are collected."""
    import asyncio

    from corestore_cubbit_p2p.driver import P2PDriver

    from corestore import Reference
    from corestore.errors import Unavailable
    from corestore.testing import read_all, write_bytes

    s = swarm8
    cfg = {"coordinator": s.url, "secret": "quorum-test-secret-0123456789", "write_quorum": 6}
    async with P2PDriver.from_config(cfg) as driver:
        await write_bytes(driver, "/q.bin", b"old content")
        started = asyncio.Event()

        async def slow():
            for i in range(400):
                if i == 20:
                    started.set()
                await asyncio.sleep(0.005)
                yield os.urandom(64 * 1024)

        async def kill_a_holder():
            await started.wait()
            db = sqlite3.connect(s.db_path)
            try:
                (node_id,) = db.execute(
                    "SELECT s.node_id FROM shards s JOIN files f ON f.file_id=s.file_id "
                    "WHERE f.state='pending' LIMIT 1"
                ).fetchone()
            finally:
                db.close()
            await asyncio.to_thread(s.kill, s.node_ids.index(node_id))

        killer = asyncio.create_task(kill_a_holder())
        with pytest.raises(Unavailable):
            await driver.write(Reference.of("/q.bin"), slow())
        await killer
        assert await read_all(driver, "/q.bin") == b"old content"
    db = sqlite3.connect(s.db_path)
    try:
        assert db.execute("SELECT COUNT(*) FROM files WHERE state='pending'").fetchone()[0] == 0
    finally:
        db.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # live nodes drop the abandoned upload's shards
        count = sum(len(list((s.dir / f"node{i}" / "shards").glob("*/*"))) for i in range(8))
        if count == 6:  # only /q.bin's old content is left
            break
        time.sleep(0.3)
    assert count == 6
