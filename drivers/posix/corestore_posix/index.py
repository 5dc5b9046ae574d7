"""The SQLite index: everything about a resource that a plain filesystem cannot hold.

One row per node, **keyed by path**, with a random UUID as its id. Why path and not (dev, inode):

* ``write`` commits by renaming a new file into place, so a file's inode changes on every write
  while its id must not; keying by inode would need a re-key on every write instead of on moves;
* inodes are reused after a delete, so a stale row could hand an old id, metadata or grants to an
  unrelated new file;
* a move of a whole folder is still cheap: one ``UPDATE`` over a contiguous range of the path
  index (``path >= '/a/' AND path < '/a0'``: ``'0'`` sorts right after ``'/'``), done in the same
  transaction as the rename.

Rows of deleted nodes are re-keyed under ``trash:<key>`` (a prefix no client path can spell, since
they all start with ``/``), so restoring an item gives back its ids, metadata, grants and versions.

Etags: each row has a random ``token`` renewed whenever the node or anything below it changes
(the change is propagated to every ancestor). The etag is a hash of the id, token, mtime and
size, so a file edited behind the driver's back also gets a new etag. ``size`` is the bytes the
driver accounted: a file's size, a folder's tree size, which makes quota ``used`` one lookup.
``checksum`` is valid while the file still has the ``stamp`` (inode, size, mtime) it was
computed for; an outside edit or a crash between rename and commit makes it ``None``, never wrong.

Every method except :meth:`open`, :meth:`close`, :meth:`read` and :meth:`transaction` expects
to run inside one of those two context managers, which hold the index lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from corestore.resources import (
    Checksum,
    FileVersion,
    Grant,
    Grantee,
    GranteeType,
    Lock,
    LockType,
    Permission,
    RecycleItem,
    ResourceType,
)

__all__ = ["Index", "Node", "TRASH_PREFIX", "new_id"]

TRASH_PREFIX = "trash:"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id       TEXT PRIMARY KEY,
    path     TEXT NOT NULL UNIQUE,
    token    TEXT NOT NULL,
    size     INTEGER NOT NULL DEFAULT 0,
    checksum TEXT,
    stamp    TEXT
);
CREATE TABLE IF NOT EXISTS metadata (
    node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (node_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locks (
    node_id       TEXT PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
    lock_id       TEXT NOT NULL,
    type          TEXT NOT NULL,
    user          TEXT,
    app_name      TEXT,
    expiration    REAL,
    creation_time REAL
);
CREATE TABLE IF NOT EXISTS grants (
    node_id      TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    grantee_type TEXT NOT NULL,
    grantee_id   TEXT NOT NULL,
    idp          TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    creator      TEXT,
    expiration   REAL,
    PRIMARY KEY (node_id, grantee_type, grantee_id, idp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    node_id  TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    size     INTEGER NOT NULL,
    mtime    REAL NOT NULL,
    etag     TEXT NOT NULL,
    checksum TEXT,
    created  INTEGER NOT NULL,
    PRIMARY KEY (node_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recycle (
    key           TEXT PRIMARY KEY,
    path          TEXT NOT NULL,
    type          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    deletion_time REAL NOT NULL
);
"""


def new_id() -> str:
    """A fresh opaque id (also used for tokens, version keys and recycle keys)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Node:
    """One row of ``nodes``."""

    id: str
    path: str
    token: str
    size: int
    checksum: Checksum | None
    stamp: str | None


def _subtree(path: str) -> tuple[str, str, str]:
    """``(path, low, high)`` so ``path = ? OR (path >= low AND path < high)`` is the subtree."""
    low = path if path.endswith("/") else path + "/"
    return path, low, low[:-1] + "0"


_SUBTREE_SQL = "(path = ? OR (path >= ? AND path < ?))"


def ancestors(path: str) -> list[str]:
    """The paths of the folders above ``path``, root first (``/a/b`` gives ``/``, ``/a``)."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts))]


