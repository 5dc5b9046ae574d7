"""The shared namespace (folders, names, ids, metadata) kept by the coordinator.

It lives next to the shard index so that several corestore servers can mount one swarm and see
the same tree, and so that replacing a file's content (a new file id) and retiring the old
shards happen in one transaction. Ids are stable across renames (rows are re-parented, never
re-created); every change gives new etags to the entry and all its ancestors.

Functions take the SQLite connection and run inside :meth:`Store.run` (one transaction each).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

from corestore.errors import (
    AlreadyExists,
    ETagMismatch,
    IsAFolder,
    MissingParent,
    MoveIntoItself,
    NotAFolder,
    NotFound,
    PermissionDenied,
)
from corestore.paths import join_path, split_path

from . import store as st

__all__ = ["OPS"]

ROOT = "root"
PAGE = 1000


def _resolve(db: sqlite3.Connection, ref: dict) -> tuple[sqlite3.Row, tuple[str, ...]]:
    """The entry a reference names, and its absolute segments."""
    base_id = ref.get("id") or ROOT
    row = db.execute("SELECT * FROM entries WHERE id=?", (base_id,)).fetchone()
    if row is None:
        raise NotFound(f"no resource with id {base_id}")
    segments = _segments_of(db, row)
    for name in split_path(ref.get("path", "/")):
        if row["type"] != "container":
            raise NotFound(join_path(segments + (name,)))
        row = db.execute(
            "SELECT * FROM entries WHERE parent_id=? AND name=?", (row["id"], name)
        ).fetchone()
        segments += (name,)
        if row is None:
            raise NotFound(join_path(segments))
    return row, segments


def _segments_of(db: sqlite3.Connection, row: sqlite3.Row) -> tuple[str, ...]:
    names = []
    while row["parent_id"] is not None:
        names.append(row["name"])
        row = db.execute("SELECT * FROM entries WHERE id=?", (row["parent_id"],)).fetchone()
    return tuple(reversed(names))


def _parent_of(db: sqlite3.Connection, ref: dict) -> tuple[sqlite3.Row, tuple[str, ...], str]:
    """The existing parent folder of a path to be created, and the new name."""
    base_id = ref.get("id") or ROOT
    rel = split_path(ref.get("path", "/"))
    if not rel:
        if base_id == ROOT:
            raise PermissionDenied("the root cannot be replaced")
        row, segs = _resolve(db, {"id": base_id})
        parent = db.execute("SELECT * FROM entries WHERE id=?", (row["parent_id"],)).fetchone()
        return parent, segs[:-1], segs[-1]
    try:
        parent, segs = _resolve(db, {"id": base_id, "path": join_path(rel[:-1])})
    except NotFound:
        raise MissingParent(join_path(rel)) from None
    if parent["type"] != "container":
        raise NotAFolder(join_path(segs))
    return parent, segs, rel[-1]


def _info(row: sqlite3.Row, segments: tuple[str, ...], keys: list[str] | None = None) -> dict:
    metadata = json.loads(row["metadata"])
    if keys is not None and "*" not in keys:
        metadata = {k: v for k, v in metadata.items() if k in keys}
    return {
        "id": row["id"],
        "path": join_path(segments),
        "type": row["type"],
        "size": row["size"],
        "mtime": row["mtime"],
        "etag": row["etag"],
        "parent_id": row["parent_id"],
        "checksum": row["checksum"],
        "file_id": row["file_id"],
        "metadata": metadata if keys else {},
    }


def _touch_up(db: sqlite3.Connection, entry_id: str | None, now: float) -> None:
    """New etags (and mtimes) for an entry's folder and every ancestor."""
    while entry_id is not None:
        db.execute(
            "UPDATE entries SET etag=?, mtime=? WHERE id=?", (uuid.uuid4().hex, now, entry_id)
        )
        row = db.execute("SELECT parent_id FROM entries WHERE id=?", (entry_id,)).fetchone()
        entry_id = row["parent_id"] if row else None


def stat(db: sqlite3.Connection, ref: dict, keys: list[str] | None = None) -> dict:
    row, segs = _resolve(db, ref)
    return _info(row, segs, keys)


def list_page(
    db: sqlite3.Connection, ref: dict, after: str = "", keys: list[str] | None = None
) -> dict:
    row, segs = _resolve(db, ref)
    if row["type"] != "container":
        raise NotAFolder(join_path(segs))
    rows = db.execute(
        "SELECT * FROM entries WHERE parent_id=? AND name > ? ORDER BY name LIMIT ?",
        (row["id"], after, PAGE),
    ).fetchall()
    return {
        "entries": [_info(r, segs + (r["name"],), keys) for r in rows],
        "next": rows[-1]["name"] if len(rows) == PAGE else None,
    }


def create(db: sqlite3.Connection, ref: dict, kind: str) -> dict:
    parent, segs, name = _parent_of(db, ref)
    if db.execute(
        "SELECT 1 FROM entries WHERE parent_id=? AND name=?", (parent["id"], name)
    ).fetchone():
        raise AlreadyExists(join_path(segs + (name,)))
    now = time.time()
    new_id = uuid.uuid4().hex
    db.execute(
        "INSERT INTO entries(id, parent_id, name, type, mtime, etag) VALUES (?,?,?,?,?,?)",
        (new_id, parent["id"], name, kind, now, uuid.uuid4().hex),
    )
    _touch_up(db, parent["id"], now)
    return stat(db, {"id": new_id})


