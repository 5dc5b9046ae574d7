"""The /files API on a real swarm (coordinator + 6 node processes): round trips, ranges, any k
of m shards, tampering, keys and ciphertext freshness."""

from __future__ import annotations

import itertools
import os
import sqlite3
import time

import pytest
from p2p_files_client import ABORTED, HTTPFailure, delete, download, upload, upload_multipart
from p2p_swarm import CHUNK

SIZES = [
    0,
    1,
    3,
    15,
    16,
    17,
    CHUNK - 17,
    CHUNK - 16,
    CHUNK,
    CHUNK + 1,
    3 * CHUNK + 5,
    5 * CHUNK + 1001,
]


@pytest.mark.parametrize("size", SIZES)
def test_roundtrip_sizes(swarm, size):
    data = os.urandom(size)
    answer = upload(swarm.url, data)
    assert answer["size"] == size and answer["state"] == "active" and len(answer["key"]) == 64
    assert download(swarm.url, answer["file_id"], answer["key"]) == data


def test_multipart_with_options_and_given_key(swarm):
    data = os.urandom(2 * CHUNK + 7)
    key = os.urandom(32).hex()
    answer = upload_multipart(
        swarm.url, data, {"key": key, "redundancy": "3-5", "chunk_size": 8192}
    )
    assert "key" not in answer  # never echoed when the caller chose it
    assert (answer["k"], answer["m"]) == (3, 5)
    assert download(swarm.url, answer["file_id"], key) == data


def test_unencrypted_file_needs_no_key(swarm):
    data = os.urandom(CHUNK * 2 + 3)
    answer = upload(swarm.url, data, encryption="false")
    assert "key" not in answer
    assert download(swarm.url, answer["file_id"], None) == data


def test_ranges(swarm):
    data = os.urandom(4 * CHUNK + 100)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    for start, end in [
        (0, 0),
        (5, 10),
        (CHUNK - 1, CHUNK),
        (CHUNK - 5, 2 * CHUNK + 5),
        (4 * CHUNK, len(data) - 1),
    ]:
        assert download(swarm.url, fid, key, f"bytes={start}-{end}") == data[start : end + 1]
    assert download(swarm.url, fid, key, "bytes=-50") == data[-50:]
    with pytest.raises(HTTPFailure) as err:
        download(swarm.url, fid, key, f"bytes={len(data)}-")
    assert err.value.status == 416


def test_wrong_or_missing_key_is_403_before_any_body(swarm):
    answer = upload(swarm.url, os.urandom(3 * CHUNK))
    for key in (os.urandom(32).hex(), None):
        with pytest.raises(HTTPFailure) as err:
            download(swarm.url, answer["file_id"], key)
        assert err.value.status == 403
        assert b"key" in err.value.body
    with pytest.raises(HTTPFailure) as err:
        download(swarm.url, answer["file_id"], "not-a-key")
    assert err.value.status == 400


def test_bad_options_are_clear_errors(swarm):
    for options, status in [
        ({"redundancy": "6-4"}, 400),
        ({"redundancy": "7-9"}, 503),
        ({"chunk_size": 10}, 400),
        ({"bogus": 1}, 400),
    ]:
        with pytest.raises(HTTPFailure) as err:
            upload(swarm.url, b"x", **options)
        assert err.value.status == status, (options, err.value.body)
    with pytest.raises(HTTPFailure) as err:
        upload(swarm.url, b"x", redundancy="6-7")
    assert b"need 7 live nodes" in err.value.body


def _hide(path):
    hidden = path.with_name(path.name + ".hidden")
    path.rename(hidden)
    return hidden


def test_any_k_of_m_shards_rebuild(swarm):
    data = os.urandom(3 * CHUNK + 5)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    paths = [swarm.shard_path(fid, i) for i in range(6)]
    for absent in itertools.combinations(range(6), 2):  # every 4-of-6 subset, all-parity included
        hidden = [_hide(paths[i]) for i in absent]
        try:
            assert download(swarm.url, fid, key) == data, absent
        finally:
            for h, i in zip(hidden, absent, strict=True):
                h.rename(paths[i])
    # m-k+1 shards gone: a clean failure, never a short body.
    hidden = [_hide(paths[i]) for i in (0, 2, 5)]
    try:
        with pytest.raises((HTTPFailure, *ABORTED)):
            download(swarm.url, fid, key)
    finally:
        for h, i in zip(hidden, (0, 2, 5), strict=True):
            h.rename(paths[i])


