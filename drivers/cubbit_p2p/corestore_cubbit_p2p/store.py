"""The coordinator's state: SQLite in WAL mode, one writer thread, invariants in transactions.

* one live shard per (file, index): the primary key of ``shards``;
* at most one shard of a file per node: ``UNIQUE(file_id, node_id)``;
* a file's state follows from its ``ok`` shards: ``active`` = m, ``degraded`` = k..m-1,
  ``lost`` < k;
* the manifest is committed in the same transaction as the shard rows (and the namespace entry);
* repair swaps a shard with compare-and-swap on (file, index, old node);
* replaced or orphaned shard copies go to ``garbage`` until their node confirms the delete.

All methods are synchronous and run on the store's single thread (:meth:`Store.run`), so the
event loop never blocks on SQLite and there is exactly one writer.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from corestore.errors import Aborted, NotFound, Unavailable

from .crypto import new_integrity_key
from .manifest import Manifest
from .placement import Candidate, rank

__all__ = ["Store"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY, url TEXT NOT NULL, zone TEXT NOT NULL DEFAULT '',
    capacity INTEGER NOT NULL, used INTEGER NOT NULL, shards INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('alive','suspect','dead')),
    last_heartbeat REAL NOT NULL, registered_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY, size INTEGER, chunk_size INTEGER NOT NULL, k INTEGER NOT NULL,
    m INTEGER NOT NULL, cipher TEXT NOT NULL, manifest TEXT, k_int TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','active','degraded','lost')),
    created_at REAL NOT NULL, completed_at REAL);
CREATE TABLE IF NOT EXISTS shards (
    file_id TEXT NOT NULL REFERENCES files(file_id) ON DELETE CASCADE,
    shard_index INTEGER NOT NULL, node_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('writing','ok','missing','corrupt')),
    bytes INTEGER, digest TEXT, updated_at REAL NOT NULL,
    PRIMARY KEY (file_id, shard_index), UNIQUE (file_id, node_id));
CREATE INDEX IF NOT EXISTS shards_by_node ON shards(node_id);
CREATE TABLE IF NOT EXISTS garbage (
    node_id TEXT NOT NULL, file_id TEXT NOT NULL, shard_index INTEGER NOT NULL,
    PRIMARY KEY (node_id, file_id, shard_index));
CREATE TABLE IF NOT EXISTS repair_jobs (
    file_id TEXT PRIMARY KEY REFERENCES files(file_id) ON DELETE CASCADE,
    priority INTEGER NOT NULL, reason TEXT NOT NULL, not_before REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until REAL);
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY, parent_id TEXT, name TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('file','container')),
    file_id TEXT, size INTEGER NOT NULL DEFAULT 0, mtime REAL NOT NULL, etag TEXT NOT NULL,
    checksum TEXT, metadata TEXT NOT NULL DEFAULT '{}',
    UNIQUE (parent_id, name));
"""