def _checksum(text: str | None) -> Checksum | None:
    if not text:
        return None
    kind, _, value = text.partition(":")
    return Checksum(kind, value)


class Index:
    """The driver's SQLite database: one connection, one lock, short transactions."""

    def __init__(self, path: Path, *, durable: bool) -> None:
        self.path = path
        self.durable = durable
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    # -- lifecycle and transactions -----------------------------------------------------------

    def open(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a process crash; FULL also survives a power cut.
        db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=10000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            db.close()
            raise RuntimeError(f"index schema version {version} is newer than this driver")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db = db
        with self.transaction():
            self.ensure("/")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "index not opened"
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[Index]:
        """Hold the lock and one write transaction; roll back if the block raises.

        Driver operations change the file tree *inside* this block, after their checks and
        before the commit, so the index never commits a change the filesystem refused.
        """
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Index]:
        """Hold the lock for reads (and the lazy inserts of nodes seen for the first time)."""
        with self.transaction():
            yield self

    # -- nodes --------------------------------------------------------------------------------

    def node(self, path: str) -> Node | None:
        row = self.db.execute(
            "SELECT id, path, token, size, checksum, stamp FROM nodes WHERE path = ?", (path,)
        ).fetchone()
        return (
            None if row is None else Node(row[0], row[1], row[2], row[3], _checksum(row[4]), row[5])
        )

    def ensure(self, path: str) -> Node:
        """The row of ``path``, created (with a new id, nothing accounted) if missing.

        Files put into ``files/`` behind the driver's back get their id the first time they are
        seen; their bytes are accounted once the driver writes them.
        """
        self.db.execute(
            "INSERT OR IGNORE INTO nodes (id, path, token) VALUES (?, ?, ?)",
            (new_id(), path, new_id()),
        )
        node = self.node(path)
        assert node is not None
        return node

    def ensure_many(self, paths: Sequence[str]) -> dict[str, Node]:
        """:meth:`ensure` for a batch of paths (one listing page), in two statements."""
        self.db.executemany(
            "INSERT OR IGNORE INTO nodes (id, path, token) VALUES (?, ?, ?)",
            [(new_id(), p, new_id()) for p in paths],
        )
        found: dict[str, Node] = {}
        for start in range(0, len(paths), 500):
            batch = paths[start : start + 500]
            marks = ",".join("?" * len(batch))
            for row in self.db.execute(
                f"SELECT id, path, token, size, checksum, stamp FROM nodes WHERE path IN ({marks})",
                batch,
            ):
                found[row[1]] = Node(row[0], row[1], row[2], row[3], _checksum(row[4]), row[5])
        return found

    def path_of(self, node_id: str) -> str | None:
        """The current path of an id (``None`` if unknown; may be a ``trash:`` path)."""
        row = self.db.execute("SELECT path FROM nodes WHERE id = ?", (node_id,)).fetchone()
        return None if row is None else row[0]

    def set_content(
        self, path: str, *, size: int, checksum: Checksum | None, stamp: str | None
    ) -> Node:
        """Record a file's new content and propagate the size change and new etag upwards."""
        node = self.ensure(path)
        self.db.execute(
            "UPDATE nodes SET token = ?, size = ?, checksum = ?, stamp = ? WHERE id = ?",
            (new_id(), size, str(checksum) if checksum else None, stamp, node.id),
        )
        self.propagate(path, size - node.size)
        return self.ensure(path)

    def changed(self, path: str) -> None:
        """Give ``path`` and its ancestors new etags (metadata change, create, restore...)."""
        self.db.execute("UPDATE nodes SET token = ? WHERE path = ?", (new_id(), path))
        self.propagate(path, 0)

    def propagate(self, path: str, size_delta: int) -> None:
        """New tokens for every ancestor of ``path``, whose tree sizes change by ``size_delta``."""
        above = ancestors(path)
        for folder in above:
            self.ensure(folder)
        marks = ",".join("?" * len(above))
        self.db.execute(
            f"UPDATE nodes SET token = ?, size = size + ? WHERE path IN ({marks})",
            (new_id(), size_delta, *above),
        )

    def rekey(self, old: str, new: str) -> None:
        """Move the rows of a subtree from path ``old`` to ``new`` (a move, delete or restore)."""
        self.drop_subtree(new)  # rows left by files removed behind the driver's back
        self.db.execute(
            f"UPDATE nodes SET path = ? || substr(path, ?) WHERE {_SUBTREE_SQL}",
            (new, len(old) + 1, *_subtree(old)),
        )

    def drop_subtree(self, path: str) -> list[str]:
        """Delete the rows of a subtree (metadata, locks, grants and versions cascade).

        :returns: the ids deleted, so the caller can remove their version files.
        """
        ids = [
            r[0]
            for r in self.db.execute(f"SELECT id FROM nodes WHERE {_SUBTREE_SQL}", _subtree(path))
        ]
        self.db.execute(f"DELETE FROM nodes WHERE {_SUBTREE_SQL}", _subtree(path))
        return ids

    def subtree_ids(self, path: str) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(f"SELECT id FROM nodes WHERE {_SUBTREE_SQL}", _subtree(path))
        ]

    # -- metadata -----------------------------------------------------------------------------

    def metadata(self, node_id: str, keys: Sequence[str]) -> dict[str, str]:
        """The requested keys that are set (all of them for ``"*"``)."""
        if not keys:
            return {}
        if "*" in keys:
            rows = self.db.execute("SELECT key, value FROM metadata WHERE node_id = ?", (node_id,))
        else:
            marks = ",".join("?" * len(keys))
            rows = self.db.execute(
                f"SELECT key, value FROM metadata WHERE node_id = ? AND key IN ({marks})",
                (node_id, *keys),
            )
        return dict(rows.fetchall())

    def set_metadata(self, node_id: str, values: Mapping[str, str]) -> None:
        self.db.executemany(
            "INSERT INTO metadata (node_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (node_id, key) DO UPDATE SET value = excluded.value",
            [(node_id, k, v) for k, v in values.items()],
        )

    def unset_metadata(self, node_id: str, keys: Iterable[str]) -> None:
        self.db.executemany(
            "DELETE FROM metadata WHERE node_id = ? AND key = ?", [(node_id, k) for k in keys]
        )

    # -- locks --------------------------------------------------------------------------------

    def lock(self, node_id: str) -> Lock | None:
        """The stored lock, expired or not (:func:`corestore.locks.live_lock` decides)."""
        row = self.db.execute(
            "SELECT lock_id, type, user, app_name, expiration, creation_time FROM locks "
            "WHERE node_id = ?",
            (node_id,),
        ).fetchone()
        if row is None:
            return None
        return Lock(row[0], LockType(row[1]), row[2], row[3], row[4], row[5])

    def put_lock(self, node_id: str, lock: Lock) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                node_id,
                lock.lock_id,
                lock.type.value,
                lock.user,
                lock.app_name,
                lock.expiration,
                lock.creation_time if lock.creation_time is not None else time.time(),
            ),
        )

    def drop_lock(self, node_id: str) -> None:
        self.db.execute("DELETE FROM locks WHERE node_id = ?", (node_id,))

    def locks_below(self, path: str) -> list[tuple[str, Lock]]:
        """``(path, lock)`` of every stored lock in a subtree: a delete or move takes them along."""
        rows = self.db.execute(
            "SELECT n.path, l.lock_id, l.type, l.user, l.app_name, l.expiration, l.creation_time "
            "FROM locks l JOIN nodes n ON n.id = l.node_id "
            f"WHERE l.node_id IN (SELECT id FROM nodes WHERE {_SUBTREE_SQL})",
            _subtree(path),
        )
        return [(r[0], Lock(r[1], LockType(r[2]), r[3], r[4], r[5], r[6])) for r in rows]

    def drop_locks_below(self, path: str) -> None:
        self.db.execute(
            f"DELETE FROM locks WHERE node_id IN (SELECT id FROM nodes WHERE {_SUBTREE_SQL})",
            _subtree(path),
        )

    # -- grants -------------------------------------------------------------------------------

    def grants(self, node_id: str) -> list[Grant]:
        rows = self.db.execute(
            "SELECT grantee_type, grantee_id, idp, permissions, creator, expiration FROM grants "
            "WHERE node_id = ?",
            (node_id,),
        )
        return [
            Grant(
                Grantee(GranteeType(r[0]), r[1], r[2]),
                frozenset(Permission(p) for p in r[3].split(",") if p),
                r[4],
                r[5],
            )
            for r in rows
        ]

    def has_grant(self, node_id: str, grantee: Grantee) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM grants WHERE node_id = ? AND grantee_type = ? AND grantee_id = ? "
                "AND idp = ?",
                (node_id, grantee.type.value, grantee.id, grantee.idp),
            ).fetchone()
            is not None
        )

    def put_grant(self, node_id: str, grant: Grant) -> None:
        """Store a grant; an empty permission set is stored as is: it is a deny grant."""
        self.db.execute(
            "INSERT OR REPLACE INTO grants VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                node_id,
                grant.grantee.type.value,
                grant.grantee.id,
                grant.grantee.idp,
                ",".join(sorted(p.value for p in grant.permissions)),
                grant.creator,
                grant.expiration,
            ),
        )

    def drop_grant(self, node_id: str, grantee: Grantee) -> None:
        self.db.execute(
            "DELETE FROM grants "
            "WHERE node_id = ? AND grantee_type = ? AND grantee_id = ? AND idp = ?",
            (node_id, grantee.type.value, grantee.id, grantee.idp),
        )

    # -- versions -----------------------------------------------------------------------------

    def add_version(self, node_id: str, version: FileVersion, checksum: Checksum | None) -> None:
        self.db.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                node_id,
                version.key,
                version.size,
                version.mtime,
                version.etag,
                str(checksum) if checksum else None,
                time.time_ns(),
            ),
        )

    def versions(self, node_id: str) -> list[FileVersion]:
        """Newest first (by when they stopped being current)."""
        rows = self.db.execute(
            "SELECT key, size, mtime, etag FROM versions WHERE node_id = ? ORDER BY created DESC",
            (node_id,),
        )
        return [FileVersion(*r) for r in rows]

    def version(self, node_id: str, key: str) -> tuple[FileVersion, Checksum | None] | None:
        row = self.db.execute(
            "SELECT key, size, mtime, etag, checksum FROM versions WHERE node_id = ? AND key = ?",
            (node_id, key),
        ).fetchone()
        return None if row is None else (FileVersion(*row[:4]), _checksum(row[4]))

    def drop_version(self, node_id: str, key: str) -> None:
        self.db.execute("DELETE FROM versions WHERE node_id = ? AND key = ?", (node_id, key))

    # -- recycle bin --------------------------------------------------------------------------

    def add_recycle_item(self, item: RecycleItem) -> None:
        self.db.execute(
            "INSERT INTO recycle VALUES (?, ?, ?, ?, ?)",
            (item.key, item.path, item.type.value, item.size, item.deletion_time),
        )

    def recycle_items(self) -> list[RecycleItem]:
        rows = self.db.execute(
            "SELECT key, path, type, size, deletion_time FROM recycle ORDER BY deletion_time DESC"
        )
        return [RecycleItem(r[0], r[1], ResourceType(r[2]), r[3], r[4]) for r in rows]

    def recycle_item(self, key: str) -> RecycleItem | None:
        row = self.db.execute(
            "SELECT key, path, type, size, deletion_time FROM recycle WHERE key = ?", (key,)
        ).fetchone()
        return (
            None
            if row is None
            else RecycleItem(row[0], row[1], ResourceType(row[2]), row[3], row[4])
        )

    def drop_recycle_item(self, key: str) -> None:
        self.db.execute("DELETE FROM recycle WHERE key = ?", (key,))