def _ok_shards(swarm, fid):
    db = sqlite3.connect(swarm.db_path)
    try:
        return {
            r[0]: r[1]
            for r in db.execute("SELECT shard_index, state FROM shards WHERE file_id=?", (fid,))
        }
    finally:
        db.close()


def _wait_state(swarm, fid, index, state, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ok_shards(swarm, fid).get(index) == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"shard {index} never became {state}: {_ok_shards(swarm, fid)}")


def _sha(swarm, fid):
    db = sqlite3.connect(swarm.db_path)
    try:
        return {
            r[0]: r[1]
            for r in db.execute("SELECT shard_index, digest FROM shards WHERE file_id=?", (fid,))
        }
    finally:
        db.close()


def test_bit_flip_is_detected_reported_and_repaired(swarm):
    data = os.urandom(4 * CHUNK + 3)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    original = _sha(swarm, fid)
    path = swarm.shard_path(fid, 1)
    raw = bytearray(path.read_bytes())
    raw[CHUNK // 4 + 100] ^= 0x04  # a bit of chunk 1's block
    path.write_bytes(bytes(raw))
    assert download(swarm.url, fid, key) == data  # from another shard
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # reported, repaired, byte-identical again
        swarm.check()
        if _ok_shards(swarm, fid).get(1) == "ok" and swarm.shard_path(fid, 1).read_bytes() != raw:
            break
        time.sleep(0.3)
    assert _sha(swarm, fid) == original
    assert swarm.shard_path(fid, 1).read_bytes() != bytes(raw)
    assert download(swarm.url, fid, key) == data


@pytest.mark.parametrize("tamper", ["swap_blocks", "other_index", "truncate", "extend"])
def test_tampered_shard_never_yields_wrong_bytes(swarm, tamper):
    data = os.urandom(3 * CHUNK + 1)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    path = swarm.shard_path(fid, 0)
    raw = path.read_bytes()
    record = (CHUNK + 16 + 3) // 4 + 16
    if tamper == "swap_blocks":
        forged = raw[record : 2 * record] + raw[:record] + raw[2 * record :]
    elif tamper == "other_index":
        forged = swarm.shard_path(fid, 1).read_bytes()
    elif tamper == "truncate":
        forged = raw[:-7]
    else:
        forged = raw + b"\0" * record
    path.write_bytes(forged)
    assert download(swarm.url, fid, key) == data
    _wait_state(swarm, fid, 0, "corrupt")


def test_corruption_beyond_m_minus_k_aborts(swarm):
    data = os.urandom(40 * CHUNK)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    record = (CHUNK + 16 + 3) // 4 + 16
    for i in range(3):  # chunk 38 corrupt in 3 of 6 shards
        path = swarm.shard_path(fid, i)
        raw = bytearray(path.read_bytes())
        raw[38 * record + 5] ^= 1
        path.write_bytes(bytes(raw))
    with pytest.raises(ABORTED):  # earlier chunks went out; the connection is cut, not ended
        download(swarm.url, fid, key)
    # A range that needs only the good chunks still works.
    assert download(swarm.url, fid, key, f"bytes=0-{CHUNK - 1}") == data[:CHUNK]


def test_edited_manifest_is_refused_before_the_body(swarm):
    data = os.urandom(2 * CHUNK)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    db = sqlite3.connect(swarm.db_path)
    try:
        import json

        (manifest,) = db.execute("SELECT manifest FROM files WHERE file_id=?", (fid,)).fetchone()
        edited = {**json.loads(manifest), "size": 2 * CHUNK - 1}
        with db:
            db.execute("UPDATE files SET manifest=? WHERE file_id=?", (json.dumps(edited), fid))
    finally:
        db.close()
    with pytest.raises(HTTPFailure) as err:
        download(swarm.url, fid, key)
    assert err.value.status == 500 and b"commitment" in err.value.body


def test_same_plaintext_twice_gives_different_ciphertext(swarm):
    data = os.urandom(2 * CHUNK)
    key = os.urandom(32).hex()
    a = upload(swarm.url, data, key=key)
    b = upload(swarm.url, data, key=key)
    for i in range(6):
        assert (
            swarm.shard_path(a["file_id"], i).read_bytes()
            != swarm.shard_path(b["file_id"], i).read_bytes()
        )
    assert download(swarm.url, a["file_id"], key) == download(swarm.url, b["file_id"], key) == data


def test_head_and_delete(swarm):
    import urllib.request

    data = os.urandom(CHUNK + 1)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    req = urllib.request.Request(f"{swarm.url}/files/{fid}", method="HEAD")
    with urllib.request.urlopen(req) as resp:
        assert int(resp.headers["Content-Length"]) == len(data)
        assert resp.headers["X-File-State"] == "active"
    paths = [swarm.shard_path(fid, i) for i in range(6)]
    assert delete(swarm.url, fid, os.urandom(32).hex()) == 403
    assert delete(swarm.url, fid, key) == 200
    with pytest.raises(HTTPFailure) as err:
        download(swarm.url, fid, key)
    assert err.value.status == 404
    deadline = time.monotonic() + 10
    while any(p.exists() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.2)  # nodes collect the garbage on their next heartbeat
    assert not any(p.exists() for p in paths)


def test_audit_finds_corruption_no_download_touches(swarm):
    data = os.urandom(6 * CHUNK)
    answer = upload(swarm.url, data)
    fid = answer["file_id"]
    path = swarm.shard_path(fid, 5)  # parity: downloads never read it while primaries are fine
    raw = bytearray(path.read_bytes())
    record = (CHUNK + 16 + 3) // 4 + 16
    for c in range(6):
        raw[c * record + 1] ^= 0x80
    path.write_bytes(bytes(raw))
    import urllib.request

    req = urllib.request.Request(f"{swarm.url}/admin/check?audit=100000", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=120).read()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _ok_shards(swarm, fid).get(5) == "ok" and swarm.shard_path(fid, 5).read_bytes() != raw:
            break
        swarm.check()
        time.sleep(0.2)
    assert _ok_shards(swarm, fid)[5] == "ok"
    assert swarm.shard_path(fid, 5).read_bytes() != bytes(raw)  # rebuilt, byte-identical again


def test_parallel_uploads_and_downloads(swarm):
    from concurrent.futures import ThreadPoolExecutor

    def roundtrip(i):
        data = os.urandom(i * 997 + 10 * CHUNK)
        answer = upload(swarm.url, data)
        return download(swarm.url, answer["file_id"], answer["key"]) == data

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(roundtrip, range(16)))