class Store:
    def __init__(self, path: Path | str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2p-db")
        self._path = str(path)
        self.db: sqlite3.Connection = self._pool.submit(self._connect).result()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        columns = {r[1] for r in db.execute("PRAGMA table_info(shards)")}
        if "sha256" in columns:  # databases from before shard digests were XXH3
            db.execute("ALTER TABLE shards RENAME COLUMN sha256 TO digest")
        db.executescript(SCHEMA)
        db.execute(
            "INSERT OR IGNORE INTO entries(id, parent_id, name, type, mtime, etag) "
            "VALUES ('root', NULL, '', 'container', ?, ?)",
            (time.time(), uuid.uuid4().hex),
        )
        return db

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` in one transaction on the store thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._tx, fn, args)

    def _tx(self, fn: Callable[..., T], args: tuple) -> T:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self.db, *args)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return result

    def close(self) -> None:
        self._pool.submit(self.db.close).result()
        self._pool.shutdown()


# -- nodes ------------------------------------------------------------------------------------


def register_node(db: sqlite3.Connection, info: dict, inventory: list) -> list[list]:
    """Upsert a node, reconcile its inventory, and return the shards it must delete."""
    now = time.time()
    db.execute(
        "INSERT INTO nodes(node_id, url, zone, capacity, used, shards, state, last_heartbeat, "
        "registered_at) "
        "VALUES (?,?,?,?,?,?,'alive',?,?) ON CONFLICT(node_id) DO UPDATE SET url=excluded.url, "
        "zone=excluded.zone, capacity=excluded.capacity, used=excluded.used, "
        "shards=excluded.shards, "
        "state='alive', last_heartbeat=excluded.last_heartbeat",
        (
            info["node_id"],
            info["url"],
            info.get("zone", ""),
            info["capacity"],
            info["used"],
            info.get("shards", 0),
            now,
            now,
        ),
    )
    touched = set()
    for file_id, index, size in inventory:
        row = db.execute(
            "SELECT node_id, state, bytes FROM shards WHERE file_id=? AND shard_index=?",
            (file_id, index),
        ).fetchone()
        if row is not None and row["node_id"] == info["node_id"]:
            if row["state"] == "missing" and row["bytes"] == size:
                db.execute(
                    "UPDATE shards SET state='ok', updated_at=? WHERE file_id=? AND shard_index=?",
                    (now, file_id, index),
                )
                touched.add(file_id)
            continue
        db.execute(
            "INSERT OR IGNORE INTO garbage VALUES (?,?,?)", (info["node_id"], file_id, index)
        )
    for file_id in touched:
        refresh_file_state(db, file_id)
    return garbage_for(db, info["node_id"])


def heartbeat(db: sqlite3.Connection, node_id: str, info: dict) -> list[list] | None:
    """Record a heartbeat; ``None`` asks the node to register again (unknown or declared dead)."""
    row = db.execute("SELECT state FROM nodes WHERE node_id=?", (node_id,)).fetchone()
    if row is None or row["state"] == "dead":
        return None
    db.execute(
        "UPDATE nodes SET capacity=?, used=?, shards=?, state='alive', last_heartbeat=? "
        "WHERE node_id=?",
        (info["capacity"], info["used"], info.get("shards", 0), time.time(), node_id),
    )
    for file_id, index in info.get("deleted", []):
        db.execute(
            "DELETE FROM garbage WHERE node_id=? AND file_id=? AND shard_index=?",
            (node_id, file_id, index),
        )
    return garbage_for(db, node_id)


def garbage_for(db: sqlite3.Connection, node_id: str) -> list[list]:
    rows = db.execute("SELECT file_id, shard_index FROM garbage WHERE node_id=?", (node_id,))
    return [[r["file_id"], r["shard_index"]] for r in rows]


def live_candidates(db: sqlite3.Connection) -> list[Candidate]:
    rows = db.execute("SELECT node_id, url, capacity, used, zone FROM nodes WHERE state='alive'")
    return [Candidate(r["node_id"], r["url"], r["capacity"] - r["used"], r["zone"]) for r in rows]


def sweep_nodes(db: sqlite3.Connection, suspect_after: float, dead_after: float) -> list[str]:
    """alive -> suspect after missed heartbeats; return suspects overdue for the dead check."""
    now = time.time()
    db.execute(
        "UPDATE nodes SET state='suspect' WHERE state='alive' AND last_heartbeat < ?",
        (now - suspect_after,),
    )
    rows = db.execute(
        "SELECT node_id FROM nodes WHERE state='suspect' AND last_heartbeat < ?",
        (now - dead_after,),
    )
    return [r["node_id"] for r in rows]


def declare_dead(db: sqlite3.Connection, node_id: str, grace: float) -> list[str]:
    """Mark a node dead and its shards missing; queue repair of every affected file."""
    db.execute("UPDATE nodes SET state='dead' WHERE node_id=?", (node_id,))
    files = [
        r["file_id"]
        for r in db.execute(
            "SELECT file_id FROM shards WHERE node_id=? AND state IN ('ok','writing')", (node_id,)
        )
    ]
    db.execute(
        "UPDATE shards SET state='missing', updated_at=? WHERE node_id=? AND state='ok'",
        (time.time(), node_id),
    )
    for file_id in files:
        refresh_file_state(db, file_id)
        queue_repair(db, file_id, f"node {node_id} dead", delay=grace)
    return files


def node_seen(db: sqlite3.Connection, node_id: str) -> None:
    db.execute("UPDATE nodes SET last_heartbeat=? WHERE node_id=?", (time.time(), node_id))


def list_nodes(db: sqlite3.Connection) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM nodes ORDER BY registered_at")]


# -- files and shards -------------------------------------------------------------------------


def allocate(
    db: sqlite3.Connection, k: int, m: int, chunk_size: int, cipher: str, est_size: int
) -> dict:
    """Create a pending file and place its m shards on m distinct live nodes."""
    file_id = str(uuid.uuid4())
    shard_est = int(1.1 * (est_size // k + 1))
    nodes = [c for c in live_candidates(db) if c.free >= shard_est]
    if len(nodes) < m:
        alive = len(live_candidates(db))
        raise Unavailable(f"need {m} live nodes with free space, have {len(nodes)} ({alive} alive)")
    chosen = rank(file_id, nodes, need=m)[:m]
    k_int = new_integrity_key()
    now = time.time()
    db.execute(
        "INSERT INTO files(file_id, chunk_size, k, m, cipher, k_int, state, created_at) "
        "VALUES (?,?,?,?,?,?,'pending',?)",
        (file_id, chunk_size, k, m, cipher, k_int.hex(), now),
    )
    for index, node in enumerate(chosen):
        db.execute(
            "INSERT INTO shards(file_id, shard_index, node_id, state, updated_at) "
            "VALUES (?,?,?,'writing',?)",
            (file_id, index, node.node_id, now),
        )
    return {
        "file_id": file_id,
        "k_int": k_int.hex(),
        "placements": [
            {"index": i, "node_id": n.node_id, "url": n.url} for i, n in enumerate(chosen)
        ],
    }


def commit(db: sqlite3.Connection, manifest: Manifest, stored: dict[str, dict]) -> str:
    """Record the manifest and the shards that were stored; return the file's state."""
    row = db.execute("SELECT * FROM files WHERE file_id=?", (manifest.file_id,)).fetchone()
    if row is None or row["state"] != "pending":
        raise Aborted(f"file {manifest.file_id} is not an upload in progress")
    if (row["k"], row["m"], row["chunk_size"], row["cipher"], row["k_int"]) != (
        manifest.k,
        manifest.m,
        manifest.chunk_size,
        manifest.cipher,
        manifest.k_int,
    ):
        raise Aborted("the manifest does not match the allocation")
    now = time.time()
    for index, info in stored.items():
        cur = db.execute(
            "UPDATE shards SET state='ok', bytes=?, digest=?, updated_at=? "
            "WHERE file_id=? AND shard_index=? AND node_id=? AND state='writing'",
            (info["size"], info["digest"], now, manifest.file_id, int(index), info["node_id"]),
        )
        if cur.rowcount != 1:
            raise Aborted(f"shard {index} was not placed on node {info['node_id']}")
    db.execute(
        "UPDATE shards SET state='missing', updated_at=? WHERE file_id=? AND state='writing'",
        (now, manifest.file_id),
    )
    db.execute(
        "UPDATE files SET size=?, manifest=?, completed_at=?, state='degraded' WHERE file_id=?",
        (manifest.size, json.dumps(manifest.to_json()), now, manifest.file_id),
    )
    state = refresh_file_state(db, manifest.file_id)
    if state != "active":
        queue_repair(db, manifest.file_id, "uploaded degraded")
    return state


def refresh_file_state(db: sqlite3.Connection, file_id: str) -> str:
    row = db.execute("SELECT k, m, state FROM files WHERE file_id=?", (file_id,)).fetchone()
    if row is None or row["state"] == "pending":
        return row["state"] if row else "gone"
    ok = db.execute(
        "SELECT COUNT(*) FROM shards s JOIN nodes n ON n.node_id=s.node_id "
        "WHERE s.file_id=? AND s.state='ok' AND n.state != 'dead'",
        (file_id,),
    ).fetchone()[0]
    state = "active" if ok >= row["m"] else "degraded" if ok >= row["k"] else "lost"
    db.execute("UPDATE files SET state=? WHERE file_id=?", (state, file_id))
    return state


def delete_file(db: sqlite3.Connection, file_id: str) -> None:
    """Forget a file; every copy of its shards becomes garbage for its node to delete."""
    for r in db.execute(
        "SELECT node_id, shard_index FROM shards WHERE file_id=?", (file_id,)
    ).fetchall():
        db.execute(
            "INSERT OR IGNORE INTO garbage VALUES (?,?,?)",
            (r["node_id"], file_id, r["shard_index"]),
        )
    db.execute("DELETE FROM files WHERE file_id=?", (file_id,))


def file_info(db: sqlite3.Connection, file_id: str) -> dict:
    """The manifest and where each shard is, primaries first, with node states."""
    row = db.execute("SELECT * FROM files WHERE file_id=?", (file_id,)).fetchone()
    if row is None or row["manifest"] is None:
        raise NotFound(f"no file {file_id}")
    shards = [
        dict(r)
        for r in db.execute(
            "SELECT s.shard_index AS 'index', s.node_id, s.state, s.bytes, s.digest, n.url, "
            "n.state AS node_state FROM shards s JOIN nodes n ON n.node_id=s.node_id "
            "WHERE s.file_id=? ORDER BY s.shard_index",
            (file_id,),
        )
    ]
    return {"manifest": json.loads(row["manifest"]), "state": row["state"], "shards": shards}


def report(db: sqlite3.Connection, file_id: str, index: int, node_id: str, kind: str) -> None:
    if kind == "corrupt":
        cur = db.execute(
            "UPDATE shards SET state='corrupt', updated_at=? WHERE file_id=? AND shard_index=? "
            "AND node_id=? AND state='ok'",
            (time.time(), file_id, index, node_id),
        )
        if cur.rowcount:
            refresh_file_state(db, file_id)
            queue_repair(db, file_id, f"shard {index} corrupt on {node_id}")


def queue_repair(db: sqlite3.Connection, file_id: str, reason: str, delay: float = 0.0) -> None:
    row = db.execute("SELECT k FROM files WHERE file_id=?", (file_id,)).fetchone()
    if row is None:
        return
    ok = db.execute(
        "SELECT COUNT(*) FROM shards WHERE file_id=? AND state='ok'", (file_id,)
    ).fetchone()[0]
    db.execute(
        "INSERT INTO repair_jobs(file_id, priority, reason, not_before) VALUES (?,?,?,?) "
        "ON CONFLICT(file_id) DO UPDATE SET priority=excluded.priority, reason=excluded.reason, "
        "not_before=MIN(repair_jobs.not_before, excluded.not_before)",
        (file_id, ok - row["k"], reason, time.time() + delay),
    )


def lease_job(db: sqlite3.Connection, owner: str, lease: float) -> str | None:
    now = time.time()
    row = db.execute(
        "SELECT file_id FROM repair_jobs WHERE not_before <= ? "
        "AND (lease_until IS NULL OR lease_until < ?) "
        "ORDER BY priority, not_before LIMIT 1",
        (now, now),
    ).fetchone()
    if row is None:
        return None
    db.execute(
        "UPDATE repair_jobs SET lease_owner=?, lease_until=?, attempts=attempts+1 WHERE file_id=?",
        (owner, now + lease, row["file_id"]),
    )
    return row["file_id"]


def finish_job(db: sqlite3.Connection, file_id: str, owner: str, ok: bool, backoff: float) -> None:
    if ok:
        db.execute("DELETE FROM repair_jobs WHERE file_id=? AND lease_owner=?", (file_id, owner))
    else:  # exponential backoff; the checker re-queues a file that keeps failing
        db.execute(
            "UPDATE repair_jobs SET lease_owner=NULL, lease_until=NULL, "
            "not_before=? + ? * (1 << MIN(attempts, 10)) WHERE file_id=? AND lease_owner=?",
            (time.time(), backoff, file_id, owner),
        )


def repair_targets(db: sqlite3.Connection, file_id: str, count: int) -> list[Candidate]:
    """Live nodes holding no shard of this file, in placement order."""
    holders = {r[0] for r in db.execute("SELECT node_id FROM shards WHERE file_id=?", (file_id,))}
    return [c for c in rank(file_id, live_candidates(db)) if c.node_id not in holders][:count]


def swap_shard(
    db: sqlite3.Connection,
    file_id: str,
    index: int,
    old_node: str,
    new_node: str,
    size: int,
    sha: str,
) -> bool:
    """Compare-and-swap a repaired shard onto its new node; the old copy becomes garbage."""
    cur = db.execute(
        "UPDATE shards SET node_id=?, state='ok', bytes=?, digest=?, updated_at=? "
        "WHERE file_id=? AND shard_index=? AND node_id=?",
        (new_node, size, sha, time.time(), file_id, index, old_node),
    )
    if cur.rowcount != 1:
        return False
    if old_node != new_node:
        db.execute("INSERT OR IGNORE INTO garbage VALUES (?,?,?)", (old_node, file_id, index))
    refresh_file_state(db, file_id)
    return True


def mark_lost(db: sqlite3.Connection, file_id: str) -> None:
    db.execute("UPDATE files SET state='lost' WHERE file_id=?", (file_id,))
    db.execute("DELETE FROM repair_jobs WHERE file_id=?", (file_id,))


def checker_scan(db: sqlite3.Connection, pending_timeout: float) -> None:
    """Queue repair for files short of m healthy shards; drop uploads abandoned for too long."""
    rows = db.execute(
        "SELECT f.file_id FROM files f WHERE f.state IN ('active','degraded') AND f.m > ("
        " SELECT COUNT(*) FROM shards s JOIN nodes n ON n.node_id=s.node_id"
        " WHERE s.file_id=f.file_id AND s.state='ok' AND n.state != 'dead')"
        " AND f.file_id NOT IN (SELECT file_id FROM repair_jobs)"
    ).fetchall()
    for r in rows:
        refresh_file_state(db, r["file_id"])
        queue_repair(db, r["file_id"], "checker")
    for r in db.execute(
        "SELECT file_id FROM files WHERE state='pending' AND created_at < ?",
        (time.time() - pending_timeout,),
    ).fetchall():
        delete_file(db, r["file_id"])


def audit_sample(db: sqlite3.Connection, count: int) -> list[dict]:
    rows = db.execute(
        "SELECT s.file_id, s.shard_index, s.node_id, n.url, f.manifest FROM shards s "
        "JOIN nodes n ON n.node_id=s.node_id JOIN files f ON f.file_id=s.file_id "
        "WHERE s.state='ok' AND n.state='alive' AND f.manifest IS NOT NULL "
        "ORDER BY RANDOM() LIMIT ?",
        (count,),
    )
    return [dict(r) for r in rows]


def status(db: sqlite3.Connection) -> dict:
    files = [
        dict(r)
        for r in db.execute(
            "SELECT f.file_id, f.size, f.k, f.m, f.state, (SELECT COUNT(*) FROM shards s "
            "WHERE s.file_id=f.file_id AND s.state='ok') AS ok_shards FROM files f "
            "WHERE f.state != 'pending' ORDER BY f.created_at"
        )
    ]
    jobs = [
        dict(r) for r in db.execute("SELECT file_id, priority, reason, attempts FROM repair_jobs")
    ]
    return {"nodes": list_nodes(db), "files": files, "repair_jobs": jobs}