def delete(db: sqlite3.Connection, ref: dict) -> None:
    row, segs = _resolve(db, ref)
    if row["id"] == ROOT:
        raise PermissionDenied("the root cannot be deleted")
    stack = [row["id"]]
    while stack:  # the whole subtree; content shards become garbage
        entry_id = stack.pop()
        for child in db.execute("SELECT id FROM entries WHERE parent_id=?", (entry_id,)).fetchall():
            stack.append(child["id"])
        cur = db.execute("SELECT file_id FROM entries WHERE id=?", (entry_id,)).fetchone()
        if cur["file_id"]:
            st.delete_file(db, cur["file_id"])
        db.execute("DELETE FROM entries WHERE id=?", (entry_id,))
    _touch_up(db, row["parent_id"], time.time())


def move(db: sqlite3.Connection, src: dict, dst: dict) -> dict:
    row, src_segs = _resolve(db, src)
    if row["id"] == ROOT:
        raise PermissionDenied("the root cannot be moved")
    base = _resolve(db, {"id": dst.get("id")})[1] if dst.get("id") else ()
    lexical = base + split_path(dst.get("path", "/"))
    if lexical[: len(src_segs)] == src_segs:  # checked before the parent: d -> d/x/y/d
        raise MoveIntoItself(f"{join_path(src_segs)} -> {join_path(lexical)}")
    parent, dst_parent_segs, name = _parent_of(db, dst)
    dst_segs = dst_parent_segs + (name,)
    if db.execute(
        "SELECT 1 FROM entries WHERE parent_id=? AND name=?", (parent["id"], name)
    ).fetchone():
        raise AlreadyExists(join_path(dst_segs))
    now = time.time()
    old_parent = row["parent_id"]
    db.execute(
        "UPDATE entries SET parent_id=?, name=?, etag=? WHERE id=?",
        (parent["id"], name, uuid.uuid4().hex, row["id"]),
    )
    _touch_up(db, old_parent, now)
    _touch_up(db, parent["id"], now)
    return stat(db, {"id": row["id"]})


def set_metadata(db: sqlite3.Connection, ref: dict, values: dict, remove: list) -> None:
    row, _ = _resolve(db, ref)
    metadata = json.loads(row["metadata"])
    metadata.update(values)
    for key in remove:
        metadata.pop(key, None)
    db.execute("UPDATE entries SET metadata=? WHERE id=?", (json.dumps(metadata), row["id"]))


def check_write(
    db: sqlite3.Connection, ref: dict, if_match: str | None, if_not_exist: bool
) -> None:
    """The pre-checks of a write, so a doomed upload fails before any byte is sent."""
    parent, segs, name = _parent_of(db, ref)
    row = db.execute(
        "SELECT * FROM entries WHERE parent_id=? AND name=?", (parent["id"], name)
    ).fetchone()
    if row is not None and row["type"] == "container":
        raise IsAFolder(join_path(segs + (name,)))
    if row is not None and if_not_exist:
        raise AlreadyExists(join_path(segs + (name,)))
    if if_match and (row is None or row["etag"] != if_match):
        raise ETagMismatch(join_path(segs + (name,)))


def bind_content(db: sqlite3.Connection, ns: dict, file_id: str, size: int) -> dict:
    """Point a path at a committed file (same transaction as the manifest); the old content's
    shards become garbage."""
    ref = ns["ref"]
    check_write(db, ref, ns.get("if_match"), ns.get("if_not_exist", False))
    parent, segs, name = _parent_of(db, ref)
    row = db.execute(
        "SELECT * FROM entries WHERE parent_id=? AND name=?", (parent["id"], name)
    ).fetchone()
    now = time.time()
    mtime = ns.get("mtime") or now
    if row is None:
        entry_id = uuid.uuid4().hex
        db.execute(
            "INSERT INTO entries(id, parent_id, name, type, file_id, size, mtime, etag, checksum) "
            "VALUES (?,?,?,'file',?,?,?,?,?)",
            (
                entry_id,
                parent["id"],
                name,
                file_id,
                size,
                mtime,
                uuid.uuid4().hex,
                ns.get("checksum"),
            ),
        )
    else:
        entry_id = row["id"]
        if row["file_id"]:
            st.delete_file(db, row["file_id"])
        db.execute(
            "UPDATE entries SET file_id=?, size=?, mtime=?, etag=?, checksum=? WHERE id=?",
            (file_id, size, mtime, uuid.uuid4().hex, ns.get("checksum"), entry_id),
        )
    _touch_up(db, parent["id"], now)
    return stat(db, {"id": entry_id})


def usage(db: sqlite3.Connection) -> dict:
    used = db.execute("SELECT COALESCE(SUM(size), 0) FROM entries WHERE type='file'").fetchone()[0]
    row = db.execute(
        "SELECT COALESCE(SUM(capacity), 0) FROM nodes WHERE state != 'dead'"
    ).fetchone()
    return {"used": used, "raw_capacity": row[0]}


OPS = {
    "stat": lambda db, a: stat(db, a["ref"], a.get("keys")),
    "list": lambda db, a: list_page(db, a["ref"], a.get("after", ""), a.get("keys")),
    "mkdir": lambda db, a: create(db, a["ref"], "container"),
    "touch": lambda db, a: create(db, a["ref"], "file"),
    "delete": lambda db, a: delete(db, a["ref"]),
    "move": lambda db, a: move(db, a["src"], a["dst"]),
    "set_metadata": lambda db, a: set_metadata(db, a["ref"], a.get("set", {}), a.get("unset", [])),
    "check_write": lambda db, a: check_write(
        db, a["ref"], a.get("if_match"), a.get("if_not_exist", False)
    ),
    "usage": lambda db, a: usage(db),
}