def test_download_while_repair_runs(swarm):
    import threading
    import urllib.request

    data = os.urandom(1500 * CHUNK)
    answer = upload(swarm.url, data)
    fid, key = answer["file_id"], answer["key"]
    path = swarm.shard_path(fid, 0)
    raw = bytearray(path.read_bytes())
    record = (CHUNK + 16 + 3) // 4 + 16
    raw[700 * record + 3] ^= 1
    path.write_bytes(bytes(raw))
    got = []

    def slow_download():
        req = urllib.request.Request(f"{swarm.url}/files/{fid}", headers={"X-Encryption-Key": key})
        with urllib.request.urlopen(req, timeout=120) as resp:
            while piece := resp.read(64 * CHUNK):
                got.append(piece)
                time.sleep(0.01)

    thread = threading.Thread(target=slow_download)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # repair rewrites shard 0 while the download reads it
        swarm.check()
        if _ok_shards(swarm, fid).get(0) == "ok" and swarm.shard_path(fid, 0).read_bytes() != raw:
            break
        time.sleep(0.1)
    thread.join(120)
    assert b"".join(got) == data
    assert download(swarm.url, fid, key) == data


def test_status_command(swarm):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "corestore.cli", "swarm", "status", "--coordinator", swarm.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(node_id in out for node_id in swarm.node_ids)
    assert "alive" in out and "active" in out
    as_json = subprocess.run(
        [
            sys.executable,
            "-m",
            "corestore.cli",
            "swarm",
            "status",
            "--coordinator",
            swarm.url,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import json

    status = json.loads(as_json)
    assert len(status["nodes"]) == 6 and status["files"]


def test_coordinator_restart_keeps_everything(swarm):
    """Killed without warning, the coordinator comes back from its SQLite WAL; nodes carry on."""
    data = os.urandom(5 * CHUNK + 1)
    answer = upload(swarm.url, data)
    swarm.restart_coordinator()
    assert download(swarm.url, answer["file_id"], answer["key"]) == data
    again = upload(swarm.url, data)
    assert again["state"] == "active"
    assert download(swarm.url, again["file_id"], again["key"]) == data
